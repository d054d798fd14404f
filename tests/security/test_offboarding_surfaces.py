"""The admin's surfaces of offboarding and suspension: the user list and offboarding pages,
the users API and the Django admin action; who may use them."""

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import Deal
from security import accounts, offboarding
from security.models import Offboarding
from tests.factories import api_for, client_for

# --- The user list ---------------------------------------------------------------------------


def test_the_admin_sees_every_user_with_role_team_and_state(
    anna, ivan, olga, head_north, director, security_officer
):
    accounts.user_suspend(olga, reason="Правило: выгрузка")
    offboarding.offboard_user(ivan, head_north, by=director,
                              at=timezone.now() + timezone.timedelta(days=1))
    response = client_for(director).get("/security/users/")
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("anna", "ivan", "olga", "head_north", "security"):
        assert f'data-user="{name}"' in html
    assert "north" in html and "Менеджер" in html  # Russian by default
    assert "Приостановлен" in html  # olga
    assert f"/security/users/{anna.pk}/offboard/" in html
    scheduled = Offboarding.objects.get()
    assert f"/security/offboardings/{scheduled.pk}/" in html  # ivan's scheduled one


def test_the_list_is_for_the_admin_and_the_security_officer_only(
    anna, head_north, director, security_officer
):
    assert client_for(security_officer).get("/security/users/").status_code == 200
    for user in (anna, head_north):
        assert client_for(user).get("/security/users/").status_code == 403
    assert Client().get("/security/users/")["Location"].startswith("/login/")


def test_the_security_officer_sees_no_offboard_links(anna, security_officer):
    html = client_for(security_officer).get("/security/users/").content.decode()
    assert f"/security/users/{anna.pk}/offboard/" not in html


def test_a_suspended_account_is_reinstated_from_the_list(olga, security_officer):
    accounts.user_suspend(olga, reason="Правило: выгрузка")
    response = client_for(security_officer).post(f"/security/users/{olga.pk}/reinstate/")
    assert response.status_code == 302
    olga.refresh_from_db()
    assert olga.is_active


# --- Offboarding pages -----------------------------------------------------------------------


def test_the_offboard_page_previews_what_will_move(anna, anna_deal, director):
    response = client_for(director).get(f"/security/users/{anna.pk}/offboard/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-kind="deals"' in html
    assert response.context["preview"][0] == {
        "kind": "deals", "label": "Сделки", "count": 1, "ids": [anna_deal.pk]}


def test_the_admin_confirms_and_sees_the_report(anna, ivan, anna_deal, director):
    client = client_for(director)
    url = f"/security/users/{anna.pk}/offboard/"
    step = client.post(url, {"successor": ivan.pk, "when": "now"})
    assert step.status_code == 200 and step.context["confirming"]
    assert Deal.objects.get(pk=anna_deal.pk).owner == anna  # nothing yet

    done = client.post(url, {"successor": ivan.pk, "when": "now", "confirm": "1"})
    offboarded = Offboarding.objects.get()
    assert done.status_code == 302
    assert done["Location"] == f"/security/offboardings/{offboarded.pk}/"
    assert Deal.objects.get(pk=anna_deal.pk).owner == ivan
    report = client.get(done["Location"])
    assert report.status_code == 200
    assert 'data-status="done"' in report.content.decode()
    assert f'<a href="/deals/{anna_deal.pk}/">' in report.content.decode()


def test_the_page_shows_the_services_errors(anna, marketer, director):
    response = client_for(director).post(f"/security/users/{anna.pk}/offboard/", {
        "successor": marketer.pk, "when": "now", "confirm": "1"})
    assert response.status_code == 200
    assert response.context["form"].errors["successor"]  # not a choice: not a candidate
    response = client_for(director).post(f"/security/users/{anna.pk}/offboard/", {
        "when": "at", "confirm": "1"})
    assert set(response.context["form"].errors) == {"successor", "at"}
    assert not Offboarding.objects.exists()


def test_an_offboarding_is_scheduled_and_cancelled_from_the_pages(anna, ivan, director):
    client = client_for(director)
    at = (timezone.localtime() + timezone.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(f"/security/users/{anna.pk}/offboard/", {
        "successor": ivan.pk, "when": "at", "at": at, "confirm": "1"})
    scheduled = Offboarding.objects.get()
    assert response["Location"] == f"/security/offboardings/{scheduled.pk}/"
    assert scheduled.status == "scheduled"
    assert timezone.localtime(scheduled.scheduled_for).strftime("%Y-%m-%dT%H:%M") == at
    page = client.get(response["Location"]).content.decode()
    assert f"/security/offboardings/{scheduled.pk}/cancel/" in page
    client.post(f"/security/offboardings/{scheduled.pk}/cancel/")
    scheduled.refresh_from_db()
    assert scheduled.status == "cancelled"


def test_offboarding_pages_are_404_to_everyone_but_the_admin(
    anna, ivan, head_north, security_officer, director
):
    done = offboarding.offboard_user(ivan, head_north, by=director)
    for user in (anna, head_north, security_officer):
        client = client_for(user)
        assert client.get(f"/security/users/{anna.pk}/offboard/").status_code == 404
        assert client.post(f"/security/users/{anna.pk}/offboard/", {
            "successor": head_north.pk, "when": "now", "confirm": "1"}).status_code == 404
        assert client.get(f"/security/offboardings/{done.pk}/").status_code == 404
    anna.refresh_from_db()
    assert anna.is_active


def test_the_django_admin_action_leads_to_the_offboarding_page(anna, director):
    response = client_for(director).post("/admin/security/user/", {
        "action": "offboard", "_selected_action": [anna.pk]})
    assert response.status_code == 302
    assert response["Location"] == f"/security/users/{anna.pk}/offboard/"


# --- The users API ---------------------------------------------------------------------------


def test_the_users_api_lists_accounts_for_the_admin(anna, head_north, director):
    response = api_for(director).get("/api/v1/users/")
    assert response.status_code == 200
    row = next(u for u in response.json()["results"] if u["username"] == "anna")
    assert row == {"id": anna.pk, "username": "anna", "full_name": "Anna",
                   "role": "manager", "team": anna.team_id, "team_name": "north",
                   "active": True, "suspended": False, "offboarded": False}


@pytest.mark.parametrize("who", ["anna", "head_north", "security_officer"])
def test_the_users_list_is_403_to_others(who, request):
    user = request.getfixturevalue(who)
    assert api_for(user).get("/api/v1/users/").status_code == 403


def test_the_users_list_is_401_without_credentials(db):
    assert APIClient().get("/api/v1/users/").status_code == 401


def test_the_api_offboards_now_and_returns_the_report(anna, ivan, anna_deal, director):
    response = api_for(director).post(f"/api/v1/users/{anna.pk}/offboard/",
                                  {"successor": ivan.pk}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "done" and body["user"] == anna.pk and body["successor"] == ivan.pk
    assert body["report"]["moved"]["deals"] == {"count": 1, "ids": [anna_deal.pk]}
    assert Deal.objects.get(pk=anna_deal.pk).owner == ivan


def test_the_api_schedules_and_cancels(anna, ivan, director):
    at = (timezone.now() + timezone.timedelta(days=1)).isoformat()
    client = api_for(director)
    response = client.post(f"/api/v1/users/{anna.pk}/offboard/",
                           {"successor": ivan.pk, "at": at}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "scheduled"
    assert client.delete(f"/api/v1/users/{anna.pk}/offboard/").status_code == 204
    assert Offboarding.objects.get().status == "cancelled"
    assert client.delete(f"/api/v1/users/{anna.pk}/offboard/").status_code == 404


def test_the_api_says_what_is_wrong(anna, marketer, director):
    client = api_for(director)
    url = f"/api/v1/users/{anna.pk}/offboard/"
    assert client.post(url, {"successor": 999999}, format="json").json() == {
        "successor": ["No such user."]}
    response = client.post(url, {"successor": marketer.pk}, format="json")
    assert response.status_code == 400 and "successor" in response.json()
    past = (timezone.now() - timezone.timedelta(hours=1)).isoformat()
    response = client.post(url, {"successor": anna.pk, "at": past}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("who", ["anna", "head_north", "security_officer"])
def test_the_offboard_route_is_404_to_others(who, request, ivan, head_north):
    user = request.getfixturevalue(who)
    response = api_for(user).post(f"/api/v1/users/{ivan.pk}/offboard/",
                              {"successor": head_north.pk}, format="json")
    assert response.status_code == 404
    ivan.refresh_from_db()
    assert ivan.is_active


def test_the_users_api_is_in_the_schema(db):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    assert "get" in schema["paths"]["/api/v1/users/"]
    assert {"post", "delete"} <= set(schema["paths"]["/api/v1/users/{id}/offboard/"])


# --- Names, teams, coming back ---------------------------------------------------------------


def test_the_report_names_what_moved(anna, ivan, anna_deal, director):
    done = offboarding.offboard_user(anna, ivan, by=director)
    page = client_for(director).get(f"/security/offboardings/{done.pk}/").content.decode()
    assert f'<a href="/deals/{anna_deal.pk}/">Сделка «{anna_deal.title}»</a>' in page
    assert anna_deal.contact.name in page
    assert 'data-other-team' not in page  # ivan is in anna's team


def test_a_successor_of_another_team_is_marked_in_the_list_and_warned_of(anna, olga, director):
    client = client_for(director)
    url = f"/security/users/{anna.pk}/offboard/"
    form = client.get(url).content.decode()
    option = form[form.index(f'value="{olga.pk}"'):]
    assert "другая команда" in option[:option.index("</option>")]
    step = client.post(url, {"successor": olga.pk, "when": "now"})
    assert step.context["confirming"] and 'data-other-team' in step.content.decode()
    client.post(url, {"successor": olga.pk, "when": "now", "confirm": "1"})
    done = Offboarding.objects.get()
    assert 'data-other-team' in client.get(f"/security/offboardings/{done.pk}/").content.decode()


def test_an_offboarded_account_is_reinstated_by_the_admin_and_the_change_log_says_so(
    ivan, head_north, security_officer, director
):
    from auditlog.models import LogEntry

    done = offboarding.offboard_user(ivan, head_north, by=director)
    client = client_for(director)
    report = client.get(f"/security/offboardings/{done.pk}/").content.decode()
    assert f'action="/security/users/{ivan.pk}/reinstate/"' in report
    assert f'action="/security/users/{ivan.pk}/reinstate/"' in client.get(
        "/security/users/").content.decode()
    # The security officer reinstates suspensions, not offboardings.
    assert client_for(security_officer).post(
        f"/security/users/{ivan.pk}/reinstate/").status_code == 404
    ivan.refresh_from_db()
    assert not ivan.is_active

    assert client.post(f"/security/users/{ivan.pk}/reinstate/").status_code == 302
    ivan.refresh_from_db()
    assert ivan.is_active
    entry = LogEntry.objects.get_for_object(ivan).filter(
        changes__has_key="is_active").latest("timestamp")
    assert entry.actor == director
    done.refresh_from_db()
    assert done.report["reinstated_by"] == director.pk
    assert "data-reinstated" in client.get(f"/security/offboardings/{done.pk}/").content.decode()
    # Back at work, they may leave again one day.
    offboarding.offboarding_check(ivan, head_north, by=director)


def test_reinstating_a_suspension_is_in_the_change_log(olga, security_officer):
    from auditlog.models import LogEntry

    accounts.user_suspend(olga, reason="Правило: выгрузка")
    client_for(security_officer).post(f"/security/users/{olga.pk}/reinstate/")
    entry = LogEntry.objects.get_for_object(olga).filter(
        changes__has_key="is_active").latest("timestamp")
    assert entry.actor == security_officer
