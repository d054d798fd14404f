"""The access log: what each surface records, one batch per request, and the hash chains of
the access log and the change log catching any altered, deleted or forged row."""

import pytest
from auditlog.models import LogEntry
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import translation
from rest_framework.authtoken.models import Token

from crm import services
from crm.models import Contact, Deal
from security.audit import audit_chain, change_log
from security.models import AccessRecord, ChainHead, ChangeSeal
from tests.factories import client_for, make_contact, make_deal


def records(**filters):
    return list(AccessRecord.objects.filter(**filters).order_by("seq"))


@pytest.fixture
def token_client(anna):
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=anna).key}")
    return client


class TestWhatIsRecorded:
    def test_a_deal_card_view_names_the_user_the_deal_its_client_and_where_from(
        self, anna, anna_deal
    ):
        response = client_for(anna).get(f"/deals/{anna_deal.pk}/", REMOTE_ADDR="10.0.0.7",
                                        HTTP_USER_AGENT="Firefox/140")
        assert response.status_code == 200
        [record] = records(action="view")
        assert (record.user_id, record.username) == (anna.pk, "anna")
        assert (record.object_type, record.object_id) == ("crm.deal", anna_deal.pk)
        assert record.contact_id == anna_deal.contact_id
        assert (record.surface, record.ip, record.user_agent) == ("html", "10.0.0.7",
                                                                  "Firefox/140")
        assert record.path == f"/deals/{anna_deal.pk}/"

    def test_each_row_of_a_list_page_is_recorded_in_one_batch(self, anna):
        deals = [make_deal(anna, contact=make_contact(anna)) for _ in range(5)]
        client = client_for(anna)
        client.get("/deals/")
        listed = records(action="list", object_type="crm.deal")
        assert sorted(r.object_id for r in listed) == sorted(d.pk for d in deals)
        assert {r.contact_id for r in listed} == {d.contact_id for d in deals}
        # One batch: consecutive links written together, one head update.
        assert [r.seq for r in listed] == list(range(listed[0].seq, listed[0].seq + 5))

    def test_a_search_is_recorded_as_search(self, anna):
        contact = make_contact(anna, name="Зоя Искомая")
        make_contact(anna, name="Другой")
        client_for(anna).get("/contacts/", {"q": "Искомая"})
        assert [(r.action, r.object_id) for r in records(object_type="crm.contact")] == [
            ("search", contact.pk)]

    def test_api_detail_and_list_items_are_recorded_with_the_token_user(
        self, anna, anna_deal, token_client
    ):
        assert token_client.get(f"/api/v1/deals/{anna_deal.pk}/").status_code == 200
        assert token_client.get("/api/v1/contacts/").status_code == 200
        assert token_client.get(f"/api/v1/deals/{anna_deal.pk}/timeline/").status_code == 200
        got = [(r.surface, r.action, r.object_type, r.object_id, r.user_id) for r in records()]
        assert got == [
            ("api", "view", "crm.deal", anna_deal.pk, anna.pk),
            ("api", "list", "crm.contact", anna_deal.contact_id, anna.pk),
            ("api", "timeline", "crm.deal", anna_deal.pk, anna.pk),
        ]

    def test_a_contact_card_and_a_company_card_are_recorded(self, anna, anna_contact):
        client_for(anna).get(f"/contacts/{anna_contact.pk}/")
        assert [(r.action, r.contact_id) for r in records()] == [("view", anna_contact.pk)]

    def test_an_export_records_every_exported_row(self, head_north, anna, anna_deal):
        other = make_deal(anna, contact=make_contact(anna))
        response = client_for(head_north).post("/exports/", {"resource": "deals",
                                                           "format": "csv"})
        assert response.status_code in (200, 302)
        exported = records(action="export")
        assert {r.object_id for r in exported} == {anna_deal.pk, other.pk}
        assert {r.surface for r in exported} == {"export"}
        assert {r.user_id for r in exported} == {head_north.pk}

    def test_a_reveal_is_recorded(self, anna):
        contact = make_contact(anna, phones=["+79161234567"])
        point = contact.points.get()
        response = client_for(anna).post(
            f"/contacts/{contact.pk}/points/{point.pk}/reveal/",
            {"reason": "Клиент просит перезвонить с другого номера"})
        assert response.status_code == 200, response.content
        [record] = records(action="reveal")
        assert (record.contact_id, record.detail["field"]) == (contact.pk, "phone")

    def test_a_404_on_an_object_route_is_recorded_as_a_refusal(self, olga, anna_deal):
        assert client_for(olga).get(f"/deals/{anna_deal.pk}/").status_code == 404
        [record] = records()
        assert (record.action, record.user_id, record.object_id) == ("not_found", olga.pk,
                                                                     None)
        assert record.path == f"/deals/{anna_deal.pk}/"

    def test_pages_without_client_data_record_nothing(self, anna):
        client_for(anna).get("/account/two-factor/")
        client_for(anna).get("/deals/")  # an empty list
        assert records() == []

    def test_anonymous_requests_record_nothing(self, anna_deal):
        assert Client().get(f"/deals/{anna_deal.pk}/").status_code == 302
        assert records() == []


class TestTheChain:
    @pytest.fixture
    def logged(self, anna):
        deals = [make_deal(anna, contact=make_contact(anna)) for _ in range(4)]
        client_for(anna).get("/deals/")
        for deal in deals:
            client_for(anna).get(f"/deals/{deal.pk}/")
        return records()

    @staticmethod
    def behind_the_apps_back(sql, params=()):
        """What someone with the database owner's rights could do: the append-only trigger
        is switched off for the statement."""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("ALTER TABLE security_accessrecord DISABLE TRIGGER USER")
            cursor.execute(sql, params)
            cursor.execute("ALTER TABLE security_accessrecord ENABLE TRIGGER USER")

    def test_an_untouched_chain_verifies(self, logged):
        assert len(logged) == 8
        assert audit_chain.verify(AccessRecord) == (8, [])
        assert logged[0].prev_hash == audit_chain.GENESIS
        assert all(b.prev_hash == a.hash for a, b in zip(logged, logged[1:], strict=False))

    def test_the_application_cannot_update_or_delete_a_record(self, logged):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AccessRecord.objects.filter(pk=logged[0].pk).update(username="someone")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AccessRecord.objects.filter(pk=logged[0].pk).delete()

    @pytest.mark.parametrize("column, value", [
        ("username", "ivan"), ("object_id", 999999), ("ip", "10.9.9.9"), ("action", "export"),
        ("at", "2026-01-01T00:00:00Z"), ("detail", '{"x": 1}'), ("contact_id", None),
    ])
    def test_any_altered_field_is_found(self, logged, column, value):
        target = logged[3]
        self.behind_the_apps_back(
            f"UPDATE security_accessrecord SET {column} = %s WHERE id = %s", [value, target.pk])
        checked, breaks = audit_chain.verify(AccessRecord)
        assert [(b.seq, "altered" in b.problem) for b in breaks] == [(target.seq, True)]

    def test_a_record_rehashed_after_editing_still_breaks_the_next_link(self, logged):
        target = logged[3]
        target.username = "ivan"
        new_hash = audit_chain.record_hash(target, target.prev_hash)
        self.behind_the_apps_back(
            "UPDATE security_accessrecord SET username = 'ivan', hash = %s WHERE id = %s",
            [new_hash, target.pk])
        _, breaks = audit_chain.verify(AccessRecord)
        assert [(b.seq, "does not link" in b.problem) for b in breaks] == [(target.seq + 1,
                                                                            True)]

    def test_a_deleted_record_is_found(self, logged):
        self.behind_the_apps_back("DELETE FROM security_accessrecord WHERE id = %s",
                                  [logged[2].pk])
        _, breaks = audit_chain.verify(AccessRecord)
        assert len(breaks) == 1 and "deleted" in breaks[0].problem
        assert breaks[0].seq == logged[2].seq

    def test_records_cut_from_the_end_are_found_through_the_head(self, logged):
        self.behind_the_apps_back("DELETE FROM security_accessrecord WHERE seq >= %s",
                                  [logged[-2].seq])
        _, breaks = audit_chain.verify(AccessRecord)
        assert [b.seq for b in breaks] == [None]
        assert "deleted from the end" in breaks[0].problem

    def test_a_forged_record_is_found(self, logged):
        last = logged[-1]
        self.behind_the_apps_back(
            "INSERT INTO security_accessrecord (seq, prev_hash, hash, at, user_id, username,"
            " surface, action, object_type, object_id, contact_id, path, ip, user_agent,"
            " detail) SELECT seq + 1, hash, hash, at, user_id, username, surface, action,"
            " object_type, object_id, contact_id, path, ip, user_agent, detail"
            " FROM security_accessrecord WHERE id = %s", [last.pk])
        _, breaks = audit_chain.verify(AccessRecord)
        problems = [b.problem for b in breaks]
        assert any("altered" in p for p in problems)
        assert any("points at record" in p for p in problems)

    def test_verify_audit_reports_and_exits_non_zero_on_a_break(self, logged, capsys):
        # Its summary lines are translated (Russian by default): read them in English.
        with translation.override("en"):
            call_command("verify_audit")
        assert "chain intact" in capsys.readouterr().out
        self.behind_the_apps_back("DELETE FROM security_accessrecord WHERE id = %s",
                                  [logged[1].pk])
        with pytest.raises(SystemExit) as exit_, translation.override("en"):
            call_command("verify_audit")
        assert exit_.value.code == 1
        assert f"record #{logged[1].seq}" in capsys.readouterr().out

    def test_a_long_chain_is_walked_in_batches(self, logged):
        assert audit_chain.verify(AccessRecord, batch=3) == (8, [])
        self.behind_the_apps_back("DELETE FROM security_accessrecord WHERE id = %s",
                                  [logged[3].pk])
        assert len(audit_chain.verify(AccessRecord, batch=3)[1]) == 1


class TestTheChangeLog:
    @pytest.fixture
    def changed(self, anna, anna_deal):
        services.deal_update(deal=anna_deal, by=anna, title="Новое название")
        return LogEntry.objects.order_by("pk")

    @staticmethod
    def behind_the_apps_back(sql, params=()):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    def test_every_entry_is_sealed_as_it_is_written(self, changed):
        assert changed.count() >= 2
        assert set(ChangeSeal.objects.values_list("entry_id", flat=True)) == {
            e.pk for e in changed}
        assert change_log.verify()[1] == []

    def test_an_altered_entry_is_found(self, changed):
        entry = changed.last()
        self.behind_the_apps_back(
            "UPDATE auditlog_logentry SET changes_text = 'nothing happened' WHERE id = %s",
            [entry.pk])
        assert [str(b) for b in change_log.verify()[1]] == [
            f"chain head: change log entry {entry.pk} was altered"]

    def test_a_deleted_entry_is_found(self, changed):
        entry = changed.first()
        self.behind_the_apps_back("DELETE FROM auditlog_logentry WHERE id = %s", [entry.pk])
        assert [b.problem for b in change_log.verify()[1]] == [
            f"change log entry {entry.pk} was deleted"]

    def test_an_entry_written_behind_the_apps_back_is_found(self, changed):
        entry = changed.first()
        self.behind_the_apps_back(
            "INSERT INTO auditlog_logentry (content_type_id, object_pk, object_id,"
            " object_repr, action, changes_text, changes, timestamp, additional_data, cid,"
            " actor_email) SELECT content_type_id, object_pk, object_id, object_repr, action,"
            " changes_text, changes, timestamp, additional_data, cid, actor_email"
            " FROM auditlog_logentry WHERE id = %s", [entry.pk])
        [problem] = change_log.verify()[1]
        assert "has no seal" in problem.problem

    def test_a_bulk_update_gets_an_entry_per_row(self, anna, ivan):
        contacts = [make_contact(anna) for _ in range(3)]
        before = LogEntry.objects.count()
        Contact.objects.filter(pk__in=[c.pk for c in contacts]).update(owner=ivan)
        change_log.bulk_changed(Contact, [c.pk for c in contacts],
                                changes={"owner": [anna.pk, ivan.pk]}, actor=anna,
                                reason="test")
        entries = LogEntry.objects.order_by("pk")[before:]
        assert [int(e.object_pk) for e in entries] == [c.pk for c in contacts]
        assert entries[0].changes == {"owner": [str(anna.pk), str(ivan.pk)]}
        assert entries[0].actor_id == anna.pk
        assert change_log.verify()[1] == []

    def test_the_seals_are_append_only(self, changed):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            ChangeSeal.objects.all().delete()
        assert ChainHead.objects.filter(name="security.changeseal").exists()


def test_the_deal_model_is_still_registered_with_auditlog():
    from auditlog.registry import auditlog

    assert auditlog.contains(Deal)


def test_a_lawful_redaction_is_sealed_again_and_stays_on_record(anna, anna_deal):
    services.deal_update(deal=anna_deal, by=anna, title="Петров: поставка")
    entry = LogEntry.objects.filter(object_pk=str(anna_deal.pk)).order_by("pk").last()
    LogEntry.objects.filter(pk=entry.pk).update(changes_text="[erased]", changes={})
    assert change_log.verify()[1]  # rewritten without a new seal: altered
    entry.refresh_from_db()
    change_log.redact([entry], reason="erasure of contact 1")
    assert change_log.verify()[1] == []
    reasons = list(ChangeSeal.objects.filter(entry_id=entry.pk).values_list("reason", flat=True))
    assert reasons == ["", "erasure of contact 1"]


def test_the_log_keeps_the_path_without_the_query(anna, anna_contact):
    client_for(anna).get("/contacts/", {"q": "Смирнов"})
    [record] = records(action="search")
    assert record.path == "/contacts/"
