import pytest

from security import masking
from security.models import FieldPolicy


@pytest.mark.parametrize(
    "value, mode, shown",
    [
        ("+79161234567", "full", "+79161234567"),
        ("+79161234567", "last4", "+7 *** ***-45-67"),
        ("+79161234567", "masked", "+7 *** ***-**-67"),
        ("+79161234567", "hidden", ""),
        ("+4930123456789", "last4", "+493 *** ***-67-89"),
    ],
)
def test_phones_are_masked_by_mode(value, mode, shown):
    assert masking.mask_phone(value, mode) == shown


def test_emails_keep_the_first_letter_and_the_domain():
    assert masking.mask_email("ivan.petrov@mail.ru", "masked") == "i***@mail.ru"
    assert masking.mask_email("ivan.petrov@mail.ru", "full") == "ivan.petrov@mail.ru"


def test_each_role_sees_its_default(anna, head_north, marketer, support, security_officer,
                                    director, anna_contact):
    def shown(user):
        return {p.kind: p.display for p in masking.present_points(user=user, contact=anna_contact)}

    assert shown(anna) == {"phone": "+7 *** ***-45-67", "email": "P***@example.ru"}
    assert shown(head_north) == {"phone": "+79161234567", "email": "Petr@example.ru"}
    assert shown(director)["phone"] == "+79161234567"
    assert shown(marketer) == {"phone": "+7 *** ***-**-67", "email": "P***@example.ru"}
    assert shown(support)["phone"] == "+7 *** ***-45-67"
    assert shown(security_officer) == {}


def test_a_head_sees_other_teams_contacts_as_a_manager_does(head_north, olga):
    from tests.factories import make_contact

    southern = make_contact(olga, phones=["+7 903 111-22-33"])
    [point] = masking.present_points(user=head_north, contact=southern)
    assert point.display == "+7 *** ***-22-33" and point.masked


def test_the_admins_policy_overrides_the_default(anna, anna_contact):
    FieldPolicy.objects.create(role="manager", field="phone", mode="hidden")
    masking.policy_changed()
    kinds = [p.kind for p in masking.present_points(user=anna, contact=anna_contact)]
    assert kinds == ["email"]


def test_the_admin_edits_the_policy_and_it_applies_at_once(client, director, anna, anna_contact):
    client.force_login(director)
    assert masking.present_points(user=anna, contact=anna_contact)[0].display == "+7 *** ***-45-67"
    response = client.post("/admin/security/fieldpolicy/add/",
                           {"role": "manager", "field": "phone", "mode": "full"})
    assert response.status_code == 302
    assert masking.present_points(user=anna, contact=anna_contact)[0].display == "+79161234567"


def test_reveals_and_exports_are_read_only_in_the_admin(client, director):
    client.force_login(director)
    assert client.get("/admin/security/fieldreveal/").status_code == 200
    assert client.get("/admin/security/exportrequest/").status_code == 200
    assert client.get("/admin/security/fieldreveal/add/").status_code == 403


SHOWN = {
    # role fixture: (phone as shown, e-mail as shown); None: the contact is not visible at all
    "anna": ("+7 *** ***-45-67", "P***@example.ru"),
    "head_north": ("+79161234567", "Petr@example.ru"),
    "director": ("+79161234567", "Petr@example.ru"),
    "marketer": ("+7 *** ***-**-67", "P***@example.ru"),
    "support": ("+7 *** ***-45-67", "P***@example.ru"),
    "security_officer": None,
    "olga": None,
}


@pytest.mark.parametrize("role", SHOWN)
def test_each_role_sees_the_same_on_the_card_and_in_the_api(request, role, anna_contact):
    from rest_framework.test import APIClient

    user = request.getfixturevalue(role)
    expected = SHOWN[role]
    page = APIClient()
    page.force_login(user)
    card = page.get(f"/contacts/{anna_contact.pk}/")
    api = page.get(f"/api/v1/contacts/{anna_contact.pk}/")
    if expected is None:
        assert card.status_code == 404 and api.status_code == 404
        return
    html = card.content.decode()
    phone, email = expected
    assert phone in html and email in html
    for full in ("+79161234567", "Petr@example.ru"):
        if full not in expected:
            assert full not in html, (role, full)
    body = api.json()
    assert [p["value"] for p in body["phones"]] == [phone]
    assert [e["value"] for e in body["emails"]] == [email]


def test_marketing_sees_no_notes_on_a_contact(client, anna, marketer, anna_contact):
    from crm import services

    services.note_add(by=anna, contact=anna_contact, text="Решает жена, бюджет 2 млн")
    client.force_login(marketer)
    page = client.get(f"/contacts/{anna_contact.pk}/").content.decode()
    assert "Решает жена" not in page
