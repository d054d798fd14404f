"""The anomaly rules: each fires at its threshold and not below, once per window; alerts reach
the security officers and the user's sales head, live and by e-mail."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from auditlog.context import set_actor
from django.core import mail
from django.test import Client

from crm.models import Task
from security.audit import access_log, rules
from security.audit.access_log import Action, Surface
from security.models import AccessRecord, Alert, KnownAddress, RuleSetting
from tests.factories import make_contact, make_deal

MOSCOW = ZoneInfo("Europe/Moscow")
WORKDAY = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def client_of(user, ip="10.0.0.1"):
    client = Client(REMOTE_ADDR=ip)
    client.force_login(user)
    return client


def web_login(username, ip):
    response = Client(REMOTE_ADDR=ip).post("/login/", {"username": username, "password": "pw"})
    assert response.status_code == 302, response.content


def alerts(rule=None):
    found = Alert.objects.all()
    return list(found.filter(rule=rule) if rule else found)


def configure(rule, **fields):
    defaults = rules.RULES[rule]
    values = {"threshold": defaults.threshold, "window_minutes": defaults.window_minutes}
    RuleSetting.objects.update_or_create(rule=rule, defaults=values | fields)
    rules.settings_changed()


def test_the_defaults_are_those_of_the_policy():
    got = {code: (r.threshold, r.window_minutes, r.over) for code, r in rules.RULES.items()}
    assert got == {
        "foreign_cards": (30, 10, False), "clients_served": (200, 60, False),
        "clients_served_day": (500, 1440, False), "deletions": (10, 10, False),
        "export_volume": (1000, 1440, True), "reveals": (20, 60, False),
        "off_hours": (1, 60, False), "enumeration": (50, 5, False), "new_ip": (1, 1440, False),
    }


class TestForeignCards:
    def test_it_fires_at_the_thirtieth_client_without_an_active_deal(self, anna):
        contacts = [make_contact(anna) for _ in range(30)]
        client = client_of(anna)
        for contact in contacts[:29]:
            assert client.get(f"/contacts/{contact.pk}/").status_code == 200
        assert alerts() == []
        client.get(f"/contacts/{contacts[29].pk}/")
        [alert] = alerts("foreign_cards")
        assert (alert.user, alert.count, alert.threshold) == (anna, 30, 30)
        assert alert.evidence["clients"] == sorted(c.pk for c in contacts)
        assert len(alert.evidence["records"]) == 30

    def test_the_same_card_again_is_not_another_client(self, anna):
        contact = make_contact(anna)
        client = client_of(anna)
        for _ in range(40):
            client.get(f"/contacts/{contact.pk}/")
        assert alerts() == []

    def test_clients_with_an_open_deal_of_the_viewer_do_not_count(self, anna):
        deals = [make_deal(anna, contact=make_contact(anna)) for _ in range(31)]
        client = client_of(anna)
        for deal in deals:
            client.get(f"/deals/{deal.pk}/")
            client.get(f"/contacts/{deal.contact_id}/")
        assert alerts() == []

    def test_a_sales_head_reviewing_the_team_does_not_trip_it(self, anna, head_north):
        deals = [make_deal(anna, contact=make_contact(anna)) for _ in range(31)]
        client = client_of(head_north)
        for deal in deals:
            assert client.get(f"/deals/{deal.pk}/").status_code == 200
        assert alerts() == []


class TestOtherRules:
    def test_deletions_fire_at_ten(self, anna, anna_deal):
        tasks = [Task.objects.create(title=f"t{i}", deal=anna_deal, assignee=anna)
                 for i in range(10)]
        with set_actor(anna):
            for task in tasks[:9]:
                task.delete()
            assert alerts() == []
            tasks[9].delete()
        [alert] = alerts("deletions")
        assert alert.count == 10 and len(alert.evidence["change_log_entries"]) == 10

    def test_export_volume_fires_above_the_threshold_not_at_it(self, head_north, anna):
        configure("export_volume", threshold=5)
        for _ in range(5):
            make_deal(anna, contact=make_contact(anna))
        client = client_of(head_north)
        client.post("/exports/", {"resource": "deals", "format": "csv"})
        assert alerts() == []  # five rows: at the threshold, not more
        make_deal(anna)
        client.post("/exports/", {"resource": "deals", "format": "csv"})
        [alert] = alerts("export_volume")
        assert alert.count == 11  # rows exported today, both exports

    def test_reveals_fire_at_twenty_an_hour(self, anna, settings):
        settings.REVEAL_LIMIT_PER_HOUR = 100
        contact = make_contact(anna, phones=["+79161234567"])
        point = contact.points.get()
        client = client_of(anna)

        def reveal():
            response = client.post(f"/contacts/{contact.pk}/points/{point.pk}/reveal/",
                                   {"reason": "Клиент просит перезвонить"})
            assert response.status_code == 200

        for _ in range(19):
            reveal()
        assert alerts() == []
        reveal()
        [alert] = alerts("reveals")
        assert alert.count == 20 and alert.evidence["clients"] == [contact.pk]

    def test_enumeration_fires_at_fifty_refused_ids(self, olga, anna_deal):
        client = client_of(olga)
        for offset in range(49):
            assert client.get(f"/deals/{anna_deal.pk + 1000 + offset}/").status_code == 404
        assert alerts() == []
        client.get(f"/deals/{anna_deal.pk}/")
        [alert] = alerts("enumeration")
        assert alert.count == 50 and len(alert.evidence["records"]) == 50

    def test_refused_websocket_subscriptions_count_too(self, olga, anna_deal):
        access_log.event(action=Action.NOT_FOUND, user=olga, surface=Surface.WEBSOCKET)
        assert AccessRecord.objects.get().action == "not_found"

    def test_new_address_of_a_privileged_account(self, head_north, anna):
        web_login("head_north", "10.0.0.1")
        web_login("head_north", "10.0.0.1")
        assert alerts() == []  # the first address is the baseline
        web_login("head_north", "10.9.9.9")
        [alert] = alerts("new_ip")
        assert alert.evidence == {"ip": "10.9.9.9", "known": ["10.0.0.1"]}
        # A manager's addresses are not watched.
        web_login("anna", "10.0.0.1")
        web_login("anna", "10.7.7.7")
        assert len(alerts()) == 1
        assert not KnownAddress.objects.filter(user=anna).exists()

    def test_an_api_token_is_a_login_for_the_new_address_rule(self, head_north):
        web_login("head_north", "10.0.0.1")
        response = Client(REMOTE_ADDR="10.5.5.5").post(
            "/api/v1/auth/token/", {"username": "head_north", "password": "pw"},
            content_type="application/json")
        assert response.status_code == 200
        assert [a.evidence["ip"] for a in alerts("new_ip")] == ["10.5.5.5"]


class TestOffHours:
    @pytest.fixture(autouse=True)
    def working_hours(self, settings):
        settings.STAFF_WORKING_HOURS = WORKDAY

    def test_a_read_on_a_sunday_night_fires(self, anna, anna_deal):
        with time_machine.travel(datetime(2026, 11, 22, 3, 0, tzinfo=MOSCOW), tick=False):
            client_of(anna).get(f"/deals/{anna_deal.pk}/")
        [alert] = alerts("off_hours")
        assert alert.evidence["clients"] == [anna_deal.contact_id]

    def test_reads_in_working_hours_do_not(self, anna, anna_deal):
        with time_machine.travel(datetime(2026, 11, 23, 9, 0, tzinfo=MOSCOW), tick=False):
            client_of(anna).get(f"/deals/{anna_deal.pk}/")
        with time_machine.travel(datetime(2026, 11, 23, 17, 59, tzinfo=MOSCOW), tick=False):
            client_of(anna).get(f"/deals/{anna_deal.pk}/")
        assert alerts() == []

    def test_a_page_without_client_data_is_no_access(self, anna):
        with time_machine.travel(datetime(2026, 11, 22, 3, 0, tzinfo=MOSCOW), tick=False):
            client_of(anna).get("/deals/")  # nothing listed
        assert alerts() == []


class TestRaising:
    def test_once_per_window(self, olga, anna_deal):
        configure("enumeration", threshold=3)
        client = client_of(olga)
        for offset in range(10):
            client.get(f"/deals/{anna_deal.pk + 1000 + offset}/")
        assert len(alerts("enumeration")) == 1

    def test_a_disabled_rule_stays_quiet(self, olga, anna_deal):
        configure("enumeration", threshold=3, enabled=False)
        client = client_of(olga)
        for offset in range(5):
            client.get(f"/deals/{anna_deal.pk + 1000 + offset}/")
        assert alerts() == []

    def test_officers_and_the_users_head_are_mailed_not_the_user(
        self, anna, head_north, security_officer, olga, django_capture_on_commit_callbacks
    ):
        for user, email in ((anna, "anna@x.ru"), (head_north, "head@x.ru"),
                            (security_officer, "sec@x.ru"), (olga, "olga@x.ru")):
            user.email = email
            user.save()
        configure("enumeration", threshold=2)
        client = client_of(anna)
        with django_capture_on_commit_callbacks(execute=True):
            for offset in range(2):
                client.get(f"/deals/{99999 + offset}/")
        [alert] = alerts()
        [message] = mail.outbox
        assert sorted(message.to) == ["head@x.ru", "sec@x.ru"]
        assert f"№ {alert.pk}" in message.subject

    def test_a_suspending_rule_suspends_the_account(self, anna):
        pytest.importorskip("security.accounts", reason="account suspension lands with "
                                                        "offboarding")
        configure("enumeration", threshold=2, response=RuleSetting.Response.SUSPEND)
        client = client_of(anna)
        for offset in range(2):
            client.get(f"/deals/{99999 + offset}/")
        [alert] = alerts()
        assert alert.suspended
        anna.refresh_from_db()
        assert not anna.is_active
        assert client.get("/deals/").status_code == 302  # the session is gone
