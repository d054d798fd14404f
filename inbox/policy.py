"""The 584-FZ switch: personal data kept off foreign messengers.

With `MessengerPolicy.restrict_foreign` on, a reply through a foreign messenger (Telegram,
WhatsApp: `Provider.foreign`) is refused when it is a file (a scan of a passport is a file
like any other) or when its text carries personal data or payment details
(security.personal_data). The refusal says what was found and proposes the channels of the
client that are not foreign, and it is in the access log (action "blocked").

What it does not do: read files, recognise data written out in words, or stop a manager from
typing the same data into the messenger's own app on a phone; it keeps the company's own
channel from carrying it.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from inbox.models import ChannelIdentity, Conversation, MessengerPolicy
from inbox.providers.base import provider_for
from security import personal_data
from security.audit import access_log
from security.models import AccessRecord


def restricted(channel) -> bool:
    """Whether the switch holds this channel (its provider is foreign and the switch is on)."""
    return provider_for(channel).foreign and MessengerPolicy.current().restrict_foreign


def domestic_channels(contact) -> list[str]:
    """The names of the client's channels where the switch does not apply."""
    identities = ChannelIdentity.objects.filter(contact=contact, is_unreachable=False) \
        .select_related("channel")
    return sorted({i.channel.name for i in identities if i.channel.is_active
                   and not provider_for(i.channel).foreign})


def check(*, conversation: Conversation, by, text: str = "", has_file: bool = False) -> None:
    """ValidationError (on `text`, or `file`) when the switch refuses this reply."""
    if not restricted(conversation.channel):
        return
    found = personal_data.find(text) if text else []
    if not found and not has_file:
        return
    access_log.event(action=AccessRecord.Action.BLOCKED, user=by, detail={
        "rule": "584-fz", "channel": conversation.channel_id,
        "conversation": conversation.pk, "contact": conversation.contact_id,
        "found": (["file"] if has_file else []) + found,
    })
    what = _("a file") if has_file else personal_data.describe(found)
    reason = _("%(channel)s is a foreign messenger: by the company's rule (584-FZ) it does not "
               "carry %(what)s.") % {"channel": conversation.channel.get_kind_display(),
                                      "what": what}
    elsewhere = domestic_channels(conversation.contact)
    proposal = (_("Write to the client in %(channels)s instead.") % {
        "channels": ", ".join(elsewhere)} if elsewhere else
        _("The client has no domestic channel yet: ask them to write to the company in MAX, "
          "VK or the website chat."))
    raise ValidationError({"file" if has_file else "text": f"{reason} {proposal}"})
