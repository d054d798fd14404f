"""Every write of the telephony app: what the PBX sends, stored and turned into calls.

A delivery is stored as received (`event_receive`, before the PBX hears 200), then processed
in a Celery task (`event_process`): leg events move a call through ringing -> talking ->
ended in `seq` order per leg, the summary is the PBX's final word, and the call is matched
to the client's contact by the phone's blind index, to their open deal, and to the manager
by extension. A number nobody knows becomes a new contact with a lead deal for the line's
team. Realtime events go out after commit and carry ids only (core.events).
"""

import copy
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core import deliveries
from core import events as crm_events
from core.hours import BusinessHours
from core.tasks import delay_on_commit
from crm import selectors as crm_selectors
from crm import services as crm_services
from crm.models import Contact, ContactPoint, Deal, TimelineEntry
from security import masking, roles
from telephony import rollups
from telephony.models import Call, CallEvent, Extension, PbxAccount, PbxLine
from telephony.providers.base import (
    CallbackResult,
    CallLegEvent,
    CallSummary,
    RecordingReady,
    provider_for,
)
from telephony.providers.mango import is_phone_number
from telephony.rollups import CALLBACK_WITHIN_MINUTES

logger = logging.getLogger("telephony")

LIVE_LEG_STATES = ("connected", "on_hold")
# A missed incoming call asks the deal's owner to call back within CALLBACK_WITHIN_MINUTES of
# working time (telephony.rollups: the team page counts the ones called back in time).


class NoManagerError(Exception):
    """The team has nobody who could take a new client."""


# =============================================================================================
# Deliveries: stored first, processed by a task, failures kept and retried
# =============================================================================================


@transaction.atomic
def event_receive(*, account: PbxAccount, kind: str, dedupe_key: str,
                  payload: str) -> tuple[CallEvent, bool]:
    """Store one PBX request as received; a repeated delivery changes nothing.

    Returns (event, created). Processing is queued once this transaction commits, so the row
    is there before the PBX hears 200 (invariant 6)."""
    from telephony.tasks import process_event

    event, created = CallEvent.objects.get_or_create(
        account=account, kind=kind, dedupe_key=dedupe_key[:200],
        defaults={"payload": payload},
    )
    if created:
        delay_on_commit(process_event, event.pk)
    return event, created


def delivery_store(account: PbxAccount, received) -> tuple[CallEvent, bool]:
    """core.webhooks' store for the PBX accounts."""
    return event_receive(account=account, kind=received.event_type,
                         dedupe_key=received.event_id, payload=received.payload)


def event_process(*, event: CallEvent) -> CallEvent:
    """Apply a stored delivery. Safe to run twice and concurrently: the event row is locked,
    a processed one is left alone, and the call's row is locked while it changes."""
    with transaction.atomic():
        event = (CallEvent.objects.select_for_update(of=("self",)).select_related("account")
                 .get(pk=event.pk))
        if event.status in (CallEvent.Status.PROCESSED, CallEvent.Status.IGNORED):
            return event
        account = event.account
        items = provider_for(account).parse(event.kind, json.loads(event.payload))
        handled, notes = False, []
        for item in items:
            if isinstance(item, CallLegEvent):
                _leg_apply(account=account, leg=item)
                handled = True
            elif isinstance(item, CallSummary):
                _summary_apply(account=account, summary=item)
                handled = True
            elif isinstance(item, RecordingReady):
                done, note = _hand_over("telephony.recordings", "recording_ready",
                                        account=account, event=item)
                handled, notes = handled or done, notes + [note] if note else notes
            elif isinstance(item, CallbackResult):
                done, note = _hand_over("telephony.click_to_call", "callback_result",
                                        account=account, result=item)
                handled, notes = handled or done, notes + [note] if note else notes
        event.status = CallEvent.Status.PROCESSED if handled else CallEvent.Status.IGNORED
        event.error = "\n".join(notes)
        event.attempts += 1
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "error", "attempts", "processed_at"])
    return event


def _hand_over(module_name: str, function: str, **kwargs) -> tuple[bool, str]:
    """Recordings and click-to-call results belong to their own modules, imported when
    first needed. Without the module the event is kept, ignored, with a note saying why."""
    from importlib import import_module

    try:
        module = import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        return False, f"{module_name} is not installed: nothing handles this event."
    getattr(module, function)(**kwargs)
    return True, ""


def event_retry(*, event: CallEvent) -> None:
    from telephony.tasks import process_event

    deliveries.retry(CallEvent, event.pk, process_event)


def events_sweep(*, now=None) -> int:
    from telephony.tasks import process_event

    return deliveries.sweep(CallEvent, process_event, now=now)


# =============================================================================================
# Calls: legs, the summary
# =============================================================================================


def _ts(moment) -> int:
    return int(moment.timestamp())


def _leg_direction(leg: CallLegEvent) -> str:
    if leg.caller.extension and leg.callee.extension:
        return Call.Direction.INTERNAL
    if leg.caller.extension:
        return Call.Direction.OUTBOUND
    return Call.Direction.INBOUND


def _client_number(account: PbxAccount, direction: str, caller, callee) -> str:
    """The outside party's number: who called in, or whom we called. Never one of the
    account's own lines (click-to-call first rings the manager from the line)."""
    number = {Call.Direction.INBOUND: caller.number,
              Call.Direction.OUTBOUND: callee.number}.get(direction, "")
    if not is_phone_number(number) or account.lines.filter(number=number).exists():
        return ""
    return number


def _call_for(*, account: PbxAccount, entry_id: str, defaults: dict) -> tuple[Call, bool]:
    """The call's row, locked; created on its first event. (call, created)."""
    call = Call.objects.select_for_update().filter(account=account, entry_id=entry_id).first()
    if call is not None:
        return call, False
    try:
        with transaction.atomic():
            return Call.objects.create(account=account, entry_id=entry_id, **defaults), True
    except IntegrityError:  # created by a concurrent delivery of the same call
        return Call.objects.select_for_update().get(account=account, entry_id=entry_id), False


def _fill_blanks(call: Call, *, client_number: str, line_number: str) -> None:
    if client_number and not call.client_number:
        call.client_number = client_number
    if line_number and not call.line_number:
        call.line_number = line_number


def _state_of(legs: dict) -> str:
    states = {leg.get("state") for leg in legs.values()}
    if states & set(LIVE_LEG_STATES):
        return Call.State.TALKING
    if "appeared" in states:
        return Call.State.RINGING
    return Call.State.ENDED


def _answering_extension(call: Call) -> str:
    """Who answered last (a transfer ends with the extension that took the call), else the
    extension that rang last."""
    legs = call.legs.values()
    answered = [leg for leg in legs if leg.get("connected_at") and leg.get("extension")]
    if answered:
        return max(answered, key=lambda leg: (leg["connected_at"], leg.get("seq", 0)))["extension"]
    rang = [leg for leg in legs if leg.get("extension")]
    if rang:
        return max(rang, key=lambda leg: (leg.get("at", 0), leg.get("seq", 0)))["extension"]
    return ""


def _user_of(account: PbxAccount, extension: str):
    if not extension:
        return None
    found = (Extension.objects.select_related("user")
             .filter(account=account, extension=extension).first())
    user = found.user if found is not None else None
    return user if user is not None and user.is_active else None


def _set_manager(call: Call, *, fallback_extension: str = "") -> None:
    extension = _answering_extension(call) or fallback_extension or call.extension
    if extension != call.extension or (extension and call.manager_id is None):
        call.extension = extension
        call.manager = _user_of(call.account, extension)


def _leg_apply(*, account: PbxAccount, leg: CallLegEvent) -> Call:
    direction = _leg_direction(leg)
    client_number = _client_number(account, direction, leg.caller, leg.callee)
    call, created = _call_for(account=account, entry_id=leg.entry_id, defaults={
        "direction": direction, "started_at": leg.at, "client_number": client_number,
        "line_number": leg.line_number,
    })
    was = _snapshot(call)
    before = copy.copy(call)
    _fill_blanks(call, client_number=client_number, line_number=leg.line_number)
    record = dict(call.legs.get(leg.call_id) or {})
    # The extension of the leg: the one that rings for a call in, the caller's for one out.
    extension = (leg.caller.extension if direction == Call.Direction.OUTBOUND
                 else leg.callee.extension)
    record.setdefault("extension", extension)
    record["extension"] = record["extension"] or extension
    at = _ts(leg.at)
    # Facts hold whatever order they came in: a leg that connected did connect.
    if leg.state == "connected":
        record["connected_at"] = min(record.get("connected_at") or at, at)
    newer = leg.seq > call.leg_seqs.get(leg.call_id, -1)
    if newer:
        # The state moves only forward in `seq`: an older event after a newer one is late.
        call.leg_seqs[leg.call_id] = leg.seq
        record.update(state=leg.state, at=at, seq=leg.seq)
    call.legs[leg.call_id] = record

    if not call.summarized:  # the summary is final: legs no longer move the call
        call.direction = call.direction or direction
        call.started_at = min(call.started_at, leg.at)
        connected = [r["connected_at"] for r in call.legs.values() if r.get("connected_at")]
        if connected:
            call.answered = True
            call.answered_at = _from_ts(min(connected))
        call.state = _state_of(call.legs)
        if call.state == Call.State.ENDED:
            ends = [r.get("at", 0) for r in call.legs.values()]
            call.ended_at = _from_ts(max(ends)) if ends else leg.at
            if newer and leg.disconnect_reason:
                call.disconnect_reason = leg.disconnect_reason
        else:
            call.ended_at = None
    _set_manager(call)
    call.save()
    _after_change(call, was=was)
    rollups.call_changed(before, call)
    _wallboard(call, before)
    if created:
        _calls_back(call)
    if newer and call.direction == Call.Direction.INBOUND:
        _screen_pop(call, leg_state=leg.state, extension=record.get("extension", ""))
    return call


# A call back later than this after a missed call is not its call-back any more.
CALLED_BACK_LOOKBACK = timedelta(days=7)


def _calls_back(call: Call) -> None:
    """An outgoing call to a client: the missed calls of that number it answers (the latest
    week's, not called back yet) are called back now; their figures follow."""
    if call.direction != Call.Direction.OUTBOUND or not call.client_number_index:
        return
    for missed in (Call.objects.select_for_update()
                   .filter(account_id=call.account_id, direction=Call.Direction.INBOUND,
                           answered=False, called_back_at__isnull=True,
                           client_number_index=call.client_number_index,
                           started_at__lt=call.started_at,
                           started_at__gte=call.started_at - CALLED_BACK_LOOKBACK)
                   .order_by("pk")):
        before = copy.copy(missed)
        missed.called_back_at = call.started_at
        missed.save(update_fields=["called_back_at", "client_number_index"])
        rollups.call_changed(before, missed)


def _wallboard(call: Call, before: Call) -> None:
    """Someone's phone began or stopped ringing or talking: their team's wallboard shows it."""
    if (call.state, call.manager_id) == (before.state, before.manager_id):
        return
    people = {pk for pk in (call.manager_id, before.manager_id) if pk}
    if people:
        crm_events.wallboard_changed(get_user_model().objects.filter(pk__in=people)
                                     .values_list("team_id", flat=True))


def _from_ts(seconds: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, tz=UTC)


def _summary_apply(*, account: PbxAccount, summary: CallSummary) -> Call:
    client_number = _client_number(account, summary.direction, summary.caller,
                                   summary.callee)
    call, created = _call_for(account=account, entry_id=summary.entry_id, defaults={
        "direction": summary.direction, "started_at": summary.started_at,
        "client_number": client_number, "line_number": summary.line_number,
    })
    was = _snapshot(call)
    before = copy.copy(call)
    first_time = not call.summarized
    _fill_blanks(call, client_number=client_number, line_number=summary.line_number)
    call.direction = summary.direction
    call.started_at = summary.started_at
    call.answered_at = summary.answered_at
    call.answered = summary.answered_at is not None
    call.ended_at = summary.ended_at
    call.talk_seconds = summary.talk_seconds
    call.disconnect_reason = summary.disconnect_reason or call.disconnect_reason
    call.state = Call.State.ENDED
    call.summarized = True
    _set_manager(call, fallback_extension=(
        summary.caller.extension if summary.direction == Call.Direction.OUTBOUND
        else summary.callee.extension))
    call.save()
    _after_change(call, was=was)
    rollups.call_changed(before, call)
    _wallboard(call, before)
    if created:
        _calls_back(call)
    if first_time:
        _missed_call_task(call)
        _ended_for_everyone(call)
        if call.deal_id:
            crm_events.deal_changed(deal_id=call.deal_id)
    return call


# --- After a change: the deal, the timeline, the card ---------------------------------------


def _snapshot(call: Call) -> tuple:
    return (call.state, call.answered, call.talk_seconds, call.summarized, call.manager_id,
            call.deal_id)


def _after_change(call: Call, *, was: tuple) -> None:
    """Attach the call to its deal (the first time it can be), let a new client go to whoever
    answered, and tell an open deal card that the call's entry changed."""
    if call.deal_id is None:
        if _attach(call):
            return  # the new timeline entry is the card's news
    _lead_to_answerer(call)
    if call.deal_id is not None and _snapshot(call) != was:
        entry_id = _entry_id(call)
        if entry_id is not None:
            # The summary tells when the call really began (before the first leg rang).
            TimelineEntry.objects.filter(pk=entry_id).exclude(
                occurred_at=call.started_at).update(occurred_at=call.started_at)
            crm_events.send_after_commit(crm_events.deal_group(call.deal_id), {
                "type": "call.updated", "deal": call.deal_id, "call": call.pk,
                "entry": entry_id,
            })


def _entry_id(call: Call) -> int | None:
    return (TimelineEntry.objects.filter(
        kind="call", source_type=ContentType.objects.get_for_model(Call), source_id=call.pk,
    ).values_list("pk", flat=True).first())


def _attach(call: Call) -> bool:
    """Match the call to the client's open deal, making a contact and a lead for a number
    nobody knows, and put the call on the deal's timeline. False when there is nothing to
    attach to (an internal call, a hidden number)."""
    if call.direction == Call.Direction.INTERNAL or not is_phone_number(call.client_number):
        return False
    deal = _deal_for(call)
    call.deal, call.contact = deal, deal.contact
    call.save(update_fields=["deal", "contact", "lead_created", "client_number_index"])
    crm_services.timeline_add(kind="call", deal=deal, contact=deal.contact, source=call,
                              occurred_at=call.started_at)
    return True


def _open_deal_of(index: str) -> Deal | None:
    holders = ContactPoint.objects.filter(kind=ContactPoint.Kind.PHONE,
                                          value_index=index).values("contact_id")
    return (Deal.objects.filter(contact__in=holders, status=Deal.Status.OPEN)
            .select_related("contact", "owner").order_by("-created_at", "-id").first())


def _deal_for(call: Call) -> Deal:
    index = call.client_number_index or Call.index_of(call.client_number)
    deal = _open_deal_of(index)
    if deal is not None:
        return deal
    # Lock the account so two calls of one new client make one contact and one lead, and
    # round-robin counts every earlier choice. NO KEY UPDATE: webhook inserts go on.
    PbxAccount.objects.select_for_update(no_key=True).filter(pk=call.account_id).first()
    deal = _open_deal_of(index)
    if deal is not None:
        return deal
    team = _team_for(call)
    contact = crm_selectors.point_holder(kind=ContactPoint.Kind.PHONE, index=index)
    if contact is None:
        owner = _owner_for_new_client(call, team)
        contact = crm_services.contact_create(
            by=owner, owner=owner, name=new_client_name(call.client_number),
            phones=[call.client_number], points_from_client=True, source=Contact.Source.PHONE,
        )
        call.lead_created = True
    else:
        owner = contact.owner
        if owner is None or not owner.is_active or not owner.has_perm("crm.add_deal"):
            owner = _owner_for_new_client(call, team)
    line = _line_of(call)
    title = f"{line.name or line.number if line else call.account.name}: {contact.name}"
    return crm_services.deal_create(by=owner, owner=owner, contact=contact, title=title[:200])


def new_client_name(number: str) -> str:
    """A new caller's contact name: no number in full (contact names are shown unmasked to
    everyone who sees the contact), just enough to tell two new clients apart."""
    with translation.override(settings.LANGUAGE_CODE):
        return _("New client %(number)s") % {
            "number": masking.mask_phone(number, masking.MASKED)}


def _line_of(call: Call) -> PbxLine | None:
    if not call.line_number:
        return None
    return (PbxLine.objects.select_related("team")
            .filter(account_id=call.account_id, number=call.line_number).first())


def _team_for(call: Call):
    line = _line_of(call)
    return line.team if line is not None and line.team_id else call.account.team


def _is_manager_of(user, team) -> bool:
    return (user is not None and user.is_active and user.team_id == team.pk
            and user.role == roles.MANAGER)


def _owner_for_new_client(call: Call, team):
    if _is_manager_of(call.manager, team):
        return call.manager  # the manager whose phone rings (or who answered) takes them
    return _manager_for(call.account, team)


def _manager_for(account: PbxAccount, team):
    """Round-robin: the team's active manager with the fewest new clients from this
    account's calls (ties: the longest-standing account). Deterministic, fair after restarts
    (the inbox's rule)."""
    managers = (
        get_user_model().objects.filter(team=team, is_active=True, groups__name=roles.MANAGER)
        .annotate(from_account=Count("deals", distinct=True, filter=Q(
            deals__calls__account=account, deals__calls__lead_created=True)))
        .order_by("from_account", "id")
    )
    manager = managers.first()
    if manager is None:
        head = team.head
        if head is not None and head.is_active:
            return head
        raise NoManagerError(f"team {team} has no active manager for new clients")
    return manager


def _lead_to_answerer(call: Call) -> None:
    """A new client whose lead this call made goes to the team's manager who answered, when
    round-robin (or the first phone to ring) gave it to someone else."""
    if not (call.lead_created and call.deal_id and call.answered and call.manager_id):
        return
    deal = Deal.objects.select_related("team", "contact").get(pk=call.deal_id)
    if deal.owner_id == call.manager_id or deal.team is None:
        return
    if not _is_manager_of(call.manager, deal.team):
        return
    previous = deal.owner_id
    # Saved row by row (not .update()) so the change history records the hand-over.
    deal.owner = call.manager
    deal.save(update_fields=["owner", "updated_at"])
    contact = deal.contact
    if contact is not None and contact.owner_id == previous:
        contact.owner = call.manager
        contact.save(update_fields=["owner", "updated_at"])
    crm_services.timeline_add(
        kind="owner_changed", deal=deal,
        payload={"from": previous, "to": call.manager_id, "to_name": str(call.manager)},
    )
    crm_events.deal_changed(deal_id=deal.pk)


# --- A missed call: a "call back" task --------------------------------------------------------


def account_hours(account: PbxAccount) -> BusinessHours:
    try:
        return BusinessHours.parse(account.business_hours, account.time_zone)
    except ValidationError:
        logger.warning("PBX account %s has invalid business hours; treated as always open",
                       account.pk)
        return BusinessHours.parse({}, "UTC")


def _missed_call_task(call: Call) -> None:
    """A missed incoming call: the deal's owner calls back within 15 minutes of working time.
    Once per call (the task is kept on the call)."""
    if (call.direction != Call.Direction.INBOUND or call.answered or call.deal_id is None
            or call.callback_task_id is not None):
        return
    deal = Deal.objects.select_related("owner").get(pk=call.deal_id)
    owner = deal.owner
    due = account_hours(call.account).add_working_minutes(call.ended_at or timezone.now(),
                                                          CALLBACK_WITHIN_MINUTES)
    with translation.override(settings.LANGUAGE_CODE):
        title = _("Call the client back")
    try:
        task = crm_services.task_create(by=owner, title=title, assignee=owner, due_at=due,
                                        deal=deal, overdue_ok=True)
    except (PermissionDenied, ValidationError) as error:
        logger.warning("no call-back task for call %s: %s", call.pk, error)
        return
    call.callback_task = task
    call.save(update_fields=["callback_task", "client_number_index"])
    crm_events.send_after_commit(crm_events.user_group(owner.pk), {
        "type": "task.created", "task": task.pk, "deal": deal.pk,
    })


# --- Screen pop ------------------------------------------------------------------------------


def _screen_pop(call: Call, *, leg_state: str, extension: str) -> None:
    """The phone of a manager rings: their open pages show who calls (ids only; the page
    fetches the pop-up through the access-checked view). It goes when their leg ends."""
    user = _user_of(call.account, extension)
    if user is None:
        return
    if leg_state == "appeared" and not call.summarized and call.state != Call.State.ENDED:
        crm_events.send_after_commit(crm_events.user_group(user.pk),
                                     {"type": "call.incoming", "call": call.pk})
    elif leg_state == "disconnected":
        crm_events.send_after_commit(crm_events.user_group(user.pk),
                                     {"type": "call.ended", "call": call.pk})


def _ended_for_everyone(call: Call) -> None:
    user_ids = {call.manager_id} if call.manager_id else set()
    extensions = {leg.get("extension") for leg in call.legs.values() if leg.get("extension")}
    if extensions:
        user_ids |= set(Extension.objects.filter(
            account_id=call.account_id, extension__in=extensions, user__isnull=False,
        ).values_list("user_id", flat=True))
    for user_id in sorted(user_ids):
        crm_events.send_after_commit(crm_events.user_group(user_id),
                                     {"type": "call.ended", "call": call.pk})


# --- Offboarding -----------------------------------------------------------------------------


@transaction.atomic
def extensions_hand_over(handover) -> dict[str, list[int]]:
    """Offboarding (security.offboarding): the leaver's PBX extensions now answer for the
    successor, so calls to them (and their pop-ups) reach the successor; past calls keep the
    manager who took them."""
    extensions = list(Extension.objects.filter(user=handover.user).order_by("pk"))
    ids = [e.pk for e in extensions]
    if handover.dry_run:
        return {"extensions": ids}
    Extension.objects.filter(pk__in=ids).update(user=handover.successor)
    handover.audit([(e, {"user": [handover.user.pk, handover.successor.pk]})
                    for e in extensions])
    return {"extensions": ids}
