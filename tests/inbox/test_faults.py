"""Nothing lost, nothing stuck when Redis (the broker, the marks, the channel layer) is down or
frozen: what a request stored stays stored and answered for (200 to a webhook, 201 to a reply),
and the sweepers take it from there once Redis is back.

Redis here is a real redis-server: a stopped one (nothing listens on its port) or a frozen one
(SIGSTOP: it accepts connections and never answers), started by the fixtures below.
"""

import json
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client, TestCase
from django.utils import timezone

from config.celery import app as celery_app
from core import marks
from inbox import services, tasks
from inbox.models import InboundEvent, Message
from tests.inbox.test_telegram_inbound import SECRET, text_update, url
from tests.redis_server import RedisServer, free_port


@pytest.fixture
def stopped_redis() -> str:
    """The address of a Redis that is not running: connections are refused."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def frozen_redis(tmp_path):
    """A real redis-server, stopped with SIGSTOP: the kernel accepts connections, nobody
    answers (a Redis stuck on a slow disk, or paused by its host)."""
    server = RedisServer(tmp_path).start()
    server.freeze()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_at(settings):
    """Point the broker, the marks and the channel layer at another Redis, as a production
    process configured with it would be; everything is put back afterwards."""
    saved = {key: celery_app.conf[key] for key in (
        "broker_url", "task_always_eager", "broker_transport_options",
        "broker_connection_timeout")}

    def point(address: str, *, timeout: float = 0.3):
        settings.REDIS_URL = address
        settings.REDIS_SOCKET_TIMEOUT = timeout
        settings.CHANNEL_LAYERS = {"default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [address]}}}
        marks.client.cache_clear()
        celery_app.conf.update(
            broker_url=address, task_always_eager=False, broker_connection_timeout=timeout,
            broker_transport_options={"socket_timeout": timeout,
                                      "socket_connect_timeout": timeout})
        _new_broker_connections()

    def restore():
        marks.client.cache_clear()
        celery_app.conf.update(saved)
        _new_broker_connections()

    yield point
    restore()


def _new_broker_connections() -> None:
    """Celery keeps its pools of broker connections and producers, made from the broker URL
    when first used; a process started with another URL would make new ones. (kombu keeps
    them by URL too, so the tests' own stay open for the tests after these.)"""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def queued_reply(conversation, text: str, **fields) -> Message:
    return Message.objects.create(
        conversation=conversation, channel=conversation.channel, author=conversation.assignee,
        direction=Message.Direction.OUTBOUND, status=Message.Status.QUEUED, text=text, **fields)


def cut_off_reply(conversation, text: str) -> Message:
    """As a worker killed during the provider call leaves it: the attempt counted and begun."""
    return queued_reply(conversation, text, attempts=1, send_due_at=timezone.now(),
                        sending_since=timezone.now())


def _now_plus(minutes: float):
    return timezone.now() + timedelta(minutes=minutes)


@pytest.mark.django_db
def test_a_reply_posted_while_redis_is_down_answers_201_and_the_sweeper_sends_it(
    anna, anna_conversation, fake_bot_api, stopped_redis, redis_at, settings
):
    redis_at(stopped_redis)
    client = Client()
    client.force_login(anna)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(f"/api/v1/conversations/{anna_conversation.pk}/messages/",
                               {"text": "Счёт во вложении"}, content_type="application/json")
    assert response.status_code == 201, response.content
    message = Message.objects.get(pk=response.json()["id"])
    assert message.status == Message.Status.QUEUED and message.send_due_at is not None
    assert not fake_bot_api.calls("sendMessage")

    # Redis is back (the tests' own, with tasks run in process): the sweep queues it again.
    celery_app.conf.update(task_always_eager=True)
    assert services.sends_sweep(now=_now_plus(0.1))["requeued"] == 0  # not late yet
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert services.sends_sweep(now=_now_plus(1))["requeued"] == 1
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    [sent] = fake_bot_api.calls("sendMessage")
    assert sent.body["text"] == "Счёт во вложении"


@pytest.mark.django_db
def test_the_webhook_answers_200_with_redis_down_and_the_update_waits_for_the_sweeper(
    telegram_channel, stopped_redis, redis_at, anna, north
):
    telegram_channel.webhook_secret = SECRET
    telegram_channel.save()
    redis_at(stopped_redis)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = Client().post(url(telegram_channel),
                                 data=json.dumps(text_update(41, "Добрый день")),
                                 content_type="application/json",
                                 HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET)
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.RECEIVED

    celery_app.conf.update(task_always_eager=True)
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert services.events_sweep(now=_now_plus(2)) == 1
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.PROCESSED
    assert Message.objects.get(direction=Message.Direction.INBOUND).text == "Добрый день"


@pytest.mark.django_db
def test_a_frozen_redis_does_not_hold_the_webhook(telegram_channel, frozen_redis, redis_at):
    telegram_channel.webhook_secret = SECRET
    telegram_channel.save()
    redis_at(frozen_redis, timeout=0.3)
    started = time.monotonic()
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = Client().post(url(telegram_channel),
                                 data=json.dumps(text_update(42, "Вы тут?")),
                                 content_type="application/json",
                                 HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=SECRET)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert InboundEvent.objects.count() == 1
    # Bounded by the Redis timeout (0.3 s per call here), not the 15 s it took before.
    assert elapsed < 5, elapsed


@pytest.mark.django_db
def test_a_send_cut_off_mid_attempt_is_marked_interrupted_and_never_sent_twice(
    anna, anna_conversation, fake_bot_api
):
    message = cut_off_reply(anna_conversation, "Цена 100")
    # A text's provider call lasts 15 s at most: past 30 s its worker died in it.
    assert services.sends_sweep(now=_now_plus(0.45)) == {"interrupted": 0, "requeued": 0}
    assert services.sends_sweep(now=_now_plus(0.55)) == {"interrupted": 1, "requeued": 0}
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error == services._interrupted_reason()  # "...may or may not have..."
    # The broker hands the killed task out again, much later: nothing goes out.
    tasks.send_message.apply(args=(message.pk, 0))
    assert not fake_bot_api.calls("sendMessage")
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED


@pytest.mark.django_db
def test_an_attempt_that_outlived_its_limit_ends_sent_after_all(anna, anna_conversation,
                                                                fake_bot_api):
    """A provider call slower than any should be: the sweeper said "interrupted", then the
    call came back with the provider's yes, which is the truth."""
    message = queued_reply(anna_conversation, "Медленно", attempts=0)
    real_send = services.provider_for(anna_conversation.channel).__class__.send_text

    def slow_send(self, **kwargs):
        services.sends_sweep(now=_now_plus(1))  # meanwhile, the sweeper gives up on it
        return real_send(self, **kwargs)

    with mock.patch.object(type(services.provider_for(anna_conversation.channel)),
                           "send_text", slow_send):
        services.message_send(message=message)
    message.refresh_from_db()
    assert (message.status, message.delivery_unknown, message.error) == ("sent", False, "")


@pytest.mark.django_db
def test_a_file_being_uploaded_is_given_its_upload_time(anna, anna_conversation, fake_bot_api):
    from inbox.models import Attachment

    message = cut_off_reply(anna_conversation, "Договор")
    Attachment.objects.create(message=message, name="договор.pdf", kind="document")
    assert services.sends_sweep(now=_now_plus(1)) == {"interrupted": 0, "requeued": 0}
    assert services.sends_sweep(now=_now_plus(1.6)) == {"interrupted": 1, "requeued": 0}


@pytest.mark.django_db
def test_a_send_waiting_for_its_retry_is_left_to_it(anna, anna_conversation, fake_bot_api):
    # A 429 asked for ten minutes.
    message = queued_reply(anna_conversation, "Ок", attempts=1, send_due_at=_now_plus(10))
    assert services.sends_sweep(now=_now_plus(5)) == {"interrupted": 0, "requeued": 0}
    assert not fake_bot_api.calls("sendMessage")
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED


@pytest.mark.django_db
def test_a_send_that_may_have_arrived_is_retried_only_when_confirmed(
    anna, anna_conversation, fake_bot_api
):
    message = cut_off_reply(anna_conversation, "Скидка 5%")
    services.sends_sweep(now=_now_plus(2))
    client = Client()
    client.force_login(anna)
    retry = f"/api/v1/conversations/{anna_conversation.pk}/messages/{message.pk}/retry/"

    page = client.get(f"/deals/{anna_conversation.deal_id}/").content.decode()
    assert 'name="confirm"' in page  # the card asks for the manager's word
    refused = client.post(retry, {}, content_type="application/json")
    assert refused.status_code == 400 and "confirm" in refused.json()
    html = client.post(f"/deals/{anna_conversation.deal_id}/messages/{message.pk}/retry/")
    assert html.status_code == 302
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED and message.delivery_unknown
    assert not fake_bot_api.calls("sendMessage")

    with TestCase.captureOnCommitCallbacks(execute=True):
        sent = client.post(retry, {"confirm": True}, content_type="application/json")
    assert sent.status_code == 200, sent.content
    message.refresh_from_db()
    assert (message.status, message.delivery_unknown) == (Message.Status.SENT, False)
    assert [c.body["text"] for c in fake_bot_api.calls("sendMessage")] == ["Скидка 5%"]
