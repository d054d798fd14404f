"""Subject requests for staff: the API, the page, the contact card's form, the reminders."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from consents import services
from consents.models import CalendarDay, ErasureRecord, SubjectRequest
from crm.models import Contact
from tests.factories import make_contact

MSK = ZoneInfo("Europe/Moscow")
URL = "/api/v1/subject-requests/"


def api(user):
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def new_year_holidays(db):
    for day in range(1, 9):
        CalendarDay.objects.create(date=dt.date(2027, 1, day), name="Новогодние каникулы")


def test_due_dates_skip_weekends_and_holidays(anna, anna_contact, new_year_holidays):
    # Friday 25 December 2026: four working days in December, the holidays, then six more.
    with time_machine.travel(dt.datetime(2026, 12, 25, 15, 0, tzinfo=MSK), tick=False):
        response = api(anna).post(URL, {"contact": anna_contact.pk, "kind": "access",
                                        "details": "Какие данные обо мне у вас есть?"},
                                  format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["due_date"] == "2027-01-18"
    assert response.json()["status"] == "received" and response.json()["overdue"] is False

    extended = api(anna).post(f"{URL}{response.json()['id']}/extend/",
                              {"reason": "Собираем записи звонков из архива"}, format="json")
    assert extended.status_code == 200
    assert extended.json()["due_date"] == "2027-01-25"
    again = api(anna).post(f"{URL}{response.json()['id']}/extend/", {"reason": "ещё"},
                           format="json")
    assert again.status_code == 400


def test_a_transferred_working_saturday_counts(anna, anna_contact):
    CalendarDay.objects.create(date=dt.date(2026, 11, 28), is_working=True, name="перенос")
    with time_machine.travel(dt.datetime(2026, 11, 20, 10, 0, tzinfo=MSK), tick=False):
        response = api(anna).post(URL, {"contact": anna_contact.pk, "kind": "rectification"},
                                  format="json")
    # Without the working Saturday it would be Friday 4 December.
    assert response.json()["due_date"] == "2026-12-03"


def test_managers_see_their_contacts_requests_only(anna, olga, anna_contact, security_officer,
                                                   director, marketer):
    created = api(anna).post(URL, {"contact": anna_contact.pk, "kind": "access"},
                             format="json").json()
    assert api(olga).post(URL, {"contact": anna_contact.pk, "kind": "access"},
                          format="json").status_code == 404
    assert api(olga).get(f"{URL}{created['id']}/").status_code == 404
    assert api(olga).get(URL).json()["results"] == []
    for handler in (security_officer, director):
        assert [r["id"] for r in api(handler).get(URL).json()["results"]] == [created["id"]]
    assert api(marketer).get(URL).status_code == 403
    assert api(marketer).post(URL, {"contact": anna_contact.pk, "kind": "access"},
                              format="json").status_code == 403


def test_the_overdue_filter(anna, anna_contact):
    late = services.subject_request_register(
        contact=anna_contact, kind="access", source="staff",
        received_at=dt.datetime(2025, 1, 10, 12, 0, tzinfo=MSK))
    services.subject_request_register(contact=anna_contact, kind="withdrawal", source="staff")
    found = api(anna).get(URL, {"overdue": "true"}).json()["results"]
    assert [r["id"] for r in found] == [late.pk] and found[0]["overdue"] is True
    assert len(api(anna).get(URL, {"overdue": "false"}).json()["results"]) == 1
    assert len(api(anna).get(URL, {"status": "received"}).json()["results"]) == 2


def test_an_erasure_request_is_answered_by_a_handler_with_confirmation(
        anna, anna_contact, director, django_capture_on_commit_callbacks):
    created = api(anna).post(URL, {"contact": anna_contact.pk, "kind": "erasure"},
                             format="json").json()
    close = f"{URL}{created['id']}/close/"
    assert api(anna).post(close, {"response": "Удалили"}, format="json").status_code == 403
    refused = api(director).post(close, {"response": "Удалили"}, format="json")
    assert refused.status_code == 400 and "confirm_erasure" in refused.json()
    assert Contact.objects.get(pk=anna_contact.pk).name == "Пётр Смирнов"

    with django_capture_on_commit_callbacks(execute=True):
        done = api(director).post(close, {"response": "Ваши данные удалены.",
                                          "confirm_erasure": True}, format="json")
    assert done.status_code == 200, done.json()
    assert done.json()["status"] == "done"
    record = ErasureRecord.objects.get(contact_id=anna_contact.pk)
    assert done.json()["erasure"] == record.pk and record.request_id == created["id"]
    assert Contact.objects.get(pk=anna_contact.pk).name == f"Удалённый клиент #{anna_contact.pk}"
    assert api(director).post(close, {"response": "ещё раз", "confirm_erasure": True},
                              format="json").status_code == 400


def test_the_schema_documents_the_due_date(db):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    assert "/api/v1/subject-requests/{id}/close/" in schema["paths"]
    assert "due_date" in schema["components"]["schemas"]["SubjectRequest"]["properties"]


# --- The page and the contact card -----------------------------------------------------------


def test_the_page_lists_requests_by_due_date_with_the_overdue_marked(client, anna,
                                                                     anna_contact):
    services.subject_request_register(
        contact=anna_contact, kind="access", source="staff",
        received_at=dt.datetime(2025, 1, 10, 12, 0, tzinfo=MSK))
    client.force_login(anna)
    page = client.get(reverse("subject_request_list")).content.decode()
    assert "sla--overdue" in page and "Пётр Смирнов" in page


def test_the_security_officer_handles_requests_by_contact_id(client, security_officer,
                                                             anna_contact):
    services.subject_request_register(contact=anna_contact, kind="access", source="staff")
    client.force_login(security_officer)
    page = client.get(reverse("subject_request_list")).content.decode()
    assert f"#{anna_contact.pk}" in page and "Пётр Смирнов" not in page


def test_a_request_is_registered_from_the_contact_card(client, anna, anna_contact):
    client.force_login(anna)
    card = client.get(anna_contact.get_absolute_url()).content.decode()
    assert reverse("contact_subject_request_add", args=[anna_contact.pk]) in card
    response = client.post(reverse("contact_subject_request_add", args=[anna_contact.pk]),
                           {"kind": "erasure", "details": "по телефону"})
    assert response.status_code == 302
    assert SubjectRequest.objects.get(contact=anna_contact).kind == "erasure"


def test_an_erasure_answered_on_the_page_needs_the_tick(client, director, anna,
                                                        django_capture_on_commit_callbacks):
    contact = make_contact(anna, name="Ольга Тестова")
    request = services.subject_request_register(contact=contact, kind="erasure",
                                                source="staff")
    client.force_login(director)
    url = reverse("subject_request_close", args=[request.pk])
    client.post(url, {"response": "Удалено"})
    assert SubjectRequest.objects.get(pk=request.pk).status == "received"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"response": "Удалено", "confirm_erasure": "on"})
    assert SubjectRequest.objects.get(pk=request.pk).status == "done"
    assert Contact.objects.get(pk=contact.pk).name.startswith("Удалённый клиент")


# --- Reminders -------------------------------------------------------------------------------


@pytest.fixture
def due_wednesday(anna, anna_contact):
    """A request due on Wednesday 2 December 2026 (received Wednesday 18 November)."""
    request = services.subject_request_register(
        contact=anna_contact, kind="access", source="staff",
        received_at=dt.datetime(2026, 11, 18, 12, 0, tzinfo=MSK))
    assert request.due_date == dt.date(2026, 12, 2)
    return request


def test_reminders_start_two_working_days_before_and_come_once_a_day(
        due_wednesday, anna, security_officer, mailoutbox, settings):
    settings.SUBJECT_REQUEST_REMIND_DAYS = 2
    security_officer.email = "dpo@example.ru"
    security_officer.save()
    # Friday: 3 working days left, not yet.
    assert services.subject_requests_remind(today=dt.date(2026, 11, 27)) == 0
    assert services.subject_requests_remind(today=dt.date(2026, 11, 30)) == 1
    assert services.subject_requests_remind(today=dt.date(2026, 11, 30)) == 0
    assert [m.to for m in mailoutbox] == [["dpo@example.ru"]]
    assert "Пётр Смирнов" not in mailoutbox[0].body  # ids, not the client's data

    # Taken up by anna: the reminders go to her from then on, on the due date too.
    anna.email = "anna@example.ru"
    anna.save()
    SubjectRequest.objects.filter(pk=due_wednesday.pk).update(handled_by=anna)
    assert services.subject_requests_remind(today=dt.date(2026, 12, 1)) == 1
    assert services.subject_requests_remind(today=dt.date(2026, 12, 2)) == 1
    assert [m.to for m in mailoutbox][1:] == [["anna@example.ru"], ["anna@example.ru"]]
    assert "due today" in mailoutbox[-1].subject or "сегодня" in mailoutbox[-1].subject


def test_answered_requests_are_not_reminded_of(due_wednesday, anna, security_officer,
                                               mailoutbox):
    services.subject_request_close(request=due_wednesday, by=anna, response="Ответили")
    assert services.subject_requests_remind(today=dt.date(2026, 12, 2)) == 0
    assert mailoutbox == []


def test_the_reminder_job_is_scheduled(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"consents.remind_subject_requests", "consents.apply_retention"} <= tasks
