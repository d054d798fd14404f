"""Erasure of a client: afterwards no table and no stored file holds any of their values,
another client's values are all still there, and the audit chains verify."""

import pytest
from django.core.management import call_command

from consents import erasure, selectors, subject_keys
from consents.models import ConsentEvent, ConsentState, ErasureRecord, SubjectKey
from crm.models import Contact, Deal
from inbox.models import Channel, ChannelIdentity
from security.models import FieldReveal
from telephony.models import Call, CallbackCommand, Recording
from tests.scanning import Client, found, surroundings


@pytest.fixture
def world(anna, newsletter, north):
    common = surroundings(owner=anna, team=north, newsletter=newsletter)
    erased = Client(name="Пётр Эрасов", phone="+79031234567", email="Petr.Erasov@example.ru",
                    chat_id="987654321", phrase="Кодовое слово бегемот-4711",
                    file_bytes=b"erasov-secret-scan", **common)
    other = Client(name="Мария Другова", phone="+79035556677", email="maria@example.org",
                   chat_id="123456789", phrase="Кодовое слово жираф-0815",
                   file_bytes=b"drugova-file-scan", **common)
    return erased, other


def _erase(client, by, django_capture_on_commit_callbacks, request=None):
    with django_capture_on_commit_callbacks(execute=True):
        return erasure.erase_contact(contact=client.contact, by=by, reason="subject_request",
                                     request=request)


def test_no_table_or_file_holds_the_client_after_erasure(world, director,
                                                         django_capture_on_commit_callbacks):
    erased, other = world
    assert {value for _where, value in found(erased.values())} == \
        {value.lower() for value in erased.values()}, "the scan must see every value before"

    _erase(erased, director, django_capture_on_commit_callbacks, request=erased.request)

    hits = found(erased.values())
    assert not hits, hits
    assert {value for _where, value in found(other.values())} == \
        {value.lower() for value in other.values()}


def test_the_audit_chains_verify_after_erasure(world, director,
                                               django_capture_on_commit_callbacks):
    erased, _other = world
    _erase(erased, director, django_capture_on_commit_callbacks)
    call_command("verify_audit")  # SystemExit(1) on any break


def test_what_the_law_requires_is_kept_with_the_reason(world, director,
                                                        django_capture_on_commit_callbacks):
    erased, other = world
    record = _erase(erased, director, django_capture_on_commit_callbacks,
                    request=erased.request)

    contact = Contact.objects.get(pk=erased.contact.pk)
    assert contact.name == f"Удалённый клиент #{contact.pk}"
    assert not contact.points.exists()
    deal = Deal.objects.get(pk=erased.deal.pk)
    assert deal.amount == 150000 and deal.title == f"Сделка #{deal.pk}"
    # The ledger stays whole, its evidence unreadable; the state is gone.
    assert ConsentEvent.objects.filter(contact_id=contact.pk).count() == 1
    assert not SubjectKey.objects.filter(contact_id=contact.pk).exists()
    assert selectors.consent_history(contact_id=contact.pk)[0]["evidence"] is None
    assert not ConsentState.objects.filter(contact_id=contact.pk).exists()
    assert not Recording.objects.filter(call__contact=contact).exists()
    assert Call.objects.get(contact=contact).client_number == ""
    assert CallbackCommand.objects.get(contact=contact).to_number == ""
    assert FieldReveal.objects.get(contact=contact).reason == erasure.ERASED
    assert record.request == erased.request and record.by == director
    report = record.report
    assert report["changed"]["crm.contactpoint"]["deleted"] == 2
    assert report["changed"]["inbox.attachment"]["deleted"] == 1
    assert report["files_deleted"] == 2
    assert "402-ФЗ" in report["kept"]["crm.deal"]["why"]
    assert report["kept"]["consents.consentevent"]["rows"] == 1
    # The other client is untouched, consent included.
    assert subject_keys.unseal(other.contact.pk, ConsentEvent.objects.get(
        contact_id=other.contact.pk).evidence)["ip"] == "203.0.113.7"


def test_erasing_twice_changes_nothing_more(world, director, django_capture_on_commit_callbacks):
    erased, _other = world
    first = _erase(erased, director, django_capture_on_commit_callbacks)
    again = _erase(erased, director, django_capture_on_commit_callbacks)
    assert again.pk == first.pk
    assert ErasureRecord.objects.filter(contact_id=erased.contact.pk).count() == 1
    call_command("verify_audit")


def test_the_client_writing_again_is_a_stranger(world, director,
                                                django_capture_on_commit_callbacks):
    erased, _other = world
    _erase(erased, director, django_capture_on_commit_callbacks)
    channel = Channel.objects.get(name="Telegram")
    index = ChannelIdentity.index_of(channel, erased.chat_id)
    assert not ChannelIdentity.objects.filter(external_id_index=index).exists()
