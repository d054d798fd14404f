"""Calls on the team page (issue 19), played as Mango sends them: answered, missed and
outgoing calls with their talk time, and a missed call counted as called back only when the
client was called back within the call-back time (15 working minutes of the PBX account)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from crm.models import ActivityDay
from telephony.models import Call
from tests.telephony import mango_events as mango

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 10:00 in Moscow, the PBX open


def play(account, events):
    for path, payload in events:
        assert mango.post_payload(account, path, payload).status_code == 200


def missed(account, entry, number, at):
    play(account, mango.incoming(entry_id=entry, number=number, line=mango.LINE_NORTH,
                                 extension="102", at=int(at.timestamp()), answered=False))


def call_out(account, entry, number, at):
    play(account, mango.outgoing(entry_id=entry, number=number, line=mango.LINE_NORTH,
                                 extension="102", at=int(at.timestamp()),
                                 command_id=f"cmd-{entry}")[1:])


def figures(user):
    row = ActivityDay.objects.get(user=user, channel="phone")
    return row.calls_missed, row.calls_called_back, row.calls_outgoing


def test_a_missed_call_called_back_in_time_counts(pbx_account, pbx_extensions, ivan):
    with time_machine.travel(MONDAY_10, tick=False):
        missed(pbx_account, "m-1", "79031112233", MONDAY_10)
        assert figures(ivan) == (1, 0, 0)
        call_out(pbx_account, "o-1", "79031112233", MONDAY_10 + timedelta(minutes=10))
    assert figures(ivan) == (1, 1, 1)
    called_back = Call.objects.get(entry_id="m-1").called_back_at - MONDAY_10
    assert timedelta(minutes=10) <= called_back <= timedelta(minutes=10, seconds=5)


def test_a_late_call_back_is_not_in_time(pbx_account, pbx_extensions, ivan):
    with time_machine.travel(MONDAY_10, tick=False):
        missed(pbx_account, "m-2", "79031112244", MONDAY_10)
        call_out(pbx_account, "o-2", "79031112244", MONDAY_10 + timedelta(hours=2))
        # Another number's call is nobody's call-back.
        missed(pbx_account, "m-3", "79031112255", MONDAY_10 + timedelta(hours=3))
        call_out(pbx_account, "o-3", "79031112266", MONDAY_10 + timedelta(hours=3, minutes=5))
    assert figures(ivan) == (2, 0, 2)
    assert Call.objects.get(entry_id="m-3").called_back_at is None
