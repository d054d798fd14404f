"""What calls add to the sales head's figures (crm/rollups.py explains the facts).

A call counts once it has ended, on the day it began, for the manager whose phone took it
(or rang, for a missed one), else the deal's owner of that moment: an incoming call answered
(with its talk time) or missed, an outgoing call (with its talk time). Its events may come
late or out of order and a summary corrects the legs, so each change records the call's new
facts in place of its old ones.
"""

from collections.abc import Iterable
from datetime import datetime

from crm.rollups import Fact, owner_at, owner_history, record
from telephony.models import Call

CHANNEL = "phone"


def call_facts(calls: Iterable[Call], history: dict | None = None) -> list[Fact]:
    calls = [call for call in calls if call is not None and call.state == Call.State.ENDED]
    if history is None:
        history = owner_history(call.deal_id for call in calls if call.deal_id)
    facts = []
    for call in calls:
        if call.direction == Call.Direction.INBOUND:
            counts = ({"calls_answered": 1, "talk_seconds": call.talk_seconds} if call.answered
                      else {"calls_missed": 1})
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
        "pk", "direction", "state", "answered", "talk_seconds", "manager_id", "deal_id",
        "started_at")
    found = call_facts(list(calls))
    if user_ids is not None:
        found = [fact for fact in found if fact.user_id in user_ids]
    return found
