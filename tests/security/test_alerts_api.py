"""The security console in the API: `alerts/`, `alerts/{id}/` and `audit/access/`."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from security.audit import rules
from security.models import AccessRecord, Alert
from tests.factories import make_contact, make_deal


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def make_alert(user, **fields) -> Alert:
    fields = {"rule": rules.FOREIGN_CARDS, "count": 30, "threshold": 30, "window_minutes": 10,
              "evidence": {}, **fields}
    return Alert.objects.create(user=user, **fields)


def read_cards(user, deals, **headers):
    client = Client()
    client.force_login(user)
    for deal in deals:
        assert client.get(f"/deals/{deal.pk}/", **headers).status_code == 200


@pytest.fixture
def alert(anna):
    return make_alert(anna)


class TestWhoMayUseIt:
    @pytest.mark.parametrize("url", ["/api/v1/alerts/", "/api/v1/audit/access/",
                                     "/api/v1/alerts/{id}/"])
    def test_an_anonymous_client_gets_401(self, url, alert):
        assert api().get(url.format(id=alert.pk)).status_code == 401

    @pytest.mark.parametrize("role", ["anna", "head_north", "marketer", "support"])
    def test_other_roles_get_403_on_lists_and_404_on_an_alert(self, request, role, alert):
        client = api(request.getfixturevalue(role))
        assert client.get("/api/v1/alerts/").status_code == 403
        assert client.get("/api/v1/audit/access/").status_code == 403
        assert client.get(f"/api/v1/alerts/{alert.pk}/").status_code == 404

    @pytest.mark.parametrize("role", ["security_officer", "director"])
    def test_the_officer_and_the_admin_read_them(self, request, role, alert):
        client = api(request.getfixturevalue(role))
        assert client.get("/api/v1/alerts/").status_code == 200
        assert client.get("/api/v1/audit/access/").status_code == 200
        assert client.get(f"/api/v1/alerts/{alert.pk}/").status_code == 200

    def test_an_unknown_alert_is_404(self, security_officer):
        assert api(security_officer).get("/api/v1/alerts/999999/").status_code == 404


class TestAlerts:
    def test_an_alert_has_its_rule_user_counts_evidence_and_triage(self, security_officer,
                                                                    anna, director):
        alert = make_alert(anna, count=31, suspended=True, assignee=director,
                           status=Alert.Status.IN_REVIEW,
                           evidence={"records": [1, 2], "clients": [7]})
        data = api(security_officer).get(f"/api/v1/alerts/{alert.pk}/").json()
        assert data["rule"] == rules.FOREIGN_CARDS
        assert data["rule_title"]
        assert data["user"] == {"id": anna.pk, "name": str(anna), "username": "anna"}
        assert (data["count"], data["threshold"], data["window_minutes"]) == (31, 30, 10)
        assert data["evidence"] == {"records": [1, 2], "clients": [7]}
        assert data["suspended"] is True
        assert data["status"] == "in_review"
        assert data["assignee"]["id"] == director.pk
        assert data["resolved_by"] is None

    def test_the_list_is_newest_first_and_filtered(self, security_officer, anna, ivan):
        now = timezone.now()
        old = make_alert(anna, rule=rules.REVEALS, raised_at=now - timedelta(hours=2))
        new = make_alert(ivan, rule=rules.DELETIONS, raised_at=now - timedelta(hours=1))
        done = make_alert(anna, rule=rules.DELETIONS, raised_at=now,
                          status=Alert.Status.RESOLVED)
        client = api(security_officer)

        def ids(query=""):
            response = client.get(f"/api/v1/alerts/{query}")
            assert response.status_code == 200
            return [row["id"] for row in response.json()["results"]]

        assert ids() == [done.pk, new.pk, old.pk]
        assert ids("?status=open") == [new.pk, old.pk]
        assert ids(f"?rule={rules.DELETIONS}") == [done.pk, new.pk]
        assert ids(f"?user={anna.pk}") == [done.pk, old.pk]
        assert client.get("/api/v1/alerts/?status=nonsense").status_code == 400
        assert client.get("/api/v1/alerts/?rule=nonsense").status_code == 400

    def test_pages_are_25_by_default_and_at_most_100(self, security_officer, anna):
        Alert.objects.bulk_create([
            Alert(rule=rules.REVEALS, user=anna, count=1, threshold=1, window_minutes=1)
            for _ in range(120)])
        client = api(security_officer)
        assert len(client.get("/api/v1/alerts/").json()["results"]) == 25
        assert len(client.get("/api/v1/alerts/?page_size=500").json()["results"]) == 100


class TestAccessLog:
    def test_records_are_newest_first_with_no_search_terms(self, security_officer, anna,
                                                           anna_deal):
        read_cards(anna, [anna_deal], REMOTE_ADDR="10.2.3.4", HTTP_USER_AGENT="Firefox/140")
        make_contact(anna, name="Зоя Искомая")
        client = Client()
        client.force_login(anna)
        client.get("/contacts/?q=Зоя")
        data = api(security_officer).get("/api/v1/audit/access/").json()
        seqs = [row["seq"] for row in data["results"]]
        assert seqs == sorted(seqs, reverse=True)
        view = next(row for row in data["results"] if row["action"] == "view")
        assert view["object_type"] == "crm.deal" and view["object_id"] == anna_deal.pk
        assert view["contact_id"] == anna_deal.contact_id
        assert (view["ip"], view["user_agent"], view["surface"]) == ("10.2.3.4",
                                                                      "Firefox/140", "html")
        assert view["hash"] == AccessRecord.objects.get(seq=view["seq"]).hash
        assert "Зоя" not in str(data)
        assert any(row["path"] == "/contacts/" for row in data["results"])

    def test_filters_by_user_contact_action_and_period(self, security_officer, anna, olga,
                                                       anna_deal, olga_deal):
        read_cards(anna, [anna_deal])
        read_cards(olga, [olga_deal])
        client = api(security_officer)

        def seqs(**params):
            response = client.get("/api/v1/audit/access/", params)
            assert response.status_code == 200, response.json()
            return {row["seq"] for row in response.json()["results"]}

        def expected(**filters):
            return set(AccessRecord.objects.filter(**filters).values_list("seq", flat=True))

        assert seqs(user=olga.pk) == expected(user_id=olga.pk)
        assert seqs(contact=anna_deal.contact_id) == expected(contact_id=anna_deal.contact_id)
        assert seqs(action="view", user=anna.pk) == expected(action="view", user_id=anna.pk)
        later = (timezone.now() + timedelta(minutes=5)).isoformat()
        earlier = (timezone.now() - timedelta(minutes=5)).isoformat()
        assert seqs(since=later) == set()
        assert seqs(until=earlier) == set()
        assert seqs(since=earlier, until=later, user=anna.pk) == expected(user_id=anna.pk)
        assert client.get("/api/v1/audit/access/", {"action": "x"}).status_code == 400
        assert client.get("/api/v1/audit/access/",
                          {"since": later, "until": earlier}).status_code == 400

    def test_it_pages_with_a_cursor_of_25_by_default(self, security_officer, anna):
        deals = [make_deal(anna, contact=make_contact(anna)) for _ in range(30)]
        read_cards(anna, deals)
        client = api(security_officer)
        first = client.get("/api/v1/audit/access/", {"action": "view"}).json()
        assert len(first["results"]) == 25
        second = client.get(first["next"]).json()
        assert len(second["results"]) == 5
        assert first["results"][-1]["seq"] > second["results"][0]["seq"]
        small = client.get("/api/v1/audit/access/", {"page_size": 500}).json()
        assert len(small["results"]) <= 100

    def test_reading_the_log_through_the_api_is_not_logged(self, security_officer, alert):
        before = AccessRecord.objects.count()
        client = api(security_officer)
        client.get("/api/v1/audit/access/")
        client.get("/api/v1/alerts/")
        client.get(f"/api/v1/alerts/{alert.pk}/")
        assert AccessRecord.objects.count() == before


def test_the_schema_documents_the_endpoints(db):
    paths = APIClient().get("/api/schema/", {"format": "json"}).json()["paths"]
    assert "/api/v1/alerts/" in paths and "/api/v1/alerts/{id}/" in paths
    parameters = {p["name"] for p in paths["/api/v1/audit/access/"]["get"]["parameters"]}
    assert {"user", "contact", "action", "since", "until", "cursor", "page_size"} <= parameters
