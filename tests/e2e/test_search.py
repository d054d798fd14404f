"""Search in a real browser (issue 20): anna types a word of a Telegram client's message in
the header's box, finds it (in another form of the word) and opens the deal card at that
message, which is older than the card's first page of the chat.

With CRM_SCREENSHOTS=<folder> the test saves the results page there
(docs/screenshots/search-1280.png)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from crm.models import Deal
from inbox.models import Message
from inbox.selectors import CHAT_PAGE
from tests.e2e.test_deal_card import log_in
from tests.e2e.test_telegram_flow import (  # noqa: F401 (fixtures)
    fake_bot_api,
    telegram_channel,
    text_update,
)
from tests.inbox.messengers import deliver_over_http

pytestmark = pytest.mark.e2e

SCREENSHOTS = os.environ.get("CRM_SCREENSHOTS")


def test_the_header_box_finds_a_telegram_message_and_opens_the_card_at_it(
    anna, telegram_channel, asgi_server, page  # noqa: F811
):
    deliver_over_http(asgi_server, telegram_channel,
                      text_update(1, "Подскажите, возможна ли рассрочка на три месяца?"))
    for n in range(2, CHAT_PAGE + 8):  # the conversation goes on past the card's first page
        deliver_over_http(asgi_server, telegram_channel, text_update(n, f"Сообщение {n}"))
    deal = Deal.objects.get(contact__name="Мария Иванова")
    wanted = Message.objects.get(text__startswith="Подскажите")

    log_in(page, asgi_server, "anna")
    box = page.get_by_role("searchbox", name="Искать везде")
    box.fill("рассрочку")
    box.press("Enter")
    hit = page.locator(f'.hit[data-hit-kind="message"][data-hit-id="{wanted.pk}"]')
    expect(hit).to_be_visible()
    expect(hit.locator("mark")).to_have_text("рассрочка")
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(Path(SCREENSHOTS) / "search-1280.png"), full_page=True)

    hit.get_by_role("link").click()
    page.wait_for_url(f"**/deals/{deal.pk}/?message={wanted.pk}#message-{wanted.pk}")
    found = page.locator(f"#message-{wanted.pk}")
    expect(found).to_be_visible()
    expect(found).to_have_class("chat__item chat__item--in chat__item--found")
    expect(found).to_be_in_viewport()
    # In view means seen: not under the sticky top bar (an anchor puts its target at the top).
    assert page.evaluate(f"""() => document.getElementById('message-{wanted.pk}')
        .getBoundingClientRect().top >= document.querySelector('.topbar')
        .getBoundingClientRect().bottom""")
    expect(page.locator("[data-chat-newer]")).to_be_visible()
