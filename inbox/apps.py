from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _message(entry) -> dict:
    message = entry.source
    if message is None:
        return {}
    return {
        "message_id": message.pk,
        "direction": message.direction,
        "channel": message.channel.name,
        "text": message.text,
        "status": message.status,
    }


def _prefetch_messages(messages: list) -> None:
    """What message.html and `_message` read: a page of messages in five queries."""
    from django.db.models import prefetch_related_objects

    prefetch_related_objects(messages, "channel", "author", "conversation__identity",
                             "reply_to", "attachments")


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Inbox")

    def ready(self):
        from crm.timeline import register_kind
        from inbox.services import conversations_hand_over
        from security.offboarding import register_handover

        register_kind("message", label=_("Message"), template="inbox/timeline/message.html",
                      serialize=_message, prefetch=_prefetch_messages,
                      own_panel=True)
        register_handover("inbox", conversations_hand_over,
                          kinds={"conversations": _("Conversations")})
