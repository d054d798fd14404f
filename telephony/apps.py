from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _call(entry) -> dict:
    """The API's `data` of a call entry: the facts, never the client's number."""
    call = entry.source
    if call is None:
        return {}
    return {
        "call_id": call.pk,
        "direction": call.direction,
        "state": call.state,
        "answered": call.answered,
        "missed": call.state == call.State.ENDED and not call.answered,
        "talk_seconds": call.talk_seconds,
        "started_at": call.started_at.isoformat() if call.started_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "manager": call.manager_id,
        "manager_name": str(call.manager) if call.manager else "",
        "line": call.line_number,
        "recordings": len(call.recordings.all()),
    }


def _prefetch_calls(calls: list) -> None:
    """What call.html and `_call` read: a page of calls in a few queries, the line's name
    included."""
    from django.db.models import prefetch_related_objects

    from telephony.models import PbxLine

    prefetch_related_objects(calls, "manager", "recordings", "contact")
    wanted = {(call.account_id, call.line_number) for call in calls if call.line_number}
    if not wanted:
        return
    lines = {(line.account_id, line.number): line for line in PbxLine.objects.filter(
        account_id__in={account for account, _number in wanted},
        number__in={number for _account, number in wanted})}
    for call in calls:
        call.line = lines.get((call.account_id, call.line_number))


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
        from core import holdings
        from crm.timeline import register_kind

        register_kind("call", label=_("Call"), template="telephony/timeline/call.html",
                      serialize=_call, prefetch=_prefetch_calls)

        from core import webhooks
        from telephony import selectors, services
        from telephony.providers.base import PROVIDERS, provider_for

        for kind in PROVIDERS:
            webhooks.register(kind, webhooks.Receiver(
                channel=lambda uuid: selectors.account_for_webhook(uuid=uuid),
                provider=provider_for, store=services.delivery_store))

        from auditlog.registry import auditlog

        from security import containment
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
