from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _active_channels() -> list[tuple[int, str]]:
    from inbox.models import Channel

    return list(Channel.objects.filter(is_active=True).order_by("name")
                .values_list("pk", "name"))


def _disable_channel(channel_id: int) -> str:
    """Containment: the channel stops taking and sending messages (its webhook answers as
    for an inactive channel) until an admin switches it on again."""
    from inbox.models import Channel

    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        raise LookupError(channel_id)
    channel.is_active = False
    channel.save(update_fields=["is_active"])
    return channel.name


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Inbox")

    def ready(self):
        from core import holdings, webhooks
        from inbox import selectors, services
        from inbox.providers.base import WEBHOOK_KINDS, provider_for

        for kind in WEBHOOK_KINDS:
            webhooks.register(kind, webhooks.Receiver(
                channel=lambda uuid, kind=kind: selectors.channel_for_webhook(kind=kind,
                                                                              uuid=uuid),
                provider=provider_for, store=services.delivery_store))

        from auditlog.registry import auditlog

        from inbox.models import CannedReply, Channel, MessengerPolicy
        from security.audit import containment

        # Who changed a channel's settings, and when (its secrets never go into the log).
        auditlog.register(Channel, exclude_fields=["credentials", "webhook_secret",
                                                   "handshake_secret"])
        # Who switched the 584-FZ rule on or off, and when.
        auditlog.register(MessengerPolicy)
        auditlog.register(CannedReply)

        from django.db.models.signals import post_delete, post_save

        from inbox.selectors import forget_webhook_channels

        # The webhooks' copies of a channel go when it changes (inbox.selectors).
        post_save.connect(forget_webhook_channels, sender=Channel,
                          dispatch_uid="inbox.forget_webhook_channels.save")
        post_delete.connect(forget_webhook_channels, sender=Channel,
                            dispatch_uid="inbox.forget_webhook_channels.delete")

        from inbox import attachments
        from inbox.models import Attachment

        attachments.storage.delete_with_rows_of(Attachment)

        containment.register(containment.Switchable(
            kind="channel", title=_("Messenger channel"), active=_active_channels,
            disable=_disable_channel))
        from inbox import holdings as inbox_holdings

        holdings.declare(inbox_holdings.holdings())

        from consents.services import consent_withdrawn
        from inbox import campaigns

        consent_withdrawn.connect(campaigns.on_consent_withdrawn,
                                  dispatch_uid="inbox.campaigns.on_consent_withdrawn")
