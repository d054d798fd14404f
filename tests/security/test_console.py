"""The security console's pages: who may open them, the alerts and their triage, the access-log
search, the rules' settings, the evidence export, and alerts arriving live."""

import csv
import importlib.util
import io
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone

from security.audit import alerts, rules
from security.models import AccessRecord, Alert, RuleSetting
from tests.factories import make_contact, make_deal

CONSOLE_PAGES = ["/security/", "/security/alerts/", "/security/access-log/", "/security/rules/"]


def client_of(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def html(response) -> str:
    return response.content.decode()


def shows_error(response, field: str) -> bool:
    """The field's error list is shown (crm/_field.html hides it when empty)."""
    page = html(response)
    if field == "response":  # radios, listed by hand in the rule form
        return '<ul class="field__errors"><li>' in page
    return f'data-errors-for="{field}"><li>' in page


def make_alert(user, *, rule=rules.FOREIGN_CARDS, evidence=None, **fields) -> Alert:
    fields.setdefault("count", 30)
    fields.setdefault("threshold", 30)
    fields.setdefault("window_minutes", 10)
    return Alert.objects.create(rule=rule, user=user, evidence=evidence or {}, **fields)


def read_cards(user, deals, **headers):
    client = client_of(user)
    for deal in deals:
        assert client.get(f"/deals/{deal.pk}/", **headers).status_code == 200


@pytest.fixture
def alert(anna):
    return make_alert(anna)


@pytest.fixture
def officer(security_officer):
    return security_officer


# --- Who may see the console -----------------------------------------------------------------


class TestWhoMaySeeIt:
    @pytest.mark.parametrize("url", CONSOLE_PAGES + ["/security/alerts/{id}/"])
    def test_an_anonymous_visitor_is_sent_to_log_in(self, url, alert):
        response = Client().get(url.format(id=alert.pk))
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")

    @pytest.mark.parametrize("role", ["anna", "head_north", "marketer", "support"])
    @pytest.mark.parametrize("url", CONSOLE_PAGES + ["/security/alerts/{id}/",
                                                     "/security/alerts/{id}/evidence/",
                                                     "/security/access-log/export/",
                                                     "/security/rules/deletions/"])
    def test_other_roles_get_404(self, request, role, url, alert):
        user = request.getfixturevalue(role)
        assert client_of(user).get(url.format(id=alert.pk)).status_code == 404

    @pytest.mark.parametrize("role", ["anna", "head_north", "marketer"])
    def test_other_roles_cannot_triage(self, request, role, alert):
        client = client_of(request.getfixturevalue(role))
        assert client.post(f"/security/alerts/{alert.pk}/resolve/", {
            "resolve-outcome": "resolved", "resolve-comment": "x"}).status_code == 404
        alert.refresh_from_db()
        assert alert.status == Alert.Status.OPEN

    @pytest.mark.parametrize("role", ["officer", "director"])
    @pytest.mark.parametrize("url", CONSOLE_PAGES + ["/security/alerts/{id}/"])
    def test_the_officer_and_the_admin_see_it(self, request, role, url, alert):
        user = request.getfixturevalue(role)
        assert client_of(user).get(url.format(id=alert.pk)).status_code == 200

    def test_the_nav_shows_the_console_with_its_open_alerts_to_them_only(
        self, officer, anna, alert
    ):
        make_alert(anna, rule=rules.REVEALS)
        make_alert(anna, rule=rules.DELETIONS, status=Alert.Status.RESOLVED)
        page = html(client_of(officer).get("/security/rules/"))
        assert 'href="/security/"' in page
        assert 'data-alert-count>2<' in page
        assert 'data-alert-url="/security/alerts/0/"' in page
        manager_page = html(client_of(anna).get("/deals/"))
        assert 'href="/security/"' not in manager_page
        assert "data-alert-url" not in manager_page

    def test_the_officer_starts_in_the_console(self, officer):
        response = client_of(officer).get("/")
        assert response.status_code == 302
        assert response["Location"] == "/security/"

    def test_an_unknown_alert_is_404_to_the_officer_too(self, officer):
        assert client_of(officer).get("/security/alerts/999999/").status_code == 404


# --- Alerts ----------------------------------------------------------------------------------


class TestAlertList:
    def test_it_lists_newest_first_and_filters_by_status_rule_and_user(self, officer, anna,
                                                                       ivan):
        now = timezone.now()
        old = make_alert(anna, rule=rules.REVEALS, raised_at=now - timedelta(hours=2))
        new = make_alert(ivan, rule=rules.DELETIONS, raised_at=now - timedelta(hours=1))
        done = make_alert(anna, rule=rules.DELETIONS, raised_at=now,
                          status=Alert.Status.RESOLVED)
        client = client_of(officer)

        def shown(query=""):
            page = html(client.get(f"/security/alerts/{query}"))
            return [a.pk for a in (done, new, old) if f"/security/alerts/{a.pk}/" in page], page

        ids, page = shown()
        assert ids == [done.pk, new.pk, old.pk]
        assert page.index(f"/security/alerts/{done.pk}/") < page.index(
            f"/security/alerts/{old.pk}/")
        assert shown("?status=open")[0] == [new.pk, old.pk]
        assert shown(f"?rule={rules.DELETIONS}")[0] == [done.pk, new.pk]
        assert shown(f"?user={anna.pk}")[0] == [done.pk, old.pk]
        assert shown(f"?user={anna.pk}&rule={rules.DELETIONS}&status=resolved")[0] == [done.pk]
        # A stale or forged value drops that filter instead of failing the page.
        assert shown("?status=nonsense")[0] == [done.pk, new.pk, old.pk]

    def test_it_is_paginated(self, officer, anna, settings):
        settings.UI_PAGE_SIZE = 3
        for _ in range(7):
            make_alert(anna)
        client = client_of(officer)
        assert html(client.get("/security/alerts/")).count('class="table__title"') == 3
        assert html(client.get("/security/alerts/?page=3")).count('class="table__title"') == 1


class TestAlertPage:
    def test_it_names_the_user_deal_and_client_with_local_dates_and_no_contact_details(
        self, officer, anna, anna_deal
    ):
        read_cards(anna, [anna_deal], REMOTE_ADDR="10.1.2.3")
        record = AccessRecord.objects.get(action="view", user_id=anna.pk)
        alert = make_alert(anna, count=31, evidence={
            "records": [record.seq], "clients": [anna_deal.contact_id],
            "objects": [f"crm.deal:{anna_deal.pk}"], "since": "2025-01-01T00:00:00+00:00"})
        before = AccessRecord.objects.order_by("-seq").first().seq
        page = html(client_of(officer).get(f"/security/alerts/{alert.pk}/"))
        assert str(rules.RULES[rules.FOREIGN_CARDS].title) in page
        assert "31" in page and "30" in page
        assert f"record-{record.seq}" in page
        assert "10.1.2.3" in page
        assert str(anna) in page
        # Names, as the change log writes them; never an id pair or an ISO time.
        assert "Сделка «Поставка серверов»" in page and "Пётр Смирнов" in page
        assert "crm.deal:" not in page and "2025-01-01T00:00" not in page
        assert "1 января 2025, 03:00:00" in page  # midnight UTC, in Moscow, with its year
        # Never a contact detail.
        for secret in ("123-45-67", "Petr@"):
            assert secret not in page
        # The officer was shown those clients: the page says so in the log.
        shown = AccessRecord.objects.filter(seq__gt=before, user_id=officer.pk)
        assert {(r.object_type, r.object_id) for r in shown} >= {
            ("crm.deal", anna_deal.pk), ("crm.contact", anna_deal.contact_id)}

    def test_one_list_view_is_one_event_of_its_records(self, officer, anna):
        for _ in range(3):
            make_deal(anna, contact=make_contact(anna))
        assert client_of(anna).get("/deals/").status_code == 200
        listed = list(AccessRecord.objects.filter(user_id=anna.pk, action="list")
                      .order_by("seq"))
        assert len(listed) >= 3
        read_cards(anna, [make_deal(anna)])
        viewed = AccessRecord.objects.filter(user_id=anna.pk, action="view").get()
        alert = make_alert(anna, evidence={"records": [r.seq for r in listed] + [viewed.seq]})
        page = html(client_of(officer).get(f"/security/alerts/{alert.pk}/"))
        assert page.count('id="event-') == 2
        assert f'data-records="{len(listed)}"' in page and 'data-records="1"' in page
        assert f"№{listed[0].seq}–№{listed[-1].seq}" in page
        for record in listed:
            assert f'id="record-{record.seq}"' in page
        events = alerts.record_events(listed + [viewed])
        assert [event.count for event in events] == [len(listed), 1]

    def test_the_close_form_has_a_verdict_chosen(self, officer, alert):
        page = html(client_of(officer).get(f"/security/alerts/{alert.pk}/"))
        radio = page[page.index('value="resolved"') - 200:page.index('value="resolved"') + 80]
        assert "checked" in radio

    def test_the_export_button_is_the_officers_only(self, officer, director, alert):
        assert "/evidence/" in html(client_of(officer).get(f"/security/alerts/{alert.pk}/"))
        assert "/evidence/" not in html(client_of(director).get(f"/security/alerts/{alert.pk}/"))

    def test_a_suspension_is_shown_and_offers_reinstatement(self, officer, anna):
        alert = make_alert(anna, suspended=True)
        page = html(client_of(officer).get(f"/security/alerts/{alert.pk}/"))
        assert "resolve-reinstate" in page
        plain = make_alert(anna, rule=rules.REVEALS)
        assert "resolve-reinstate" not in html(
            client_of(officer).get(f"/security/alerts/{plain.pk}/"))


class TestTriage:
    def test_assigning_puts_the_alert_in_review(self, officer, director, alert):
        response = client_of(officer).post(f"/security/alerts/{alert.pk}/assign/",
                                           {"assign-assignee": director.pk})
        assert response.status_code == 302
        alert.refresh_from_db()
        assert (alert.assignee, alert.status) == (director, Alert.Status.IN_REVIEW)

    def test_an_alert_goes_only_to_an_officer_or_an_admin(self, officer, ivan, alert):
        response = client_of(officer).post(f"/security/alerts/{alert.pk}/assign/",
                                           {"assign-assignee": ivan.pk})
        assert response.status_code == 400
        assert shows_error(response, "assignee")
        alert.refresh_from_db()
        assert alert.assignee is None and alert.status == Alert.Status.OPEN

    def test_resolving_needs_a_comment(self, officer, alert):
        response = client_of(officer).post(f"/security/alerts/{alert.pk}/resolve/", {
            "resolve-outcome": "resolved", "resolve-comment": "   "})
        assert response.status_code == 400
        assert shows_error(response, "comment")
        alert.refresh_from_db()
        assert alert.status == Alert.Status.OPEN

    def test_resolving_records_who_when_and_why(self, officer, alert):
        response = client_of(officer).post(f"/security/alerts/{alert.pk}/resolve/", {
            "resolve-outcome": "resolved", "resolve-comment": "Поговорили, доступ сужен"})
        assert response.status_code == 302
        alert.refresh_from_db()
        assert alert.status == Alert.Status.RESOLVED
        assert alert.resolved_by == officer and alert.resolved_at is not None
        assert alert.resolution == "Поговорили, доступ сужен"
        page = html(client_of(officer).get(f"/security/alerts/{alert.pk}/"))
        assert "Поговорили, доступ сужен" in page
        assert "/resolve/" not in page  # closed: no more triage forms

    def test_a_false_positive_is_dismissed(self, director, alert):
        client_of(director).post(f"/security/alerts/{alert.pk}/resolve/", {
            "resolve-outcome": "false_positive", "resolve-comment": "Плановая сверка"})
        alert.refresh_from_db()
        assert alert.status == Alert.Status.DISMISSED

    def test_a_closed_alert_cannot_be_closed_again(self, officer, alert):
        client = client_of(officer)
        client.post(f"/security/alerts/{alert.pk}/resolve/", {
            "resolve-outcome": "resolved", "resolve-comment": "первый"})
        response = client.post(f"/security/alerts/{alert.pk}/resolve/", {
            "resolve-outcome": "false_positive", "resolve-comment": "второй"})
        assert response.status_code == 400
        alert.refresh_from_db()
        assert (alert.status, alert.resolution) == (Alert.Status.RESOLVED, "первый")

    def test_the_services_refuse_a_user_without_the_permission(self, anna, alert):
        from django.core.exceptions import PermissionDenied

        with pytest.raises(PermissionDenied):
            alerts.alert_resolve(alert=alert, by=anna, comment="x")

    def test_triage_is_in_the_change_log(self, officer, alert):
        from auditlog.models import LogEntry

        client_of(officer).post(f"/security/alerts/{alert.pk}/resolve/", {
            "resolve-outcome": "resolved", "resolve-comment": "готово"})
        entry = LogEntry.objects.get_for_object(alert).order_by("-pk").first()
        assert entry.actor == officer
        assert "status" in entry.changes_dict

    @pytest.mark.skipif(importlib.util.find_spec("security.accounts") is None,
                        reason="security.accounts (user_suspend / user_reinstate) comes with "
                               "the offboarding branch; reinstatement is tested once merged")
    def test_reinstating_reactivates_the_suspended_account(self, officer, anna):
        from security import accounts

        alert = make_alert(anna, suspended=True)
        accounts.user_suspend(anna, reason="test")
        anna.refresh_from_db()
        assert not anna.is_active
        response = client_of(officer).post(f"/security/alerts/{alert.pk}/resolve/", {
            "resolve-outcome": "resolved", "resolve-comment": "Ошибка правила",
            "resolve-reinstate": "on"})
        assert response.status_code == 302
        anna.refresh_from_db()
        assert anna.is_active


# --- The access log --------------------------------------------------------------------------


class TestAccessLogSearch:
    def test_it_finds_by_user_client_action_and_period(self, officer, anna, olga, anna_deal,
                                                       olga_deal):
        read_cards(anna, [anna_deal])
        read_cards(olga, [olga_deal])
        client = client_of(officer)

        def seqs(query):
            page = html(client.get(f"/security/access-log/?{query}"))
            return {r.seq for r in AccessRecord.objects.all() if f"record-{r.seq}\"" in page}

        annas = set(AccessRecord.objects.filter(user_id=anna.pk).values_list("seq", flat=True))
        assert seqs("user=anna") == annas
        assert seqs(f"user={anna.pk}") == annas
        assert seqs("user=ANNA") == annas
        assert seqs(f"contact={olga_deal.contact_id}") == set(
            AccessRecord.objects.filter(contact_id=olga_deal.contact_id)
            .values_list("seq", flat=True))
        assert seqs("action=view") == set(
            AccessRecord.objects.filter(action="view").values_list("seq", flat=True))
        future = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        past = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        assert seqs(f"since={future}") == set()
        assert seqs(f"since={past}&until={future}&user=anna") == annas

    def test_a_reversed_period_is_an_error(self, officer):
        response = client_of(officer).get(
            "/security/access-log/?since=2026-02-01T00:00&until=2026-01-01T00:00")
        assert response.status_code == 400

    def test_it_pages_by_seq_newest_first(self, officer, anna, settings, monkeypatch):
        from security import selectors

        monkeypatch.setattr(selectors, "ACCESS_LOG_PAGE", 2)
        deals = [make_deal(anna, contact=make_contact(anna)) for _ in range(5)]
        read_cards(anna, deals)
        views = list(AccessRecord.objects.filter(action="view").order_by("-seq"))
        client = client_of(officer)

        def page_seqs(query):
            page = html(client.get(f"/security/access-log/?action=view{query}"))
            return [r.seq for r in views if f"record-{r.seq}\"" in page], page

        first, page = page_seqs("")
        assert first == [views[0].seq, views[1].seq]
        assert f"before={views[1].seq}" in page
        second, _page = page_seqs(f"&before={views[1].seq}")
        assert second == [views[2].seq, views[3].seq]

    def test_it_shows_surface_address_and_agent_but_no_search_terms(self, officer, anna):
        make_contact(anna, name="Зоя Искомая")
        client_of(anna).get("/contacts/?q=Зоя", REMOTE_ADDR="10.9.8.7",
                            HTTP_USER_AGENT="Firefox/140")
        page = html(client_of(officer).get("/security/access-log/?user=anna"))
        assert "10.9.8.7" in page and "Firefox/140" in page
        assert "Зоя" not in page and "q=" not in page
        assert "/contacts/" in page

    def test_the_consoles_own_reads_are_not_logged(self, officer, anna, anna_deal, alert):
        read_cards(anna, [anna_deal])
        before = AccessRecord.objects.count()
        client = client_of(officer)
        for url in CONSOLE_PAGES + [f"/security/alerts/{alert.pk}/"]:
            assert client.get(url).status_code == 200
        assert AccessRecord.objects.count() == before


# --- Rules -----------------------------------------------------------------------------------


class TestRules:
    def test_the_list_shows_default_and_effective_settings(self, officer):
        RuleSetting.objects.create(rule=rules.REVEALS, threshold=5, window_minutes=30,
                                   response="suspend")
        rules.settings_changed()
        page = html(client_of(officer).get("/security/rules/"))
        for rule in rules.RULES.values():
            assert str(rule.title) in page
        assert "/security/rules/reveals/" in page

    def test_an_edit_takes_effect_at_once(self, officer, anna):
        response = client_of(officer).post("/security/rules/deletions/", {
            "enabled": "on", "threshold": "2", "window_minutes": "15", "response": "alert"})
        assert response.status_code == 302
        assert rules.effective(rules.DELETIONS) == rules.Effective(True, 2, 15, "alert")
        assert rules.observe(rules.DELETIONS, anna, ["d1"]) is None
        alert = rules.observe(rules.DELETIONS, anna, ["d2"])
        assert alert is not None and (alert.threshold, alert.window_minutes) == (2, 15)

    def test_a_disabled_rule_raises_nothing(self, officer, anna):
        client_of(officer).post("/security/rules/reveals/", {
            "threshold": "1", "window_minutes": "60", "response": "alert"})
        assert not rules.effective(rules.REVEALS).enabled
        assert rules.observe(rules.REVEALS, anna, [1, 2, 3]) is None

    @pytest.mark.parametrize("data, field", [
        ({"threshold": "0", "window_minutes": "10", "response": "alert"}, "threshold"),
        ({"threshold": "x", "window_minutes": "10", "response": "alert"}, "threshold"),
        ({"threshold": "5", "window_minutes": "20000", "response": "alert"}, "window_minutes"),
        ({"threshold": "5", "window_minutes": "10", "response": "delete"}, "response"),
    ])
    def test_bad_values_are_refused(self, officer, data, field):
        response = client_of(officer).post("/security/rules/deletions/", data)
        assert response.status_code == 400
        assert not RuleSetting.objects.exists()
        assert shows_error(response, field)

    def test_the_admin_sees_the_rules_but_does_not_change_them(self, director):
        client = client_of(director)
        assert "/security/rules/deletions/" not in html(client.get("/security/rules/"))
        assert client.get("/security/rules/deletions/").status_code == 403
        assert client.post("/security/rules/deletions/", {
            "threshold": "1", "window_minutes": "1", "response": "alert"}).status_code == 403
        assert not RuleSetting.objects.exists()

    def test_an_unknown_rule_is_404(self, officer):
        assert client_of(officer).get("/security/rules/nonsense/").status_code == 404

    def test_a_change_is_in_the_change_log(self, officer):
        from auditlog.models import LogEntry

        client_of(officer).post("/security/rules/deletions/", {
            "enabled": "on", "threshold": "3", "window_minutes": "10", "response": "suspend"})
        entry = LogEntry.objects.get_for_object(RuleSetting.objects.get()).get()
        assert entry.actor == officer


# --- Evidence export -------------------------------------------------------------------------


def parse_csv(response) -> tuple[dict, list[dict]]:
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = response.content.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    blank = lines.index([])
    # The labels are in the page's language: read the preamble by position.
    names = ["Title", "Source", "Exported by", "Exported at", "Records", "First record",
             "Last record", "Chain head", "How to check"]
    preamble = {name: line[1] if len(line) > 1 else line[0]
                for name, line in zip(names, lines[:blank], strict=True)}
    header, *rows = lines[blank + 1:]
    return preamble, [dict(zip(header, row, strict=True)) for row in rows]


class TestEvidenceExport:
    def test_an_alerts_evidence_names_its_exporter_and_the_chain_hashes(self, officer, anna):
        deals = [make_deal(anna, contact=make_contact(anna)) for _ in range(3)]
        read_cards(anna, deals, HTTP_USER_AGENT='=HYPERLINK("http://evil.example","x")')
        records = list(AccessRecord.objects.filter(action="view").order_by("seq"))
        alert = make_alert(anna, evidence={"records": [r.seq for r in records][::-1]})
        response = client_of(officer).get(f"/security/alerts/{alert.pk}/evidence/")
        assert response.status_code == 200
        preamble, rows = parse_csv(response)
        assert "security" in preamble["Exported by"]
        assert preamble["Exported at"]
        assert str(alert.pk) in preamble["Source"] and "anna" in preamble["Source"]
        assert preamble["First record"] == f"#{records[0].seq} {records[0].hash}"
        assert preamble["Last record"] == f"#{records[-1].seq} {records[-1].hash}"
        assert [int(row["seq"]) for row in rows] == [r.seq for r in records]
        assert [row["hash"] for row in rows] == [r.hash for r in records]
        assert {int(row["contact_id"]) for row in rows} == {d.contact_id for d in deals}
        # A value a spreadsheet would run as a formula is neutralised.
        assert all(row["user_agent"].startswith("'=HYPERLINK") for row in rows)
        assert not any(value.startswith("=") for row in rows for value in row.values())

    def test_the_export_is_recorded_in_the_access_log(self, officer, anna, anna_deal):
        read_cards(anna, [anna_deal])
        record = AccessRecord.objects.get(action="view")
        alert = make_alert(anna, evidence={"records": [record.seq]})
        client_of(officer).get(f"/security/alerts/{alert.pk}/evidence/",
                               REMOTE_ADDR="10.0.0.5")
        logged = AccessRecord.objects.get(user_id=officer.pk)
        assert (logged.action, logged.surface, logged.ip) == ("export", "export", "10.0.0.5")
        assert logged.detail["evidence"] is True
        assert logged.detail["alert"] == alert.pk
        assert (logged.detail["first"], logged.detail["last"]) == (record.seq, record.seq)

    def test_an_alert_without_records_exports_the_users_reads_in_its_window(self, officer,
                                                                            anna, anna_deal):
        read_cards(anna, [anna_deal])
        alert = make_alert(anna, rule=rules.NEW_IP, evidence={"ip": "10.0.0.1", "known": []})
        _preamble, rows = parse_csv(client_of(officer).get(
            f"/security/alerts/{alert.pk}/evidence/"))
        assert {row["username"] for row in rows} == {"anna"}
        assert rows

    def test_a_search_exports_what_it_finds(self, officer, anna, olga, anna_deal, olga_deal):
        read_cards(anna, [anna_deal])
        read_cards(olga, [olga_deal])
        response = client_of(officer).get(
            f"/security/access-log/export/?user=olga&contact={olga_deal.contact_id}")
        preamble, rows = parse_csv(response)
        assert rows and {row["username"] for row in rows} == {"olga"}
        assert {row["contact_id"] for row in rows} == {str(olga_deal.contact_id)}
        assert "user=olga" in preamble["Source"]
        logged = AccessRecord.objects.get(user_id=officer.pk)
        assert logged.detail["search"] == {"user": "olga", "contact": olga_deal.contact_id}

    def test_search_terms_do_not_leave_in_the_file(self, officer, anna):
        make_contact(anna, name="Зоя Искомая")
        client_of(anna).get("/contacts/?q=Зоя")
        response = client_of(officer).get("/security/access-log/export/?user=anna")
        assert "Зоя" not in response.content.decode("utf-8-sig")

    def test_the_admin_may_not_export(self, director, alert):
        client = client_of(director)
        assert client.get(f"/security/alerts/{alert.pk}/evidence/").status_code == 403
        assert client.get("/security/access-log/export/").status_code == 403
        assert not AccessRecord.objects.filter(user_id=director.pk, action="export").exists()


# --- Live alerts -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
class TestLiveAlerts:
    async def test_a_raised_alert_reaches_the_officer_and_the_users_head_not_others(
        self, security_officer, anna, head_north, ivan
    ):
        from tests.crm.test_consumers import connect

        sockets = {}
        for user in (security_officer, head_north, ivan):
            communicator, connected = await connect(user)
            assert connected
            sockets[user.username] = communicator

        @database_sync_to_async
        def fire():
            alert = make_alert(anna, rule=rules.REVEALS)
            alerts.raised(alert)
            return alert

        alert = await fire()
        for name in ("security", "head_north"):
            event = await sockets[name].receive_json_from(timeout=5)
            assert event == {"type": "alert.raised", "alert": alert.pk, "rule": rules.REVEALS,
                             "title": str(rules.RULES[rules.REVEALS].title)}
        assert await sockets["ivan"].receive_nothing(timeout=0.5)
        for communicator in sockets.values():
            await communicator.disconnect()


def test_every_page_loads_the_alert_toast_script(anna):
    assert "js/alerts.js" in html(client_of(anna).get("/deals/"))

