"""Merging two cards of one client: everything of the duplicate moves to the kept card (deals,
tasks, notes, phones, tags, messenger identities and conversations, calls, consents, privacy
requests), the merge is in both cards' change history, and for 30 days it can be undone."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from consents.models import ConsentState, Purpose, SubjectRequest
from consents.services import consent_record, purpose_text_publish, subject_request_register
from crm import merge as merging
from crm import selectors, services
from crm.models import Contact, ContactMerge, Deal, Note, Task
from inbox.models import Channel, ChannelIdentity, Conversation
from telephony.models import Call, PbxAccount
from tests.factories import make_contact, make_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def cards(anna, north):
    """Anna's client, known twice: from a call (kept) and from WhatsApp (the duplicate)."""
    kept = make_contact(anna, name="Пётр Сидоров", phones=["+79161234567"])
    kept_deal = make_deal(anna, contact=kept, title="Звонок")
    account = PbxAccount.objects.create(name="Mango", team=north)
    call = Call.objects.create(account=account, entry_id="e1", direction="in",
                               client_number="+79161234567", deal=kept_deal, contact=kept,
                               manager=anna)

    duplicate = make_contact(anna, name="Петя", phones=["+79161234567", "+79035550101"],
                             emails=["petr@example.ru"], tags=["vip"])
    duplicate_deal = make_deal(anna, contact=duplicate, title="WhatsApp: Петя")
    channel = Channel.objects.create(kind="whatsapp", name="WhatsApp", team=north)
    identity = ChannelIdentity.objects.create(channel=channel, external_id="79035550101",
                                              contact=duplicate, display_name="Петя")
    conversation = Conversation.objects.create(channel=channel, identity=identity,
                                               contact=duplicate, deal=duplicate_deal,
                                               assignee=anna)
    note = services.note_add(by=anna, text="Просил счёт", contact=duplicate)
    task = services.task_create(by=anna, title="Перезвонить", contact=duplicate,
                                due_at=timezone.now() + timedelta(days=1))
    purpose = Purpose.objects.create(code="newsletter", title="Рассылка")
    purpose_text_publish(purpose=purpose, text="Согласен на рассылку.")
    consent_record(contact=duplicate, purpose=purpose, kind="granted", source="website_form",
                   evidence={"ip": "203.0.113.5"})
    request = subject_request_register(contact=duplicate, kind="access", source="staff",
                                       by=anna)
    return {"kept": kept, "duplicate": duplicate, "kept_deal": kept_deal, "call": call,
            "duplicate_deal": duplicate_deal, "identity": identity,
            "conversation": conversation, "note": note, "task": task, "purpose": purpose,
            "request": request}


def test_a_merge_moves_everything_and_is_in_both_cards_history(anna, cards):
    kept, duplicate = cards["kept"], cards["duplicate"]
    record = merging.contacts_merge(by=anna, kept=kept, duplicate=duplicate)

    assert set(Deal.objects.filter(contact=kept)) == {cards["kept_deal"], cards["duplicate_deal"]}
    assert ChannelIdentity.objects.get(pk=cards["identity"].pk).contact == kept
    assert Conversation.objects.get(pk=cards["conversation"].pk).contact == kept
    assert Note.objects.get(pk=cards["note"].pk).contact == kept
    assert Task.objects.get(pk=cards["task"].pk).contact == kept
    assert SubjectRequest.objects.get(pk=cards["request"].pk).contact == kept
    assert Call.objects.get(pk=cards["call"].pk).contact == kept
    # The phone both had stays once; the new phone and the e-mail move; the tag too.
    values = sorted(p.value for p in kept.points.all())
    assert values == ["+79035550101", "+79161234567", "petr@example.ru"]
    assert kept.points.filter(kind="phone", is_primary=True).count() == 1
    assert [t.name for t in kept.tags.all()] == ["vip"]
    # The consent is copied into the kept card's ledger, naming the entry it copies.
    assert ConsentState.objects.get(contact=kept, purpose=cards["purpose"]).granted
    # The duplicate leaves every list.
    duplicate.refresh_from_db()
    assert duplicate.merged_into == kept
    assert not selectors.contacts_visible_to(anna).filter(pk=duplicate.pk).exists()
    # Both cards' change history says so.
    for contact, field in ((kept, "merged_from"), (duplicate, "merged_into")):
        entry = LogEntry.objects.get_for_object(contact).get(
            additional_data__contact_merge=record.pk)
        assert entry.actor == anna and field in entry.changes


def test_the_undo_moves_back_what_moved_and_withdraws_the_copied_consent(anna, cards):
    kept, duplicate = cards["kept"], cards["duplicate"]
    record = merging.contacts_merge(by=anna, kept=kept, duplicate=duplicate)
    merging.contacts_merge_undo(by=anna, merge=record)

    assert Deal.objects.get(pk=cards["duplicate_deal"].pk).contact == duplicate
    assert Deal.objects.get(pk=cards["kept_deal"].pk).contact == kept
    assert Conversation.objects.get(pk=cards["conversation"].pk).contact == duplicate
    assert ChannelIdentity.objects.get(pk=cards["identity"].pk).contact == duplicate
    assert Call.objects.get(pk=cards["call"].pk).contact == kept  # it was never the duplicate's
    assert sorted(p.value for p in kept.points.all()) == ["+79161234567"]
    assert not kept.tags.exists()
    assert not ConsentState.objects.get(contact=kept, purpose=cards["purpose"]).granted
    assert ConsentState.objects.get(contact=duplicate, purpose=cards["purpose"]).granted
    duplicate.refresh_from_db()
    assert duplicate.merged_into is None
    assert selectors.contacts_visible_to(anna).filter(pk=duplicate.pk).exists()
    record.refresh_from_db()
    assert record.undone_by == anna
    with pytest.raises(ValidationError):
        merging.contacts_merge_undo(by=anna, merge=record)  # once


def test_after_30_days_a_merge_stays(anna, cards):
    record = merging.contacts_merge(by=anna, kept=cards["kept"], duplicate=cards["duplicate"])
    ContactMerge.objects.filter(pk=record.pk).update(at=timezone.now() - timedelta(days=31))
    record.refresh_from_db()
    with pytest.raises(ValidationError):
        merging.contacts_merge_undo(by=anna, merge=record)


def test_only_two_distinct_cards_one_can_change_are_merged(anna, olga, cards):
    kept, duplicate = cards["kept"], cards["duplicate"]
    with pytest.raises(ValidationError):
        merging.contacts_merge(by=anna, kept=kept, duplicate=kept)
    with pytest.raises(PermissionDenied):
        merging.contacts_merge(by=olga, kept=kept, duplicate=duplicate)
    merging.contacts_merge(by=anna, kept=kept, duplicate=duplicate)
    other = make_contact(anna, name="Ещё")
    with pytest.raises(ValidationError):
        merging.contacts_merge(by=anna, kept=other, duplicate=Contact.objects.get(
            pk=duplicate.pk))


def test_the_card_suggests_the_duplicate_and_the_pages_merge_and_undo(anna, cards):
    kept, duplicate = cards["kept"], cards["duplicate"]
    client = Client()
    client.force_login(anna)
    card = client.get(kept.get_absolute_url()).content.decode()
    merge_url = reverse("contact_merge", args=[kept.pk, duplicate.pk])
    assert merge_url in card
    preview = client.get(merge_url)
    assert preview.status_code == 200
    assert "WhatsApp: Петя" not in preview.content.decode()  # counts, not the records
    assert client.post(merge_url).status_code == 302
    record = ContactMerge.objects.get()
    card = client.get(kept.get_absolute_url()).content.decode()
    undo_url = reverse("contact_merge_undo", args=[kept.pk, record.pk])
    assert undo_url in card and "WhatsApp" in card  # the channels the client uses
    assert client.get(duplicate.get_absolute_url()).status_code == 404
    assert client.post(undo_url).status_code == 302
    assert client.get(duplicate.get_absolute_url()).status_code == 200


def test_a_reader_of_a_shared_deal_cannot_merge(anna, ivan, cards):
    from crm import sharing

    sharing.deal_share(deal=cards["kept_deal"], by=anna, user=ivan, access="read")
    sharing.deal_share(deal=cards["duplicate_deal"], by=anna, user=ivan, access="read")
    client = Client()
    client.force_login(ivan)
    url = reverse("contact_merge", args=[cards["kept"].pk, cards["duplicate"].pk])
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    assert not ContactMerge.objects.exists()


def test_a_merged_card_is_matched_by_no_inbound_call_message_or_consent(anna, cards):
    """The duplicate keeps the phone both cards had; after the merge nothing inbound may
    land on it (it is in no list): calls, WhatsApp and consent forms find the kept card."""
    kept, duplicate = cards["kept"], cards["duplicate"]
    Deal.objects.filter(contact__in=[kept, duplicate]).update(status=Deal.Status.WON)
    merging.contacts_merge(by=anna, kept=kept, duplicate=duplicate)
    assert duplicate.points.filter(value_index__in=kept.points.values("value_index")).exists()
    assert [p.contact for p in selectors.contact_point_lookup(kind="phone",
                                                              value="+79161234567")] == [kept]
    index = selectors.contact_point_index(kind="phone", value="8 916 123-45-67")
    assert selectors.point_holder(kind="phone", index=index) == kept
