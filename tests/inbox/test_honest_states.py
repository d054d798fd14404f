"""Honest states: a conversation is answered when a reply is sent, not when it is queued; a
failed reply keeps it unanswered, marked, with its Retry one click away; an automatic reply
never hides the client's question; the head sees whose answer is awaited; and in the
embedded server a reply's request answers at once while the provider keeps failing."""

import time

import pytest
from django.urls import reverse
from django.utils import timezone

from core import tasks as core_tasks
from inbox import services
from inbox.models import Conversation, Message
from tests.factories import client_for
from tests.inbox.test_conversations import (  # noqa: F401 (office_channel: a fixture)
    OUT_OF_OFFICE,
    moscow,
    office_channel,
    write_at,
)

LIST = reverse("conversation_list")


def reply_url(conversation):
    return reverse("conversation_reply", args=[conversation.deal_id, conversation.pk])


def client_wrote(conversation, text="Когда будет доставка?"):
    """The client's message as the inbound path leaves it: awaiting, with a due time."""
    now = timezone.now()
    Message.objects.create(conversation=conversation, channel=conversation.channel,
                           direction=Message.Direction.INBOUND, text=text,
                           status=Message.Status.RECEIVED, external_id=f"555001:{now:%f}",
                           created_at=now)
    Conversation.objects.filter(pk=conversation.pk).update(
        awaiting_reply=True, unread_count=1, last_inbound_at=now, last_activity_at=now,
        first_response_due_at=now + timezone.timedelta(minutes=15))
    conversation.refresh_from_db()
    return conversation.first_response_due_at


@pytest.mark.django_db
class TestAnsweredWhenSent:
    def test_a_queued_reply_leaves_the_conversation_awaiting_until_it_is_sent(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        due = client_wrote(anna_conversation)
        with django_capture_on_commit_callbacks() as sends:
            services.message_reply(conversation=anna_conversation, by=anna, text="Завтра")
        anna_conversation.refresh_from_db()
        assert anna_conversation.awaiting_reply
        assert anna_conversation.first_response_due_at == due
        assert anna_conversation.last_outbound_at is None
        assert anna_conversation.unread_count == 0  # she has read it by answering

        for send in sends:
            send()
        anna_conversation.refresh_from_db()
        message = Message.objects.get(direction=Message.Direction.OUTBOUND)
        assert message.status == Message.Status.SENT
        assert not anna_conversation.awaiting_reply
        assert anna_conversation.first_response_due_at is None
        assert anna_conversation.last_outbound_at == message.sent_at
        assert not anna_conversation.last_reply_failed

    def test_a_failed_reply_keeps_it_awaiting_with_its_due_time_and_marks_it(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        due = client_wrote(anna_conversation)
        fake_bot_api.fail_next("400")
        with django_capture_on_commit_callbacks(execute=True):
            services.message_reply(conversation=anna_conversation, by=anna, text="Завтра")
        anna_conversation.refresh_from_db()
        assert Message.objects.get(direction="out").status == Message.Status.FAILED
        assert anna_conversation.awaiting_reply
        assert anna_conversation.first_response_due_at == due
        assert anna_conversation.last_reply_failed
        assert anna_conversation.last_outbound_at is None

    def test_retry_clears_the_mark_and_the_sent_retry_answers(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        client_wrote(anna_conversation)
        fake_bot_api.fail_next("400")
        with django_capture_on_commit_callbacks(execute=True):
            services.message_reply(conversation=anna_conversation, by=anna, text="Завтра")
        message = Message.objects.get(direction="out")
        with django_capture_on_commit_callbacks() as sends:
            services.message_retry(message=message, by=anna)
        anna_conversation.refresh_from_db()
        assert anna_conversation.awaiting_reply and not anna_conversation.last_reply_failed
        for send in sends:
            send()
        anna_conversation.refresh_from_db()
        assert not anna_conversation.awaiting_reply and not anna_conversation.last_reply_failed

    def test_a_reply_sent_after_the_client_wrote_again_leaves_the_new_question_awaiting(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        client_wrote(anna_conversation)
        with django_capture_on_commit_callbacks() as sends:
            services.message_reply(conversation=anna_conversation, by=anna, text="Завтра")
        client_wrote(anna_conversation, "А во сколько?")  # while the reply was queued
        for send in sends:
            send()
        anna_conversation.refresh_from_db()
        assert Message.objects.get(direction="out").status == Message.Status.SENT
        assert anna_conversation.awaiting_reply
        assert anna_conversation.first_response_due_at is not None

    def test_a_failed_follow_up_puts_an_answered_conversation_back_in_the_queue(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            services.message_reply(conversation=anna_conversation, by=anna, text="Счёт готов")
        fake_bot_api.fail_next("403")  # the client blocked the bot
        with django_capture_on_commit_callbacks(execute=True):
            services.message_reply(conversation=anna_conversation, by=anna, text="Напомню")
        anna_conversation.refresh_from_db()
        assert anna_conversation.awaiting_reply and anna_conversation.last_reply_failed
        assert anna_conversation.first_response_due_at is None  # no clock was running

    def test_a_failed_automatic_message_is_no_failed_reply(
        self, anna, anna_conversation, fake_bot_api
    ):
        message = Message.objects.create(
            conversation=anna_conversation, channel=anna_conversation.channel,
            direction=Message.Direction.OUTBOUND, text=OUT_OF_OFFICE, is_automatic=True,
            status=Message.Status.QUEUED)
        services.message_fail(message, "Bad Request")
        anna_conversation.refresh_from_db()
        assert not anna_conversation.awaiting_reply and not anna_conversation.last_reply_failed

    def test_the_lists_hear_that_a_reply_failed(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks,
        monkeypatch,
    ):
        from core import events

        sent = []
        monkeypatch.setattr(events, "send_after_commit", lambda group, event: sent.append(
            (group, event)))
        fake_bot_api.fail_next("400")
        with django_capture_on_commit_callbacks(execute=True):
            services.message_reply(conversation=anna_conversation, by=anna, text="Завтра")
        assert (events.user_group(anna.pk), {
            "type": "conversation.updated", "conversations": [anna_conversation.pk],
            "deals": [anna_conversation.deal_id]}) in sent


@pytest.mark.django_db
class TestListsAndCard:
    def test_the_list_keeps_a_failed_reply_first_with_its_mark_and_retry(
        self, anna, anna_conversation, telegram_channel, anna_deal, fake_bot_api,
        django_capture_on_commit_callbacks,
    ):
        from tests.inbox.conftest import make_conversation

        quiet = make_conversation(channel=telegram_channel, deal=anna_deal, chat_id="555777",
                                  name="Свежий")
        client_wrote(anna_conversation)
        fake_bot_api.fail_next("400")
        with django_capture_on_commit_callbacks(execute=True):
            client_for(anna).post(reply_url(anna_conversation), {"text": "Завтра в 10"})
        Conversation.objects.filter(pk=quiet.pk).update(last_activity_at=timezone.now())
        message = Message.objects.get(direction="out")

        page = client_for(anna).get(LIST).content.decode()
        assert page.index("Пётр") < page.index("Свежий")  # unanswered first
        row = page[page.index(f'data-conversation-row="{anna_conversation.pk}"'):]
        row = row[:row.index("</tr>")]
        assert "conversation-row--awaiting" in page and "conversation-row--failed" in page
        assert "Ответ не отправлен" in row
        assert "Ждёт вашего ответа" in row
        assert reverse("message_retry", args=[anna_deal.pk, message.pk]) in row

        # One click: the list's Retry sends it, and the conversation is answered.
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(anna).post(
                reverse("message_retry", args=[anna_deal.pk, message.pk]),
                HTTP_ACCEPT="application/json")
        assert response.status_code == 200
        page = client_for(anna).get(LIST).content.decode()
        assert "Ответ не отправлен" not in page and "Ждёт вашего ответа" not in page

    def test_the_deal_card_marks_the_failed_reply_and_its_chat_refresh_carries_it(
        self, anna, anna_conversation, anna_deal, fake_bot_api,
        django_capture_on_commit_callbacks,
    ):
        client_wrote(anna_conversation)
        fake_bot_api.fail_next("400")
        with django_capture_on_commit_callbacks(execute=True):
            client_for(anna).post(reply_url(anna_conversation), {"text": "Завтра в 10"})
        card = client_for(anna).get(reverse("deal_detail", args=[anna_deal.pk]))
        html = card.content.decode()
        assert 'data-reply-failed="' in html and "Ответ не отправлен" in html
        assert "Ждёт вашего ответа" in html
        data = client_for(anna).get(
            reverse("conversation_messages", args=[anna_deal.pk, anna_conversation.pk]),
            HTTP_ACCEPT="application/json").json()
        assert "Ответ не отправлен" in data["state"]
        assert f'data-conversation-state="{anna_conversation.pk}"' in data["state"]

    def test_an_interrupted_reply_sends_the_manager_to_check_the_chat(
        self, anna, anna_conversation, anna_deal, fake_bot_api
    ):
        message = services.message_reply(conversation=anna_conversation, by=anna, text="Ау")
        services.message_fail(message, services._interrupted_reason(), delivery_unknown=True)
        row = client_for(anna).get(LIST).content.decode()
        assert "Ответ не отправлен" in row
        assert f"#message-{message.pk}" in row  # no blind retry from the list
        assert reverse("message_retry", args=[anna_deal.pk, message.pk]) not in row

    def test_an_automatic_reply_does_not_replace_the_clients_question(
        self, office_channel, fake_bot_api, anna  # noqa: F811
    ):
        write_at(office_channel, moscow(28, 12), 1, "Сколько стоит доставка?")
        automatic = Message.objects.get(direction="out")
        assert automatic.is_automatic and automatic.text == OUT_OF_OFFICE
        page = client_for(anna).get(LIST).content.decode()
        assert "Сколько стоит доставка?" in page
        assert OUT_OF_OFFICE not in page
        assert "Вы:" not in page

    def test_the_head_sees_whose_answer_is_awaited_and_who_wrote(
        self, anna, head_north, anna_conversation, fake_bot_api,
        django_capture_on_commit_callbacks,
    ):
        with django_capture_on_commit_callbacks(execute=True):
            services.message_reply(conversation=anna_conversation, by=anna, text="Счёт готов")
        client_wrote(anna_conversation)
        head = client_for(head_north).get(LIST, {"scope": "all"}).content.decode()
        assert "Ждёт вашего ответа" not in head
        assert "Ждёт ответа; отвечает Anna" in head
        anna_page = client_for(anna).get(LIST).content.decode()
        assert "Ждёт вашего ответа" in anna_page

        Message.objects.filter(direction="in").delete()  # anna's reply is the last message
        head = client_for(head_north).get(LIST, {"scope": "all"}).content.decode()
        assert "Anna:" in head and "Вы:" not in head
        assert "Вы:" in client_for(anna).get(LIST).content.decode()

    def test_the_list_reads_in_constant_queries(
        self, anna, anna_conversation, telegram_channel, anna_deal, fake_bot_api,
        django_assert_max_num_queries, django_capture_on_commit_callbacks,
    ):
        from tests.inbox.conftest import make_conversation

        for i in range(6):
            conversation = make_conversation(channel=telegram_channel, deal=anna_deal,
                                             chat_id=f"5559{i}", name=f"Клиент {i}")
            fake_bot_api.fail_next("400")
            with django_capture_on_commit_callbacks(execute=True):
                services.message_reply(conversation=conversation, by=anna, text=f"Ответ {i}")
        client = client_for(anna)
        client.get(LIST)
        with django_assert_max_num_queries(30) as captured:
            client.get(LIST)
        few = len(captured)
        for i in range(6, 12):
            conversation = make_conversation(channel=telegram_channel, deal=anna_deal,
                                             chat_id=f"5559{i}", name=f"Клиент {i}")
            fake_bot_api.fail_next("400")
            with django_capture_on_commit_callbacks(execute=True):
                services.message_reply(conversation=conversation, by=anna, text=f"Ответ {i}")
        with django_assert_max_num_queries(few):
            client.get(LIST)


# --- The embedded server's in-process worker ---------------------------------------------------


@pytest.fixture
def worker():
    worker = core_tasks.worker_start(threads=2)
    yield worker
    core_tasks.worker_stop()
    worker.drain(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_a_reply_answers_at_once_while_the_provider_fails_and_the_worker_retries(
    anna, anna_conversation, fake_bot_api, worker, settings, monkeypatch
):
    # Telegram answers 429 "retry after 5 s" three times: each retry would wait 5 s.
    settings.PROVIDER_EAGER_WAIT_MAX = 5
    monkeypatch.setattr(services, "CHAT_SEND_INTERVAL", 0)
    fake_bot_api.retry_after = 5
    fake_bot_api.fail_next("429", times=3)
    client_wrote(anna_conversation)
    client = client_for(anna)

    started = time.monotonic()
    response = client.post(reply_url(anna_conversation), {"text": "Завтра в 10"},
                           HTTP_ACCEPT="application/json")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 1, f"the reply's request took {elapsed:.2f} s"

    # The first attempt was refused; the worker waits for its retry, not the request.
    deadline = time.monotonic() + 5
    while not fake_bot_api.calls("sendMessage") and time.monotonic() < deadline:
        time.sleep(0.01)
    message = Message.objects.get(direction="out")
    assert message.status == Message.Status.QUEUED
    anna_conversation.refresh_from_db()
    assert anna_conversation.awaiting_reply

    # A note typed meanwhile goes through at once too.
    started = time.monotonic()
    response = client.post(reply_url(anna_conversation), {"text": "Клиент VIP", "private": "1"},
                           HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and time.monotonic() - started < 1

    assert worker.drain(timeout=10)  # the retries' waits cut short
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert len(fake_bot_api.calls("sendMessage")) == 4
    anna_conversation.refresh_from_db()
    assert not anna_conversation.awaiting_reply


@pytest.mark.django_db(transaction=True)
def test_without_the_worker_tasks_still_run_in_the_caller(anna, anna_conversation, fake_bot_api):
    assert core_tasks._worker is None  # tests and commands: the old, synchronous path
    client_for(anna).post(reply_url(anna_conversation), {"text": "Сразу"})
    assert Message.objects.get(direction="out").status == Message.Status.SENT
