"""E-mail: a mailbox read over IMAP and written from over SMTP (inbox/providers/mail/).

Inbound there is no webhook: inbox/mailboxes.py reads the mailbox and stores each new mail as
an inbound event (`delivery`: the raw bytes in base64 under "raw", with the folder's
UIDVALIDITY and the mail's UID), and the drain parses it here like any provider's delivery;
the mail's files are read from it too (`media_in`). A mail becomes a message of its
sender (threaded by inbox.routing.threads_for), a bounce marks our message failed and the
address undeliverable, and mail from our own address is nobody's.

Outbound a reply goes out with its thread (`MailThread`): "Re:" and the subject, In-Reply-To
and References, the quoted history, our address plus the conversation's token as Reply-To,
and a Message-ID made from the message, the same for every attempt of it (a retry after a
cut-off send is recognizable as the same mail).
"""

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from django.utils import timezone
from django.utils.html import escape as html_escape
from django.utils.translation import gettext as _

from core.providers import ProviderError
from inbox.providers.base import (
    ClientUnreachable,
    DeliveryStatus,
    InboundAttachment,
    InboundMessage,
    MailThread,
    NormalizedEvent,
    Provider,
    SendResult,
    Unsubscribed,
    obj,
    text,
)
from inbox.providers.mail import html as mail_html
from inbox.providers.mail import imap, local, smtp
from inbox.providers.mail import parse as mail_parse
from inbox.providers.mail import threading as mail_threading

logger = logging.getLogger("inbox.mail")


def _raw_of(payload: dict) -> bytes:
    try:
        return base64.b64decode(text(obj(payload).get("raw")), validate=True)
    except (binascii.Error, ValueError):
        return b""


class EmailProvider(Provider):
    kind = "email"
    text_limit = 20_000  # what a message holds (Message.text)
    threaded = True
    polled = True
    contact_point_kind = "email"

    @property
    def mailbox(self):
        return self.channel.mailbox

    @property
    def is_local(self) -> bool:
        return self.mailbox.server == "local"

    def opened(self):
        """A context manager: the folder to read, by UID (imap.FolderReader's interface)."""
        return (local.opened if self.is_local else imap.opened)(self.mailbox)

    def test_connection(self) -> list[str]:
        """What the servers answer to the settings; ProviderError when one refuses."""
        if self.is_local:
            return [local.test_connection(self.mailbox)]
        return [imap.test_connection(self.mailbox), smtp.test_connection(self.mailbox)]

    # --- Inbound ---------------------------------------------------------------------------

    def parse(self, payload: dict) -> list[NormalizedEvent]:
        raw = _raw_of(payload)
        if not raw:
            return []
        mail = mail_parse.parse(raw)
        own = self.mailbox.address.lower()
        if mail.bounce is not None:
            return self._bounce(mail)
        if not mail.sender or mail.sender == own:
            return []  # our own mail (a copy, a loop), or nobody's: no client wrote it
        tag = mail_threading.token_in(mail.all_recipients, own)
        if tag.startswith("u"):  # to the List-Unsubscribe address of a campaign mail
            return [Unsubscribed(token=tag, evidence={
                "message_id": mail.message_id[:300], "from": mail.sender,
                "subject": mail.subject[:300],
                "at": (mail.sent_at or timezone.now()).isoformat()})]
        event_id = mail_parse.mail_key(raw, mail.message_id)
        body = mail.text
        if obj(payload).get("headers_only"):
            body = (body + "\n\n" if body else "") + _(
                "(This mail is larger than the CRM takes; its text and files are in the "
                "mailbox.)")
        if mail.invitation is not None and not body:
            body = mail.invitation.summary
        answers = tuple(mail_parse.message_key(found) for found in
                        ([mail.in_reply_to] if mail.in_reply_to else [])
                        + list(reversed(mail.references)) if found)
        sent_at = min(mail.sent_at or timezone.now(), timezone.now())
        return [InboundMessage(
            external_id=event_id, sender_id=mail.sender,
            sender_name=mail.sender_name or mail.sender.partition("@")[0],
            text=body, sent_at=sent_at, email=mail.sender, automatic=mail.automatic,
            answers=tuple(dict.fromkeys(answers)),
            thread_token=tag,
            subject_key=mail_threading.subject_key(mail.subject),
            attachments=tuple(
                InboundAttachment(kind=_kind(a.mime_type), file_id=a.index,
                                  name=a.name, mime_type=a.mime_type, size=a.size)
                for a in mail.attachments),
            mail={
                "mail_id": mail.message_id[:998], "in_reply_to": mail.in_reply_to[:998],
                "references": " ".join(mail.references), "subject": mail.subject,
                "sender": mail.sender, "sender_name": mail.sender_name,
                "recipients": json.dumps({"to": mail.to, "cc": mail.cc}),
                "html": mail.html, "quoted": mail.quoted,
                "inline": {a.content_id: a.index for a in mail.attachments if a.content_id},
                "automatic": mail.automatic,
                "invitation": asdict(mail.invitation) if mail.invitation else None,
            },
        )]

    def _bounce(self, mail) -> list[NormalizedEvent]:
        bounce = mail.bounce
        reason = _("Undeliverable: %(status)s %(diagnostic)s") % {
            "status": bounce.status, "diagnostic": bounce.diagnostic}
        events: list[NormalizedEvent] = []
        if bounce.original_message_id:
            events.append(DeliveryStatus(
                external_id=mail_parse.message_key(bounce.original_message_id),
                status="failed", at=mail.sent_at or datetime.now(tz=UTC), error=reason.strip()))
        if bounce.permanent:
            events.append(ClientUnreachable(sender_id=bounce.recipient, reason=reason.strip()))
        return events

    def delivery(self, *, uidvalidity: int, fetched: imap.FetchedMail) -> tuple[str, str, str]:
        """The inbound event of a mail read from the mailbox: its id (the Message-ID's key, or
        the hash of a mail without one: the same mail read twice is one event), type and
        payload (the raw bytes in base64: mail is bytes, not text)."""
        event_id = mail_parse.mail_key(fetched.raw, mail_parse.message_id_of(fetched.raw))
        payload = {"uidvalidity": uidvalidity, "uid": fetched.uid, "size": fetched.size,
                   "raw": base64.b64encode(fetched.raw).decode("ascii")}
        if fetched.headers_only:
            payload["headers_only"] = True
        return event_id, "mail", json.dumps(payload)

    def media_in(self, delivery: dict, file_id: str, *, max_bytes: int | None = None) -> bytes:
        """A file of a mail (`file_id`: its part), from the stored delivery; from the mailbox
        for a mail stored by its headers only."""
        raw = _raw_of(delivery)
        if obj(delivery).get("headers_only") and not self.is_local:
            raw = imap.fetch_raw(self.mailbox, int(delivery["uid"]))
        if not raw:
            raise ProviderError("the mail is no longer stored", permanent=True)
        try:
            content, _type = mail_parse.part_bytes(raw, file_id)
        except KeyError:
            raise ProviderError("the mail has no such part", permanent=True) from None
        if max_bytes is not None and len(content) > max_bytes:
            raise ProviderError("the file is over the size limit", permanent=True)
        return content

    # --- Outbound --------------------------------------------------------------------------

    def message_id_for(self, idempotency_key: str) -> str:
        return f"crm.{self.channel.uuid.hex[:12]}.{idempotency_key}@{self.mailbox.domain}"

    def compose(self, *, to: str, text: str, idempotency_key: str,
                thread: MailThread | None) -> EmailMessage:
        mailbox = self.mailbox
        thread = thread or MailThread(subject="")
        message = EmailMessage()
        message["From"] = formataddr((self.channel.name, mailbox.address))
        message["To"] = to
        if thread.reply_token:
            message["Reply-To"] = mail_threading.tagged_address(mailbox.address,
                                                                thread.reply_token)
        message["Subject"] = thread.subject or self.channel.name
        message["Date"] = format_datetime(timezone.now())
        message_id = self.message_id_for(idempotency_key or timezone.now().strftime("%s%f"))
        message["Message-ID"] = f"<{message_id}>"
        if thread.unsubscribe:
            message["List-Unsubscribe"] = thread.unsubscribe
            message["Precedence"] = "bulk"  # auto-replies to a campaign are not sent back
        if thread.in_reply_to:
            message["In-Reply-To"] = f"<{thread.in_reply_to}>"
            references = [ref for ref in thread.references if ref] or [thread.in_reply_to]
            message["References"] = " ".join(f"<{ref}>" for ref in references[-20:])
        body = text.rstrip()
        if thread.quoted:
            body += "\n\n" + thread.quoted
        message.set_content(body + "\n")
        # The same with its simple formatting (paragraphs, bold, links, lists) for the mail
        # readers that show HTML.
        message.add_alternative(mail_html.from_plain(text.rstrip(), quoted=thread.quoted),
                                subtype="html")
        return message

    def send_text(self, *, to: str, text: str, reply_to_external_id: str = "",
                  idempotency_key: str = "", thread: MailThread | None = None) -> SendResult:
        return self._send(self.compose(to=to, text=text, idempotency_key=idempotency_key,
                                       thread=thread))

    def send_file(self, *, to: str, name: str, content: bytes, mime_type: str,
                  caption: str = "", idempotency_key: str = "",
                  thread: MailThread | None = None) -> SendResult:
        message = self.compose(to=to, text=caption, idempotency_key=idempotency_key,
                               thread=thread)
        maintype, _slash, subtype = (mime_type or "application/octet-stream").partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=name)
        return self._send(message)

    def _send(self, message: EmailMessage) -> SendResult:
        message_id = message["Message-ID"].strip("<>")
        if self.is_local:
            # The demo: filed in Sent, delivered nowhere.
            local.deliver(self.mailbox.address, message.as_bytes(),
                          folder=self.mailbox.sent_folder or "Sent")
            return SendResult(external_id=mail_parse.message_key(message_id))
        smtp.send(self.mailbox, message)
        if self.mailbox.sent_folder:
            try:
                imap.append(self.mailbox, self.mailbox.sent_folder, message.as_bytes())
            except ProviderError as exc:
                # Sent; only the copy for the mail client is missing.
                logger.warning(
                    "channel %s: no copy in %s: %s", self.channel.pk,
                    self.mailbox.sent_folder, exc.message)
        return SendResult(external_id=mail_parse.message_key(message_id))

    # --- The demo and simulate_inbound -------------------------------------------------------

    def simulated_mail(self, *, sender: str, text: str) -> bytes:
        """A mail from a made-up client named `sender` (the same name, the same address), as
        a mail program sends it: text and HTML alternatives, a signature, a small file."""
        digest = hashlib.sha256(sender.encode()).hexdigest()
        address = f"client.{digest[:8]}@mail.example"
        message = EmailMessage()
        message["From"] = formataddr((sender, address))
        message["To"] = self.mailbox.address
        message["Subject"] = text.splitlines()[0][:60] if text.strip() else "Вопрос"
        message["Date"] = format_datetime(timezone.now())
        message["Message-ID"] = f"<sim.{digest[:8]}.{timezone.now().timestamp():.6f}@mail.example>"
        message["X-Mailer"] = "simulate_inbound"
        signature = f"\n\n-- \n{sender}\n+7 900 000-00-00"
        message.set_content(text + signature)
        message.add_alternative(
            f"<div>{html_escape(text)}</div><div>--<br>{html_escape(sender)}</div>",
            subtype="html")
        message.add_attachment("Наименование;Количество\nКоробка;5\n".encode(),
                               maintype="text", subtype="csv", filename="заявка.csv")
        return message.as_bytes()

    def deliver_to_mailbox(self, raw: bytes) -> None:
        """Put a mail into the mailbox's folder as its mail server would (unseen)."""
        if self.is_local:
            local.deliver(self.mailbox.address, raw, folder=self.mailbox.folder)
        else:
            imap.append(self.mailbox, self.mailbox.folder, raw, seen=False)

    def setup_webhook(self, url: str) -> str:
        raise ProviderError(_("A mailbox is read by the CRM; it has no webhook."),
                            permanent=True)


def _kind(mime_type: str) -> str:
    if mime_type.startswith("image/"):
        return "photo"
    if mime_type.startswith("audio/"):
        return "audio"
    if mime_type.startswith("video/"):
        return "video"
    return "document"
