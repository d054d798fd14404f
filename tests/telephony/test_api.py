"""Telephony in the REST API: calls scoped by the deal visibility rule, the client's number as
the role sees phones, click-to-call, the page size cap, the OpenAPI schema."""

import pytest
from rest_framework.test import APIClient

from crm import sharing
from telephony.models import CallbackCommand, Recording
from tests.factories import api_for
from tests.telephony.fixtures_outbound import *  # noqa: F403

pytestmark = pytest.mark.django_db

CALLS = "/api/v1/calls/"
CLICK = "/api/v1/calls/click-to-call/"


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


class TestList:
    def test_each_role_sees_the_calls_of_the_deals_it_sees(
        self, anna, ivan, olga, head_north, director, marketer, security_officer, anna_call,
        olga_call,
    ):
        assert ids(api_for(anna).get(CALLS)) == {anna_call.pk}
        assert ids(api_for(olga).get(CALLS)) == {olga_call.pk}
        assert ids(api_for(head_north).get(CALLS)) == {anna_call.pk}
        assert ids(api_for(director).get(CALLS)) == {anna_call.pk, olga_call.pk}
        for nobody in (ivan, marketer, security_officer):
            assert ids(api_for(nobody).get(CALLS)) == set()

    def test_a_share_shows_the_deals_calls(self, anna, ivan, anna_deal, anna_call):
        sharing.deal_share(deal=anna_deal, user=ivan, access="read", by=anna)
        assert ids(api_for(ivan).get(CALLS)) == {anna_call.pk}

    def test_it_filters_by_deal_direction_and_answered(
        self, anna, anna_deal, olga_deal, mango_account, anna_call,
    ):
        missed = make_call(mango_account, anna_deal, entry_id="missed-1", answered=False,  # noqa: F405
                           talk_seconds=0)
        assert ids(api_for(anna).get(CALLS, {"deal": anna_deal.pk})) == {anna_call.pk, missed.pk}
        assert ids(api_for(anna).get(CALLS, {"deal": olga_deal.pk})) == set()
        assert ids(api_for(anna).get(CALLS, {"answered": "false"})) == {missed.pk}
        assert ids(api_for(anna).get(CALLS, {"direction": "out"})) == set()

    def test_the_fields(self, anna, anna_deal, anna_call):
        Recording.objects.create(call=anna_call, recording_id="r1", file_path="recordings/x.bin")
        [row] = api_for(anna).get(CALLS).json()["results"]
        assert row["direction"] == "in"
        assert row["answered"] is True
        assert row["talk_seconds"] == 42
        assert row["deal"] == anna_deal.pk
        assert row["contact"] == {"id": anna_deal.contact_id, "name": "Пётр Смирнов"}
        assert row["manager"] == {"id": anna.pk, "name": str(anna)}
        assert row["line_number"] == "74951234567"
        assert row["has_recording"] is True
        assert "file_path" not in str(row) and "recordings/" not in str(row)

    def test_a_manager_never_gets_the_raw_number(self, anna, head_north, director, anna_call):
        as_anna = api_for(anna).get(f"{CALLS}{anna_call.pk}/").json()
        assert as_anna["client_number"] == "+7 *** ***-45-67"
        assert "79161234567" not in str(api_for(anna).get(CALLS).json())
        assert api_for(head_north).get(f"{CALLS}{anna_call.pk}/").json()["client_number"] == \
            CLIENT_NUMBER  # noqa: F405
        assert api_for(director).get(f"{CALLS}{anna_call.pk}/").json()["client_number"] == \
            CLIENT_NUMBER  # noqa: F405

    def test_the_page_size_is_capped(self, director, mango_account, anna_deal):
        for n in range(105):
            make_call(mango_account, anna_deal, entry_id=f"e{n}")  # noqa: F405
        page = api_for(director).get(CALLS, {"page_size": 1000}).json()
        assert len(page["results"]) == 100
        assert page["count"] == 105
        assert page["next"]

    def test_the_anonymous_get_401(self, anna_call):
        assert APIClient().get(CALLS).status_code == 401


class TestDetail:
    def test_the_owner_gets_it_and_outsiders_404(self, anna, olga, ivan, anna_call):
        assert api_for(anna).get(f"{CALLS}{anna_call.pk}/").json()["id"] == anna_call.pk
        for outsider in (olga, ivan):
            assert api_for(outsider).get(f"{CALLS}{anna_call.pk}/").status_code == 404
        assert api_for(anna).get(f"{CALLS}999999/").status_code == 404


class TestClickToCall:
    def test_it_is_accepted_with_the_command(
        self, anna, anna_deal, anna_extension, north_line, fake_mango_api,
        django_capture_on_commit_callbacks,
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = api_for(anna).post(CLICK, {"deal": anna_deal.pk}, format="json")
        assert response.status_code == 202
        body = response.json()
        command = CallbackCommand.objects.get()
        assert body["id"] == command.pk
        assert body["command_id"] == str(command.command_id)
        assert body["deal"] == anna_deal.pk
        assert body["extension"] == "101"
        assert body["status"] in ("queued", "sent")
        assert "to_number" not in body and "9161234567" not in str(body)
        command.refresh_from_db()
        assert command.status == CallbackCommand.Status.SENT
        assert fake_mango_api.calls("commands/callback")[0].sign_ok

    def test_a_missing_extension_or_phone_is_400(self, anna, anna_deal, mango_account):
        response = api_for(anna).post(CLICK, {"deal": anna_deal.pk}, format="json")
        assert response.status_code == 400
        assert "extension" in str(response.json()) or "внутренн" in str(response.json())
        assert api_for(anna).post(CLICK, {}, format="json").status_code == 400
        assert api_for(anna).post(CLICK, {"deal": "x"}, format="json").status_code == 400

    def test_an_outsiders_deal_is_404(self, olga, anna_deal, mango_account):
        assert api_for(olga).post(CLICK, {"deal": anna_deal.pk}, format="json").status_code == 404
        assert not CallbackCommand.objects.exists()

    def test_a_read_only_share_is_403(self, anna, ivan, anna_deal, mango_account):
        from telephony.models import Extension

        Extension.objects.create(account=mango_account, extension="102", user=ivan)
        sharing.deal_share(deal=anna_deal, user=ivan, access="read", by=anna)
        assert api_for(ivan).post(CLICK, {"deal": anna_deal.pk}, format="json").status_code == 403
        assert not CallbackCommand.objects.exists()


def test_the_schema_documents_the_calls_under_telephony(db):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    for path, method in (("/api/v1/calls/", "get"), ("/api/v1/calls/{id}/", "get"),
                         ("/api/v1/calls/click-to-call/", "post")):
        assert schema["paths"][path][method]["tags"] == ["telephony"]
    responses = schema["paths"]["/api/v1/calls/click-to-call/"]["post"]["responses"]
    assert {"202", "400", "403", "404"} <= set(responses)
