"""Erasure of a client: afterwards no table and no stored file holds any of their values,
another client's values are all still there, and the audit chains verify."""

import base64
import json
import uuid
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import models

from consents import erasure, selectors, services, subject_keys
from consents.models import ConsentEvent, ConsentState, ErasureRecord, SubjectKey
from core import crypto
from crm import services as crm
from crm.models import Contact, Deal
from inbox import attachments
from inbox.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    InboundEvent,
    MailDetails,
    Message,
)
from security import exports, reveal
from security.models import FieldReveal
from telephony import recordings
from telephony.models import Call, CallbackCommand, CallEvent, PbxAccount, Recording


class Client:
    """One client with a value in every place the product keeps one."""

    def __init__(self, *, owner, name, phone, email, chat_id, phrase, file_bytes, channel,
                 mail_channel, account, newsletter):
        self.name, self.phone, self.email, self.chat_id = name, phone, email, chat_id
        self.phrase, self.file_bytes = phrase, file_bytes
        digits = phone.lstrip("+")
        # The phone as people and providers write it.
        self.phone_forms = [phone, digits, "8" + digits[1:], digits[1:]]
        self.contact = crm.contact_create(by=owner, name=name, phones=[phone], emails=[email],
                                          position="Главный бухгалтер")
        self.deal = crm.deal_create(by=owner, title=f"Поставка: {name}", contact=self.contact,
                                    amount="150000")
        crm.deal_update(deal=self.deal, by=owner, next_step=f"Позвонить 8{digits[1:]}")
        crm.contact_update(contact=self.contact, by=owner, name=f"{name}", position="Директор")
        crm.note_add(by=owner, deal=self.deal, text=f"{name} просил скидку, {email}")
        crm.task_create(by=owner, title=f"Перезвонить {name}", deal=self.deal)
        point = self.contact.points.get(kind="phone")
        reveal.point_reveal(user=owner, contact=self.contact, point_id=point.pk,
                            reason=f"Звонок {name}")
        identity = ChannelIdentity.objects.create(channel=channel, external_id=chat_id,
                                                  contact=self.contact,
                                                  display_name=f"{name} TG")
        conversation = Conversation.objects.create(channel=channel, identity=identity,
                                                   contact=self.contact, deal=self.deal)
        message = Message.objects.create(
            conversation=conversation, channel=channel, direction=Message.Direction.INBOUND,
            text=phrase, status=Message.Status.RECEIVED, external_id=f"{chat_id}:17")
        attachments.attach(message=message, data=file_bytes, name=f"{name}.pdf",
                           mime_type="application/pdf")
        InboundEvent.objects.create(channel=channel, provider_event_id=uuid.uuid4().hex,
                                    payload=json.dumps({
                                        "update_id": 1, "message": {
                                            "message_id": 17, "chat": {"id": int(chat_id)},
                                            "from": {"id": int(chat_id), "first_name": name},
                                            "text": phrase}}, ensure_ascii=False))
        # A mail from them: the message, its envelope beside it, its raw delivery.
        mail_identity = ChannelIdentity.objects.create(channel=mail_channel,
                                                       external_id=email.lower(),
                                                       contact=self.contact, display_name=name)
        mail_conversation = Conversation.objects.create(channel=mail_channel,
                                                        identity=mail_identity,
                                                        contact=self.contact, deal=self.deal)
        mail_id = f"{uuid.uuid4().hex}@client.example"
        mail = Message.objects.create(
            conversation=mail_conversation, channel=mail_channel, text="Добрый день",
            direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED,
            external_id=mail_id)
        MailDetails.objects.create(message=mail, mail_id=mail_id, subject=f"Re: {phrase}",
                                   sender=email, sender_name=name, html=f"<p>{name}</p>",
                                   quoted=f"> {phrase}")
        raw = (f"From: {name} <{email}>\r\nMessage-ID: <{mail_id}>\r\nSubject: {phrase}"
               "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nДобрый день\r\n")
        InboundEvent.objects.create(channel=mail_channel, provider_event_id=mail_id,
                                    event_type="mail", payload=json.dumps({
                                        "uid": 1, "raw": base64.b64encode(
                                            raw.encode()).decode()}))
        entry = uuid.uuid4().hex  # the PBX's id of the call
        call = Call.objects.create(account=account, entry_id=entry, direction="in",
                                   client_number=phone, deal=self.deal, contact=self.contact,
                                   manager=owner)
        Recording.objects.create(call=call, recording_id=f"rec-{entry}",
                                 file_path=recordings.storage.store(file_bytes + b" voice"))
        CallEvent.objects.create(account=account, kind="call", dedupe_key=f"{entry}:1",
                                 payload=json.dumps({"entry_id": entry,
                                                     "from": {"number": digits}}))
        CallbackCommand.objects.create(account=account, user=owner, deal=self.deal,
                                       contact=self.contact, to_number=digits,
                                       extension="101")
        services.consent_record(contact=self.contact, purpose=newsletter, kind="granted",
                                source="website_form",
                                evidence={"ip": "203.0.113.7", "page": f"/form?e={email}"})
        self.request = services.subject_request_register(
            contact=self.contact, kind="erasure", source="staff", by=owner,
            details=f"{name} ({email}) просит удалить данные")

    def values(self) -> list[str]:
        return [self.name, self.email, self.chat_id, self.phrase,
                self.file_bytes.decode(), *self.phone_forms]


def _text_fields(model):
    return [f.attname for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))]


def _database_texts():
    """Every text, char and JSON column of every row of every table, as text; a stored mail
    delivery also as the mail it holds (its raw bytes are in base64)."""
    for payload in InboundEvent.objects.filter(payload__contains='"raw"').values_list(
            "payload", flat=True):
        yield "inbox.InboundEvent (the mail)", base64.b64decode(
            json.loads(payload)["raw"]).decode("utf-8", "replace")
    for model in apps.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:
            continue
        fields = _text_fields(model)
        if not fields:
            continue
        for row in model._default_manager.values_list(*fields):
            for value in row:
                if value not in (None, ""):
                    yield model._meta.label, json.dumps(value, ensure_ascii=False) \
                        if not isinstance(value, str) else value


def _file_texts():
    """Every stored file, raw and, where we hold the key, decrypted."""
    root = Path(settings.MEDIA_ROOT)
    stores = {"attachments": attachments.storage, "recordings": recordings.storage}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        relative = path.relative_to(root).as_posix()
        data = path.read_bytes()
        yield relative, data
        folder = relative.split("/")[0]
        if folder in stores:
            yield relative, stores[folder].read(relative)
        elif folder == exports.EXPORT_DIR:
            yield relative, crypto.decrypt_bytes(data, f"export:{path.name}")


def _found(values: list[str]) -> list[tuple[str, str]]:
    wanted = [value.lower() for value in values]
    hits = []
    for where, text in _database_texts():
        text = text.lower()
        hits += [(where, value) for value in wanted if value in text]
    for where, data in _file_texts():
        text = data.decode("utf-8", "replace").lower()
        hits += [(where, value) for value in wanted if value in text]
    return hits


@pytest.fixture
def world(anna, newsletter, north):
    channel = Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Telegram", team=north,
                                     credentials="1:x", api_base_url="http://127.0.0.1:9")
    mail_channel = Channel.objects.create(kind=Channel.Kind.EMAIL, name="Почта", team=north)
    account = PbxAccount.objects.create(name="Mango", team=north,
                                        api_base_url="http://127.0.0.1:9/vpbx/")
    common = {"owner": anna, "channel": channel, "mail_channel": mail_channel,
              "account": account, "newsletter": newsletter}
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
    assert {value for _where, value in _found(erased.values())} == \
        {value.lower() for value in erased.values()}, "the scan must see every value before"

    _erase(erased, director, django_capture_on_commit_callbacks, request=erased.request)

    hits = _found(erased.values())
    assert not hits, hits
    assert {value for _where, value in _found(other.values())} == \
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
