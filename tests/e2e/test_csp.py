"""The Content-Security-Policy in a real browser (security/headers.py): the main pages, the deal
card with its live socket, the website chat widget on the demo site and the Django admin all
work under it, and Chromium reports no violation and no error on any of them.

A screenshot of the deal card lands in tests/e2e/artifacts/csp-deal-card.png for a look."""

import pytest
from playwright.sync_api import expect

from inbox.demo import DEMO_WEBSITE
from inbox.models import Channel, Conversation
from security.models import Alert
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_deal_card import log_in, wait_until

pytestmark = pytest.mark.e2e

# Reported by the document for every blocked script, style, connection or frame.
WATCH = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolation([e.effectiveDirective, e.blockedURI, e.sourceFile, e.lineNumber,
                         e.sample].join(" "));
});
"""


class Watched:
    """A browser context whose pages report policy violations, console errors and uncaught
    exceptions into `problems`, and the frames their sockets receive into `frames`."""

    def __init__(self, browser):
        self.problems: list[str] = []
        self.frames: list[str] = []
        self.sockets: list[str] = []
        self.context = browser.new_context(locale="ru-RU", viewport={"width": 1280,
                                                                     "height": 900})
        self.context.expose_function("__cspViolation",
                                     lambda text: self.problems.append(f"csp: {text}"))
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"error: {error}"))
        self.page.on("websocket", self._socket)

    def _console(self, message):
        # Pages without an icon of their own (the admin's) ask for /favicon.ico: no route.
        if message.type == "error" and not message.location.get("url", "").endswith(
                "/favicon.ico"):
            self.problems.append(f"console: {message.text} {message.location.get('url')} "
                                 f"(page {self.page.url})")

    def _socket(self, socket):
        self.sockets.append(socket.url)
        socket.on("framereceived", lambda payload: self.frames.append(str(payload)))

    def subscribed(self) -> bool:
        return any('"subscribed"' in frame for frame in self.frames)


@pytest.fixture
def website_channel(north, anna):
    return Channel.objects.create(kind=Channel.Kind.WEBSITE, name=DEMO_WEBSITE["name"],
                                  team=north, public_key="csp-public-key")


@pytest.fixture
def alert(anna, security_officer):
    return Alert.objects.create(rule="foreign_cards", user=anna, count=30, threshold=30,
                                window_minutes=10, evidence={"records": []})


# Data fixtures come before the browser: they are built before Playwright's loop starts.
def test_the_main_pages_run_under_the_policy_without_a_violation(
    anna, anna_deal, director, security_officer, alert, website_channel, asgi_server, browser
):
    website_channel.allowed_origins = asgi_server
    website_channel.save()

    # A visitor of the demo site writes in the widget: its styles apply, its socket opens.
    visitor = Watched(browser)
    visitor.page.goto(f"{asgi_server}/demo/site/")
    launcher = visitor.page.locator("[data-crm-widget]").get_by_role("button",
                                                                     name="Напишите нам")
    # The widget's constructed style sheet placed the button in the corner.
    expect(launcher).to_have_css("position", "fixed")
    expect(visitor.page.locator("header")).to_have_css("background-color", "rgb(15, 61, 62)")
    launcher.click()
    widget = visitor.page.locator("[data-crm-widget]")
    widget.locator("textarea[name=text]").fill("Здравствуйте! Нужен счёт.")
    widget.get_by_role("button", name="Отправить").click()
    expect(widget.locator(".msg--pending")).to_have_count(0)
    wait_until(visitor.page, lambda: any("/ws/widget/" in url for url in visitor.sockets))
    wait_until(visitor.page, lambda: len(visitor.frames) > 0)
    lead = Conversation.objects.get(channel=website_channel).deal

    # The manager: the deal list, a deal card with its live socket and the conversation panel,
    # a contact card, the inbox, the board.
    manager = Watched(browser)
    page = manager.page
    log_in(page, asgi_server, "anna")
    expect(page.locator("link[rel=stylesheet]")).to_have_count(1)
    expect(page.locator(".topbar")).to_be_visible()
    page.goto(f"{asgi_server}/deals/{lead.pk}/")
    expect(page.get_by_text("Здравствуйте! Нужен счёт.").first).to_be_visible()
    wait_until(page, manager.subscribed)
    panel = page.locator("[data-conversation-id]").first
    panel.locator("textarea[name=text]").fill("Добрый день! Счёт пришлём сегодня.")
    panel.locator("button[type=submit]").first.click()
    expect(widget.locator(".msg--out").last).to_contain_text("Счёт пришлём", timeout=5000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "csp-deal-card.png"), full_page=True)

    page.goto(f"{asgi_server}/deals/{anna_deal.pk}/")
    expect(page.get_by_role("heading", name=anna_deal.title)).to_be_visible()
    page.goto(f"{asgi_server}/contacts/{anna_deal.contact_id}/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    for path in ("/conversations/", "/deals/board/", "/tasks/", "/contacts/"):
        page.goto(f"{asgi_server}{path}")
        expect(page.locator("main")).to_be_visible()

    # The security officer: the console and an alert.
    officer = Watched(browser)
    officer.page.goto(f"{asgi_server}/security/")
    officer.page.fill("input[name=username]", "security")
    officer.page.fill("input[name=password]", "pw")
    officer.page.click("form button[type=submit]")
    expect(officer.page).to_have_url(f"{asgi_server}/security/")
    officer.page.goto(f"{asgi_server}/security/alerts/{alert.pk}/")
    expect(officer.page.get_by_role("heading", level=1)).to_contain_text(f"№ {alert.pk}")

    # The director in the Django admin: its scripts still run (the actions' select-all).
    admin = Watched(browser)
    admin.page.goto(f"{asgi_server}/admin/login/?next=/admin/")
    admin.page.fill("input[name=username]", "director")
    admin.page.fill("input[name=password]", "pw")
    admin.page.click("input[type=submit], button[type=submit]")
    expect(admin.page).to_have_url(f"{asgi_server}/admin/")
    admin.page.goto(f"{asgi_server}/admin/security/user/")
    counter = admin.page.locator(".action-counter")
    before = counter.inner_text()
    admin.page.locator("#action-toggle").check()
    expect(counter).not_to_have_text(before)
    admin.page.goto(f"{asgi_server}/admin/security/user/{anna.pk}/change/")
    expect(admin.page.locator("#user_form, form").first).to_be_visible()

    problems = visitor.problems + manager.problems + officer.problems + admin.problems
    assert problems == []
    for watched in (visitor, manager, officer, admin):
        watched.context.close()
