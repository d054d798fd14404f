"""Replies from the deal card to Telegram, through the local fake Bot API."""

import time
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from inbox import services, tasks
from inbox.models import ChannelIdentity, Message
from inbox.providers.base import ProviderError
from inbox.providers.telegram_client import TelegramBotClient
from tests.crm.test_consumers import connect
from tests.factories import client_for
from tests.inbox.conftest import CLIENT_CHAT_ID

XSS = "<img src=x onerror=alert(1)>"


def reply_url(conversation):
    return reverse("conversation_reply", args=[conversation.deal_id, conversation.pk])


def reply(user, conversation, text, capture, **headers):
    with capture(execute=True):
        return client_for(user).post(reply_url(conversation), {"text": text}, **headers)


@pytest.mark.django_db
class TestReply:
    def test_it_sends_the_reply_and_records_the_external_id(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        response = reply(anna, anna_conversation, "Счёт отправил, посмотрите",
                         django_capture_on_commit_callbacks)
        assert response.status_code == 302
        [call] = fake_bot_api.calls("sendMessage")
        assert call.token == fake_bot_api.token
        assert call.body["chat_id"] == CLIENT_CHAT_ID
        assert call.body["text"] == "Счёт отправил, посмотрите"
        message = Message.objects.get()
        assert message.direction == Message.Direction.OUTBOUND
        assert message.author == anna
        assert message.status == Message.Status.SENT
        assert message.external_id == f"{CLIENT_CHAT_ID}:101"
        assert message.sent_at is not None
        assert message.attempts == 1
        assert anna_conversation.deal.timeline.filter(kind="message", source_id=message.pk)

    def test_it_answers_fetch_with_the_rendered_chat_message(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        response = reply(anna, anna_conversation, "Добрый день",
                         django_capture_on_commit_callbacks, HTTP_ACCEPT="application/json")
        assert response.status_code == 200
        data = response.json()
        assert "Добрый день" in data["chat_html"]
        assert f'id="message-{data["message"]}"' in data["chat_html"]
        assert f'data-message-status="{data["message"]}"' in data["chat_html"]

    def test_it_retries_after_retry_after_on_429_and_then_sends(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        fake_bot_api.retry_after = 1
        fake_bot_api.fail_next("429")
        reply(anna, anna_conversation, "Повтор", django_capture_on_commit_callbacks)
        first, second = fake_bot_api.calls("sendMessage")
        assert second.at - first.at >= 0.95
        message = Message.objects.get()
        assert message.status == Message.Status.SENT
        assert message.attempts == 2
        assert message.error == ""

    def test_a_blocked_bot_fails_the_message_and_marks_the_client_unreachable(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        fake_bot_api.fail_next("403")
        reply(anna, anna_conversation, "Ау", django_capture_on_commit_callbacks)
        assert len(fake_bot_api.calls("sendMessage")) == 1  # permanent: no retry
        message = Message.objects.get()
        assert message.status == Message.Status.FAILED
        assert message.error == "Telegram отклонил запрос: Forbidden: bot was blocked by the user"
        identity = ChannelIdentity.objects.get()
        assert identity.is_unreachable
        card = client_for(anna).get(anna_conversation.deal.get_absolute_url()).content.decode()
        assert "Клиент недоступен в этом канале" in card
        assert "Forbidden: bot was blocked by the user" in card
        assert reverse("message_retry", args=[anna_conversation.deal_id, message.pk]) in card

    def test_an_unreachable_client_gets_no_http_call(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        ChannelIdentity.objects.update(is_unreachable=True,
                                       unreachable_reason="The client blocked the bot.")
        reply(anna, anna_conversation, "Ау", django_capture_on_commit_callbacks)
        assert fake_bot_api.requests == []
        message = Message.objects.get()
        assert message.status == Message.Status.FAILED
        assert "The client blocked the bot." in message.error

    def test_a_failed_message_can_be_retried(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        fake_bot_api.fail_next("403")
        reply(anna, anna_conversation, "Ещё раз", django_capture_on_commit_callbacks)
        message = Message.objects.get()
        ChannelIdentity.objects.update(is_unreachable=False)  # the client unblocked the bot
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(anna).post(
                reverse("message_retry", args=[anna_conversation.deal_id, message.pk]),
                HTTP_ACCEPT="application/json",
            )
        assert response.json() == {"message": message.pk, "status": "queued"}
        message.refresh_from_db()
        assert message.status == Message.Status.SENT
        assert len(fake_bot_api.calls("sendMessage")) == 2

    def test_only_a_failed_message_can_be_retried(self, anna, anna_conversation, fake_bot_api,
                                                  django_capture_on_commit_callbacks):
        reply(anna, anna_conversation, "Ок", django_capture_on_commit_callbacks)
        message = Message.objects.get()
        with pytest.raises(ValidationError):
            services.message_retry(message=message, by=anna)

    def test_the_provider_error_stays_when_the_retries_run_out(
        self, anna, anna_conversation, fake_bot_api, monkeypatch,
        django_capture_on_commit_callbacks,
    ):
        monkeypatch.setattr(tasks.send_message, "max_retries", 2)
        monkeypatch.setattr(services, "CHAT_SEND_INTERVAL", 0)
        fake_bot_api.fail_next("500", times=10)
        reply(anna, anna_conversation, "Ау", django_capture_on_commit_callbacks)
        assert len(fake_bot_api.calls("sendMessage")) == 3
        message = Message.objects.get()
        assert message.status == Message.Status.FAILED
        assert message.error == "Telegram отклонил запрос: Internal Server Error"

    def test_a_worker_retries_a_429_after_retry_after(self, anna, anna_conversation,
                                                      fake_bot_api, monkeypatch):
        fake_bot_api.retry_after = 7
        fake_bot_api.fail_next("429")
        message = services.message_reply(conversation=anna_conversation, by=anna, text="Ау")
        asked = {}

        def retry(**kwargs):
            asked.update(kwargs)
            return Retry()

        monkeypatch.setattr(tasks.send_message, "retry", retry)
        with pytest.raises(Retry):
            tasks.send_message.run(message.pk, 0)  # as a worker runs it: not eagerly
        assert asked["countdown"] == 7
        assert asked["args"] == (message.pk, 1, 0)  # the attempt on record now
        message.refresh_from_db()
        assert message.status == Message.Status.QUEUED
        assert message.error == "Telegram отклонил запрос: Too Many Requests: retry after 7"

    def test_replies_queued_together_go_out_in_order_each_waiting_its_turn(
        self, anna, anna_conversation, fake_bot_api,
    ):
        """Not every queued task retrying each second, the first to wake winning: a reply
        waits behind the older ones of its chat, as long as they need."""
        first, second, third = (
            services.message_reply(conversation=anna_conversation, by=anna, text=text)
            for text in ("Первый", "Второй", "Третий"))
        for message, ahead in ((third, 2), (second, 1)):
            with pytest.raises(services.ChatBusy) as busy:
                services.message_send(message=message)
            assert busy.value.wait == services.CHAT_SEND_INTERVAL * ahead
        assert services.message_send(message=first).status == Message.Status.SENT
        with pytest.raises(services.ChatBusy) as busy:  # now first in line, within the second
            services.message_send(message=second)
        assert busy.value.wait == services.CHAT_SEND_INTERVAL
        assert [c.body["text"] for c in fake_bot_api.calls("sendMessage")] == ["Первый"]

    def test_a_reply_cut_off_mid_attempt_does_not_hold_the_chat(
        self, anna, anna_conversation, fake_bot_api,
    ):
        """Its worker died at the provider: the sweeper marks it within SEND_CUT_OFF_AFTER,
        and the replies after it go meanwhile."""
        cut, after = (services.message_reply(conversation=anna_conversation, by=anna, text=t)
                      for t in ("Оборвался", "Следующий"))
        Message.objects.filter(pk=cut.pk).update(attempts=1, sending_since=timezone.now())
        assert services.message_send(message=after).status == Message.Status.SENT

    def test_a_retried_task_never_sends_twice(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        reply(anna, anna_conversation, "Один раз", django_capture_on_commit_callbacks)
        message = Message.objects.get()
        # The same task delivered again (acks_late after a lost ack): the message is sent.
        tasks.send_message.apply(args=(message.pk, 0))
        tasks.send_message.apply(args=(message.pk, None))
        assert len(fake_bot_api.calls("sendMessage")) == 1
        message.refresh_from_db()
        assert message.status == Message.Status.SENT

    def test_a_send_interrupted_midway_fails_visibly_instead_of_repeating(
        self, anna, anna_conversation, fake_bot_api
    ):
        # Queued and not yet run (no on-commit callbacks executed here).
        message = services.message_reply(conversation=anna_conversation, by=anna, text="Ау")
        # A worker recorded its attempt, called Telegram and died before recording the result;
        # the broker hands its task out again an hour later.
        Message.objects.filter(pk=message.pk).update(
            attempts=1, sending_since=timezone.now() - timedelta(hours=1))
        tasks.send_message.apply(args=(message.pk, 0))
        assert fake_bot_api.requests == []
        message.refresh_from_db()
        assert message.status == Message.Status.FAILED and message.delivery_unknown
        assert "мог получить или не получить" in message.error

    def test_a_second_task_leaves_the_send_to_the_attempt_under_way(
        self, anna, anna_conversation, fake_bot_api
    ):
        message = services.message_reply(conversation=anna_conversation, by=anna, text="Ау")
        # Another worker is at Telegram with this message right now.
        Message.objects.filter(pk=message.pk).update(attempts=1, sending_since=timezone.now())
        tasks.send_message.apply(args=(message.pk, 0))
        assert fake_bot_api.requests == []
        message.refresh_from_db()
        assert message.status == Message.Status.QUEUED and not message.delivery_unknown

    def test_it_keeps_a_second_apart_in_one_chat(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        reply(anna, anna_conversation, "Первое", django_capture_on_commit_callbacks)
        reply(anna, anna_conversation, "Второе", django_capture_on_commit_callbacks)
        first, second = fake_bot_api.calls("sendMessage")
        assert second.at - first.at >= 0.9
        assert set(Message.objects.values_list("status", flat=True)) == {"sent"}

    def test_a_foreign_deal_answers_404(
        self, anna, anna_conversation, olga_conversation, fake_bot_api,
        django_capture_on_commit_callbacks,
    ):
        assert reply(anna, olga_conversation, "x",
                     django_capture_on_commit_callbacks).status_code == 404
        # Her own deal in the path, someone else's conversation: 404 as well.
        url = reverse("conversation_reply", args=[anna_conversation.deal_id,
                                                  olga_conversation.pk])
        assert client_for(anna).post(url, {"text": "x"}).status_code == 404
        assert not Message.objects.exists()
        assert fake_bot_api.requests == []

    @pytest.mark.parametrize("text, error", [
        ("   ", "Сначала напишите ответ."),
        ("я" * 4097, "В сообщении не больше 4096 символов, а здесь 4097."),
    ])
    def test_empty_or_too_long_text_is_refused_clearly(
        self, anna, anna_conversation, fake_bot_api, text, error,
        django_capture_on_commit_callbacks,
    ):
        response = reply(anna, anna_conversation, text, django_capture_on_commit_callbacks,
                         HTTP_ACCEPT="application/json")
        assert response.status_code == 400
        assert response.json() == {"errors": {"text": [{"message": error}]}}
        response = reply(anna, anna_conversation, text, django_capture_on_commit_callbacks,
                         follow=True)
        assert error in response.content.decode()
        assert not Message.objects.exists()
        assert fake_bot_api.requests == []

    def test_html_is_sent_as_text_and_shown_escaped(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        reply(anna, anna_conversation, XSS, django_capture_on_commit_callbacks)
        [call] = fake_bot_api.calls("sendMessage")
        assert call.body["text"] == XSS
        assert "parse_mode" not in call.body
        card = client_for(anna).get(anna_conversation.deal.get_absolute_url()).content.decode()
        assert XSS not in card
        assert "&lt;img src=x onerror=alert(1)&gt;" in card

    def test_a_read_only_share_cannot_reply(self, anna, ivan, anna_conversation, fake_bot_api):
        from crm import sharing

        sharing.deal_share(deal=anna_conversation.deal, user=ivan, access="read", by=anna)
        response = client_for(ivan).post(reply_url(anna_conversation), {"text": "x"})
        assert response.status_code == 403
        card = client_for(ivan).get(anna_conversation.deal.get_absolute_url()).content.decode()
        assert reply_url(anna_conversation) not in card
        assert "Telegram north" in card


class TestBotClient:
    def test_it_downloads_a_file_and_sets_the_webhook(self, telegram_channel, fake_bot_api):
        fake_bot_api.files["doc-1"] = b"%PDF-1.4 invoice"
        client = TelegramBotClient(telegram_channel)
        assert client.fetch_media("doc-1") == b"%PDF-1.4 invoice"
        client.setup_webhook("https://crm.example/hooks/telegram/x/")
        [call] = fake_bot_api.calls("setWebhook")
        assert call.body == {"url": "https://crm.example/hooks/telegram/x/",
                             "secret_token": "s3cret-webhook-token"}

    def test_it_sends_a_document_as_multipart(self, telegram_channel, fake_bot_api):
        result = TelegramBotClient(telegram_channel).send_file(
            to="555001", name="счёт.pdf", content=b"%PDF", mime_type="application/pdf",
            caption="Счёт",
        )
        assert result.external_id == "555001:101"
        [call] = fake_bot_api.calls("sendDocument")
        assert call.body == {"chat_id": "555001", "caption": "Счёт"}
        assert call.files["document"] == ("счёт.pdf", b"%PDF", "application/pdf")

    @pytest.mark.parametrize("mode, permanent, retry_after", [
        ("429", False, 3.0), ("403", True, None), ("500", False, None),
    ])
    def test_it_classifies_errors(self, telegram_channel, fake_bot_api, mode, permanent,
                                  retry_after):
        fake_bot_api.retry_after = 3
        fake_bot_api.fail_next(mode)
        with pytest.raises(ProviderError) as caught:
            TelegramBotClient(telegram_channel).send_message("555001", "x")
        assert caught.value.permanent is permanent
        assert caught.value.retry_after == retry_after

    def test_a_network_failure_is_retryable_and_hides_the_token(self, telegram_channel):
        telegram_channel.api_base_url = "http://127.0.0.1:9"  # nothing listens there
        with pytest.raises(ProviderError) as caught:
            TelegramBotClient(telegram_channel).send_message("555001", "x")
        assert not caught.value.permanent
        assert telegram_channel.credentials not in caught.value.message

    def test_a_text_over_4096_characters_is_refused_before_any_call(self, telegram_channel,
                                                                     fake_bot_api):
        with pytest.raises(ProviderError) as caught:
            TelegramBotClient(telegram_channel).send_message("555001", "я" * 4097)
        assert caught.value.permanent
        assert fake_bot_api.requests == []


@pytest.mark.django_db(transaction=True)
async def test_the_deal_group_hears_the_status_change(anna, anna_conversation, fake_bot_api):
    communicator, connected = await connect(anna)
    assert connected
    deal_id = anna_conversation.deal_id
    await communicator.send_json_to({"subscribe": "deal", "id": deal_id})
    assert (await communicator.receive_json_from())["subscribed"] == "deal"

    message = await database_sync_to_async(services.message_reply)(
        conversation=anna_conversation, by=anna, text="Живой статус")
    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(e["type"] == "message.status" for e in seen):
        seen.append(await communicator.receive_json_from(timeout=5))
    assert {"type": "message.status", "deal": deal_id, "message": message.pk,
            "status": "sent"} in seen
    assert "Живой статус" not in str(seen)
    await communicator.disconnect()
