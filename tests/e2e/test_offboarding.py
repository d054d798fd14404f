"""The offboarding screen in a real browser: the admin opens the user list, offboards a
manager to a successor and sees the report, while the manager's open deal card loses its
websocket at once (closed as logged out) and her next click lands on the login page."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_deal_card import log_in, wait_until

pytestmark = pytest.mark.e2e

# Every socket the page opens, and the code each one closed with.
RECORD_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = function (url, protocols) {
    const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
    const record = {open: false, closed: null};
    window.__sockets.push(record);
    socket.addEventListener("open", () => { record.open = true; });
    socket.addEventListener("close", (event) => { record.closed = event.code; });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""


# Data fixtures come before the browser: they are built before Playwright's loop starts.
def test_the_admin_offboards_a_manager_and_her_open_page_is_logged_out(
    anna, ivan, director, anna_deal, asgi_server, browser, page
):
    # Anna works on her deal card in her own browser.
    anna_context = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    anna_context.add_init_script(RECORD_SOCKETS)
    anna_page = anna_context.new_page()
    anna_page.set_default_timeout(10_000)
    try:
        log_in(anna_page, asgi_server, "anna")
        anna_page.goto(f"{asgi_server}/deals/{anna_deal.pk}/")
        expect(anna_page.get_by_role("heading", name=anna_deal.title)).to_be_visible()
        wait_until(anna_page, lambda: anna_page.evaluate(
            "window.__sockets.some(s => s.open && s.closed === null)"))

        # The admin offboards her to ivan from the user list.
        log_in(page, asgi_server, "director")
        page.get_by_role("link", name="Пользователи").click()
        expect(page).to_have_url(f"{asgi_server}/security/users/")
        row = page.locator('tr[data-user="anna"]')
        expect(row).to_contain_text("Активна")
        row.get_by_role("link", name="Уволить").click()
        expect(page).to_have_url(f"{asgi_server}/security/users/{anna.pk}/offboard/")
        expect(page.locator('tr[data-kind="deals"] [data-count]')).to_have_text("1")
        page.select_option("select[name=successor]", str(ivan.pk))
        page.get_by_role("button", name="Продолжить").click()
        expect(page.locator("[data-confirm]")).to_contain_text("Ivan")
        page.get_by_role("button", name="Подтвердить увольнение").click()

        expect(page).to_have_url(re.compile(rf"{asgi_server}/security/offboardings/\d+/$"))
        expect(page.locator("[data-status]")).to_have_text("Выполнено")
        expect(page.locator('tr[data-kind="deals"] [data-count]')).to_have_text("1")
        expect(page.get_by_role("link", name=anna_deal.title)).to_be_visible()  # named, not an id

        # Anna's page: its socket closed as "logged out" (4401) and is not reopened.
        wait_until(anna_page, lambda: anna_page.evaluate(
            "window.__sockets.some(s => s.closed === 4401)"))
        anna_page.wait_for_timeout(1500)
        assert anna_page.evaluate("window.__sockets.filter(s => s.closed === null).length") == 0
        # Her client data left the screen with her access.
        expect(anna_page.locator("[data-session-ended]")).to_contain_text("Сеанс завершён")
        expect(anna_page.get_by_role("heading", name=anna_deal.title)).to_have_count(0)
        # Her next click lands on the login page.
        anna_page.reload()
        expect(anna_page).to_have_url(f"{asgi_server}/login/?next=/deals/{anna_deal.pk}/")

        # The user list shows her account closed.
        page.get_by_role("navigation", name="Главное меню").get_by_role(
            "link", name="Пользователи").click()
        expect(page.locator('tr[data-user="anna"]')).to_contain_text("Закрыта (увольнение)")
    finally:
        anna_context.close()
