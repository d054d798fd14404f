"""Live signals in Chromium: a client's message while the manager is on the deals list (the
menu's badge, the tab's title and a notice naming the client, within a second), a new lead
appearing on the list, a colleague's @mention with its autocomplete and its refusal, and the
keyboard shortcuts with their help."""

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import transaction
from playwright.sync_api import expect

from core import events
from inbox import services as inbox_services
from inbox.models import Channel
from inbox.providers.base import InboundMessage
from tests.e2e.test_deal_card import in_another_thread, log_in
from tests.inbox.conftest import make_conversation

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture
def telegram_channel(north):
    # Nothing is sent to clients here: no provider behind the channel.
    return Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Telegram north", team=north,
                                  credentials="123:abc", webhook_secret="s3cret-webhook-token",
                                  api_base_url="http://127.0.0.1:9")


@pytest.fixture
def conversation(telegram_channel, anna_deal):
    return make_conversation(channel=telegram_channel, deal=anna_deal)


def receive(channel, *, sender="555001", name="Пётр", text="Здравствуйте", n=1):
    """A client's message as the drain stores it (the webhook's part is tested elsewhere)."""
    inbounds = [InboundMessage(external_id=f"{sender}:{n}", sender_id=sender, sender_name=name,
                               text=text, sent_at=datetime.now(UTC))]
    with transaction.atomic():
        inbox_services._messages_receive(channel=channel, inbounds=inbounds)


def socket_ready(page, user, frames):
    """Wait until the page's socket hears the user's own events: a probe goes to the user's
    group until a frame of it comes back (notify.js ignores its unknown kind)."""
    for _attempt in range(50):
        in_another_thread(events.layer_send, messages=[(events.user_group(user.pk), {
            "type": "crm.event", "event": {"type": "notify", "kind": "probe", "url": "/"}})])
        page.wait_for_timeout(100)
        if any('"probe"' in str(frame) for frame in frames):
            return
    raise AssertionError("the page's socket never heard the user's events")


def open_with_socket(page, url):
    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(frame)))
    page.goto(url)
    return frames


def test_a_clients_message_on_the_deals_list_updates_the_badge_and_names_the_client(
    anna, head_north, conversation, asgi_server, page
):
    log_in(page, asgi_server, "anna")
    frames = open_with_socket(page, f"{asgi_server}/deals/")
    socket_ready(page, anna, frames)
    page.evaluate("window.__noReload = true")
    expect(page.locator("[data-unread-badge]")).to_have_count(0)  # nothing unread yet

    started = time.monotonic()
    in_another_thread(receive, channel=conversation.channel, name="Пётр <b>Смирнов</b>")
    toast = page.locator("[data-notify-toast=message]")
    expect(toast).to_be_visible(timeout=1000)
    latency = time.monotonic() - started
    expect(page.locator("[data-unread-badge]")).to_have_text("1", timeout=100)
    assert latency < 1.0, latency
    print(f"toast shown {latency * 1000:.0f} ms after the message was stored")

    # The client's name as text, with the link to the card; the tab's title counts.
    expect(toast).to_contain_text("Новое сообщение")
    link = toast.get_by_role("link", name="Пётр <b>Смирнов</b>")
    expect(link).to_have_attribute("href", f"/deals/{conversation.deal_id}/#conversations")
    assert page.title().startswith("(1) ")
    ARTIFACTS.mkdir(exist_ok=True)
    toast.screenshot(path=str(ARTIFACTS / "live_signals_toast.png"))
    page.screenshot(path=str(ARTIFACTS / "live_signals_deals_page.png"))

    # A new client's first message: a new lead on the list, live, and a second unread.
    in_another_thread(receive, channel=conversation.channel, sender="777", name="Новый Клиент")
    expect(page.locator("#deal-results")).to_contain_text("Telegram north: Новый Клиент")
    expect(page.locator("[data-unread-badge]")).to_have_text("2")
    assert page.title().startswith("(2) ")
    assert page.evaluate("window.__noReload") is True

    # Esc closes the notices.
    page.keyboard.press("Escape")
    expect(page.locator("[data-notify-toast]")).to_have_count(0)


def test_a_mention_notifies_the_colleague_live_and_an_outsider_is_refused(
    anna, head_north, olga, anna_deal, asgi_server, browser
):
    heads = browser.new_context(locale="ru-RU").new_page()
    annas = browser.new_context(locale="ru-RU").new_page()
    log_in(heads, asgi_server, "head_north")
    frames = open_with_socket(heads, f"{asgi_server}/deals/")
    socket_ready(heads, head_north, frames)

    log_in(annas, asgi_server, "anna")
    annas.goto(f"{asgi_server}/deals/{anna_deal.pk}/")
    note = annas.locator("#timeline form.composer textarea[name=text]")

    # An outsider: refused with a clear message, nothing saved, nobody told.
    note.fill("@olga глянь")
    note.press("Control+Enter")
    expect(annas.locator("#timeline form.composer")).to_contain_text("не видит эту сделку")
    expect(annas.locator("[data-timeline]")).not_to_contain_text("@olga глянь")

    # The autocomplete offers who sees the deal; Enter picks, Ctrl+Enter sends.
    note.fill("Согласуйте скидку, ")
    note.press("End")
    note.type("@he")
    suggestions = annas.locator("#mention-suggestions")
    expect(suggestions).to_be_visible()
    expect(suggestions.locator("li")).to_have_count(1)
    expect(suggestions).to_contain_text("@head_north")
    note.press("Enter")
    expect(note).to_have_value("Согласуйте скидку, @head_north ")
    started = time.monotonic()
    note.press("Control+Enter")
    expect(annas.locator("[data-timeline] li").first).to_contain_text("@head_north")

    toast = heads.locator("[data-notify-toast=mention]")
    expect(toast).to_be_visible(timeout=2000)
    print(f"mention notice shown {(time.monotonic() - started) * 1000:.0f} ms after Ctrl+Enter")
    expect(toast).to_contain_text("Anna упоминает вас")
    toast.get_by_role("link", name=anna_deal.title).click()
    expect(heads).to_have_url(f"{asgi_server}/deals/{anna_deal.pk}/#entry-"
                              f"{anna_deal.timeline.filter(kind='note').get().pk}")
    heads.goto(f"{asgi_server}/mentions/")
    expect(heads.locator("main")).to_contain_text("Согласуйте скидку, @head_north")


def test_the_shortcuts_and_their_help(anna, conversation, asgi_server, page):
    in_another_thread(receive, channel=conversation.channel)  # the client awaits anna's answer
    log_in(page, asgi_server, "anna")
    page.wait_for_load_state("load")  # the deferred scripts have run

    page.keyboard.press("?")
    help_dialog = page.locator("[data-shortcuts-help]")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Ctrl + Enter")
    expect(help_dialog).to_contain_text("К следующему клиенту, который ждёт вашего ответа")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    # Letters typed in a text box are text.
    page.locator("input[name=q]").first.press("u")
    expect(page).to_have_url(f"{asgi_server}/deals/")
    page.evaluate("document.activeElement.blur()")

    page.keyboard.press("u")
    expect(page).to_have_url(f"{asgi_server}/deals/{conversation.deal_id}/#conversations")
    # The card's deferred scripts run at "load": a key pressed before is nobody's (under a
    # loaded CI machine the next press raced them).
    page.wait_for_load_state("load")
    # On that card, the next one skips it: nobody else waits.
    page.keyboard.press("u")
    expect(page).to_have_url(f"{asgi_server}/conversations/")
    expect(page.locator("main")).to_contain_text("Ни один клиент не ждёт вашего ответа")
