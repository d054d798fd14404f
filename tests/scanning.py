"""A client with a value in every place the product keeps one (`Client`), and the scan that
proves their values are nowhere (`found`): every text, char and JSON column of every table
(encrypted ones decrypted), a stored mail delivery also as the mail it holds, and every stored
file, raw and decrypted. The erasure test (tests/consents/test_erasure.py) scans the database
after an erasure, the sandbox test (tests/security/test_sandbox.py) a sandbox's database,
through a DB-API cursor on it."""

import base64
import json
import uuid
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection, models

from consents import services
from core import crypto
from core.fields import EncryptedTextField
from crm import services as crm
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
from telephony import recordings
from telephony.models import Call, CallbackCommand, CallEvent, PbxAccount, Recording


def surroundings(*, owner, team, newsletter, bot_token: str = "1:x", pbx_key: str = "") -> dict:
    """What every Client of a test stands in: a Telegram and a mail channel and a PBX account
    of `team` (the providers unreachable), `owner` and the consent purpose; as Client's
    keyword arguments. `bot_token` and `pbx_key`: the credentials, for a test of their fate."""
    channel = Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Telegram", team=team,
                                     credentials=bot_token, api_base_url="http://127.0.0.1:9")
    mail_channel = Channel.objects.create(kind=Channel.Kind.EMAIL, name="Почта", team=team)
    account = PbxAccount.objects.create(name="Mango", team=team, api_key=pbx_key,
                                        api_base_url="http://127.0.0.1:9/vpbx/")
    return {"owner": owner, "channel": channel, "mail_channel": mail_channel,
            "account": account, "newsletter": newsletter}


class Client:
    """One client with a value in every place the product keeps one (in `surroundings`)."""

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
    return [f for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))]


def _as_text(field, value) -> str:
    if isinstance(field, EncryptedTextField):
        return crypto.decrypt(value, field.purpose)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def database_texts(cursor=None):
    """(table, text) of every non-empty text value of every row of every table; `cursor`, a
    DB-API cursor on another database of the same schema (default: the test database)."""
    if cursor is None:
        with connection.cursor() as own:
            yield from database_texts(own)
        return
    cursor.execute(f'SELECT payload FROM "{InboundEvent._meta.db_table}" '
                   "WHERE payload LIKE '%%\"raw\"%%'")
    for (payload,) in cursor.fetchall():
        yield "inbox.InboundEvent (the mail)", base64.b64decode(
            json.loads(payload)["raw"]).decode("utf-8", "replace")
    for model in apps.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:
            continue
        fields = _text_fields(model)
        if not fields:
            continue
        columns = ", ".join(f'"{field.column}"' for field in fields)
        cursor.execute(f'SELECT {columns} FROM "{model._meta.db_table}"')
        for row in cursor.fetchall():
            for field, value in zip(fields, row, strict=True):
                if value not in (None, ""):
                    yield model._meta.label, _as_text(field, value)


def file_texts(root: Path | None = None):
    """Every stored file under `root` (default: MEDIA_ROOT), raw and, where we hold the key,
    decrypted."""
    root = Path(root or settings.MEDIA_ROOT)
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


def found(values: list[str], *, cursor=None, files: bool = True) -> list[tuple[str, str]]:
    """(where, value) for each of `values` found, case aside, in the database (through
    `cursor`, else the test database) and, with `files`, in the stored files."""
    wanted = [value.lower() for value in values]
    hits = []
    for where, text in database_texts(cursor):
        text = text.lower()
        hits += [(where, value) for value in wanted if value in text]
    for where, data in (file_texts() if files else ()):
        text = data.decode("utf-8", "replace").lower()
        hits += [(where, value) for value in wanted if value in text]
    return hits
