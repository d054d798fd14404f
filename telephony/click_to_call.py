"""Click-to-call: the PBX rings the manager's extension, then dials the client from a
corporate line. The manager never sees the client's number: it is read (decrypted) here, on
the server, and travels only to the PBX.

`click_to_call` checks and queues a CallbackCommand; the `telephony.send_callback` task sends
it (queued -> sent; 429 and failures on the PBX's side are retried with backoff, a refusal
fails it with the reason); `callback_result` (from the PBX's result/callback) settles it:
1000 -> ok, anything else -> failed with the code. Each change goes to the deal's group after
commit as `{"type": "call.callback", "deal", "command"}` (ids only; the card asks
`click_to_call_status` for the rest).
"""

import logging
import uuid
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import events as crm_events
from core.tasks import delay_on_commit
from crm import selectors as crm_selectors
from crm.models import ContactPoint
from telephony import selectors
from telephony.models import CallbackCommand, PbxLine
from telephony.providers.base import CallbackResult, provider_for

logger = logging.getLogger("telephony")

# A second click while the first call is being connected is the same call.
REPEAT_WINDOW = timedelta(seconds=30)
# A command still unsent after this long (the PBX was busy, the broker down) is not sent:
# the manager has moved on, and a phone ringing minutes later would surprise them.
STALE_AFTER = timedelta(minutes=2)
# How long the card keeps showing how the last call went.
SHOWN_FOR = timedelta(minutes=10)
RESULT_OK = "1000"
IN_FLIGHT = (CallbackCommand.Status.QUEUED, CallbackCommand.Status.SENT)


def _dial_form(number: str) -> str:
    """Mango takes numbers as digits: 79161234567."""
    return number.lstrip("+")


def _client_phone(contact) -> str:
    # The primary phone first, as the card lists them (ContactPoint's ordering).
    point = contact.points.filter(kind=ContactPoint.Kind.PHONE).order_by("-is_primary", "id") \
        .first()
    return point.value if point is not None else ""


def _line_for(*, account, deal) -> str:
    lines = PbxLine.objects.filter(account=account)
    line = lines.filter(team_id=deal.team_id).order_by("pk").first() or lines.order_by("pk").first()
    return line.number if line is not None else ""


def _changed(command: CallbackCommand) -> None:
    if command.deal_id is not None:
        crm_events.send_after_commit(crm_events.deal_group(command.deal_id), {
            "type": "call.callback", "deal": command.deal_id, "command": command.pk,
        })


@transaction.atomic
def click_to_call(*, deal, by) -> CallbackCommand:
    """Call the deal's client from `by`'s extension. Http404 when `by` may not see the deal,
    PermissionDenied when they may only look at it, ValidationError when the call cannot be
    made (no extension, no client phone)."""
    deal = crm_selectors.deal_get(user=by, pk=deal.pk)
    if not crm_selectors.deal_can_edit(user=by, deal=deal):
        raise PermissionDenied(_("The deal is shared with you for reading only: you cannot "
                                 "call its client from it."))
    extension = selectors.extension_of(user=by)
    if extension is None:
        raise ValidationError(_("You have no extension on the company's PBX: ask an "
                                "administrator to assign one to you."), code="no_extension")
    if deal.contact is None:
        raise ValidationError(_("The deal has no client to call."), code="no_contact")
    phone = _client_phone(deal.contact)
    if not phone:
        raise ValidationError(_("The client has no phone number."), code="no_phone")
    recent = CallbackCommand.objects.filter(
        user=by, deal=deal, status__in=IN_FLIGHT, created_at__gte=timezone.now() - REPEAT_WINDOW,
    ).exists()
    if recent:
        raise ValidationError(_("A call to this client is already being connected."),
                              code="in_progress")
    command = CallbackCommand.objects.create(
        account=extension.account, user=by, deal=deal, contact=deal.contact,
        to_number=_dial_form(phone), extension=extension.extension,
        line_number=_dial_form(_line_for(account=extension.account, deal=deal)),
    )
    _changed(command)
    from telephony.recording_tasks import send_callback

    delay_on_commit(send_callback, command.pk)
    return command


def command_send(*, command_pk: int) -> bool:
    """Send a queued command to the PBX. True when sent; False when there was nothing to do.
    Raises ProviderError (the task retries what may pass and fails the rest)."""
    command = CallbackCommand.objects.select_related("account").filter(pk=command_pk).first()
    if command is None or command.status != CallbackCommand.Status.QUEUED:
        return False
    if timezone.now() - command.created_at > STALE_AFTER:
        command_failed(command_pk=command_pk, reason=_(
            "The PBX could not be reached in time; the call was not started."))
        return False
    provider_for(command.account).start_callback(
        command_id=str(command.command_id), extension=command.extension,
        to_number=command.to_number, line_number=command.line_number,
    )
    with transaction.atomic():
        # The result may already be in (result/callback can beat this update).
        sent = CallbackCommand.objects.filter(pk=command.pk, status=CallbackCommand.Status.QUEUED) \
            .update(status=CallbackCommand.Status.SENT)
        if sent:
            _changed(command)
    return bool(sent)


def command_failed(*, command_pk: int, reason: str) -> None:
    with transaction.atomic():
        command = CallbackCommand.objects.filter(pk=command_pk).first()
        failed = CallbackCommand.objects.filter(
            pk=command_pk, status=CallbackCommand.Status.QUEUED
        ).update(status=CallbackCommand.Status.FAILED, error=reason[:300],
                 finished_at=timezone.now())
        if failed:
            _changed(command)


def callback_result(*, account, result: CallbackResult) -> CallbackCommand | None:
    """The PBX's result/callback: settle the command (once). None for a command this account
    never sent (logged; nothing to retry)."""
    try:
        command_id = uuid.UUID(str(result.command_id))
    except ValueError:
        command_id = None
    with transaction.atomic():
        command = (CallbackCommand.objects.select_for_update()
                   .filter(account=account, command_id=command_id).first()
                   if command_id else None)
        if command is None:
            logger.warning("result/callback for an unknown command on PBX account %s",
                           account.pk)
            return None
        if command.status not in IN_FLIGHT:
            return command  # a repeated delivery
        ok = result.ok or str(result.code) == RESULT_OK
        command.status = CallbackCommand.Status.OK if ok else CallbackCommand.Status.FAILED
        command.result_code = str(result.code)[:20]
        command.error = "" if ok else _(
            "The PBX could not connect the call (result %(code)s).") % {"code": result.code}
        command.finished_at = timezone.now()
        command.save(update_fields=["status", "result_code", "error", "finished_at"])
        _changed(command)
    return command


def command_get(*, deal, pk) -> CallbackCommand:
    """A click-to-call command of a deal the caller fetched through deal_get, else 404."""
    from django.shortcuts import get_object_or_404

    return get_object_or_404(CallbackCommand.objects.filter(deal=deal), pk=pk)


def latest_command(*, deal, user) -> CallbackCommand | None:
    """The user's call from this deal of the last few minutes, for the card to show."""
    return (CallbackCommand.objects
            .filter(deal=deal, user=user, created_at__gte=timezone.now() - SHOWN_FOR)
            .order_by("-created_at").first())
