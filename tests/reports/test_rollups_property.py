"""The rollups kept as work happens equal the rollups rebuilt from the raw rows, whatever the
work: clients writing on channels with and without business hours (across evenings and
weekends), replies, replies the provider later reports failed, calls in (answered, missed)
and out, stage moves, deals won, lost and reopened, amounts changed after the win, tasks
done, deals reassigned and a manager offboarded with their deals handed over; and the
funnel's stage rollups with them.

Each example runs in a transaction rolled back at its end, on a clock that only moves when
the example says so."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm import services as crm_services
from crm.models import ActivityDay, Deal, StageDay, Task
from crm.rollups import FIGURES, STAGE_FIGURES
from inbox import services as inbox_services
from inbox.models import Channel, Conversation, Message
from reports.rebuild import rebuild
from security.offboarding import offboard_user
from telephony.models import Extension, PbxAccount, PbxLine
from tests.factories import stage
from tests.telephony import mango_events as mango

START = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)  # a Friday, 16:00 in Moscow
CLIENTS = ("visitor-a", "visitor-b", "visitor-c")
PHONES = ("79161110001", "79161110002")
ACTIONS = ("write", "write", "write", "reply", "reply", "reply_failed", "call_in",
           "call_missed", "call_out", "move", "win", "lose", "reopen", "amount", "task",
           "reassign", "offboard")

steps = st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 99),
                           st.integers(1, 60 * 60)),  # minutes to wait first: up to 2.5 days
                 min_size=1, max_size=24)


@pytest.fixture
def world(north, anna, ivan, head_north, director):
    always = Channel.objects.create(kind="website", name="Чат", team=north,
                                    public_key="always-open", first_response_minutes=15)
    office = Channel.objects.create(
        kind="website", name="Чат в рабочее время", team=north, public_key="office-hours",
        business_hours={day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu",
                                                              "fri")},
        time_zone="Europe/Moscow", first_response_minutes=30)
    account = PbxAccount.objects.create(
        name="Mango", team=north, api_key=mango.API_KEY, api_salt=mango.API_SALT,
        api_base_url="http://127.0.0.1:9/")
    PbxLine.objects.create(account=account, number=mango.LINE_NORTH, name="Продажи",
                           team=north)
    for number, user in (("101", anna), ("102", ivan)):
        Extension.objects.create(account=account, extension=number, user=user)
    return {"channels": [always, office], "account": account, "anna": anna, "ivan": ivan,
            "head": head_north, "director": director, "extensions": ["101", "102"]}


def _rows() -> dict:
    """Every figure of both rollups (the activity's and the funnel's) that is not zero."""
    activity = {
        (row["user_id"], row["day"], row["channel"], row["currency"]):
            {name: row[name] for name in FIGURES if row[name]}
        for row in ActivityDay.objects.values("user_id", "day", "channel", "currency", *FIGURES)
    }
    stages = {
        (row["user_id"], row["day"], "stage", row["stage_id"]):
            {name: row[name] for name in STAGE_FIGURES if row[name]}
        for row in StageDay.objects.values("user_id", "day", "stage_id", *STAGE_FIGURES)
    }
    return {key: row for key, row in (activity | stages).items() if row}


class Play:
    def __init__(self, world, clock):
        self.world, self.clock, self.counter = world, clock, 0

    def now(self) -> datetime:
        from django.utils import timezone

        return timezone.now()

    def write(self, pick):
        channel = self.world["channels"][pick % 2]
        self.counter += 1
        payload = {"visitor": CLIENTS[pick % 3], "id": f"m{self.counter}",
                   "text": "Здравствуйте", "sent_at": self.now().isoformat()}
        inbox_services.event_receive(channel=channel, provider_event_id=f"m{self.counter}",
                                     event_type="message", payload=json.dumps(payload))
        inbox_services.events_drain(linger=0, pause=0)

    def _conversation(self, pick):
        conversations = list(Conversation.objects.select_related("deal__owner")
                             .filter(deal__owner__is_active=True).order_by("pk"))
        return conversations[pick % len(conversations)] if conversations else None

    def reply(self, pick):
        conversation = self._conversation(pick)
        if conversation is None:
            return None
        message = inbox_services.message_reply(conversation=conversation,
                                               by=conversation.deal.owner, text="Добрый день")
        cache.clear()  # the chat's one-send-a-second slot lives in Redis' real time
        return inbox_services.message_send(message=message)

    def reply_failed(self, pick):
        """A reply goes out, then the provider says it never reached the client."""
        message = self.reply(pick)
        if message is None or message.status != Message.Status.SENT:
            return
        self.clock.shift(timedelta(seconds=30))
        with transaction.atomic():
            message = Message.objects.select_for_update().select_related(
                "conversation").get(pk=message.pk)
            inbox_services.message_fail(message, "undeliverable")

    def _call(self, events):
        for path, payload in events:
            mango.post_payload(self.world["account"], path, payload)

    def _entry(self):
        self.counter += 1
        return f"entry-{self.counter}"

    def call_in(self, pick, answered=True):
        at = int(self.now().timestamp())
        self._call(mango.incoming(entry_id=self._entry(), number=PHONES[pick % 2],
                                  line=mango.LINE_NORTH, answered=answered, at=at,
                                  extension=self.world["extensions"][pick % 2],
                                  talk=30 + pick * 7))

    def call_missed(self, pick):
        self.call_in(pick, answered=False)

    def call_out(self, pick):
        at = int(self.now().timestamp())
        events = mango.outgoing(entry_id=self._entry(), number=PHONES[pick % 2],
                                line=mango.LINE_NORTH, at=at, command_id=f"c{self.counter}",
                                extension=self.world["extensions"][pick % 2], talk=20 + pick)
        self._call(events[1:])  # the legs and the summary; no click-to-call command here

    def _deal(self, pick, **filters):
        deals = list(Deal.objects.select_related("owner").filter(owner__is_active=True,
                                                                  **filters).order_by("pk"))
        return deals[pick % len(deals)] if deals else None

    def move(self, pick):
        deal = self._deal(pick, status="open")
        if deal is not None:
            crm_services.deal_move(deal=deal, stage=stage(1 + pick % 3), by=deal.owner)

    def win(self, pick):
        deal = self._deal(pick, status="open")
        if deal is not None:
            crm_services.deal_close(deal=deal, by=deal.owner, status="won")

    def lose(self, pick):
        deal = self._deal(pick, status="open")
        if deal is not None:
            crm_services.deal_close(deal=deal, by=deal.owner, status="lost", loss_reason="Дорого")

    def reopen(self, pick):
        deal = self._deal(pick, status__in=["won", "lost"])
        if deal is not None:
            crm_services.deal_close(deal=deal, by=deal.owner, status="open")

    def amount(self, pick):
        deal = self._deal(pick)
        if deal is not None:
            crm_services.deal_update(deal=deal, by=deal.owner, amount=1000 * (pick + 1),
                                     currency="USD" if pick % 4 == 0 else "RUB")

    def task(self, pick):
        deal = self._deal(pick)
        if deal is not None:
            task = crm_services.task_create(by=deal.owner, title="Перезвонить", deal=deal)
            if pick % 3:
                crm_services.task_complete(task=Task.objects.get(pk=task.pk), by=deal.owner)

    def reassign(self, pick):
        deal = self._deal(pick)
        if deal is None:
            return
        others = [u for u in (self.world["anna"], self.world["ivan"])
                  if u.pk != deal.owner_id and u.is_active]
        if others:
            crm_services.deal_reassign(deal=deal, to_user=others[0], by=self.world["head"])

    def offboard(self, pick):
        ivan, anna = self.world["ivan"], self.world["anna"]
        ivan.refresh_from_db()
        if ivan.is_active:
            offboard_user(ivan, anna, by=self.world["director"])
            ivan.refresh_from_db()


@pytest.mark.django_db(transaction=False)
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=steps)
def test_kept_rollups_equal_the_rebuilt_ones(world, steps):
    with transaction.atomic(), time_machine.travel(START, tick=False) as clock:
        world["ivan"].refresh_from_db()
        play = Play(world, clock)
        for action, pick, minutes in steps:
            clock.shift(timedelta(minutes=minutes))
            getattr(play, action)(pick)
        kept = _rows()
        days = [key[1] for key in kept] or [START.date()]
        rebuild(min(days) - timedelta(days=1), max(days) + timedelta(days=1))
        rebuilt = _rows()
        transaction.set_rollback(True)
    assert kept == rebuilt
