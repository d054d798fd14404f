"""What calls add to the sales head's figures (crm/rollups.py explains the facts).

A call counts once it has ended, on the day it began, for the manager whose phone took it
(or rang, for a missed one), else the deal's owner of that moment: an incoming call answered
(with its talk time) or missed, an outgoing call (with its talk time); a missed call whose
client was called back within the callback time (in the PBX account's working minutes)
counts as called back too. Its events may come late or out of order and a summary corrects
the legs, so each change records the call's new facts in place of its old ones.
"""

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError

from core.hours import BusinessHours
from crm.rollups import Fact, owner_at, owner_history, record
from telephony.models import Call, PbxAccount

CHANNEL = "phone"
# A missed call is called back in time within this much of the account's working time (the
# call-back task's due time, telephony.services).
CALLBACK_WITHIN_MINUTES = 15


def _hours(account_id: int, cache: dict) -> BusinessHours:
    if account_id not in cache:
        account = PbxAccount.objects.get(pk=account_id)
        try:
            cache[account_id] = BusinessHours.parse(account.business_hours, account.time_zone)
        except ValidationError:
            cache[account_id] = BusinessHours.parse({}, "UTC")
    return cache[account_id]


def called_back_in_time(call: Call, hours: BusinessHours) -> bool:
    if call.called_back_at is None:
        return False
    missed_at = call.ended_at or call.started_at
    return call.called_back_at <= hours.add_working_minutes(missed_at, CALLBACK_WITHIN_MINUTES)


def call_facts(calls: Iterable[Call], history: dict | None = None) -> list[Fact]:
    calls = [call for call in calls if call is not None and call.state == Call.State.ENDED]
    if history is None:
        history = owner_history(call.deal_id for call in calls if call.deal_id)
    facts = []
    hours: dict = {}
    for call in calls:
        if call.direction == Call.Direction.INBOUND:
            counts = ({"calls_answered": 1, "talk_seconds": call.talk_seconds} if call.answered
                      else {"calls_missed": 1})
            if not call.answered and called_back_in_time(call, _hours(call.account_id, hours)):
                counts["calls_called_back"] = 1
        elif call.direction == Call.Direction.OUTBOUND:
            counts = {"calls_outgoing": 1, "talk_seconds": call.talk_seconds}
        else:
            continue  # one colleague calling another
        user_id = call.manager_id or owner_at(history, call.deal_id, call.started_at)
        facts.append(Fact(user_id, call.started_at, CHANNEL, counts,
                          source=("telephony.call", call.pk)))
    return facts


def call_changed(before: Call | None, after: Call) -> None:
    """Record what the call adds now in place of what it added before the change."""
    history = owner_history(
        {call.deal_id for call in (before, after) if call is not None and call.deal_id})
    record(call_facts([after], history), undo=call_facts([before], history))


def facts(*, start: datetime, end: datetime, user_ids=None) -> list[Fact]:
    calls = Call.objects.filter(started_at__gte=start, started_at__lt=end,
                                state=Call.State.ENDED).only(
        "pk", "account_id", "direction", "state", "answered", "talk_seconds", "manager_id",
        "deal_id", "started_at", "ended_at", "called_back_at")
    found = call_facts(list(calls))
    if user_ids is not None:
        found = [fact for fact in found if fact.user_id in user_ids]
    return found
