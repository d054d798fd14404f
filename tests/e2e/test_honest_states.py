"""Honest states in a real browser: a failed reply keeps the conversation first in the
unanswered queue with its mark and a one-click Retry; with the embedded server's in-process
worker a reply answers in under a second while Telegram keeps refusing it, the composer
stays usable, and the conversation is answered only once the reply is sent."""

import time

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from core import tasks as core_tasks
from inbox import services
from inbox.models import Conversation, Message
from tests.e2e.test_deal_card import log_in
from tests.e2e.test_telegram_flow import fake_bot_api, telegram_channel  # noqa: F401 (fixtures)
from tests.inbox.conftest import make_conversation

pytestmark = pytest.mark.e2e


@pytest.fixture
def conversation(telegram_channel, anna_deal):  # noqa: F811
    conversation = make_conversation(channel=telegram_channel, deal=anna_deal)
    now = timezone.now()
    Message.objects.create(conversation=conversation, channel=telegram_channel,
                           direction=Message.Direction.INBOUND, text="Когда доставка?",
                           status=Message.Status.RECEIVED, external_id="555001:1",
                           created_at=now)
    Conversation.objects.filter(pk=conversation.pk).update(
        awaiting_reply=True, last_inbound_at=now, last_activity_at=now,
        first_response_due_at=now + timezone.timedelta(minutes=15))
    return conversation


def test_a_failed_reply_stays_unanswered_with_its_mark_and_retry(
    conversation, fake_bot_api, asgi_server, page, telegram_channel, anna_deal  # noqa: F811
):
    other = make_conversation(channel=telegram_channel, deal=anna_deal, chat_id="555777",
                              name="Отвеченный клиент")
    Conversation.objects.filter(pk=other.pk).update(last_activity_at=timezone.now())
    log_in(page, asgi_server, "anna")
    page.goto(f"{asgi_server}/deals/{conversation.deal_id}/")
    panel = page.locator(f'.conversation[data-conversation-id="{conversation.pk}"]')
    state = panel.locator("[data-conversation-state]")
    expect(state).to_contain_text("Ждёт вашего ответа")

    fake_bot_api.fail_next("400")
    panel.locator("textarea[name=text]").fill("Завтра с 10 до 14")
    panel.get_by_role("button", name="Отправить").click()
    sent = panel.locator("li", has_text="Завтра с 10 до 14")
    expect(sent.locator("[data-message-status]")).to_have_attribute("data-status", "failed")
    # The card says so live, and the client is still waiting.
    expect(state).to_contain_text("Ответ не отправлен")
    expect(state).to_contain_text("Ждёт вашего ответа")

    page.goto(f"{asgi_server}{reverse('conversation_list')}")
    rows = page.locator("tr[data-conversation-row]")
    first = rows.first
    expect(first).to_contain_text("Пётр")  # unanswered first, above the newer activity
    expect(first).to_contain_text("Ответ не отправлен")
    expect(first).to_contain_text("Ждёт вашего ответа")
    expect(first).to_have_class("conversation-row conversation-row--awaiting "
                                "conversation-row--failed")

    # Retry is one click, from the list; the list then shows the conversation answered.
    first.get_by_role("button", name="Повторить").click()
    row = page.locator(f'tr[data-conversation-row="{conversation.pk}"]')
    expect(row).not_to_contain_text("Ответ не отправлен")
    expect(row).not_to_contain_text("Ждёт вашего ответа")
    assert Message.objects.get(direction="out").status == Message.Status.SENT
    assert not Conversation.objects.get(pk=conversation.pk).awaiting_reply


@pytest.fixture
def worker():
    """The embedded server's in-process worker (crm/management/commands/serve.py)."""
    worker = core_tasks.worker_start(threads=2)
    yield worker
    core_tasks.worker_stop()
    worker.drain(timeout=10)


def test_in_the_embedded_mode_a_reply_answers_at_once_while_telegram_fails(
    conversation, fake_bot_api, asgi_server, page, worker, settings, monkeypatch  # noqa: F811
):
    # Telegram answers "429, retry after 5 s" three times: the retries wait 15 s in all.
    settings.PROVIDER_EAGER_WAIT_MAX = 5
    monkeypatch.setattr(services, "CHAT_SEND_INTERVAL", 0)
    fake_bot_api.retry_after = 5
    fake_bot_api.fail_next("429", times=3)
    log_in(page, asgi_server, "anna")
    page.goto(f"{asgi_server}/deals/{conversation.deal_id}/")
    panel = page.locator(f'.conversation[data-conversation-id="{conversation.pk}"]')
    textarea = panel.locator("textarea[name=text]")
    chat = panel.locator("[data-chat-messages]")

    textarea.fill("Привезём завтра")
    reply_url = reverse("conversation_reply", args=[conversation.deal_id, conversation.pk])
    with page.expect_response(lambda r: r.url.endswith(reply_url)) as answer:
        started = time.monotonic()
        panel.get_by_role("button", name="Отправить").click()
    assert answer.value.ok
    elapsed = time.monotonic() - started
    assert elapsed < 1, f"the reply took {elapsed:.2f} s"
    expect(chat).to_contain_text("Привезём завтра", timeout=1000)
    expect(textarea).to_have_value("")
    assert page.locator("textarea:disabled, button[type=submit]:disabled").count() == 0

    # Still queued while Telegram refuses it: the client is still waiting.
    deadline = time.monotonic() + 5
    while not fake_bot_api.calls("sendMessage") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake_bot_api.calls("sendMessage")
    assert Message.objects.get(direction="out").status == Message.Status.QUEUED
    expect(panel.locator("[data-conversation-state]")).to_contain_text("Ждёт вашего ответа")

    # The composer is free: a note goes in at once.
    panel.get_by_label("Внутренняя заметка (клиент её не увидит)").check()
    textarea.fill("Клиент просил до обеда")
    panel.get_by_role("button", name="Сохранить заметку").click()
    expect(chat).to_contain_text("Клиент просил до обеда", timeout=1000)

    assert worker.drain(timeout=10)  # the retries, their waits cut short
    sent = chat.locator("li", has_text="Привезём завтра")
    expect(sent.locator("[data-message-status]")).to_have_attribute("data-status", "sent")
    expect(panel.locator("[data-conversation-state]")).not_to_contain_text("Ждёт")
    assert len(fake_bot_api.calls("sendMessage")) == 4
