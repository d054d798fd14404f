"""The layout in a real browser: every role's top menu fits at 1024 and 1440 px (the security
link and its alert badge visible, nothing scrolled away or wrapped), and on a phone the deal
card opens on the conversation with the reply box in the first screen.

With CRM_SCREENSHOTS=<folder> the test saves what it checked there (docs/screenshots/ holds
the director's menu at 1024 px and the deal card at 390 px)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from security.models import Alert
from tests.test_authorization_matrix import anna_company, world  # noqa: F401

pytestmark = pytest.mark.e2e

ROLES = ["anna", "head_north", "director", "marketer", "support", "security_officer"]
START = {"anna": "/deals/", "head_north": "/deals/", "director": "/deals/",
         "marketer": "/contacts/", "support": "/contacts/", "security_officer": "/security/"}
SCREENSHOTS = os.environ.get("CRM_SCREENSHOTS")


def log_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    page.click("form button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def screenshot(page, name, **kwargs):
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name), **kwargs)


MEASURE_NAV = """() => {
  const nav = document.querySelector('.mainnav');
  const items = [...nav.querySelectorAll('li')];
  const inside = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth
      && r.left >= nav.getBoundingClientRect().left - 1
      && r.right <= nav.getBoundingClientRect().right + 1;
  };
  const menu = document.querySelector('.usermenu');
  const security = nav.querySelector('a[href="/security/"]');
  const badge = security && security.querySelector('[data-alert-badge]');
  return {
    scrolls: nav.scrollWidth > nav.clientWidth + 1,
    widths: [nav.scrollWidth, nav.clientWidth],
    rows: new Set(items.map((li) => Math.round(li.getBoundingClientRect().top))).size,
    hidden: items.filter((li) => !inside(li)).map((li) => li.textContent.trim()),
    menuRows: new Set([...menu.children].map((el) =>
      Math.round(el.getBoundingClientRect().top + el.getBoundingClientRect().height / 2))).size,
    pageScrolls: document.documentElement.scrollWidth > window.innerWidth,
    security: security ? inside(security) : null,
    badge: badge ? (!badge.hidden && inside(badge) && badge.textContent.trim()) : null,
  };
}"""


@pytest.mark.parametrize("width", [1024, 1440])
def test_every_roles_menu_fits(asgi_server, browser, world, request, width):  # noqa: F811
    director = request.getfixturevalue("director")
    director.first_name, director.last_name = "Елена", "Васильева"
    director.save()
    Alert.objects.create(rule="deletions", user=world.deal.owner, count=12, threshold=12,
                         window_minutes=10, evidence={"records": []})  # for the badge
    for role in ROLES:
        user = request.getfixturevalue(role)
        context = browser.new_context(locale="ru-RU", viewport={"width": width, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        log_in(page, asgi_server, user.username)
        # Each role lands where its work is.
        expect(page).to_have_url(f"{asgi_server}{START[role]}")
        found = page.evaluate(MEASURE_NAV)
        assert not found["scrolls"] and found["rows"] == 1 and not found["hidden"], (
            role, width, found)
        assert found["menuRows"] == 1 and not found["pageScrolls"], (role, width, found)
        if role in ("director", "security_officer"):
            assert found["security"] and found["badge"], (role, width, found)
        if role == "director" and width == 1024:
            screenshot(page, "nav-1024-director.png",
                       clip={"x": 0, "y": 0, "width": 1024, "height": 200})
        context.close()


def test_the_deal_card_opens_on_the_conversation_on_a_phone(asgi_server, browser,
                                                            world):  # noqa: F811
    context = browser.new_context(locale="ru-RU", viewport={"width": 390, "height": 844},
                                  is_mobile=True, has_touch=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(10_000)
    log_in(page, asgi_server, "anna")
    page.goto(f"{asgi_server}/deals/{world.deal.pk}/")
    composer = page.locator(f"#reply-{world.conversation.pk}")
    expect(composer).to_be_visible()
    box = composer.bounding_box()
    facts = page.locator("#deal-facts").bounding_box()
    # Within the first screen (844 px), above the facts, consents, tasks and sharing.
    assert box["y"] + box["height"] <= 844, box
    assert facts["y"] > box["y"], (facts, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "deal-card-390.png")
    context.close()
