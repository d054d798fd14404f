"""The security console in a real browser: the officer opens an alert and the access log (on a
laptop and on a phone; screenshots land in tests/e2e/artifacts/ for a look), and an alert
raised meanwhile shows as a toast linking to it, with the nav's badge counted up."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from core import events
from security.audit import alerts, rules
from security.models import AccessRecord, Alert
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_deal_card import in_another_thread
from tests.factories import make_contact, make_deal

pytestmark = pytest.mark.e2e


def log_in(page, base_url, username, password="pw"):
    page.goto(f"{base_url}/security/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    expect(page).to_have_url(f"{base_url}/security/")


@pytest.fixture
def evidence_alert(anna, security_officer):
    deals = [make_deal(anna, contact=make_contact(anna, name=f"Клиент {i}",
                                                  phones=[f"+7916555000{i}"]))
             for i in range(4)]
    client = Client()
    client.force_login(anna)
    for deal in deals:
        client.get(f"/deals/{deal.pk}/", REMOTE_ADDR="10.20.30.40",
                   HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
    seqs = list(AccessRecord.objects.filter(action="view").values_list("seq", flat=True))
    return Alert.objects.create(
        rule=rules.FOREIGN_CARDS, user=anna, count=31, threshold=30, window_minutes=10,
        evidence={"records": seqs, "clients": sorted(d.contact_id for d in deals),
                  "objects": [f"crm.deal:{d.pk}" for d in deals]},
    )


def test_the_officer_reads_an_alert_and_the_access_log(security_officer, evidence_alert,
                                                       asgi_server, page, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    log_in(page, asgi_server, "security")
    page.get_by_role("link", name=f"№{evidence_alert.pk}").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"№ {evidence_alert.pk}")
    expect(page.locator("table.table--log tbody tr")).to_have_count(4)
    # The alert names the clients and deals it is about (the officer's read is logged), and
    # never their contact details.
    expect(page.locator("body")).to_contain_text("Клиент 0")
    expect(page.locator("body")).not_to_contain_text("5550000")
    page.screenshot(path=str(ARTIFACTS / "console-alert.png"), full_page=True)

    page.goto(f"{asgi_server}/security/")
    page.locator(".subnav").get_by_role("link", name="Журнал доступа").click()
    page.fill("input[name=user]", "anna")
    page.get_by_role("button", name="Поиск").click()
    expect(page.locator("table.table--log tbody tr").first).to_contain_text("10.20.30.40")
    page.screenshot(path=str(ARTIFACTS / "console-access-log.png"), full_page=True)
    page.locator(".subnav").get_by_role("link", name="Правила").click()
    expect(page.locator("table tbody tr")).to_have_count(len(rules.RULES))
    page.screenshot(path=str(ARTIFACTS / "console-rules.png"), full_page=True)

    phone = browser.new_context(locale="ru-RU", viewport={"width": 390, "height": 844},
                                storage_state=page.context.storage_state())
    small = phone.new_page()
    small.goto(f"{asgi_server}/security/alerts/{evidence_alert.pk}/")
    expect(small.get_by_role("heading", level=1)).to_be_visible()
    small.screenshot(path=str(ARTIFACTS / "console-alert-phone.png"), full_page=True)
    phone.close()


def test_a_raised_alert_shows_as_a_toast_and_counts_up_the_badge(security_officer, anna,
                                                                  asgi_server, page):
    log_in(page, asgi_server, "security")
    badge = page.locator("[data-alert-badge]")
    expect(badge).to_be_hidden()

    # Hostile text in an event goes in as text: a forged title must not become markup.
    hostile = {"type": "alert.raised", "alert": 999999, "rule": "x",
               "title": '<img src=x onerror="window.__pwned=1">'}
    alert = None
    # The page's socket may still be connecting: send until the toast shows (one per id).
    for _attempt in range(40):
        if alert is None:
            alert = Alert.objects.create(rule=rules.REVEALS, user=anna, count=20,
                                         threshold=20, window_minutes=60)
        in_another_thread(alerts.raised, alert=alert)
        in_another_thread(events.send_after_commit, group=events.user_group(security_officer.pk),
                          event=hostile)
        if page.locator(f'[data-alert-toast="{alert.pk}"]').count():
            break
        page.wait_for_timeout(250)
    toast = page.locator(f'[data-alert-toast="{alert.pk}"]')
    expect(toast).to_have_attribute("role", "alert")
    expect(toast).to_contain_text(str(rules.RULES[rules.REVEALS].title))
    expect(toast.get_by_role("link")).to_have_attribute("href",
                                                        f"/security/alerts/{alert.pk}/")
    expect(page.locator('[data-alert-toast="999999"]')).to_contain_text("<img src=x")
    assert page.evaluate("window.__pwned") is None
    expect(badge).to_be_visible()
    assert int(badge.locator("[data-alert-count]").inner_text()) >= 1
    page.screenshot(path=str(ARTIFACTS / "console-toast.png"))

    toast.get_by_role("button").click()
    expect(toast).to_have_count(0)
