"""The website forms' capture endpoint on a site that records at once (single opt-in): a grant
per purpose with its evidence, the client found through the blind index or created; and
every refusal (key, origin, JSON, purpose, text version, size, rate). The double opt-in
of new sites: tests/consents/test_double_opt_in.py."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from consents import selectors, services
from consents.models import ConsentEvent, ConsentSite, ConsentState
from crm.models import Contact
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

SITE = "https://shop.example.ru"


@pytest.fixture
def site(north):
    return ConsentSite.objects.create(name="Магазин", team=north, double_opt_in=False,
                                      allowed_origins=f"{SITE}\nhttps://www.example.ru/")


def url(site_or_key):
    key = getattr(site_or_key, "public_key", site_or_key)
    return reverse("consent_capture", args=[key])


def post(site_or_key, body=None, *, origin=SITE, raw: bytes | None = None, **headers):
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    data = raw if raw is not None else json.dumps(body)
    return Client().post(url(site_or_key), data, content_type="application/json",
                         HTTP_USER_AGENT="Mozilla/5.0 (форма)", **headers)


FORM = {"email": "Maria@Example.RU", "name": "Мария Иванова", "purposes": ["newsletter"],
        "page_url": f"{SITE}/subscribe"}


def test_it_creates_the_client_and_records_the_grant_with_its_evidence(site, newsletter, north):
    response = post(site, FORM)
    assert response.status_code == 201, response.content
    assert response["Access-Control-Allow-Origin"] == SITE
    contact = Contact.objects.get()
    assert (contact.name, contact.team, contact.source) == ("Мария Иванова", north, "website")
    assert selectors.may_contact(contact_id=contact.pk, purpose=newsletter)
    [row] = selectors.consent_history(contact_id=contact.pk)
    event = row["event"]
    assert (event.source, event.kind, event.text_version) == ("website_form", "granted", 1)
    assert event.text_sha256 == newsletter.current_text().sha256
    assert row["evidence"]["page_url"] == f"{SITE}/subscribe"
    assert row["evidence"]["user_agent"] == "Mozilla/5.0 (форма)"
    assert row["evidence"]["ip"] == "127.0.0.1"
    assert row["evidence"]["origin"] == SITE


def test_it_finds_the_existing_client_by_email_or_phone_through_the_blind_index(
    site, newsletter, anna,
):
    known = make_contact(anna, name="Пётр", phones=["+79161234567"], emails=["petr@example.ru"])
    assert post(site, {"phone": "8 (916) 123-45-67", "purposes": ["newsletter"]}).status_code == 201
    assert post(site, {"email": "PETR@example.ru", "purposes": ["newsletter"]}).status_code == 201
    assert Contact.objects.count() == 1
    assert [row["event"].contact_id for row in selectors.consent_history(contact_id=known.pk)
            ] == [known.pk, known.pk]
    known.refresh_from_db()
    assert known.name == "Пётр"  # a form never changes a contact that exists


def test_the_answer_does_not_tell_whether_the_address_belongs_to_a_client(
    site, newsletter, anna,
):
    """A public form is no oracle: typing a client's address and a stranger's gets the same
    answer, byte for byte, and it names no internal id (contact, ledger position)."""
    make_contact(anna, name="Пётр", phones=["+79161234567"], emails=["petr@example.ru"])
    known = post(site, {"email": "petr@example.ru", "purposes": ["newsletter"]})
    stranger = post(site, {"email": "nobody@example.ru", "purposes": ["newsletter"]})
    assert known.status_code == stranger.status_code == 201
    assert known.content == stranger.content
    assert known.json() == {"consents": [{"purpose": "newsletter", "text_version": 1}]}
    by_phone = post(site, {"phone": "+7 916 123-45-67", "purposes": ["newsletter"]})
    new_phone = post(site, {"phone": "+7 916 000-00-01", "purposes": ["newsletter"]})
    assert by_phone.content == new_phone.content


def test_it_records_the_text_version_shown(site, newsletter):
    services.purpose_text_publish(purpose=newsletter, text="Новая редакция согласия.")
    response = post(site, {**FORM, "text_versions": {"newsletter": 1}})
    assert response.json()["consents"][0]["text_version"] == 1
    response = post(site, {**FORM, "text_versions": {"newsletter": 3}})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_text_version"


def test_the_preflight_is_answered_for_the_sites_origins_only(site, newsletter):
    response = Client().options(url(site), HTTP_ORIGIN=SITE,
                                HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == SITE
    assert "POST" in response["Access-Control-Allow-Methods"]
    other = Client().options(url(site), HTTP_ORIGIN="https://evil.example")
    assert other.status_code == 403
    assert "Access-Control-Allow-Origin" not in other


@pytest.mark.parametrize("origin", ["https://evil.example", "https://shop.example.ru.evil.ru",
                                    "http://shop.example.ru", None])
def test_another_origin_is_refused_without_cors_headers(site, newsletter, origin):
    response = post(site, FORM, origin=origin)
    assert response.status_code == 403
    assert response.json()["error"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response
    assert not ConsentState.objects.exists()


def test_an_unknown_or_inactive_key_is_404(site, newsletter):
    assert post("no-such-key", FORM).status_code == 404
    site.is_active = False
    site.save()
    assert post(site, FORM).status_code == 404


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"'])
def test_malformed_bodies_are_400(site, newsletter, raw):
    response = post(site, raw=raw)
    assert response.status_code == 400
    assert response.json()["error"] in ("malformed_json", "invalid_body")
    assert response["Access-Control-Allow-Origin"] == SITE  # the form can read the error


@pytest.mark.parametrize("body, error", [
    ({"purposes": ["newsletter"]}, "invalid_contact"),
    ({"email": "не почта", "purposes": ["newsletter"]}, "invalid_email"),
    ({"phone": "123", "purposes": ["newsletter"]}, "invalid_phone"),
    ({"email": "a@example.ru", "purposes": []}, "invalid_purposes"),
    ({"email": "a@example.ru", "purposes": "newsletter"}, "invalid_purposes"),
    ({"email": "a@example.ru", "purposes": [1]}, "invalid_purposes"),
    ({"email": "a@example.ru", "purposes": ["newsletter", "spam"]}, "invalid_purpose"),
    ({"email": "a@example.ru", "purposes": ["newsletter"], "text_versions": {"newsletter": "1"}},
     "invalid_text_versions"),
    ({"email": "a@example.ru", "purposes": ["newsletter"], "name": ["x"]}, "invalid_name"),
])
def test_invalid_forms_are_400_and_record_nothing(site, newsletter, body, error):
    response = post(site, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == error
    assert response.json()["detail"]
    assert not ConsentEvent.objects.exists() and not Contact.objects.exists()


def test_an_unknown_purpose_records_none_of_the_others(site, newsletter):
    response = post(site, {**FORM, "purposes": ["newsletter", "unknown"]})
    assert response.status_code == 400
    assert "unknown" in response.json()["detail"]
    assert not ConsentEvent.objects.exists()


def test_a_large_body_is_413(site, newsletter):
    response = post(site, raw=json.dumps({**FORM, "name": "x" * 20_000}).encode())
    assert response.status_code == 413


def test_each_address_has_a_budget(site, newsletter, settings):
    settings.CONSENT_CAPTURE_RATE = "2/min"
    assert post(site, FORM).status_code == 201
    assert post(site, FORM).status_code == 201
    response = post(site, FORM)
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    # Another address still may.
    assert post(site, FORM, REMOTE_ADDR="10.0.0.7").status_code == 201


def test_get_is_not_allowed(site):
    assert Client().get(url(site), HTTP_ORIGIN=SITE).status_code == 405
