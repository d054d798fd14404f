"""Telegram end to end in a real browser (issue 4): a client writes to the bot, the message
arrives live on the manager's open deal card, she answers from the conversation panel, the
reply reaches the (fake) Bot API and shows as sent."""

import time

import pytest
from playwright.sync_api import expect

from crm.models import Deal
from inbox.models import Channel, Conversation
from tests.e2e.test_deal_card import log_in, wait_until
from tests.inbox.fake_bot_api import FakeBotApi
from tests.inbox.messengers import deliver_over_http

pytestmark = pytest.mark.e2e

SECRET = "e2e-webhook-secret_42"
CHAT_ID = 700100200
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def fake_bot_api():
    fake = FakeBotApi().start()
    yield fake
    fake.stop()


@pytest.fixture
def telegram_channel(north, anna, fake_bot_api):
    """The north team's bot; anna is the team's only manager, so new clients go to her."""
    return Channel.objects.create(
        kind=Channel.Kind.TELEGRAM, name="Telegram north", team=north,
        credentials=fake_bot_api.token, webhook_secret=SECRET,
        api_base_url=fake_bot_api.base_url,
    )


def text_update(update_id: int, text: str) -> dict:
    sender = {"id": CHAT_ID, "is_bot": False, "first_name": "Мария", "last_name": "Иванова",
              "username": "maria_demo", "language_code": "ru"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id, "from": sender,
            "chat": {"id": CHAT_ID, "first_name": "Мария", "last_name": "Иванова",
                     "username": "maria_demo", "type": "private"},
            "date": int(time.time()), "text": text, "entities": [],
        },
    }


# Data fixtures come before the browser: they are built before Playwright's loop starts.
def test_a_client_message_arrives_live_and_the_reply_is_sent(
    anna, telegram_channel, fake_bot_api, asgi_server, page
):
    dialogs, frames = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))

    # A new client writes: the pipeline makes the contact, the deal and the conversation.
    deliver_over_http(asgi_server, telegram_channel, text_update(1, "Здравствуйте! Нужен счёт."))
    deal = Deal.objects.get(contact__name="Мария Иванова")
    assert deal.owner_id == anna.pk
    conversation = Conversation.objects.get(deal=deal, channel=telegram_channel)
    assert conversation.assignee_id == anna.pk

    log_in(page, asgi_server, "anna")
    page.goto(f"{asgi_server}/deals/{deal.pk}/")
    expect(page.get_by_role("heading", name=deal.title)).to_be_visible()
    panel = page.locator(f'.conversation[data-conversation-id="{conversation.pk}"]')
    expect(panel).to_be_visible()
    chat = panel.locator("[data-chat-messages]")
    expect(chat).to_contain_text("Здравствуйте! Нужен счёт.")
    wait_until(page, lambda: any('"subscribed"' in str(frame) for frame in frames))
    page.evaluate("window.__noReload = true")

    # The same client writes again: the text is on the card within a second, no reload.
    live_text = "Когда будет доставка?"
    posted_at = deliver_over_http(asgi_server, telegram_channel, text_update(2, live_text))
    expect(chat).to_contain_text(live_text, timeout=1000)
    shown_after = time.monotonic() - posted_at
    print(f"\nwebhook POST -> text on screen: {shown_after * 1000:.0f} ms")
    assert shown_after < 1.0
    assert page.evaluate("window.__noReload") is True

    # Markup from the client is text, never HTML.
    deliver_over_http(asgi_server, telegram_channel,
                text_update(3, f"{HOSTILE} Это картинка?"))
    expect(chat).to_contain_text(f"{HOSTILE} Это картинка?", timeout=1000)

    # Anna answers from the conversation panel.
    reply = "Доставим в четверг, Мария."
    panel.locator("textarea[name=text]").fill(reply)
    panel.locator("button[type=submit]").click()
    expect(panel.locator("textarea[name=text]")).to_have_value("")

    def sent():
        return [r for r in fake_bot_api.calls("sendMessage") if r.body.get("text") == reply]

    deadline = time.monotonic() + 5
    while not sent() and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    calls = sent()
    assert len(calls) == 1, [r.body for r in fake_bot_api.requests]
    assert str(calls[0].body["chat_id"]) == str(CHAT_ID)
    assert calls[0].token == fake_bot_api.token

    entry = chat.locator("li", has_text=reply)
    expect(entry).to_have_count(1)
    assert page.evaluate("window.__noReload") is True
    assert page.locator("[data-timeline] img, #conversations img").count() == 0
    assert dialogs == []
    # queued -> sent arrives live (the status event makes the chat merge its newest page).
    expect(entry.locator("[data-message-status]")).to_have_attribute("data-status", "sent",
                                                                     timeout=2000)
