"""@mentions of colleagues in notes and in a conversation's private notes.

`@username` in the text names a colleague. Only someone who already sees the record may be
named: a mention never shares anything, so a note naming someone who cannot see the deal
(another team, a deactivated account, a role without deals) is refused with their names,
and the author decides whether to share the deal first. Words after an @ that are nobody's
username (an e-mail address, "@home") are text. Who sees what is the one visibility rule
(crm.selectors); each mentioned colleague gets a Mention row (their "Mentions" list) and a
live notice (crm.notifications), both after the note is stored, in its transaction.
"""

import re

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm import notifications, timeline
from crm.models import Contact, Deal, Mention, TimelineEntry
from crm.selectors import (
    _union,
    _with_sources,
    contacts_visible_to,
    deals_visible_to,
    live_deal_shares,
)
from security import roles
from security.models import Team

# Not after a letter, a digit or a dot: "anna@example.ru" mentions nobody.
_MENTION = re.compile(r"(?<![\w.@])@([\w.+-]+)")
MAX_MENTIONS = 20


def mentioned_usernames(text: str) -> list[str]:
    """The @names in `text`, lowercased, in order, each once (a sentence's final dot is not
    part of a name)."""
    names: list[str] = []
    for match in _MENTION.finditer(text or ""):
        name = match.group(1).rstrip(".+-").lower()
        if name and name not in names:
            names.append(name)
    return names


def _sees(user, *, deal: Deal | None, contact: Contact | None) -> bool:
    if deal is not None:
        return deals_visible_to(user).filter(pk=deal.pk).exists()
    # A contact's notes are read by those who see the contact and may read notes (marketing
    # and support see the contact, never the team's notes).
    return (contact is not None and user.has_perm("crm.view_note")
            and contacts_visible_to(user).filter(pk=contact.pk).exists())


def mentions_check(*, by, text: str, deal: Deal | None = None,
                   contact: Contact | None = None) -> list:
    """The colleagues `text` mentions (the author left out), each one who sees the record;
    ValidationError on the text naming those who do not."""
    names = mentioned_usernames(text)
    if not names:
        return []
    users = list(get_user_model().objects.annotate(name=Lower("username"))
                 .filter(name__in=names).exclude(pk=by.pk).order_by("username"))
    if len(users) > MAX_MENTIONS:
        raise ValidationError({"text": _("A note may mention at most %(limit)d colleagues.")
                               % {"limit": MAX_MENTIONS}})
    refused = [user for user in users if not _sees(user, deal=deal, contact=contact)]
    if refused:
        listed = ", ".join(f"@{user.username} ({user})" for user in refused)
        what = (ngettext("%(names)s cannot see this deal.",
                         "%(names)s cannot see this deal.", len(refused)) if deal is not None
                else ngettext("%(names)s cannot see this contact.",
                              "%(names)s cannot see this contact.", len(refused)))
        raise ValidationError({"text": " ".join([
            what % {"names": listed},
            _("A mention does not share anything: share the deal with them first, "
              "or remove the mention.") if deal is not None
            else _("A mention does not share anything: remove the mention."),
        ])})
    return users


def mentions_record(*, by, entry: TimelineEntry, text: str) -> list:
    """Check the mentions of a note just stored as `entry` (in the caller's transaction: a
    refusal rolls the note back), keep them and notify each colleague after commit."""
    deal = entry.deal
    contact = entry.contact if deal is None else None
    users = mentions_check(by=by, text=text, deal=deal, contact=contact)
    if not users:
        return []
    Mention.objects.bulk_create([
        Mention(user=user, author=by, entry=entry, deal=deal, contact=contact,
                created_at=entry.occurred_at)
        for user in users
    ])
    if deal is not None:
        # A private note is shown in its conversation's panel, not in the card's feed.
        anchor = ("conversations" if entry.kind in timeline.kinds_with_own_panel()
                  else f"entry-{entry.pk}")
        url, title = notifications.deal_url(deal.pk, anchor), deal.title
    else:
        url, title = contact.get_absolute_url(), contact.name
    for user in users:
        notifications.notify(user_id=user.pk, kind=notifications.MENTION, url=url,
                             deal=entry.deal_id, entry=entry.pk, title=title, by=str(by))
    return users


def mention_candidates(*, deal: Deal, by) -> list:
    """Whom `by` may mention in a note on `deal` (the autocomplete): the other active
    colleagues who see it, by the same rule as the refusal."""
    users = get_user_model().objects
    # Who may see it, by id (each part by an index), not joins of every user with their
    # groups and teams sorted DISTINCT (6 ms of the card at 10,000 users).
    parts = [users.filter(pk=deal.owner_id).values("pk"),
             users.model.groups.through.objects.filter(group__name=roles.ADMIN)
             .values("user_id"),
             users.filter(is_superuser=True).values("pk"),
             live_deal_shares().filter(content_object=deal).values("user_id")]
    if deal.team_id is not None:
        parts.append(Team.objects.filter(pk=deal.team_id, head__isnull=False).values("head_id"))
    users = (users.filter(pk__in=_union(parts), is_active=True).exclude(pk=by.pk)
             .order_by("username")[:100])
    return [user for user in users if _sees(user, deal=deal, contact=None)]


def mentions_of(*, user, limit: int = 50) -> list[Mention]:
    """The timeline entries that mention `user`, newest first, of records they still see."""
    mentions = Mention.objects.filter(user=user).filter(
        Q(deal__in=deals_visible_to(user))
        | Q(deal__isnull=True, contact__in=contacts_visible_to(user))
    ).select_related("entry", "entry__actor", "entry__deal", "author").prefetch_related(
        "entry__source")[:limit]
    mentions = list(mentions)
    _with_sources([mention.entry for mention in mentions])
    return mentions
