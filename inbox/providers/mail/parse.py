"""A raw e-mail (RFC 5322 bytes, as an IMAP server hands it out) read into what the inbox
needs: who wrote, what it answers, the new text apart from the quoted history, a sanitized
HTML body, the files, and whether it is a person's mail at all (an auto-reply, a bounce).

Mail is untrusted and often malformed: headers in raw Windows-1251, a charset nobody knows,
a broken MIME tree. Nothing here raises on what a sender wrote: a part that cannot be read is
left out, a header that cannot be decoded is read as well as it can be.

The message is read with the `compat32` policy and its headers decoded here (`header`): the
default policy builds a parsed header object on every access, which made most of the cost of
reading a mailbox (about 7 ms a mail of the 10,000-mail bench, against 1 ms now).
"""

import email
import email.errors
import email.header
import email.parser
import email.policy
import email.utils
import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message

from inbox.providers.mail import html as mail_html

# Encodings tried, in order, for bytes that declare none or a wrong one (Russian mail: UTF-8,
# then Windows-1251; KOI8-R is always declared when used).
FALLBACK_CHARSETS = ("utf-8", "windows-1251")
# The ids a Message-ID, an In-Reply-To or References may hold.
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,998})>")
# The longest id kept as it is; a longer one is kept by its hash (the message's unique key).
ID_LIMIT = 100


@dataclass(frozen=True)
class MailAttachment:
    index: str  # the part's place in the MIME tree ("2", "2.1"...): how it is fetched again
    name: str
    mime_type: str
    size: int
    content_id: str = ""  # an inline image's cid, which the HTML refers to


@dataclass(frozen=True)
class Bounce:
    """A delivery status notification: our mail to `recipient` did not arrive."""

    recipient: str
    status: str  # "5.1.1"...
    diagnostic: str
    original_message_id: str  # our message's id, when the report quotes it
    permanent: bool


@dataclass(frozen=True)
class Invitation:
    method: str  # REQUEST, CANCEL, REPLY
    summary: str
    start: str
    end: str
    location: str
    organizer: str


@dataclass(frozen=True)
class ParsedMail:
    message_id: str
    in_reply_to: str
    references: tuple[str, ...]
    subject: str
    sender: str  # the address, lower case
    sender_name: str
    reply_to: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    sent_at: datetime | None
    text: str  # what the sender wrote this time
    quoted: str  # the history and signature under it, folded away in the card
    html: str  # sanitized; empty when the mail has no HTML body
    attachments: tuple[MailAttachment, ...] = field(default_factory=tuple)
    automatic: bool = False  # an auto-reply, a bounce, a list's mail: nobody is waiting
    bounce: Bounce | None = None
    invitation: Invitation | None = None

    @property
    def all_recipients(self) -> tuple[str, ...]:
        return self.to + self.cc


def message_key(message_id: str) -> str:
    """The stored key of a Message-ID (Message.external_id, the inbound event's id)."""
    if len(message_id) <= ID_LIMIT:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()


def mail_key(raw: bytes, message_id: str) -> str:
    """A mail's key (its inbound event's and its message's id): its Message-ID's, or for a
    mail without one the hash of its bytes (the same mail twice, once)."""
    if message_id:
        return message_key(message_id)
    return "raw:" + hashlib.sha256(raw).hexdigest()


def message_id_of(raw: bytes) -> str:
    """The Message-ID of a raw mail, reading its headers only."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    return _first_id(header(headers, "Message-ID"))


def parse(raw: bytes) -> ParsedMail:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    text_body, html_body = _bodies(message)
    if not text_body and html_body:
        text_body = mail_html.to_text(html_body)
    new_text, quoted = split_quoted(text_body)
    sender_name, sender = _address(header(message, "From"))
    return ParsedMail(
        message_id=_first_id(header(message, "Message-ID")),
        in_reply_to=_first_id(header(message, "In-Reply-To")),
        references=tuple(_MESSAGE_ID.findall(header(message, "References")))[-50:],
        subject=_one_line(header(message, "Subject"))[:998],
        sender=sender,
        sender_name=sender_name,
        reply_to=_addresses(message, "Reply-To"),
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        sent_at=_date(header(message, "Date")),
        text=new_text,
        quoted=quoted,
        html=mail_html.sanitize(html_body) if html_body else "",
        attachments=tuple(_attachments(message)),
        automatic=is_automatic(message),
        bounce=_bounce(message),
        invitation=_invitation(message),
    )


# --- Headers ---------------------------------------------------------------------------------


def header(message: Message, name: str) -> str:
    """A header's decoded value; raw 8-bit bytes (unencoded Windows-1251 is common) read as
    UTF-8 or else Windows-1251; empty when missing or unreadable."""
    raw = next((value for key, value in message.raw_items() if key.lower() == name.lower()),
               None)
    if raw is None:
        return ""
    return decode_words(str(raw))


_FOLD = re.compile(r"\r?\n(?=[ \t])")


def decode_words(raw: str) -> str:
    """A raw header value unfolded, its RFC 2047 encoded words decoded; 8-bit bytes where
    only ASCII may be (unencoded Windows-1251 is common) read as UTF-8 or Windows-1251.
    PostgreSQL stores no NUL in text: a value holding one loses it."""
    return _decode_words(raw).replace("\x00", "")


def _decode_words(raw: str) -> str:
    raw = _FOLD.sub("", raw)
    if any("\udc80" <= char <= "\udcff" for char in raw):
        return _decode_bytes(raw.encode("utf-8", "surrogateescape"))
    if "=?" not in raw:
        return raw
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except (LookupError, UnicodeDecodeError, ValueError, email.errors.HeaderParseError):
        return raw


def _one_line(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()


def _first_id(value: str) -> str:
    found = _MESSAGE_ID.search(value)
    if found:
        return found.group(1)
    value = value.strip()
    return value if value and " " not in value and len(value) <= 998 else ""


def _address(value: str) -> tuple[str, str]:
    name, address = email.utils.parseaddr(value)
    address = address.strip().lower()
    if "@" not in address or len(address) > 254:
        address = ""
    return _one_line(name)[:200], address


def _addresses(message: Message, name: str) -> tuple[str, ...]:
    found = []
    for _name, address in email.utils.getaddresses([header(message, name)]):
        address = address.strip().lower()
        if "@" in address and len(address) <= 254 and address not in found:
            found.append(address)
    return tuple(found[:100])


def _date(value: str) -> datetime | None:
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?reply|autoreply|out of (the )?office|"
    r"автоответ|автоматический ответ|нет на месте)\b", re.IGNORECASE)


def is_automatic(message: Message) -> bool:
    """Sent by a machine on its own (RFC 3834's Auto-Submitted, Precedence, the auto-reply
    headers of Exchange and mail.ru, a delivery report): answering it can only start a loop."""
    auto_submitted = header(message, "Auto-Submitted").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if header(message, "Precedence").strip().lower() in ("bulk", "junk", "list", "auto_reply"):
        return True
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response", "X-Autogenerated"):
        if header(message, name):
            return True
    if message.get_content_type() == "multipart/report":
        return True
    return bool(AUTO_SUBJECT.match(header(message, "Subject")))


# --- Bodies ----------------------------------------------------------------------------------


def _decode_bytes(data: bytes, charset: str = "") -> str:
    for candidate in ((charset,) if charset else ()) + FALLBACK_CHARSETS:
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", "replace")


def part_text(part: Message) -> str:
    """A text part's content in its declared charset (or the fallbacks)."""
    try:
        data = part.get_payload(decode=True)
        encoded = part.get_payload()
    except Exception:
        return ""
    if (isinstance(encoded, str) and part.get("Content-Transfer-Encoding", "").strip().lower()
            == "base64" and _NOT_BASE64.search(encoded)):
        data = encoded.encode("utf-8", "surrogateescape")  # not base64 after all: as sent
    if data is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = (part.get_content_charset() or "").strip().strip('"')
    text = _decode_bytes(data, charset)
    return text.replace("\r\n", "\n").replace("\x00", "")


_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=\s]")


def _is_attachment(part: Message) -> bool:
    try:
        disposition = part.get_content_disposition()
    except Exception:
        disposition = None
    return disposition == "attachment" or bool(disposition == "inline" and _filename(part))


def _bodies(message: Message) -> tuple[str, str]:
    """The first text/plain and text/html that are the message's own body (not a forwarded
    message's, not an attachment)."""
    plain = html_body = ""
    for part in _walk_own(message):
        content_type = part.get_content_type()
        if _is_attachment(part):
            continue
        if content_type == "text/plain" and not plain:
            plain = part_text(part)
        elif content_type == "text/html" and not html_body:
            html_body = part_text(part)
    return plain.strip("\n"), html_body


def _walk_own(message: Message):
    """The parts of this message, a forwarded message/rfc822 included as one attachment but
    not walked into (its body is not ours)."""
    yield message
    if message.get_content_type() == "message/rfc822":
        return
    if message.is_multipart():
        try:
            payload = message.get_payload()
        except Exception:
            return
        for part in payload if isinstance(payload, list) else []:
            if isinstance(part, Message):
                yield from _walk_own(part)


def walk_indexed(message: Message, prefix: str = ""):
    """Every leaf part with its place in the tree ("1", "2.1"), as IMAP numbers them; a
    forwarded message is one leaf."""
    if message.is_multipart() and message.get_content_type() != "message/rfc822":
        payload = message.get_payload()
        for number, part in enumerate(payload if isinstance(payload, list) else [], start=1):
            if isinstance(part, Message):
                yield from walk_indexed(part, f"{prefix}.{number}" if prefix else str(number))
    else:
        yield (prefix or "1"), message


def _attachments(message: Message) -> list[MailAttachment]:
    found = []
    for index, part in walk_indexed(message):
        content_type = part.get_content_type()
        content_id = _first_id(header(part, "Content-ID"))
        forwarded = content_type == "message/rfc822"
        inline_image = content_type.startswith("image/") and content_id
        if not (_is_attachment(part) or forwarded or inline_image):
            continue
        if content_type in ("message/delivery-status", "text/rfc822-headers"):
            continue
        try:
            data = (part.as_bytes() if forwarded else part.get_payload(decode=True)) or b""
        except Exception:
            data = b""
        name = _one_line(decode_words(_filename(part))) if not forwarded else ""
        if forwarded:
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            subject = header(inner, "Subject") if isinstance(inner, Message) else ""
            name = f"{_one_line(subject)[:120] or 'message'}.eml"
        found.append(MailAttachment(index=index, name=name or f"part-{index}",
                                    mime_type=content_type[:100], size=len(data),
                                    content_id=content_id if inline_image else ""))
    return found[:100]


def _filename(part: Message) -> str:
    """The part's file name (RFC 2231 parameters decoded by the parser, encoded words here)."""
    try:
        name = part.get_filename() or ""
    except Exception:
        return ""
    return name if isinstance(name, str) else ""


def part_bytes(raw: bytes, index: str) -> tuple[bytes, str]:
    """The decoded content of part `index` of a raw message, and its type (a forwarded
    message as its bytes); KeyError when there is no such part."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    for found, part in walk_indexed(message):
        if found == index:
            if part.get_content_type() == "message/rfc822":
                payload = part.get_payload()
                inner = payload[0] if isinstance(payload, list) and payload else payload
                return (inner.as_bytes() if isinstance(inner, Message) else b""), "message/rfc822"
            return part.get_payload(decode=True) or b"", part.get_content_type()
    raise KeyError(index)


# --- The quoted history ------------------------------------------------------------------------

# Where the quoted history or the signature starts (Gmail, Outlook, Apple Mail, Yandex and
# mail.ru, in English and Russian).
_QUOTE_STARTS = re.compile(
    r"^(?:"
    r"-- ?$"  # the signature separator
    r"|-{2,}\s*(?:original message|исходное сообщение|пересылаемое сообщение|"
    r"forwarded message)\s*-{2,}"
    r"|_{10,}\s*$"  # Outlook's line before its From:/Sent: block
    r"|(?:from|от|sent|отправлено):\s.*$(?=\n(?:sent|to|date|отправлено|кому|дата):)"
    r"|on .{5,200} wrote:\s*$"
    # mail.ru: "Пятница, 4 декабря 2026, 15:15 +03:00 от Sales <sales@crm.test>:"
    r"|(?:понедельник|вторник|среда|четверг|пятница|суббота|воскресенье),.{5,200}:\s*$"
    # Yandex: '04.12.2026, 15:15, "Sales" <sales@crm.test>:'
    r"|\d{1,2}\.\d{1,2}\.\d{2,4},.{0,200}<[^>\s]+@[^>\s]+>:\s*$"
    r"|.{0,200}\b(?:писал|написал|пишет|wrote)(?:\(а\)|а)?\s*:\s*$"
    r"|>.*$"
    r")",
    re.IGNORECASE | re.MULTILINE,
)


def split_quoted(text: str) -> tuple[str, str]:
    """The new text, and the quoted history and signature under it (folded in the card). A
    mail that is only a quote (or starts with one) keeps its text whole."""
    text = text.replace("\r\n", "\n").strip()
    for match in _QUOTE_STARTS.finditer(text):
        start = match.start()
        head = text[:start].rstrip()
        if head:
            return head, text[start:].strip("\n")
        break
    return text, ""


# --- Reports and invitations -------------------------------------------------------------------


def _bounce(message: Message) -> Bounce | None:
    """RFC 3464: a multipart/report of report-type delivery-status; the first recipient
    whose action is `failed` (or a 5.x.x status), with the original's Message-ID."""
    if message.get_content_type() != "multipart/report":
        return None
    recipient = status = diagnostic = original = ""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status" and not recipient:
            for block in part.get_payload() if isinstance(part.get_payload(), list) else []:
                if not isinstance(block, Message):
                    continue
                action = header(block, "Action").strip().lower()
                block_status = header(block, "Status").strip()
                if action == "failed" or block_status.startswith("5"):
                    final = header(block, "Final-Recipient") or header(block,
                                                                       "Original-Recipient")
                    recipient = _address(final.partition(";")[2] or final)[1]
                    status = block_status[:20]
                    diagnostic = _one_line(header(block, "Diagnostic-Code")
                                           .partition(";")[2] or header(block,
                                                                        "Diagnostic-Code"))
                    break
        elif content_type == "message/rfc822" and not original:
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                original = _first_id(header(inner, "Message-ID"))
        elif content_type == "text/rfc822-headers" and not original:
            headers = email.message_from_string(part_text(part), policy=email.policy.compat32)
            original = _first_id(header(headers, "Message-ID"))
    if not recipient:
        return None
    return Bounce(recipient=recipient, status=status, diagnostic=diagnostic[:300],
                  original_message_id=original, permanent=not status.startswith("4"))


def _invitation(message: Message) -> Invitation | None:
    """A text/calendar part (an Outlook or Google Calendar invitation), read for what the card
    shows; the .ics stays an attachment."""
    for part in message.walk():
        if part.get_content_type() != "text/calendar":
            continue
        fields = _ical_fields(part_text(part))
        if "SUMMARY" not in fields and "DTSTART" not in fields:
            continue
        method = (part.get_param("method") or fields.get("METHOD", "REQUEST"))
        return Invitation(
            method=str(method).upper()[:20], summary=fields.get("SUMMARY", "")[:300],
            start=_ical_time(fields.get("DTSTART", "")), end=_ical_time(fields.get("DTEND", "")),
            location=fields.get("LOCATION", "")[:300],
            organizer=fields.get("ORGANIZER", "").removeprefix("mailto:")
            .removeprefix("MAILTO:")[:254],
        )
    return None


def _ical_fields(text: str) -> dict[str, str]:
    """The first value of each property of the first VEVENT (RFC 5545: lines folded with a
    leading space, parameters after ';', escaped ',', ';' and newlines)."""
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    fields: dict[str, str] = {}
    in_event = False
    for line in unfolded.splitlines():
        name, _colon, value = line.partition(":")
        name = name.partition(";")[0].strip().upper()
        if line.startswith("METHOD:"):
            fields.setdefault("METHOD", value.strip())
        if name == "BEGIN" and value.strip().upper() == "VEVENT":
            in_event = True
        elif name == "END" and value.strip().upper() == "VEVENT":
            break
        elif in_event and name and name not in fields:
            fields[name] = (value.replace("\\n", "\n").replace("\\N", "\n")
                            .replace("\\,", ",").replace("\\;", ";").strip())
    return fields


def _ical_time(value: str) -> str:
    """20261208T100000Z -> 2026-12-08 10:00 UTC; a date -> 2026-12-08; else as given."""
    found = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})\d{2}(Z?))?", value.strip())
    if not found:
        return html.unescape(value)[:50]
    year, month, day, hour, minute, utc = found.groups()
    if hour is None:
        return f"{year}-{month}-{day}"
    return f"{year}-{month}-{day} {hour}:{minute}" + (" UTC" if utc else "")
