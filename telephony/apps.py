from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _active_accounts() -> list[tuple[int, str]]:
    from telephony.models import PbxAccount

    return list(PbxAccount.objects.filter(is_active=True).order_by("name")
                .values_list("pk", "name"))


def _disable_account(account_id: int) -> str:
    """Containment: the PBX's events are refused and no click-to-call goes out until an
    admin switches the account on again."""
    from telephony.models import PbxAccount

    account = PbxAccount.objects.filter(pk=account_id).first()
    if account is None:
        raise LookupError(account_id)
    account.is_active = False
    account.save(update_fields=["is_active"])
    return account.name


class TelephonyConfig(AppConfig):
    name = "telephony"
    verbose_name = _("Telephony")

    def ready(self):
        from core import holdings, webhooks
        from telephony import selectors, services
        from telephony.providers.base import PROVIDERS, provider_for

        for kind in PROVIDERS:
            webhooks.register(kind, webhooks.Receiver(
                channel=lambda uuid: selectors.account_for_webhook(uuid=uuid),
                provider=provider_for, store=services.delivery_store))

        from auditlog.registry import auditlog

        from security.audit import containment
        from telephony import recordings
        from telephony.models import Extension, PbxAccount, PbxLine, Recording

        recordings.storage.delete_with_rows_of(Recording)

        # Who changed the PBX settings and the extension routing (the keys never logged).
        auditlog.register(PbxAccount, exclude_fields=["api_key", "api_salt"])
        auditlog.register(PbxLine)
        auditlog.register(Extension)

        containment.register(containment.Switchable(
            kind="pbx", title=_("PBX integration"), active=_active_accounts,
            disable=_disable_account))
        from telephony import holdings as telephony_holdings

        holdings.declare(telephony_holdings.holdings())
