"""Consents in the contact and deal cards, the history page, the manager's form, and the
API consents/."""

import pytest
from django.urls import reverse

from consents import selectors, services
from consents.models import ConsentEvent, Purpose
from crm import sharing
from security.models import AccessRecord
from tests.factories import api_for, client_for, make_user

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"


@pytest.fixture
def sms(db):
    purpose = Purpose.objects.create(code="sms", title=f"СМС {XSS}", is_advertising=True)
    services.purpose_text_publish(purpose=purpose, text="Согласен на СМС.")
    return purpose


def grant(contact, purpose, by, **evidence):
    return services.consent_record(
        contact=contact, purpose=purpose, kind=ConsentEvent.Kind.GRANTED,
        source=ConsentEvent.Source.MANAGER, evidence=evidence or {"note": "по телефону"},
        by=by)


class TestCards:
    def test_the_contact_card_shows_each_purposes_state(
        self, anna, anna_contact, newsletter, sms, contract,
    ):
        grant(anna_contact, newsletter, anna)
        page = client_for(anna).get(anna_contact.get_absolute_url()).content.decode()
        assert "Рассылка новостей и акций" in page
        assert "Дано" in page and "Не спрашивали" in page
        assert "Исполнение договора" not in page  # needs no consent: not asked for
        assert reverse("contact_consents", args=[anna_contact.pk]) in page

    def test_the_deal_card_shows_the_clients_consents_withdrawn_since(
        self, anna, anna_deal, newsletter,
    ):
        grant(anna_deal.contact, newsletter, anna)
        services.consent_record(contact=anna_deal.contact, purpose=newsletter,
                                kind="withdrawn", source="manager", by=anna,
                                evidence={"note": "попросил не писать"})
        page = client_for(anna).get(anna_deal.get_absolute_url()).content.decode()
        assert "Отозвано" in page and "consent--withdrawn" in page

    def test_purpose_titles_and_evidence_are_escaped(self, anna, anna_contact, sms):
        grant(anna_contact, sms, anna, note=XSS, document=f"№ 5 {XSS}")
        card = client_for(anna).get(anna_contact.get_absolute_url()).content.decode()
        history = client_for(anna).get(
            reverse("contact_consents", args=[anna_contact.pk])).content.decode()
        fold = client_for(anna).get(
            reverse("contact_consents", args=[anna_contact.pk]) + "?part=form").content.decode()
        for page in (card, history, fold):
            assert XSS not in page
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    def test_a_read_only_viewer_sees_the_state_but_no_form(
        self, anna, ivan, anna_deal, newsletter,
    ):
        sharing.deal_share(deal=anna_deal, user=ivan, access="read", by=anna)
        page = client_for(ivan).get(anna_deal.get_absolute_url()).content.decode()
        assert "Рассылка новостей и акций" in page
        assert reverse("contact_consents", args=[anna_deal.contact.pk]) in page
        assert 'name="document"' not in page


class TestRecordFromTheCard:
    def url(self, contact):
        return reverse("contact_consents", args=[contact.pk])

    def test_a_manager_records_a_grant_with_a_document(self, anna, anna_contact, newsletter):
        response = client_for(anna).post(self.url(anna_contact), {
            "purpose": "newsletter", "kind": "granted", "document": "Согласие № 17"})
        assert response.status_code == 302
        assert selectors.may_contact(contact_id=anna_contact.pk, purpose=newsletter)
        [row] = selectors.consent_history(contact_id=anna_contact.pk)
        assert row["event"].source == "manager" and row["event"].recorded_by_id == anna.pk
        assert row["evidence"]["document"] == "Согласие № 17"

    def test_evidence_is_required(self, anna, anna_contact, newsletter):
        response = client_for(anna).post(self.url(anna_contact), {
            "purpose": "newsletter", "kind": "granted", "document": " ", "note": ""})
        assert response.status_code == 400
        assert "Укажите, чем это подтверждается" in response.content.decode()
        assert not ConsentEvent.objects.exists()

    def test_read_only_is_403_and_an_outsider_404(
        self, anna, ivan, olga, anna_deal, newsletter,
    ):
        sharing.deal_share(deal=anna_deal, user=ivan, access="read", by=anna)
        body = {"purpose": "newsletter", "kind": "granted", "note": "x"}
        assert client_for(ivan).post(self.url(anna_deal.contact), body).status_code == 403
        assert client_for(olga).post(self.url(anna_deal.contact), body).status_code == 404
        assert client_for(olga).get(self.url(anna_deal.contact)).status_code == 404
        fold = self.url(anna_deal.contact) + "?part=form"
        assert client_for(ivan).get(fold).status_code == 403
        assert client_for(olga).get(fold).status_code == 404
        assert not ConsentEvent.objects.exists()

    def test_the_cards_fold_the_form_and_fetch_it_alone(self, anna, anna_deal, newsletter):
        fold = self.url(anna_deal.contact) + "?part=form"
        for card in (anna_deal.get_absolute_url(), anna_deal.contact.get_absolute_url()):
            page = client_for(anna).get(card).content.decode()
            assert 'name="document"' not in page and f'data-fold-src="{fold}"' in page
        form = client_for(anna).get(fold)
        html = form.content.decode()
        assert form.status_code == 200 and "<html" not in html
        assert 'name="document"' in html and 'value="newsletter"' in html
        assert f'action="{self.url(anna_deal.contact)}"' in html

    def test_the_history_shows_who_when_source_and_version_and_is_logged(
        self, anna, anna_contact, newsletter,
    ):
        grant(anna_contact, newsletter, anna)
        page = client_for(anna).get(self.url(anna_contact)).content.decode()
        assert "Записано менеджером" in page and "v1" in page and "Anna" in page
        assert AccessRecord.objects.filter(user_id=anna.pk, contact_id=anna_contact.pk,
                                           detail__consents="history").exists()


class TestApi:
    url = "/api/v1/consents/"

    def test_it_lists_the_states_and_the_history(self, anna, anna_contact, newsletter):
        grant(anna_contact, newsletter, anna)
        response = api_for(anna).get(self.url, {"contact": anna_contact.pk})
        assert response.status_code == 200
        data = response.json()
        assert data["states"] == [{"purpose": "newsletter",
                                   "purpose_title": "Рассылка новостей и акций",
                                   "state": "granted", "since": data["states"][0]["since"]}]
        [event] = data["history"]
        assert (event["kind"], event["source"], event["text_version"]) == (
            "granted", "manager", 1)
        assert event["evidence"]["note"] == "по телефону"

    def test_it_records_a_withdrawal(self, anna, anna_contact, newsletter):
        grant(anna_contact, newsletter, anna)
        response = api_for(anna).post(self.url, {
            "contact": anna_contact.pk, "purpose": "newsletter", "kind": "withdrawn",
            "evidence": {"note": "написал в чат"}}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["states"][0]["state"] == "withdrawn"
        assert not selectors.may_contact(contact_id=anna_contact.pk, purpose=newsletter)

    def test_evidence_is_required(self, anna, anna_contact, newsletter):
        response = api_for(anna).post(self.url, {
            "contact": anna_contact.pk, "purpose": "newsletter", "kind": "granted",
            "evidence": {}}, format="json")
        assert response.status_code == 400
        assert "evidence" in response.json()

    def test_outsiders_get_404_and_read_only_403(
        self, anna, ivan, olga, anna_deal, newsletter,
    ):
        contact = anna_deal.contact
        body = {"contact": contact.pk, "purpose": "newsletter", "kind": "granted",
                "evidence": {"note": "x"}}
        assert api_for(olga).get(self.url, {"contact": contact.pk}).status_code == 404
        assert api_for(olga).post(self.url, body, format="json").status_code == 404
        sharing.deal_share(deal=anna_deal, user=ivan, access="read", by=anna)
        assert api_for(ivan).get(self.url, {"contact": contact.pk}).status_code == 200
        assert api_for(ivan).post(self.url, body, format="json").status_code == 403
        security = make_user("sec2", "security_officer")
        assert api_for(security).get(self.url, {"contact": contact.pk}).status_code == 404

    def test_a_missing_contact_is_400(self, anna):
        assert api_for(anna).get(self.url).status_code == 400
        assert api_for(anna).post(self.url, {"purpose": "x"}, format="json").status_code == 400
