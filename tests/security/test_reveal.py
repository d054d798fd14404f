"""Revealing a masked phone or e-mail: a reason, a log row, a limit; 404 for outsiders."""

import pytest
from rest_framework.test import APIClient

from security.models import FieldReveal
from tests.factories import api_for

REASON = "Клиент просит перезвонить на мобильный"


@pytest.fixture
def phone(anna_contact):
    return anna_contact.points.get(kind="phone")


def reveal_html(client, contact, point, reason=REASON):
    return client.post(f"/contacts/{contact.pk}/points/{point.pk}/reveal/", {"reason": reason},
                       HTTP_ACCEPT="application/json")


def test_a_manager_reveals_a_phone_with_a_reason_and_it_is_logged(client, anna, anna_contact,
                                                                  phone):
    client.force_login(anna)
    response = reveal_html(client, anna_contact, phone)
    assert response.status_code == 200
    assert response.json() == {"value": "+79161234567"}
    log = FieldReveal.objects.get()
    assert (log.user, log.contact, log.point, log.field) == (anna, anna_contact, phone, "phone")
    assert log.reason == REASON and log.ip == "127.0.0.1"


@pytest.mark.parametrize("reason", ["", "   ", "надо"])
def test_a_reveal_needs_a_real_reason(client, anna, anna_contact, phone, reason):
    client.force_login(anna)
    response = reveal_html(client, anna_contact, phone, reason)
    assert response.status_code == 400
    assert "error" in response.json()
    assert not FieldReveal.objects.exists()


def test_reveals_are_limited_per_hour(client, anna, anna_contact, phone, settings):
    settings.REVEAL_LIMIT_PER_HOUR = 2
    client.force_login(anna)
    assert reveal_html(client, anna_contact, phone).status_code == 200
    assert reveal_html(client, anna_contact, phone).status_code == 200
    response = reveal_html(client, anna_contact, phone)
    assert response.status_code == 429
    assert 3500 <= int(response["Retry-After"]) <= 3601
    assert FieldReveal.objects.count() == 2


def test_the_page_without_javascript_shows_the_value(client, anna, anna_contact, phone):
    client.force_login(anna)
    response = client.post(f"/contacts/{anna_contact.pk}/points/{phone.pk}/reveal/",
                           {"reason": REASON})
    assert response.status_code == 200
    assert "+79161234567" in response.content.decode()


def test_an_outsider_gets_404_and_nothing_is_logged(client, olga, anna_contact, phone):
    client.force_login(olga)
    assert reveal_html(client, anna_contact, phone).status_code == 404
    assert api_for(olga).post(f"/api/v1/contacts/{anna_contact.pk}/reveal/",
                              {"point": phone.pk, "reason": REASON},
                              format="json").status_code == 404
    assert not FieldReveal.objects.exists()


def test_a_point_of_another_contact_is_404(client, anna, anna_contact, olga_deal):
    from crm.services import contact_point_add

    foreign = contact_point_add(contact=olga_deal.contact, kind="phone", value="+79031112233")
    client.force_login(anna)
    assert reveal_html(client, anna_contact, foreign).status_code == 404


def test_a_hidden_field_cannot_be_revealed(client, security_officer, anna_contact, phone):
    # The security officer sees no client content, and no contact at all by default.
    client.force_login(security_officer)
    assert reveal_html(client, anna_contact, phone).status_code == 404


def test_a_head_sees_his_team_in_full_and_a_reveal_logs_nothing(client, head_north,
                                                                  anna_contact, phone):
    client.force_login(head_north)
    assert reveal_html(client, anna_contact, phone).json() == {"value": "+79161234567"}
    assert not FieldReveal.objects.exists()


def test_the_api_reveals_with_a_reason(anna, anna_contact, phone, settings):
    settings.REVEAL_LIMIT_PER_HOUR = 1
    api = api_for(anna)
    url = f"/api/v1/contacts/{anna_contact.pk}/reveal/"
    assert api.post(url, {"point": phone.pk}, format="json").status_code == 400
    assert api.post(url, {"point": phone.pk, "reason": "x"}, format="json").status_code == 400
    response = api.post(url, {"point": phone.pk, "reason": REASON}, format="json")
    assert response.status_code == 200 and response.json() == {"value": "+79161234567"}
    limited = api.post(url, {"point": phone.pk, "reason": REASON}, format="json")
    assert limited.status_code == 429 and "Retry-After" in limited
    assert FieldReveal.objects.count() == 1


def test_anonymous_reveal_is_refused(client, anna_contact, phone):
    response = client.post(f"/contacts/{anna_contact.pk}/points/{phone.pk}/reveal/",
                           {"reason": REASON})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert APIClient().post(f"/api/v1/contacts/{anna_contact.pk}/reveal/",
                            {"point": phone.pk, "reason": REASON},
                            format="json").status_code == 401


@pytest.mark.parametrize("role", ["marketer", "support"])
def test_marketing_and_support_cannot_reveal(request, client, role, anna_contact, phone):
    user = request.getfixturevalue(role)
    client.force_login(user)
    assert reveal_html(client, anna_contact, phone).status_code == 404
    page = client.get(f"/contacts/{anna_contact.pk}/").content.decode()
    assert "/reveal/" not in page
    assert not FieldReveal.objects.exists()
