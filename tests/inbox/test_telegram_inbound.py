"""Inbound Telegram: the webhook, the parser and the routing of a message to a deal."""

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact, Deal
from inbox import selectors, services
from inbox.models import (
    Attachment,
    Channel,
    ChannelIdentity,
    Conversation,
    InboundEvent,
    Message,
)
from inbox.providers.base import ClientUnreachable, InboundMessage, provider_for
from inbox.tasks import sweep_events
from tests.factories import make_contact, make_deal
from tests.inbox.messengers import deliver, signed_headers

FIXTURES = Path(__file__).parent / "fixtures" / "telegram"
SECRET = "tg-secret_0123456789"
SENDER = "700100200"  # the chat id of every fixture


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def channel(north, anna, ivan, fake_bot_api):
    # Aimed at the local fake: fetching a message's files must never reach Telegram.
    return Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Telegram-бот", team=north,
                                  webhook_secret=SECRET, credentials=fake_bot_api.token,
                                  api_base_url=fake_bot_api.base_url)


def url(channel) -> str:
    return reverse("webhook", args=["telegram", channel.uuid])


def post(channel, payload, *, secret=SECRET, raw: bytes | None = None, on_commit=True):
    """POST an update as Telegram does. Tests run inside a transaction that never commits,
    so the callbacks queued after commit (the processing task, live events) run here."""
    headers = {} if secret is None else signed_headers(channel, b"", secret=secret)
    return deliver(channel, payload, raw=raw, headers=headers, on_commit=on_commit)


def text_update(update_id: int, text: str, *, chat_id=700100200, message_id=None,
                first_name="Мария", last_name="Иванова") -> dict:
    update = fixture("message_text")
    update["update_id"] = update_id
    message = update["message"]
    message["message_id"] = message_id or update_id
    message["text"] = text
    message["chat"]["id"] = message["from"]["id"] = chat_id
    message["from"]["first_name"], message["from"]["last_name"] = first_name, last_name
    return update


# --- The webhook -----------------------------------------------------------------------------


@pytest.mark.django_db
class TestWebhook:
    @pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
    def test_it_refuses_a_missing_or_wrong_secret_and_stores_nothing(self, channel, secret,
                                                                     caplog):
        response = post(channel, fixture("message_text"), secret=secret)
        assert response.status_code == 403
        assert not InboundEvent.objects.exists()
        assert "wrong or missing signature" in caplog.text

    def test_a_channel_without_a_secret_accepts_nothing(self, channel):
        channel.webhook_secret = ""
        channel.save()
        assert post(channel, fixture("message_text"), secret="").status_code == 403
        assert not InboundEvent.objects.exists()

    def test_unknown_and_inactive_channels_are_not_found(self, channel):
        other = Channel(kind=Channel.Kind.TELEGRAM, name="x", team=channel.team)
        assert post(other, fixture("message_text")).status_code == 404
        channel.is_active = False
        channel.save()
        assert post(channel, fixture("message_text")).status_code == 404
        assert not InboundEvent.objects.exists()

    def test_a_channel_switched_off_stops_taking_deliveries(self, channel):
        assert post(channel, text_update(1, "до")).status_code == 200
        # Here: at once (the process's copy goes with the save).
        channel.is_active = False
        channel.save()
        assert post(channel, text_update(2, "после")).status_code == 404
        # In another process (no signal here): once its copy is a second old.
        channel.is_active = True
        channel.save()
        assert post(channel, text_update(3, "снова")).status_code == 200
        Channel.objects.filter(pk=channel.pk).update(is_active=False)
        later = time.monotonic() + selectors.WEBHOOK_CHANNEL_SECONDS + 0.01
        with mock.patch("inbox.selectors.time.monotonic", return_value=later):
            assert post(channel, text_update(4, "через секунду")).status_code == 404
        assert sorted(InboundEvent.objects.values_list("provider_event_id", flat=True)) == [
            "1", "3"]

    def test_it_accepts_post_only(self, channel):
        response = Client().get(url(channel), HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET)
        assert response.status_code == 405

    @pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'{"message": {}}',
                                     b'{"update_id": "7"}', b"\xff\xfe"])
    def test_it_refuses_malformed_updates(self, channel, raw, caplog):
        assert post(channel, None, raw=raw).status_code == 400
        assert not InboundEvent.objects.exists()
        assert "malformed delivery" in caplog.text

    def test_it_refuses_a_huge_body(self, channel):
        update = text_update(1, "x" * 1_100_000)
        assert post(channel, update).status_code == 413
        assert not InboundEvent.objects.exists()

    def test_it_stores_the_raw_event_and_processes_it(self, channel):
        update = fixture("message_text")
        response = post(channel, update)
        assert response.status_code == 200
        event = InboundEvent.objects.get()
        assert (event.provider_event_id, event.event_type) == ("900000001", "message")
        assert json.loads(event.payload) == update
        assert event.status == InboundEvent.Status.PROCESSED
        assert event.attempts == 1 and event.processed_at is not None
        assert Message.objects.get().text == update["message"]["text"]

    def test_it_handles_a_duplicate_update(self, channel):
        update = fixture("message_text")
        assert post(channel, update).status_code == 200
        assert post(channel, update).status_code == 200
        assert InboundEvent.objects.count() == 1
        assert Message.objects.count() == 1
        assert Deal.objects.filter(contact__source=Contact.Source.TELEGRAM).count() == 1

    def test_the_same_message_in_another_update_is_stored_once(self, channel):
        post(channel, text_update(1, "привет", message_id=5))
        post(channel, text_update(2, "привет", message_id=5))
        assert InboundEvent.objects.count() == 2
        assert Message.objects.count() == 1

    @pytest.mark.parametrize("name", ["callback_query", "channel_post"])
    def test_it_keeps_unknown_update_types_for_inspection(self, channel, name):
        assert post(channel, fixture(name)).status_code == 200
        event = InboundEvent.objects.get()
        assert event.status == InboundEvent.Status.IGNORED
        assert event.event_type == name
        assert not Message.objects.exists() and not ChannelIdentity.objects.exists()

    def test_a_failure_is_recorded_on_the_event_and_can_be_retried(self, channel):
        with mock.patch.object(services, "_messages_receive_all", side_effect=RuntimeError("boom")):
            assert post(channel, fixture("message_text")).status_code == 200
        event = InboundEvent.objects.get()
        assert event.status == InboundEvent.Status.FAILED
        assert "RuntimeError: boom" in event.error
        assert event.attempts == 1
        assert not Message.objects.exists()  # the failed attempt left nothing half-done
        assert not Contact.objects.filter(source=Contact.Source.TELEGRAM).exists()

        with TestCase.captureOnCommitCallbacks(execute=True):
            services.event_retry(event=event)
        event.refresh_from_db()
        assert event.status == InboundEvent.Status.PROCESSED
        assert event.error == "" and event.attempts == 2
        assert Message.objects.count() == 1

    def test_the_sweeper_queues_events_left_waiting(self, channel):
        with mock.patch("inbox.tasks.drain_events.delay"):  # the broker is down
            post(channel, fixture("message_text"))
        event = InboundEvent.objects.get()
        assert event.status == InboundEvent.Status.RECEIVED
        assert sweep_events() == 0  # not yet 20 seconds old
        InboundEvent.objects.update(received_at=timezone.now() - timedelta(minutes=2))
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert sweep_events() == 1
        event.refresh_from_db()
        assert event.status == InboundEvent.Status.PROCESSED
        assert Message.objects.count() == 1
        assert sweep_events() == 0

    def test_a_processed_event_is_not_processed_twice(self, channel):
        post(channel, fixture("message_text"))
        event = InboundEvent.objects.get()
        services.event_process(event=event)
        event.refresh_from_db()
        assert event.attempts == 1
        assert Message.objects.count() == 1


# --- The drain: stored events processed in batches -------------------------------------------


def store(channel, payloads):
    """Webhook deliveries stored while no drain runs (queued drains are dropped)."""
    with mock.patch("inbox.tasks.drain_events.delay"):
        for payload in payloads:
            assert post(channel, payload).status_code == 200
    assert InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).count() == len(
        payloads)


def drain(**kwargs):
    """A drain as a worker runs it, without its wait for more events. Its transactions'
    callbacks run and are gone, as after a commit (the next drain's events must not join
    them)."""
    from django.db import connection

    start = len(connection.run_on_commit)
    with TestCase.captureOnCommitCallbacks(execute=True):
        done = services.events_drain(linger=0, pause=0, **kwargs)
    del connection.run_on_commit[start:]
    return done


@pytest.mark.django_db
class TestDrain:
    def test_webhooks_queue_one_drain_while_one_is_waiting(self, channel):
        with mock.patch("inbox.tasks.drain_events.delay") as delay:
            for n in range(5):
                post(channel, text_update(9000 + n, f"сообщение {n}"))
            assert delay.call_count == 1
            drain()  # it clears the mark before it reads: the next delivery queues another
            post(channel, text_update(9100, "ещё одно"))
            assert delay.call_count == 2
        assert Message.objects.count() == 5

    def test_a_drain_at_work_takes_the_new_events_and_queues_none(self, channel):
        from core import marks

        marks.hold(services.DRAIN_MARK, 5)  # a drain in a worker, between two batches
        with mock.patch("inbox.tasks.drain_events.delay") as delay:
            post(channel, text_update(9000, "пока дренаж работает"))
            assert delay.call_count == 0
            assert drain() == 1
        assert Message.objects.get().text == "пока дренаж работает"
        assert marks.add(services.DRAIN_MARK, 5)  # it let go when nothing was left

    def test_a_long_drain_hands_over_to_a_fresh_task(self, channel):
        store(channel, [text_update(100 + n, f"текст {n}", chat_id=800 + n % 4)
                        for n in range(7)])
        with mock.patch("inbox.tasks.drain_events.delay") as delay:
            assert drain(batch=3, seconds=0) == 3
            assert delay.call_count == 1
        assert InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).count() == 4

    def test_a_batch_routes_every_chat_and_counts_each_conversation(self, channel, anna, ivan):
        payloads = [text_update(100 + n, f"первое {n}", chat_id=800 + n, first_name=f"Клиент{n}",
                                 last_name="")
                    for n in range(3)]
        payloads += [text_update(200 + n, f"второе {n}", chat_id=800 + n % 3,
                                 message_id=500 + n, first_name=f"Клиент{n % 3}",
                                 last_name="")
                     for n in range(6)]
        store(channel, payloads)
        assert drain() == 9
        assert not InboundEvent.objects.exclude(status=InboundEvent.Status.PROCESSED).exists()
        for n in range(3):
            conversation = Conversation.objects.get(identity__external_id_index=(
                ChannelIdentity.index_of(channel, str(800 + n))))
            texts = list(conversation.messages.order_by("id").values_list("text", flat=True))
            assert texts == [f"первое {n}", f"второе {n}", f"второе {n + 3}"]
            assert conversation.unread_count == 3 and conversation.awaiting_reply
            deal = conversation.deal
            assert deal.timeline.filter(kind="message").count() == 3
            assert deal.contact.name == f"Клиент{n}"
        assert Deal.objects.count() == 3

    @pytest.mark.parametrize("vendor", ["postgresql", "other"])
    def test_a_batch_moves_each_conversation_and_deal_to_its_last_message(self, channel, vendor):
        """One statement per batch on PostgreSQL, a statement per row elsewhere (the embedded
        SQLite): the same result."""
        from django.db import connection

        def at(update_id: int, chat_id: int, minute: int) -> dict:
            update = text_update(update_id, f"в {minute}", chat_id=chat_id)
            update["message"]["date"] = 1763900000 + minute * 60
            return update

        store(channel, [at(1, 801, 0), at(2, 802, 1)])
        drain()
        due = {c.identity_id: c.first_response_due_at for c in Conversation.objects.all()}
        assert all(due.values())
        # The leads were made now, after these messages were written: move them back.
        Deal.objects.update(last_activity_at=datetime.fromtimestamp(1763900000, tz=UTC))
        store(channel, [at(3, 801, 5), at(4, 802, 9), at(5, 801, 7), at(6, 802, 2)])
        with mock.patch.object(connection, "vendor", vendor):
            assert drain() == 4
        latest = {801: 7, 802: 9}
        for conversation in Conversation.objects.select_related("deal"):
            chat = 801 if conversation.messages.filter(text="в 0").exists() else 802
            last = datetime.fromtimestamp(1763900000 + latest[chat] * 60, tz=UTC)
            assert conversation.unread_count == 3
            assert conversation.last_inbound_at == conversation.last_activity_at == last
            assert conversation.deal.last_activity_at == last
            assert conversation.first_response_due_at == due[conversation.identity_id]

    def test_a_batch_costs_a_few_statements_whatever_its_size(self, channel, anna, ivan,
                                                             django_assert_max_num_queries):
        # Known clients (their first messages made them), then 30 messages from 10 chats.
        store(channel, [text_update(100 + n, "привет", chat_id=800 + n) for n in range(10)])
        drain()
        store(channel, [text_update(300 + n, f"текст {n}", chat_id=800 + n % 10,
                                    message_id=600 + n) for n in range(30)])
        # Per batch: the events, messages, identities, deals, conversations, the inserts, one
        # update of the conversations, one of the deals, the statuses; the live notices' three
        # (their recipients, with their roles, and the assignees' unread counts); and the
        # drain's last look for more. Nothing per message or per chat (30 or 10 more).
        with django_assert_max_num_queries(23):
            assert drain() == 30
        assert Message.objects.count() == 40

    def test_a_batch_tells_each_owner_once_and_each_deal_card_every_message(self, channel,
                                                                           anna, ivan):
        from core import events

        store(channel, [text_update(100 + n, "привет", chat_id=800 + n) for n in range(4)])
        drain()
        store(channel, [text_update(300 + n, f"текст {n}", chat_id=800 + n % 4,
                                    message_id=600 + n) for n in range(8)])
        with mock.patch.object(events, "layer_send") as layer_send:
            drain()
        sent = [(group, message["event"]) for call in layer_send.call_args_list
                for group, message in call.args[0]]
        updated = [(group, event) for group, event in sent
                   if event["type"] == "conversation.updated"]
        owners = set(Deal.objects.values_list("owner_id", flat=True))
        assert sorted(group for group, _event in updated) == sorted(
            events.user_group(owner) for owner in owners)
        assert sorted(c for _group, event in updated for c in event["conversations"]) == sorted(
            Conversation.objects.values_list("pk", flat=True))
        entries = [event for _group, event in sent if event["type"] == "timeline.entry"]
        assert len(entries) == 8

    def test_a_bad_event_fails_alone_and_the_rest_of_the_batch_goes_through(self, channel):
        store(channel, [text_update(100, "раз", chat_id=801), text_update(101, "два", chat_id=802),
                        text_update(102, "три", chat_id=803)])
        bad = InboundEvent.objects.get(provider_event_id="101")
        InboundEvent.objects.filter(pk=bad.pk).update(payload="{not json")
        assert drain() == 3
        bad.refresh_from_db()
        assert bad.status == InboundEvent.Status.FAILED and "JSONDecodeError" in bad.error
        assert sorted(Message.objects.values_list("text", flat=True)) == ["раз", "три"]

    def test_an_edit_in_the_same_batch_as_its_message_applies_after_it(self, channel):
        store(channel, [fixture("message_text"), fixture("edited_message")])
        drain()
        message = Message.objects.get()
        assert message.text == "Здравствуйте! Сколько стоит поставка 12 серверов?"
        assert message.edited_at.timestamp() == 1763900500

    def test_a_reply_to_a_message_of_the_same_batch_points_at_it(self, channel):
        reply = text_update(2, "Да, именно эти", message_id=102)
        reply["message"]["reply_to_message"] = {"message_id": 101, "chat": reply["message"]["chat"],
                                                "date": reply["message"]["date"], "text": "…"}
        store(channel, [text_update(1, "Нужны серверы", message_id=101), reply])
        drain()
        assert Message.objects.get(text="Да, именно эти").reply_to == Message.objects.get(
            text="Нужны серверы")

    def test_the_same_message_twice_in_a_batch_is_stored_once(self, channel):
        again = fixture("message_text")
        again["update_id"] += 1
        store(channel, [fixture("message_text"), again])
        drain()
        assert Message.objects.count() == 1
        assert Conversation.objects.get().unread_count == 1


# --- The parser: one fixture per update type -------------------------------------------------

# What each fixture parses into: (kind of normalized event, text, attachments as
# (kind, file_id, name, mime, size), reply_to) or None for an update type we ignore.
EXPECTED = {
    "message_text": ("message", "Здравствуйте! Сколько стоит поставка 10 серверов?", [], ""),
    "message_photo": ("message", "Вот фото стойки", [
        ("photo", "AgACAgIAAxkBAAIBZ2photo-large", "photo.jpg", "image/jpeg", 71042)], ""),
    "message_document": ("message", "Техзадание", [
        ("document", "BQACAgIAAxkBAAIBaGdoc", "ТЗ на поставку.pdf", "application/pdf",
         254311)], ""),
    "message_voice": ("message", "", [
        ("voice", "AwACAgIAAxkBAAIBaWvoice", "voice.ogg", "audio/ogg", 23114)], ""),
    "message_audio": ("message", "", [
        ("audio", "CQACAgIAAxkBAAIBamaudio", "запись звонка.mp3", "audio/mpeg", 2944001)], ""),
    "message_video": ("message", "Как сейчас выглядит серверная", [
        ("video", "BAACAgIAAxkBAAIBa2video", "серверная.mp4", "video/mp4", 4823019)], ""),
    "message_sticker": ("message", "", [
        ("sticker", "CAACAgIAAxkBAAIBbHsticker", "sticker.webp", "image/webp", 18340)], ""),
    "message_reply": ("message", "Да, именно эти", [], "700100200:101"),
    "edited_message": ("edited", "Здравствуйте! Сколько стоит поставка 12 серверов?", [], ""),
    "my_chat_member_kicked": ("unreachable", None, None, None),
    "callback_query": None,
    "channel_post": None,
}
HANDLED_TYPES = {"message", "edited_message", "my_chat_member"}


def test_every_fixture_is_used_and_every_handled_type_has_one():
    files = {path.stem for path in FIXTURES.glob("*.json")}
    assert files == set(EXPECTED), "a fixture without a test, or a test without its fixture"
    types = {next(k for k in fixture(name) if k != "update_id") for name in files}
    assert HANDLED_TYPES <= types


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_fixture_parses(name):
    provider = provider_for(Channel(kind=Channel.Kind.TELEGRAM, webhook_secret=SECRET))
    update = fixture(name)
    assert provider.event_id(update) == str(update["update_id"])
    events = provider.parse(update)
    expected = EXPECTED[name]
    if expected is None:
        assert events == []
        return
    kind, text, attachments, reply_to = expected
    [event] = events
    if kind == "unreachable":
        assert event == ClientUnreachable(sender_id=SENDER, reason=event.reason)
        assert event.reason
        return
    assert isinstance(event, InboundMessage)
    assert event.sender_id == SENDER
    assert event.sender_name == "Мария Иванова"
    assert event.text == text
    assert event.edited == (kind == "edited")
    assert event.reply_to_external_id == reply_to
    assert [(a.kind, a.file_id, a.name, a.mime_type, a.size)
            for a in event.attachments] == attachments
    body = update.get("message") or update["edited_message"]
    assert event.external_id == f"{SENDER}:{body['message_id']}"
    assert event.sent_at.timestamp() == body.get("edit_date", body["date"])


def test_a_group_message_is_not_a_client_conversation():
    update = fixture("message_text")
    update["message"]["chat"] = {"id": -100200, "type": "supergroup", "title": "Чат"}
    assert provider_for(Channel(kind=Channel.Kind.TELEGRAM)).parse(update) == []


def test_a_user_who_unblocks_the_bot_is_no_event():
    update = fixture("my_chat_member_kicked")
    update["my_chat_member"]["new_chat_member"]["status"] = "member"
    assert provider_for(Channel(kind=Channel.Kind.TELEGRAM)).parse(update) == []


# --- Routing ---------------------------------------------------------------------------------


@pytest.mark.django_db
class TestRouting:
    def test_a_new_sender_becomes_a_contact_with_a_lead_deal_and_a_conversation(
        self, channel, anna, ivan
    ):
        post(channel, fixture("message_text"))
        identity = ChannelIdentity.objects.get()
        assert identity.external_id == SENDER
        assert identity.display_name == "Мария Иванова"
        contact = identity.contact
        assert (contact.name, contact.source) == ("Мария Иванова", Contact.Source.TELEGRAM)
        deal = Deal.objects.get(contact=contact)
        assert deal.status == Deal.Status.OPEN
        assert deal.team == channel.team and deal.owner in (anna, ivan)
        assert contact.owner == deal.owner
        conversation = Conversation.objects.get()
        assert (conversation.deal, conversation.assignee, conversation.contact) == (
            deal, deal.owner, contact)
        assert conversation.unread_count == 1
        message = Message.objects.get()
        assert message.direction == Message.Direction.INBOUND
        assert message.status == Message.Status.RECEIVED
        assert message.external_id == f"{SENDER}:101"
        assert conversation.last_inbound_at == message.created_at
        assert conversation.last_activity_at == message.created_at
        entry = deal.timeline.get(kind="message")
        assert entry.source == message and entry.occurred_at == message.created_at

    def test_new_clients_go_round_robin_among_the_teams_managers(self, channel, anna, ivan,
                                                                 olga, head_north):
        for n in range(4):
            post(channel, text_update(n + 1, "привет", chat_id=1000 + n))
        owners = list(Deal.objects.order_by("id").values_list("owner__username", flat=True))
        assert owners == ["anna", "ivan", "anna", "ivan"]

    def test_an_inactive_manager_gets_no_new_clients(self, channel, anna, ivan):
        anna.is_active = False
        anna.save()
        post(channel, text_update(1, "привет", chat_id=1))
        post(channel, text_update(2, "привет", chat_id=2))
        assert set(Deal.objects.values_list("owner__username", flat=True)) == {"ivan"}

    def test_a_known_senders_messages_land_in_their_open_deal(self, channel, anna, ivan):
        post(channel, text_update(1, "первое"))
        deal = Deal.objects.get()
        post(channel, text_update(2, "второе"))
        assert Deal.objects.count() == 1 and Conversation.objects.count() == 1
        assert list(deal.timeline.filter(kind="message").values_list("source_id", flat=True)
                    .order_by("id")) == list(Message.objects.values_list("pk", flat=True))
        assert Conversation.objects.get().unread_count == 2

    def test_the_newest_open_deal_of_the_contact_takes_the_message(self, channel, anna, ivan):
        post(channel, text_update(1, "первое"))
        contact = Contact.objects.get(source=Contact.Source.TELEGRAM)
        owner = contact.owner
        newer = make_deal(owner, title="Вторая сделка", contact=contact)
        Conversation.objects.update(status=Conversation.Status.CLOSED)
        post(channel, text_update(2, "второе"))
        assert Message.objects.get(text="второе").conversation.deal == newer

    def test_a_client_whose_deal_is_closed_gets_a_new_lead(self, channel, anna, ivan):
        post(channel, text_update(1, "первое"))
        old = Deal.objects.get()
        Deal.objects.update(status=Deal.Status.WON)
        post(channel, text_update(2, "снова я"))
        new = Deal.objects.exclude(pk=old.pk).get()
        assert new.owner == old.owner and new.contact == old.contact
        assert Message.objects.get(text="снова я").conversation.deal == new

    def test_a_sender_linked_to_an_existing_contact_lands_in_that_contacts_deal(
        self, channel, anna, anna_contact, anna_deal
    ):
        ChannelIdentity.objects.create(channel=channel, external_id=SENDER,
                                       contact=anna_contact)
        post(channel, fixture("message_text"))
        assert Message.objects.get().conversation.deal == anna_deal
        assert Conversation.objects.get().assignee == anna
        assert Deal.objects.count() == 1

    def test_attachments_and_replies_are_recorded(self, channel):
        post(channel, fixture("message_text"))
        post(channel, fixture("message_document"))
        post(channel, fixture("message_reply"))
        attachment = Attachment.objects.get()
        assert (attachment.kind, attachment.name, attachment.mime_type, attachment.size,
                attachment.provider_file_id) == (
            "document", "ТЗ на поставку.pdf", "application/pdf", 254311, "BQACAgIAAxkBAAIBaGdoc")
        assert attachment.message.text == "Техзадание"
        reply = Message.objects.get(external_id=f"{SENDER}:108")
        assert reply.reply_to == Message.objects.get(external_id=f"{SENDER}:101")

    def test_edited_message_updates_the_text(self, channel):
        post(channel, fixture("message_text"))
        post(channel, fixture("edited_message"))
        message = Message.objects.get()
        assert message.text == "Здравствуйте! Сколько стоит поставка 12 серверов?"
        assert message.edited_at.timestamp() == 1763900500
        assert Conversation.objects.get().unread_count == 1
        assert message.conversation.deal.timeline.filter(kind="message").count() == 1

    def test_my_chat_member_kicked_marks_the_identity_unreachable(self, channel):
        post(channel, fixture("message_text"))
        post(channel, fixture("my_chat_member_kicked"))
        identity = ChannelIdentity.objects.get()
        assert identity.is_unreachable
        assert identity.unreachable_reason
        assert InboundEvent.objects.get(event_type="my_chat_member").status == "processed"

    def test_a_stranger_blocking_the_bot_changes_nothing(self, channel):
        post(channel, fixture("my_chat_member_kicked"))
        assert not ChannelIdentity.objects.exists() and not Contact.objects.exists()

    def test_a_team_without_managers_fails_the_event_visibly(self, channel, anna, ivan):
        type(anna).objects.filter(pk__in=[anna.pk, ivan.pk]).update(is_active=False)
        post(channel, fixture("message_text"))
        event = InboundEvent.objects.get()
        assert event.status == InboundEvent.Status.FAILED
        assert "no active manager" in event.error


@pytest.mark.django_db
def test_html_in_a_message_is_stored_as_is_and_shown_escaped(channel, anna, ivan):
    attack = "<img src=x onerror=alert(1)>"
    post(channel, text_update(1, attack, first_name="<b>Хакер</b>", last_name=""))
    message = Message.objects.get()
    assert message.text == attack
    deal = message.conversation.deal
    client = Client()
    client.force_login(deal.owner)
    page = client.get(reverse("deal_detail", args=[deal.pk])).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert attack not in page
    assert "<b>Хакер</b>" not in page


@pytest.mark.django_db
def test_the_api_timeline_serializes_a_message(channel, anna, ivan):
    post(channel, fixture("message_text"))
    message = Message.objects.get()
    deal = message.conversation.deal
    client = Client()
    client.force_login(deal.owner)
    data = client.get(f"/api/v1/deals/{deal.pk}/timeline/").json()
    entries = data["results"] if isinstance(data, dict) else data
    entry = next(e for e in entries if e["kind"] == "message")
    assert entry["data"] == {"message_id": message.pk, "direction": "in",
                             "channel": "Telegram-бот", "text": message.text,
                             "status": "received"}


@pytest.mark.django_db
def test_an_outsider_does_not_see_the_conversation(channel, anna, ivan, olga, head_north):
    from inbox.selectors import conversations_visible_to, message_list

    post(channel, fixture("message_text"))
    conversation = Conversation.objects.get()
    owner = conversation.deal.owner
    assert list(conversations_visible_to(owner)) == [conversation]
    assert list(conversations_visible_to(head_north)) == [conversation]
    assert not conversations_visible_to(olga).exists()
    other = anna if owner != anna else ivan
    assert not conversations_visible_to(other).exists()
    assert [m.text for m in message_list(conversation=conversation)] == [
        fixture("message_text")["message"]["text"]]


# --- The live push ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_deal_card_receives_the_message_live(north, anna):
    from tests.crm.test_consumers import connect

    channel = await database_sync_to_async(Channel.objects.create)(
        kind=Channel.Kind.TELEGRAM, name="Telegram-бот", team=north, webhook_secret=SECRET)
    contact = await database_sync_to_async(make_contact)(anna, name="Мария Иванова")
    deal = await database_sync_to_async(make_deal)(anna, title="Серверы", contact=contact)
    await database_sync_to_async(ChannelIdentity.objects.create)(
        channel=channel, external_id=SENDER, contact=contact)

    communicator, connected = await connect(anna)
    assert connected
    await communicator.send_json_to({"subscribe": "deal", "id": deal.pk})
    assert await communicator.receive_json_from() == {"subscribed": "deal", "id": deal.pk}

    response = await database_sync_to_async(post)(channel, fixture("message_text"),
                                                 on_commit=False)
    assert response.status_code == 200
    # Two events, for the deal card and for anna's conversation list (the groups are sent to
    # side by side: in either order).
    received = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    by_type = {e["type"]: e for e in received}
    assert set(by_type) == {"timeline.entry", "conversation.updated"}
    event = by_type["timeline.entry"]
    assert event["kind"] == "message" and event["deal"] == deal.pk
    assert by_type["conversation.updated"]["deals"] == [deal.pk]
    assert "Здравствуйте" not in str(received)  # ids only; the text comes through the view
    message = await database_sync_to_async(Message.objects.get)()
    entry_id = await database_sync_to_async(
        lambda: deal.timeline.get(kind="message", source_id=message.pk).pk)()
    assert event["entry"] == entry_id
    await communicator.disconnect()


# --- The demo channel and simulate_inbound ---------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the command's request commits, as in real use
def test_simulate_inbound_plays_telegram_against_the_demo_channel(north, south, anna, ivan):
    import io
    import random
    from urllib.parse import urlparse

    from django.core.management import CommandError, call_command

    from crm.demo import DemoBuilder
    from inbox import demo

    demo.seed(DemoBuilder(random.Random(1), timezone.now()))
    [described] = [c for c in demo.describe()["channels"] if c["kind"] == "telegram"]
    channel = Channel.objects.get(name=described["name"])
    assert urlparse(described["webhook_url"]).path == url(channel)
    assert channel.webhook_secret == described["secret"] and channel.team == north

    def simulate(text):
        out = io.StringIO()
        call_command("simulate_inbound", "--channel", channel.name, "--from",
                     "Анна Клиентова", "--text", text, stdout=out)
        return out.getvalue()

    output = simulate("Добрый день!")
    assert "HTTP 200" in output and "processed" in output
    assert "owned by anna" in output
    time.sleep(0.002)  # a new update_id
    simulate("<script>alert(1)</script>")
    conversation = Conversation.objects.get()
    assert conversation.contact.name == "Анна Клиентова"
    assert [m.text for m in conversation.messages.all()] == [
        "Добрый день!", "<script>alert(1)</script>"]

    with pytest.raises(CommandError, match="No messenger channel"):
        call_command("simulate_inbound", "--channel", "нет такого", "--from", "x",
                     "--text", "y")


@pytest.mark.django_db
def test_a_failed_event_is_retried_from_the_admin(channel, director):
    # The admin role's permissions do not cover the inbox yet: a superuser here.
    director.is_superuser = True
    director.save()
    with mock.patch.object(services, "_messages_receive_all", side_effect=RuntimeError("boom")):
        post(channel, fixture("message_text"))
    event = InboundEvent.objects.get(status=InboundEvent.Status.FAILED)
    client = Client()
    client.force_login(director)
    page = client.get(reverse("admin:inbox_inboundevent_change", args=[event.pk]))
    assert page.status_code == 200 and "RuntimeError: boom" in page.content.decode()
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(reverse("admin:inbox_inboundevent_changelist"),
                               {"action": "retry", "_selected_action": [event.pk]})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.PROCESSED
    assert Message.objects.count() == 1
