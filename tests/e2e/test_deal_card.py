"""Smoke test in a real browser: log in, open a deal card, add a note, see it on the timeline,
and see a colleague's note arrive live over the websocket without a reload."""

import threading

import pytest
from playwright.sync_api import expect

from crm import services

pytestmark = pytest.mark.e2e


def log_in(page, base_url, username, password="pw"):
    page.goto(f"{base_url}/deals/")
    expect(page).to_have_url(f"{base_url}/login/?next=/deals/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    expect(page).to_have_url(f"{base_url}/deals/")


def wait_until(page, condition, timeout_ms=10_000):
    waited = 0
    while not condition():
        if waited >= timeout_ms:
            raise AssertionError("the deal card did not subscribe to live updates")
        page.wait_for_timeout(100)
        waited += 100


def in_another_thread(fn, **kwargs):
    """What another user's request does. Playwright's sync API runs an event loop in the
    test's thread, where Channels' group_send cannot be called synchronously."""
    errors = []

    def run():
        try:
            fn(**kwargs)
        except Exception as e:  # re-raised in the test
            errors.append(e)
        finally:
            from django.db import connection

            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    if errors:
        raise errors[0]


# Data fixtures come before the browser: they are built before Playwright's loop starts.
def test_a_manager_adds_a_note_and_sees_live_updates(
    anna, head_north, anna_deal, asgi_server, page
):
    dialogs, frames = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))

    log_in(page, asgi_server, "anna")
    page.get_by_role("link", name=anna_deal.title).click()
    expect(page).to_have_url(f"{asgi_server}/deals/{anna_deal.pk}/")
    expect(page.get_by_role("heading", name=anna_deal.title)).to_be_visible()
    timeline = page.locator("[data-timeline]")
    expect(timeline).to_contain_text("Сделка создана")

    # A marker that survives only if the page is never reloaded.
    page.evaluate("window.__noReload = true")
    hostile = "<img src=x onerror=alert(1)> Клиент просит счёт"
    page.fill("form.composer textarea[name=text]", hostile)
    page.click("form.composer button[type=submit]")
    expect(timeline.locator("li").first).to_contain_text(hostile)
    expect(page.locator("form.composer textarea[name=text]")).to_have_value("")

    # The head of the team writes from elsewhere: the note arrives over the websocket.
    wait_until(page, lambda: any('"subscribed"' in str(frame) for frame in frames))
    in_another_thread(services.note_add, by=head_north, deal=anna_deal, text="Согласовал скидку 5%")
    expect(timeline.locator("li").first).to_contain_text("Согласовал скидку 5%")

    # The folded forms come when unfolded: a task is added, the sharing form is there.
    tasks = page.locator("#tasks")
    expect(tasks.locator("input[name=title]")).to_have_count(0)
    tasks.get_by_text("Добавить задачу").first.click()
    tasks.locator("input[name=title]").fill("Отправить счёт")
    tasks.locator("form button[type=submit]").click()
    expect(page.locator("[data-tasks]")).to_contain_text("Отправить счёт")
    expect(tasks.locator("input[name=title]")).to_have_value("")
    shares = page.locator("#shares")
    shares.locator("summary").click()
    expect(shares.locator("select[name=share-user]")).to_be_visible()

    assert page.evaluate("window.__noReload") is True
    assert timeline.locator("li", has_text="Клиент просит счёт").count() == 1
    assert timeline.locator("img").count() == 0
    assert dialogs == []
