"""The consent ledger: append-only and chained, the state derived from it, evidence that an
erasure makes unreadable, consent texts that never change; and due dates in working days."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from consents import calendar, selectors, services, subject_keys
from consents.models import CalendarDay, ConsentEvent, PurposeText, SubjectRequest
from security.audit import audit_chain

GRANTED, WITHDRAWN = ConsentEvent.Kind.GRANTED, ConsentEvent.Kind.WITHDRAWN
FORM, MANAGER = ConsentEvent.Source.WEBSITE_FORM, ConsentEvent.Source.MANAGER


def grant(contact, purpose, **kwargs):
    return services.consent_record(contact=contact, purpose=purpose, kind=GRANTED,
                                   source=FORM, evidence={"ip": "203.0.113.5"}, **kwargs)


class TestLedger:
    def test_a_grant_and_a_withdrawal_take_effect_at_once(self, anna_contact, newsletter):
        assert not selectors.may_contact(contact_id=anna_contact.pk, purpose=newsletter)
        event = grant(anna_contact, newsletter)
        assert event.text_version == 1
        assert event.text_sha256 == newsletter.current_text().sha256
        assert selectors.may_contact(contact_id=anna_contact.pk, purpose="newsletter")
        services.consent_record(contact=anna_contact, purpose=newsletter, kind=WITHDRAWN,
                                source=ConsentEvent.Source.PRIVACY_CENTER)
        assert not selectors.may_contact(contact_id=anna_contact.pk, purpose=newsletter)

    def test_a_purpose_on_a_contract_needs_no_consent(self, anna_contact, contract):
        assert selectors.may_contact(contact_id=anna_contact.pk, purpose=contract)

    def test_a_manager_must_say_what_proves_the_consent(self, anna, anna_contact, newsletter):
        with pytest.raises(ValidationError, match="evidence"):
            services.consent_record(contact=anna_contact, purpose=newsletter, kind=GRANTED,
                                    source=MANAGER, by=anna)
        services.consent_record(contact=anna_contact, purpose=newsletter, kind=GRANTED,
                                source=MANAGER, by=anna,
                                evidence={"document": "Анкета №15 от 20.11.2026"})
        [item] = selectors.consent_history(contact_id=anna_contact.pk)
        assert item["evidence"] == {"document": "Анкета №15 от 20.11.2026",
                                    "recorded_by": "anna"}

    def test_a_grant_names_an_existing_text(self, anna_contact, newsletter):
        with pytest.raises(ValidationError):
            grant(anna_contact, newsletter, text_version=7)

    def test_the_ledger_cannot_be_edited(self, anna_contact, newsletter):
        event = grant(anna_contact, newsletter)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            ConsentEvent.objects.filter(pk=event.pk).update(kind=WITHDRAWN)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            ConsentEvent.objects.filter(pk=event.pk).delete()

    def test_a_forged_change_is_found(self, anna_contact, newsletter):
        first = grant(anna_contact, newsletter)
        services.consent_record(contact=anna_contact, purpose=newsletter, kind=WITHDRAWN,
                                source=FORM)
        assert audit_chain.verify(ConsentEvent) == (2, [])
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("ALTER TABLE consents_consentevent DISABLE TRIGGER USER")
            cursor.execute("UPDATE consents_consentevent SET kind = 'granted' "
                           "WHERE kind = 'withdrawn'")
            cursor.execute("ALTER TABLE consents_consentevent ENABLE TRIGGER USER")
        _, breaks = audit_chain.verify(ConsentEvent)
        assert [b.seq for b in breaks] == [first.seq + 1]

    def test_the_state_rebuilds_from_the_ledger(self, anna_contact, newsletter):
        grant(anna_contact, newsletter)
        services.consent_record(contact=anna_contact, purpose=newsletter, kind=WITHDRAWN,
                                source=FORM)
        assert services.consent_states_rebuild() == 1
        assert not selectors.may_contact(contact_id=anna_contact.pk, purpose=newsletter)

    def test_erasing_the_key_makes_the_evidence_unreadable(self, anna_contact, newsletter):
        event = grant(anna_contact, newsletter)
        assert "203.0.113.5" not in event.evidence
        assert subject_keys.unseal(anna_contact.pk, event.evidence) == {"ip": "203.0.113.5"}
        assert subject_keys.shred(anna_contact.pk)
        assert subject_keys.unseal(anna_contact.pk, event.evidence) is None
        assert audit_chain.verify(ConsentEvent)[1] == []  # the ledger itself is untouched

    def test_a_published_text_never_changes(self, newsletter):
        text = newsletter.current_text()
        text.text = "Другой текст"
        with pytest.raises(ValueError):
            text.save()
        second = services.purpose_text_publish(purpose=newsletter, text="Новая редакция")
        assert second.version == 2
        assert PurposeText.objects.filter(purpose=newsletter).count() == 2


class TestWorkingDays:
    """November 2026: the 4th (Wednesday) is National Unity Day; the 20th is a Friday."""

    def test_ten_working_days_skip_weekends(self, db):
        assert calendar.add_working_days(date(2026, 11, 20), 10) == date(2026, 12, 4)

    def test_a_holiday_moves_the_date_and_a_working_saturday_counts(self, db):
        CalendarDay.objects.create(date=date(2026, 11, 4), name="День народного единства")
        assert calendar.add_working_days(date(2026, 11, 2), 3) == date(2026, 11, 6)
        CalendarDay.objects.create(date=date(2026, 11, 7), is_working=True, name="перенос")
        assert calendar.add_working_days(date(2026, 11, 2), 4) == date(2026, 11, 7)

    def test_new_year_holidays(self, db):
        for day in range(1, 9):
            CalendarDay.objects.create(date=date(2027, 1, day), name="Новогодние каникулы")
        # Received on Friday 25 December: 10 working days end past the holidays.
        # 28-31 December are four; 11-15 January five more; the tenth is Monday 18 January.
        assert calendar.add_working_days(date(2026, 12, 25), 10) == date(2027, 1, 18)

    def test_a_request_is_due_in_ten_and_extends_once_by_five(self, anna, anna_contact):
        received = datetime(2026, 11, 20, 15, 0, tzinfo=ZoneInfo("Europe/Moscow"))
        request = services.subject_request_register(
            contact=anna_contact, kind="access", source=SubjectRequest.Source.STAFF, by=anna,
            received_at=received)
        assert request.due_date == date(2026, 12, 4)
        with pytest.raises(ValidationError):
            services.subject_request_extend(request=request, reason=" ", by=anna)
        services.subject_request_extend(request=request, reason="Запрос архива", by=anna)
        assert request.due_date == date(2026, 12, 11)
        with pytest.raises(ValidationError, match="уже продлева"):
            services.subject_request_extend(request=request, reason="Ещё", by=anna)
