"""The conversation panel's composer in a real browser: a canned reply fills the text, a
private note is kept and never sent, "Reply to this" quotes the client's message in
Telegram, and older messages load on top of the chat."""

import time

import pytest
from playwright.sync_api import expect

from inbox.models import CannedReply, Message
from inbox.selectors import CHAT_PAGE
from tests.e2e.test_deal_card import log_in
from tests.e2e.test_telegram_flow import fake_bot_api, telegram_channel  # noqa: F401 (fixtures)
from tests.inbox.conftest import make_conversation

pytestmark = pytest.mark.e2e


@pytest.fixture
def conversation(telegram_channel, anna_deal):  # noqa: F811
    conversation = make_conversation(channel=telegram_channel, deal=anna_deal)
    Message.objects.bulk_create(Message(
        conversation=conversation, channel=telegram_channel,
        direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED,
        external_id=f"555001:{i + 1}", text=f"Вопрос №{i + 1}",
    ) for i in range(CHAT_PAGE + 3))
    CannedReply.objects.create(team=anna_deal.owner.team, title="Цены",
                               text="Прайс-лист во вложении.")
    return conversation


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_composer_in_a_browser(conversation, fake_bot_api, asgi_server, page):  # noqa: F811
    log_in(page, asgi_server, "anna")
    page.goto(f"{asgi_server}/deals/{conversation.deal_id}/")
    panel = page.locator(f'.conversation[data-conversation-id="{conversation.pk}"]')
    chat = panel.locator("[data-chat-messages]")
    expect(chat).to_contain_text(f"Вопрос №{CHAT_PAGE + 3}")
    expect(chat.locator("li")).to_have_count(CHAT_PAGE)
    expect(chat.locator("li").first).to_contain_text("Вопрос №4")

    # Older messages load on top.
    panel.get_by_role("link", name="Показать более ранние сообщения").click()
    expect(chat.locator("li")).to_have_count(CHAT_PAGE + 3)
    expect(chat.locator("li").first).to_contain_text("Вопрос №1")
    expect(panel.get_by_role("link", name="Показать более ранние сообщения")).to_have_count(0)

    # A canned reply fills the text; it is sent as typed.
    panel.locator("select[name=canned]").select_option(label="Цены")
    textarea = panel.locator("textarea[name=text]")
    expect(textarea).to_have_value("Прайс-лист во вложении.")

    # "Reply to this" on the client's last question quotes it.
    last = chat.locator("li", has_text=f"Вопрос №{CHAT_PAGE + 3}")
    last.get_by_role("button", name="Ответить на это").click()
    expect(panel.locator("[data-reply-quote]")).to_contain_text(f"Вопрос №{CHAT_PAGE + 3}")
    panel.get_by_role("button", name="Отправить").click()
    expect(textarea).to_have_value("")
    expect(panel.locator("[data-reply-quote]")).to_be_hidden()
    assert wait_for(lambda: fake_bot_api.calls("sendMessage"))
    [call] = fake_bot_api.calls("sendMessage")
    assert call.body["text"] == "Прайс-лист во вложении."
    assert call.body["reply_parameters"]["message_id"] == CHAT_PAGE + 3
    sent = chat.locator("li", has_text="Прайс-лист во вложении.")
    expect(sent.locator("[data-message-status]")).to_have_attribute("data-status", "sent",
                                                                    timeout=3000)

    # A private note: kept in the chat, never sent.
    panel.get_by_label("Внутренняя заметка (клиент её не увидит)").check()
    expect(panel.get_by_role("button", name="Сохранить заметку")).to_be_visible()
    textarea.fill("Клиент торгуется, дать скидку 5%")
    panel.get_by_role("button", name="Сохранить заметку").click()
    expect(chat).to_contain_text("Клиент торгуется, дать скидку 5%")
    expect(panel.get_by_role("button", name="Отправить")).to_be_visible()
    page.wait_for_timeout(300)
    assert len(fake_bot_api.calls("sendMessage")) == 1
    assert Message.objects.filter(direction=Message.Direction.NOTE).count() == 1
