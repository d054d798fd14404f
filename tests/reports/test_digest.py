"""The weekly digest (issue 19): on Monday at 9:00 in the team's time zone its head gets
last week's figures and the three longest waits by e-mail, once, with nothing about the
clients in it."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from crm import services as crm_services
from inbox import services as inbox_services
from inbox.models import Channel, Message
from reports import digest

pytestmark = pytest.mark.django_db

LAST_MONDAY_10 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 10:00 in Moscow
MONDAY_9_05 = datetime(2026, 11, 30, 6, 5, tzinfo=UTC)  # 9:05 in Moscow


@pytest.fixture
def last_week(north, ivan, head_north):
    head_north.email = "head@company.example"
    head_north.save()
    chat = Channel.objects.create(kind="website", name="Чат", team=north, public_key="digest")
    with time_machine.travel(LAST_MONDAY_10, tick=False) as clock:
        payload = {"visitor": "v-1", "id": "d1", "text": "Иван Клиентов, +7 916 000-11-22",
                   "name": "Иван Клиентов", "sent_at": timezone.now().isoformat()}
        inbox_services.event_receive(channel=chat, provider_event_id="d1",
                                     event_type="message", payload=json.dumps(payload))
        inbox_services.events_drain(linger=0, pause=0)
        conversation = Message.objects.get(external_id__contains="d1").conversation
        clock.shift(timedelta(seconds=5))
        if conversation.deal.owner_id != ivan.pk:
            crm_services.deal_reassign(deal=conversation.deal, to_user=ivan, by=head_north)
        clock.shift(timedelta(minutes=40))
        reply = inbox_services.message_reply(conversation=conversation, by=ivan, text="Да")
        inbox_services.message_send(message=reply)
    return conversation


def test_the_head_gets_last_weeks_figures_on_monday_morning(last_week, ivan, head_north):
    with time_machine.travel(MONDAY_9_05, tick=False):
        assert digest.send_due() == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["head@company.example"]
    assert "north" in message.subject and "23.11" in message.subject
    html = message.alternatives[0][0]
    for body in (message.body, html):
        assert ivan.get_full_name() in body
        assert "41 рабочих минут" in body  # the longest wait: 10:00 to 10:40:05
        # Nothing about the client: not their name, not their number, not their words.
        assert "Клиентов" not in body and "000-11-22" not in body


def test_it_goes_once_and_only_from_monday_nine(last_week):
    with time_machine.travel(MONDAY_9_05 - timedelta(minutes=10), tick=False):
        assert digest.send_due() == 0  # 8:55
    with time_machine.travel(MONDAY_9_05 - timedelta(days=1), tick=False):
        assert digest.send_due() == 0  # Sunday
    with time_machine.travel(MONDAY_9_05, tick=False):
        assert digest.send_due() == 1
    with time_machine.travel(MONDAY_9_05 + timedelta(hours=2), tick=False):
        assert digest.send_due() == 0
    assert len(mail.outbox) == 1


def test_the_teams_own_time_zone(last_week, north):
    north.time_zone = "Asia/Vladivostok"  # 7 hours ahead of Moscow
    north.save()
    with time_machine.travel(MONDAY_9_05 - timedelta(hours=7), tick=False):
        assert digest.send_due() == 1
