"""WhatsApp, MAX and VK end to end in a real browser (issue 17): a client's message posted to
the channel's webhook, signed as its provider signs, arrives live on the manager's open deal
card; her reply from the card reaches the provider's (local fake) API. Past WhatsApp's
24-hour window the card offers the approved templates instead of the free-form box, and a
template sent from it reaches the Graph API with its fields."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.models import Deal
from inbox import services
from inbox.models import Channel, Conversation
from tests.e2e.test_deal_card import log_in, wait_until
from tests.inbox.messengers import deliver_over_http, fixture

pytestmark = pytest.mark.e2e

SECRET = "e2e-messenger-secret_42"


def fake_for(kind: str):
    if kind == "whatsapp":
        from tests.inbox.fake_graph_api import FakeGraphApi

        return FakeGraphApi()
    if kind == "max":
        from tests.inbox.fake_max_api import FakeMaxApi

        return FakeMaxApi()
    from tests.inbox.fake_vk_api import FakeVkApi

    return FakeVkApi()


def delivery(kind: str, n: int, text: str) -> dict:
    """The provider's text message fixture, as message number `n`, written just now."""
    now = int(time.time())
    if kind == "whatsapp":
        payload = fixture("whatsapp", "message_text")
        message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        message.update(id=f"wamid.E2E{n}", timestamp=str(now))
        message["text"]["body"] = text
    elif kind == "max":
        payload = fixture("max", "message_created_text")
        payload["timestamp"] = payload["message"]["timestamp"] = now * 1000
        payload["message"]["body"].update(mid=f"mid.e2e{n}", text=text)
    else:
        payload = fixture("vk", "message_new_text")
        payload["event_id"] = f"{n:040x}"
        payload["secret"] = SECRET
        payload["object"]["message"].update(id=900_000 + n, date=now, text=text)
    return payload


def sent_texts(kind: str, fake) -> list[str]:
    if kind == "whatsapp":
        return [c.body.get("text", {}).get("body") for c in fake.calls("messages")]
    if kind == "max":
        return [c.body.get("text") for c in fake.calls("messages")]
    return [c.body.get("message") for c in fake.calls("messages.send")]


@pytest.fixture
def provider(request):
    fake = fake_for(request.param).start()
    yield request.param, fake
    fake.stop()


@pytest.fixture
def channel(provider, north, anna):
    kind, fake = provider
    return Channel.objects.create(
        kind=kind, name=f"{kind} north", team=north, credentials=fake.token,
        webhook_secret=SECRET, handshake_secret="verify", api_base_url=fake.base_url,
        account_id={"whatsapp": "106540352242922", "vk": "229876543"}.get(kind, ""),
        business_account_id="102290129340398" if kind == "whatsapp" else "",
    )


def open_card(page, base_url, deal, frames):
    log_in(page, base_url, "anna")
    page.goto(f"{base_url}/deals/{deal.pk}/")
    expect(page.get_by_role("heading", name=deal.title)).to_be_visible()
    wait_until(page, lambda: any('"subscribed"' in str(frame) for frame in frames))
    page.evaluate("window.__noReload = true")


@pytest.mark.parametrize("provider", ["whatsapp", "max", "vk"], indirect=True)
def test_a_message_arrives_live_and_the_reply_reaches_the_provider(
    provider, channel, anna, asgi_server, page
):
    kind, fake = provider
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: frames.append(p)))
    deliver_over_http(asgi_server, channel, delivery(kind, 1, "Здравствуйте! Нужен счёт."))
    conversation = Conversation.objects.get(channel=channel)
    deal = Deal.objects.get(pk=conversation.deal_id)
    assert deal.owner_id == anna.pk

    open_card(page, asgi_server, deal, frames)
    panel = page.locator(f'.conversation[data-conversation-id="{conversation.pk}"]')
    chat = panel.locator("[data-chat-messages]")
    expect(chat).to_contain_text("Здравствуйте! Нужен счёт.")

    live = f"Когда доставка? ({kind})"
    posted_at = deliver_over_http(asgi_server, channel, delivery(kind, 2, live))
    expect(chat).to_contain_text(live, timeout=1000)
    print(f"\n{kind}: webhook POST -> text on screen: "
          f"{(time.monotonic() - posted_at) * 1000:.0f} ms")

    reply = f"Доставим в четверг ({kind})."
    panel.locator("textarea[name=text]").fill(reply)
    panel.locator("button[type=submit]").click()
    expect(panel.locator("textarea[name=text]")).to_have_value("")
    deadline = time.monotonic() + 5
    while reply not in sent_texts(kind, fake) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert sent_texts(kind, fake).count(reply) == 1
    entry = chat.locator("li", has_text=reply)
    expect(entry.locator("[data-message-status]")).to_have_attribute("data-status", "sent",
                                                                     timeout=2000)
    assert page.evaluate("window.__noReload") is True


@pytest.mark.parametrize("provider", ["whatsapp"], indirect=True)
def test_past_24_hours_whatsapp_offers_the_templates_instead_of_the_text_box(
    provider, channel, anna, asgi_server, page
):
    _kind, fake = provider
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: frames.append(p)))
    deliver_over_http(asgi_server, channel, delivery("whatsapp", 1, "Пришлите каталог"))
    conversation = Conversation.objects.get(channel=channel)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=25))
    services.templates_sync(channel=channel)

    open_card(page, asgi_server, Deal.objects.get(pk=conversation.deal_id), frames)
    panel = page.locator(f'.conversation[data-conversation-id="{conversation.pk}"]')
    expect(panel.locator('[data-reply-window="closed"]')).to_contain_text("24")
    expect(panel.locator("textarea[name=text]")).to_have_count(0)

    panel.locator("[data-template-select]").select_option(label="order_update (ru)")
    fields = panel.locator("[data-template-field] input:visible")
    expect(fields).to_have_count(2)
    fields.nth(0).fill("Пётр")
    fields.nth(1).fill("№ 1024")
    expect(panel.locator("[data-template-preview]")).to_have_text(
        "Здравствуйте, Пётр! Ваш заказ № 1024 готов.")
    panel.locator("button[type=submit]").click()

    def template_calls():
        return [c for c in fake.calls("messages") if c.body.get("type") == "template"]

    deadline = time.monotonic() + 5
    while not template_calls() and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    [call] = template_calls()
    assert call.body["template"]["name"] == "order_update"
    expect(panel.locator("[data-chat-messages]")).to_contain_text(
        "Здравствуйте, Пётр! Ваш заказ № 1024 готов.")
    assert page.evaluate("window.__noReload") is True
