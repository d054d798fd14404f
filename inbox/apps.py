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


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Inbox")

    def ready(self):
        from crm.timeline import register_kind

        register_kind("message", label=_("Message"), template="inbox/timeline/message.html",
                      serialize=_message)
