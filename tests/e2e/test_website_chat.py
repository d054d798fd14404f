"""Website chat end to end in a real browser (issue 4): a visitor of the demo site writes in
the widget, the message arrives live on anna's open deal card, she answers from the
conversation panel, and the visitor's widget shows the answer without a reload."""

import pytest
from playwright.sync_api import expect

from crm.models import Deal
from inbox.demo import DEMO_WEBSITE
from inbox.models import Channel, Conversation
from tests.e2e.test_deal_card import log_in, wait_until

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def website_channel(north, anna):
    """The demo site's channel (its sites are set once the server's port is known)."""
    return Channel.objects.create(kind=Channel.Kind.WEBSITE, name=DEMO_WEBSITE["name"],
                                  team=north, public_key="e2e-public-key")


# Data fixtures come before the browser: they are built before Playwright's loop starts.
def test_a_visitor_message_arrives_live_and_the_reply_reaches_the_widget(
    anna, website_channel, asgi_server, browser, page
):
    website_channel.allowed_origins = asgi_server
    website_channel.save()
    dialogs = []

    visitor = browser.new_context(locale="ru-RU").new_page()
    visitor.set_default_timeout(10_000)
    visitor.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    visitor.goto(f"{asgi_server}/demo/site/")
    visitor.get_by_role("button", name="Напишите нам").click()
    widget = visitor.locator("[data-crm-widget]")
    expect(widget.get_by_role("dialog")).to_be_visible()
    widget.locator("input[name=name]").fill("Мария")
    widget.locator("textarea[name=text]").fill("Здравствуйте! Нужен счёт.")
    widget.get_by_role("button", name="Отправить").click()
    expect(widget.locator(".msg--in")).to_have_text("ВыЗдравствуйте! Нужен счёт.")
    expect(widget.locator(".msg--pending")).to_have_count(0)

    # The pipeline made the contact, the lead deal (anna's: the team's only manager) and the
    # conversation.
    deal = Deal.objects.get(contact__name="Мария")
    assert deal.owner_id == anna.pk
    conversation = Conversation.objects.get(deal=deal, channel=website_channel)

    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, asgi_server, "anna")
    page.goto(f"{asgi_server}/deals/{deal.pk}/")
    # On the timeline or in the conversation panel, wherever the card shows messages.
    expect(page.get_by_text("Здравствуйте! Нужен счёт.").first).to_be_visible()
    wait_until(page, lambda: any('"subscribed"' in str(frame) for frame in frames))
    page.evaluate("window.__noReload = true")

    # The visitor writes again: it shows on the card without a reload; markup stays text.
    widget.locator("textarea[name=text]").fill(f"{HOSTILE} Когда доставка?")
    widget.locator("textarea[name=text]").press("Enter")
    expect(page.get_by_text(f"{HOSTILE} Когда доставка?").first).to_be_visible(timeout=2000)
    assert page.evaluate("window.__noReload") is True

    # Anna answers from the conversation panel: the widget shows it live.
    panel = page.locator(f'[data-conversation-id="{conversation.pk}"]')
    reply = f"Доставим в четверг, Мария. {HOSTILE}"
    panel.locator("textarea[name=text]").fill(reply)
    panel.locator("button[type=submit]").first.click()
    expect(widget.locator(".msg--out").last).to_contain_text(reply, timeout=3000)
    expect(widget.locator(".msg--in").last).to_contain_text(f"{HOSTILE} Когда доставка?")

    # Nothing the visitor or the manager typed became markup, on either side.
    assert widget.locator("img").count() == 0
    assert page.locator("[data-timeline] img, #conversations img").count() == 0
    assert dialogs == []

    # After a reload the visitor still has the conversation (their token is in the browser).
    visitor.reload()
    visitor.get_by_role("button", name="Напишите нам").click()
    expect(widget.locator(".msg--out")).to_contain_text(reply)
    expect(widget.locator(".msg--in")).to_have_count(2)
    visitor.context.close()
