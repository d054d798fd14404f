"""The consents' settings pages in the admin: the admin role keeps purposes, texts, sites, the
calendar and retention; the ledger is read-only; other roles have no admin."""

import pytest

from consents.models import ConsentEvent
from tests.factories import client_for


@pytest.mark.parametrize("model", ["purpose", "consentsite", "calendarday", "retentionrule",
                                   "consentevent", "subjectrequest"])
def test_the_admin_opens_each_page(director, newsletter, model):
    assert client_for(director).get(f"/admin/consents/{model}/").status_code == 200


def test_the_ledger_has_no_add_or_change(director, anna_contact, newsletter):
    from consents import services

    event = services.consent_record(contact=anna_contact, purpose=newsletter, kind="granted",
                                    source=ConsentEvent.Source.WEBSITE_FORM)
    client = client_for(director)
    assert client.get("/admin/consents/consentevent/add/").status_code == 403
    page = client.get(f"/admin/consents/consentevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="kind"' not in page.content


def test_a_manager_has_no_admin(anna):
    assert client_for(anna).get("/admin/consents/purpose/").status_code in (302, 403, 404)
