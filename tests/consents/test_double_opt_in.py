"""Double opt-in of the website forms: a form's consent is pending, nothing on the ledger and
no contact made, until the owner of the address follows the mailed link and presses the
button; the grant then carries the evidence of both events. An expired, tampered or unknown
link grants nothing; a second press records nothing more; the answer to the form is the same
for a client and a stranger."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from consents import confirmation, selectors
from consents.models import ConsentEvent, ConsentSite, PendingConsent
from crm.models import Contact
from tests.consents.test_capture import SITE, url
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

FORM = {"email": "Maria@Example.RU", "name": "Мария Иванова", "purposes": ["newsletter"],
        "page_url": f"{SITE}/subscribe"}


@pytest.fixture
def site(north):
    return ConsentSite.objects.create(name="Магазин", team=north, allowed_origins=SITE)


def submit(site, body=FORM):
    import json

    with TestCase.captureOnCommitCallbacks(execute=True):
        return Client().post(url(site), json.dumps(body), content_type="application/json",
                             HTTP_ORIGIN=SITE, HTTP_USER_AGENT="Mozilla/5.0 (форма)")


def mailed_link() -> str:
    [message] = mail.outbox
    return re.search(r"http://testserver(/consents/confirm/[^/\s]+/)", message.body).group(1)


def test_a_form_grant_waits_for_the_link_and_then_carries_both_events(site, newsletter):
    response = submit(site)
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert not Contact.objects.exists() and not ConsentEvent.objects.exists()
    [message] = mail.outbox
    assert message.to == ["Maria@Example.RU"] and "Магазин" in message.subject
    assert newsletter.title in message.body
    link = mailed_link()

    opened = Client().get(link, HTTP_USER_AGENT="MailScanner")  # a scanner opens links
    assert opened.status_code == 200 and "Рассылка новостей и акций" in opened.content.decode()
    assert "script-src" not in opened["Content-Security-Policy"]
    assert not ConsentEvent.objects.exists()

    browser = Client(enforce_csrf_checks=True)
    page = browser.get(link)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    confirmed = browser.post(link, {"csrfmiddlewaretoken": token.group(1)},
                             HTTP_USER_AGENT="Firefox (подтверждение)")
    assert confirmed.status_code == 200
    assert "согласие записано" in confirmed.content.decode().lower()
    contact = Contact.objects.get()
    assert contact.name == "Мария Иванова"
    assert selectors.may_contact(contact_id=contact.pk, purpose=newsletter)
    [row] = selectors.consent_history(contact_id=contact.pk)
    evidence = row["evidence"]
    assert evidence["form"]["user_agent"] == "Mozilla/5.0 (форма)"
    assert evidence["form"]["page_url"] == f"{SITE}/subscribe"
    assert evidence["confirmation"]["user_agent"] == "Firefox (подтверждение)"
    assert evidence["form"]["at"] < evidence["confirmation"]["at"]

    again = browser.post(link, {"csrfmiddlewaretoken": token.group(1)})
    assert again.status_code == 200 and ConsentEvent.objects.count() == 1


def test_an_expired_link_grants_nothing_and_is_purged(site, newsletter):
    submit(site)
    link = mailed_link()
    PendingConsent.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(link).status_code == 410
    assert Client().post(link).status_code == 410
    assert not ConsentEvent.objects.exists() and not Contact.objects.exists()
    assert confirmation.pending_purge() == 1
    assert Client().get(link).status_code == 404


@pytest.mark.parametrize("tamper", [
    lambda link: link[:-2] + ("A/" if link[-2] != "A" else "B/"),
    lambda link: link.replace("/confirm/", "/confirm/x"),
    lambda link: "/consents/confirm/" + "A" * 43 + "/",
])
def test_a_tampered_or_unknown_link_grants_nothing(site, newsletter, tamper):
    submit(site)
    response = Client().post(tamper(mailed_link()))
    assert response.status_code == 404
    assert not ConsentEvent.objects.exists() and not Contact.objects.exists()


def test_the_answer_is_the_same_for_a_client_and_a_stranger(site, newsletter, anna):
    make_contact(anna, name="Пётр", emails=["petr@example.ru"])
    known = submit(site, {"email": "petr@example.ru", "purposes": ["newsletter"]})
    stranger = submit(site, {"email": "nobody@example.ru", "purposes": ["newsletter"]})
    assert (known.status_code, known.content) == (stranger.status_code, stranger.content)


def test_a_form_without_an_email_is_refused_where_consent_is_confirmed_by_mail(
        site, newsletter):
    response = submit(site, {"phone": "+79161234567", "purposes": ["newsletter"]})
    assert response.status_code == 400 and response.json()["error"] == "invalid_email"
    assert not PendingConsent.objects.exists() and not mail.outbox


def test_a_confirmed_link_finds_the_existing_client(site, newsletter, anna):
    known = make_contact(anna, name="Пётр", emails=["petr@example.ru"])
    submit(site, {"email": "PETR@example.ru", "purposes": ["newsletter"]})
    Client().post(mailed_link())
    assert Contact.objects.count() == 1
    assert selectors.may_contact(contact_id=known.pk, purpose=newsletter)


def test_existing_sites_keep_recording_at_once(site):
    """The migration leaves the sites made before it as they were; new ones confirm."""
    assert ConsentSite._meta.get_field("double_opt_in").default is True
    assert site.double_opt_in is True
    assert reverse("consent_confirm", args=["x"]).startswith("/consents/confirm/")
