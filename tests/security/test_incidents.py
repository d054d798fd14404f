"""Incidents opened from alerts: affected clients from the access log, frozen evidence that
shows tampering, the 152-FZ clocks and draft, containment steps on the timeline."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from crm.models import Contact
from inbox.models import Message
from security.audit import containment, incidents
from security.models import AccessRecord, Alert, Incident
from tests.factories import make_contact
from tests.inbox.test_conversations import OUT_OF_OFFICE, moscow, sent_texts, write_at


def client_of(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def snooping(anna, ivan):
    """anna read three clients' cards (one of them ivan's old client); ivan read another."""
    mine = [make_contact(anna) for _ in range(2)]
    theirs = make_contact(ivan)
    for contact in mine:
        client_of(anna).get(f"/contacts/{contact.pk}/")
    client_of(ivan).get(f"/contacts/{theirs.pk}/")
    alert = Alert.objects.create(rule="foreign_cards", user=anna, count=2, threshold=2,
                                 window_minutes=10, evidence={})
    return {"alert": alert, "clients": [c.pk for c in mine], "other": theirs.pk}


@pytest.fixture
def incident(snooping, security_officer):
    return incidents.incident_open(alerts=[snooping["alert"]], by=security_officer)


def html(response) -> str:
    return response.content.decode()


def event_kinds(incident):
    return list(incident.events.values_list("kind", flat=True))


class TestOpening:
    def test_the_affected_clients_are_those_the_user_read(self, incident, snooping):
        assert incident.affected_clients == sorted(snooping["clients"])
        assert snooping["other"] not in incident.affected_clients
        assert list(incident.subjects.all()) == [snooping["alert"].user]
        assert incident.detected_at == snooping["alert"].raised_at
        assert event_kinds(incident) == ["opened", "evidence"]

    def test_the_evidence_is_frozen_and_verifiable(self, incident, anna):
        # The alert names no records: its user's reads in its window, not the log to now.
        last = AccessRecord.objects.filter(user_id=anna.pk).order_by("-seq").first()
        assert (incident.evidence_to_seq, incident.evidence_hash) == (last.seq, last.hash)
        assert incidents.evidence_intact(incident) is True
        first = AccessRecord.objects.filter(seq=incident.evidence_from_seq).get()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("ALTER TABLE security_accessrecord DISABLE TRIGGER USER")
            cursor.execute("UPDATE security_accessrecord SET contact_id = NULL WHERE id = %s",
                           [first.pk])
            cursor.execute("ALTER TABLE security_accessrecord ENABLE TRIGGER USER")
        assert incidents.evidence_intact(incident) is False

    def test_the_evidence_is_the_alerts_own_records_not_the_whole_log(
        self, anna, ivan, security_officer
    ):
        for _ in range(3):
            client_of(ivan).get(f"/contacts/{make_contact(ivan).pk}/")
        read = [make_contact(anna) for _ in range(2)]
        for contact in read:
            client_of(anna).get(f"/contacts/{contact.pk}/")
        named = list(AccessRecord.objects.filter(user_id=anna.pk, action="view")
                     .order_by("seq"))
        for _ in range(2):  # later reads and other people's are no evidence of it
            client_of(anna).get(f"/contacts/{make_contact(anna).pk}/")
            client_of(ivan).get(f"/contacts/{make_contact(ivan).pk}/")
        alert = Alert.objects.create(rule="foreign_cards", user=anna, count=2, threshold=2,
                                     window_minutes=10,
                                     evidence={"records": [r.seq for r in named]})
        incident = incidents.incident_open(alerts=[alert], by=security_officer)
        assert (incident.evidence_from_seq, incident.evidence_to_seq) == (
            named[0].seq, named[-1].seq)
        assert incident.evidence_hash == named[-1].hash
        assert incident.affected_clients == sorted(c.pk for c in read)
        assert incidents.evidence_intact(incident) is True

    def test_it_needs_an_alert(self, security_officer):
        with pytest.raises(Exception, match="хотя бы по одному оповещению"):
            incidents.incident_open(alerts=[], by=security_officer)


class TestClocksAndDraft:
    def test_24_and_72_hours_from_detection(self, incident):
        assert incidents.deadlines(incident) == {
            "notify_by": incident.detected_at + timedelta(hours=24),
            "report_by": incident.detected_at + timedelta(hours=72),
        }

    def test_the_page_shows_an_overdue_notification(self, incident, security_officer):
        page = client_of(security_officer).get(f"/security/incidents/{incident.pk}/")
        assert 'data-clock="notify" class="overdue"' not in page.content.decode()
        with time_machine.travel(timezone.now() + timedelta(hours=25)):
            page = client_of(security_officer).get(f"/security/incidents/{incident.pk}/")
        html = page.content.decode()
        assert 'data-clock="notify" class="overdue"' in html
        assert 'data-clock="report" class="overdue"' not in html

    def test_the_draft_names_the_operator_clients_and_evidence(self, incident, settings):
        settings.OPERATOR_NAME = "ООО «Ромашка», ИНН 7700000000"
        draft = incidents.notification_draft(incident)
        assert "ООО «Ромашка», ИНН 7700000000" in draft
        assert "затронуты данные 2 субъект" in draft
        assert incident.evidence_hash in draft
        assert "часть 3.1 статьи 21" in draft
        response = client_of(incident.opened_by).get(
            f"/security/incidents/{incident.pk}/notification.txt")
        assert response["Content-Disposition"] == (
            f'attachment; filename="incident-{incident.pk}.txt"')
        assert "ООО «Ромашка»" in response.content.decode()

    def test_marking_the_notification_stops_the_clock(self, incident, security_officer):
        client_of(security_officer).post(f"/security/incidents/{incident.pk}/action/",
                                         {"action": "notified"})
        incident.refresh_from_db()
        assert incident.regulator_notified_at is not None
        assert event_kinds(incident)[-1] == "notified"


class TestContainment:
    def act(self, incident, actor, **data):
        return client_of(actor).post(f"/security/incidents/{incident.pk}/action/", data)

    def test_a_channel_is_switched_off(self, incident, security_officer, telegram_channel):
        self.act(incident, security_officer, action="disable", kind="channel",
                 target=telegram_channel.pk)
        telegram_channel.refresh_from_db()
        assert not telegram_channel.is_active
        assert event_kinds(incident)[-1] == "disabled"
        assert "Telegram north" in incident.events.last().text

    def test_an_unknown_switch_is_a_clear_error(self, incident, security_officer):
        response = self.act(incident, security_officer, action="disable", kind="channel",
                            target=987654)
        assert response.status_code == 302
        assert event_kinds(incident) == ["opened", "evidence"]

    def test_pausing_automation_stops_out_of_office_replies(
        self, incident, security_officer, telegram_channel, fake_bot_api, anna
    ):
        telegram_channel.business_hours = {"mon": [["09:00", "18:00"]]}
        telegram_channel.out_of_office_reply = OUT_OF_OFFICE
        telegram_channel.save()
        self.act(incident, security_officer, action="pause")
        assert containment.automation_paused()
        write_at(telegram_channel, moscow(28, 12), 1)  # Saturday: closed
        assert sent_texts(fake_bot_api) == []
        assert not Message.objects.filter(is_automatic=True).exists()
        assert event_kinds(incident)[-1] == "paused"

    def test_a_queued_automatic_message_does_not_go_after_a_pause(
        self, security_officer, telegram_channel, fake_bot_api, anna_deal
    ):
        from inbox import services
        from tests.inbox.conftest import make_conversation

        conversation = make_conversation(channel=telegram_channel, deal=anna_deal)
        queued = Message.objects.create(
            conversation=conversation, channel=telegram_channel, text="Авто",
            direction=Message.Direction.OUTBOUND, status=Message.Status.QUEUED,
            is_automatic=True)
        containment.pause_automation(by=security_officer, reason="test")
        services.message_send(message=queued)
        queued.refresh_from_db()
        assert queued.status == Message.Status.FAILED
        assert "приостановлены" in queued.error
        assert sent_texts(fake_bot_api) == []

    def test_a_suspension_is_logged(self, incident, security_officer, anna):
        pytest.importorskip("security.accounts", reason="suspension lands with offboarding")
        self.act(incident, security_officer, action="suspend", user=anna.pk)
        anna.refresh_from_db()
        assert not anna.is_active
        assert event_kinds(incident)[-1] == "suspended"

    def test_only_the_accounts_involved_can_be_suspended_here(self, incident, security_officer,
                                                              ivan):
        response = self.act(incident, security_officer, action="suspend", user=ivan.pk)
        assert response.status_code == 404

    def test_a_note_and_closing_need_text(self, incident, security_officer):
        self.act(incident, security_officer, action="close", comment="  ")
        incident.refresh_from_db()
        assert incident.status == Incident.Status.OPEN
        self.act(incident, security_officer, action="note", text="Позвонили Анне")
        self.act(incident, security_officer, action="close", comment="Ложная тревога")
        incident.refresh_from_db()
        assert incident.status == Incident.Status.CLOSED
        assert event_kinds(incident)[-2:] == ["note", "closed"]


class TestWhoMayRunThem:
    @pytest.mark.parametrize("role", ["anna", "head_north", "marketer", "support"])
    def test_everyone_but_officers_and_admins_gets_404(self, request, incident, snooping, role):
        client = client_of(request.getfixturevalue(role))
        for url in ("/security/incidents/", f"/security/incidents/{incident.pk}/",
                    f"/security/incidents/{incident.pk}/notification.txt"):
            assert client.get(url).status_code == 404, url
        assert client.post(f"/security/incidents/{incident.pk}/action/",
                           {"action": "note", "text": "x"}).status_code == 404
        assert client.post("/security/incidents/open/",
                           {"alert": snooping["alert"].pk}).status_code == 404

    def test_the_officer_and_the_director_open_one_from_an_alert(
        self, snooping, security_officer, director
    ):
        for user in (security_officer, director):
            response = client_of(user).post("/security/incidents/open/",
                                            {"alert": snooping["alert"].pk, "confirm": "yes"})
            assert response.status_code == 302
        assert Incident.objects.count() == 2
        page = client_of(security_officer).get(response.url)
        assert page.status_code == 200
        latest = Incident.objects.order_by("-pk").first()
        assert f"№{latest.pk}: {latest.title}" in page.content.decode()

    def test_the_page_lists_client_ids_never_names(self, incident, security_officer):
        html = client_of(security_officer).get(
            f"/security/incidents/{incident.pk}/").content.decode()
        for contact in Contact.objects.filter(pk__in=incident.affected_clients):
            assert str(contact.pk) in html
            assert contact.name not in html


class TestOpeningAsksFirst:
    def test_the_alerts_button_leads_to_a_confirmation_that_says_what_is_frozen(
        self, snooping, security_officer
    ):
        alert = snooping["alert"]
        client = client_of(security_officer)
        page = html(client.get(f"/security/alerts/{alert.pk}/"))
        assert f'href="/security/incidents/open/?alert={alert.pk}"' in page
        assert 'action="/security/incidents/open/"' not in page  # no one-click form
        response = client.get(f"/security/incidents/open/?alert={alert.pk}")
        assert response.status_code == 200
        confirm = html(response)
        summary = incidents.evidence_summary([alert])
        assert f"№{summary['first']}" in confirm and f"№{summary['last']}" in confirm
        assert 'name="confirm"' in confirm and "onclick" not in confirm
        assert not Incident.objects.exists()

    def test_a_post_without_the_confirmation_opens_nothing(self, snooping, security_officer):
        response = client_of(security_officer).post("/security/incidents/open/",
                                                     {"alert": snooping["alert"].pk})
        assert response.status_code == 400
        assert not Incident.objects.exists()
        response = client_of(security_officer).post(
            "/security/incidents/open/", {"alert": snooping["alert"].pk, "confirm": "yes",
                                          "title": "Просмотр чужих карточек"})
        assert response.status_code == 302
        assert Incident.objects.get().title == "Просмотр чужих карточек"

    def test_outsiders_get_404_on_the_confirmation(self, snooping, anna, head_north):
        for user in (anna, head_north):
            assert client_of(user).get(
                f"/security/incidents/open/?alert={snooping['alert'].pk}").status_code == 404
