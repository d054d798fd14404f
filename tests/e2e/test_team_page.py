"""The sales head's morning in a real browser (issue 19), on the demo's 90 days of history:
head_north opens the team page and sees the demo's figures, a click on a manager's
"unanswered now" opens exactly those conversations, and the live wallboard counts a client
who writes while it is open, without a reload.

With CRM_SCREENSHOTS=<folder> the test saves the team page and the wallboard there
(docs/screenshots/ holds them)."""

import io
import json
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone
from playwright.sync_api import expect

from crm.models import ActivityDay
from inbox import services as inbox_services
from inbox.models import Channel, Conversation
from reports import periods
from security.models import User
from tests.e2e.test_deal_card import in_another_thread

pytestmark = pytest.mark.e2e

SCREENSHOTS = os.environ.get("CRM_SCREENSHOTS")


@pytest.fixture
def demo(transactional_db, settings):
    settings.DEBUG = True  # the demo is for embedded (DEBUG) databases
    call_command("seed_demo", stdout=io.StringIO())
    return {user.username: user for user in User.objects.all()}


def log_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo")
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def screenshot(page, name):
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


def client_writes(channel, visitor):
    payload = {"visitor": visitor, "id": visitor, "text": "Здравствуйте, есть вопрос",
               "sent_at": timezone.now().isoformat()}
    inbox_services.event_receive(channel=channel, provider_event_id=visitor,
                                 event_type="message", payload=json.dumps(payload))
    inbox_services.events_drain(linger=0, pause=0)


def test_the_heads_morning_on_the_demo(demo, asgi_server, page):
    ivan = demo["ivan"]
    quarter = periods.preset("quarter")
    figures = ActivityDay.objects.filter(user=ivan, day__gte=quarter.since,
                                         day__lte=quarter.until).aggregate(
        inbound=Sum("inbound"), outbound=Sum("outbound"))
    assert figures["inbound"] and figures["outbound"]  # the demo has a past to show

    log_in(page, asgi_server, "head_north")
    page.goto(f"{asgi_server}/team/?period=quarter")
    row = page.locator(f'tr[data-user="{ivan.pk}"][data-channel="all"]')
    expect(row.locator('[data-figure="inbound"]')).to_have_text(str(figures["inbound"]))
    expect(row.locator('[data-figure="outbound"]')).to_have_text(str(figures["outbound"]))
    screenshot(page, "team-page-1280.png")

    # "Unanswered now" opens exactly the conversations waiting for ivan.
    waiting = set(Conversation.objects.filter(assignee=ivan, awaiting_reply=True)
                  .values_list("pk", flat=True))
    assert waiting
    row.locator('[data-figure="unanswered_now"]').click()
    page.wait_for_url(lambda url: "waiting=unanswered" in url)
    shown = page.locator("[data-conversation-row]")
    expect(shown).to_have_count(len(waiting))
    assert {int(pk) for pk in (shown.nth(i).get_attribute("data-conversation-row")
                               for i in range(shown.count()))} == waiting

    # The wallboard counts a client who writes while it is open.
    frames = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: frames.append(frame)))
    page.goto(f"{asgi_server}/team/live/")
    tiles = page.locator("[data-tile]")
    expect(tiles.first).to_be_visible()

    def total() -> int:
        return sum(int(tiles.nth(i).get_attribute("data-unanswered"))
                   for i in range(tiles.count()))

    before = total()
    screenshot(page, "wallboard-1280.png")
    page.wait_for_function("() => true")
    for _attempt in range(50):  # the socket has subscribed to the team's board
        if any('"team"' in str(frame) for frame in frames):
            break
        page.wait_for_timeout(100)
    chat = Channel.objects.get(kind="website")
    in_another_thread(client_writes, channel=chat, visitor="wallboard-visitor")
    page.wait_for_function(
        "(before) => [...document.querySelectorAll('[data-tile]')].reduce("
        "(sum, tile) => sum + Number(tile.dataset.unanswered), 0) === before + 1",
        arg=before, timeout=10_000)
    assert total() == before + 1
