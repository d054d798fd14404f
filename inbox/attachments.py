"""The files of messages: kept encrypted in the file store (MEDIA_ROOT or object storage),
fetched from the provider after an inbound message is stored, read back for a download or an
outbound send.

A file is `attachments/<yyyy>/<mm>/<random>.bin`, encrypted by security.files: the name says
nothing of the client, the message or the file's name, and a file copied over another
attachment's does not decrypt there. The name, MIME type, size and sha256 (of the
plaintext) are on the row.

Fetching (`fetch_message`, run by the `inbox.fetch_attachments` task) is idempotent: an
attachment already stored, or already refused, is not fetched again. A ProviderError that may
pass (429, 5xx, network) is raised for the task to retry; a permanent one, or a file over
INBOX_MAX_ATTACHMENT_BYTES, is recorded in `fetch_error`.
"""

import hashlib
import json
import logging
import re
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from core import events as crm_events
from inbox.models import Attachment, InboundEvent, Message
from inbox.providers.base import ProviderError, SendResult, provider_for
from security import files

logger = logging.getLogger("inbox")

ATTACHMENT_DIR = "attachments"
# The Bot API hands bots files of at most 20 MB; sendDocument takes up to 50 MB.
DEFAULT_MAX_INBOUND_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
NAME_LIMIT = 255

# Types a browser may be told as they are: they cannot run script in our origin. Anything
# else (HTML, SVG, XML, JavaScript...) goes out as application/octet-stream.
INLINE_TYPES = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp",
    "audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac", "audio/wav", "audio/webm",
    "audio/x-m4a",
    "video/mp4", "video/webm", "video/quicktime", "video/ogg",
    "application/pdf",
})


class AttachmentUnavailable(files.FileUnavailable):
    """The file is not stored (yet), or what is stored cannot be read back."""


def max_inbound_bytes() -> int:
    return getattr(settings, "INBOX_MAX_ATTACHMENT_BYTES", DEFAULT_MAX_INBOUND_BYTES)


def max_upload_bytes() -> int:
    return getattr(settings, "INBOX_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES)


# --- Names and types -------------------------------------------------------------------------

_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')


def safe_name(name: str, default: str = "file") -> str:
    """A file name fit to store, show and put in a Content-Disposition: the last component
    of whatever path the client sent, without control or markup characters, without leading
    dots (no hidden files, no `..`), at most NAME_LIMIT characters with the extension kept."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE_NAME_CHARS.sub("_", name)
    # Bidirectional overrides make `exe.pdf` of `fdp.exe`.
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cf", "Cc"))
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name.strip("_"):
        return default
    if len(name) > NAME_LIMIT:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = f"{stem[:NAME_LIMIT - len(extension) - 1]}.{extension}"
        else:
            name = name[:NAME_LIMIT]
    return name


def safe_content_type(mime_type: str) -> str:
    """The stored MIME type when it is one a browser may render safely, else a download."""
    mime_type = (mime_type or "").split(";")[0].strip().lower()
    return mime_type if mime_type in INLINE_TYPES else "application/octet-stream"


# --- Storage ---------------------------------------------------------------------------------

# Encrypted into the file store by security.files (shared with recordings and exports).
storage = files.EncryptedFiles(ATTACHMENT_DIR, "attachment")


def store_encrypted(data: bytes) -> str:
    """Encrypt `data` into a new file in the file store; returns its name there."""
    return storage.store(data)


def delete_file(relative: str) -> None:
    storage.delete(relative)


def open_decrypted(attachment: Attachment) -> bytes:
    """The plaintext of a stored attachment; AttachmentUnavailable when there is none (not
    fetched yet, failed) or the file is missing, altered or under a key no longer held."""
    if not attachment.file_path:
        raise AttachmentUnavailable("the file is not stored")
    try:
        return storage.read(attachment.file_path)
    except files.FileUnavailable as e:
        logger.error("attachment %s is unreadable: %s", attachment.pk, e)
        raise AttachmentUnavailable(str(e)) from None


def attach(*, message: Message, data: bytes, name: str, mime_type: str,
           kind: str = "document") -> Attachment:
    """Store `data` encrypted as a new attachment of `message` (an outbound file)."""
    relative = store_encrypted(data)
    try:
        return Attachment.objects.create(
            message=message, file_path=relative, name=safe_name(name),
            mime_type=(mime_type or "application/octet-stream")[:100], size=len(data),
            sha256=hashlib.sha256(data).hexdigest(), kind=kind,
        )
    except BaseException:
        delete_file(relative)
        raise


def read_upload(upload) -> bytes:
    """The bytes of a file the manager attached, or ValidationError on the `file` field."""
    limit = max_upload_bytes()
    if upload.size > limit:
        raise ValidationError({"file": _(
            "The file is too large: %(size)s. The most one message may carry is %(limit)s."
        ) % {"size": filesizeformat(upload.size), "limit": filesizeformat(limit)}})
    if not upload.size:
        raise ValidationError({"file": _("The file is empty.")})
    data = upload.read(limit + 1)
    if len(data) > limit:  # the declared size lied
        raise ValidationError({"file": _(
            "The file is too large. The most one message may carry is %(limit)s."
        ) % {"limit": filesizeformat(limit)}})
    return data


# --- Fetching from the provider --------------------------------------------------------------


def _pending(message_id: int):
    return Attachment.objects.filter(message_id=message_id, file_path="", fetch_error="") \
        .exclude(provider_file_id="")


def _fetch_failed(attachment: Attachment, reason: str) -> None:
    Attachment.objects.filter(pk=attachment.pk, file_path="").update(fetch_error=reason[:300])


def _changed(message_id: int) -> None:
    """Tell the deal card to show the message again (its file is there, or failed)."""
    deal_id = (Message.objects.filter(pk=message_id)
               .values_list("conversation__deal_id", flat=True).first())
    if deal_id is not None:
        crm_events.send_after_commit(crm_events.deal_group(deal_id), {
            "type": "message.attachment", "deal": deal_id, "message": message_id,
        })


def _delivery_of(message: Message) -> dict:
    """The stored delivery a message came in (its id is the message's), or nothing."""
    payload = (InboundEvent.objects.filter(channel_id=message.channel_id,
                                           provider_event_id=message.external_id)
               .values_list("payload", flat=True).first())
    return json.loads(payload) if payload else {}


def fetch(*, attachment: Attachment) -> bool:
    """Fetch one inbound attachment from its provider and store it. True when this call
    stored or refused it; False when there was nothing to do. Raises ProviderError when
    retrying may help."""
    attachment = (Attachment.objects.select_related("message__channel")
                  .filter(pk=attachment.pk).first())
    if attachment is None or attachment.file_path or attachment.fetch_error \
            or not attachment.provider_file_id:
        return False
    limit = max_inbound_bytes()
    too_large = _("The file is larger than %(limit)s and was not downloaded.") % {
        "limit": filesizeformat(limit)}
    if attachment.size > limit:
        _fetch_failed(attachment, too_large)
        return True
    provider = provider_for(attachment.message.channel)
    try:
        if provider.polled:
            data = provider.media_in(_delivery_of(attachment.message),
                                     attachment.provider_file_id, max_bytes=limit)
        else:
            data = provider.fetch_media(attachment.provider_file_id, max_bytes=limit)
    except ProviderError as exc:
        if not exc.permanent:
            raise
        _fetch_failed(attachment, exc.message)
        return True
    if len(data) > limit:
        _fetch_failed(attachment, too_large)
        return True
    relative = store_encrypted(data)
    stored = Attachment.objects.filter(pk=attachment.pk, file_path="").update(
        file_path=relative, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        name=safe_name(attachment.name, default=attachment.kind or "file"), fetch_error="",
    )
    if not stored:  # a concurrent run got there first
        delete_file(relative)
    return bool(stored)


def fetch_message(*, message_id: int) -> int:
    """Fetch every attachment of an inbound message still waiting; how many were settled.
    Raises ProviderError (retryable) at the first file that may work later."""
    settled = 0
    try:
        for attachment in _pending(message_id).order_by("pk"):
            settled += fetch(attachment=attachment)
    finally:
        if settled:
            with transaction.atomic():
                _changed(message_id)
    return settled


def fetch_gave_up(*, message_id: int, reason: str) -> None:
    """The retries ran out: the files still waiting keep the provider's last error."""
    with transaction.atomic():
        if _pending(message_id).update(fetch_error=reason[:300]):
            _changed(message_id)


# --- Sending ---------------------------------------------------------------------------------


def send(*, provider, attachment: Attachment, to: str, caption: str = "",
         idempotency_key: str = "", **threading) -> SendResult:
    """Send a stored attachment through `provider`; an unreadable file is a permanent error.
    `threading`: an e-mail's thread (Provider.threaded)."""
    try:
        content = open_decrypted(attachment)
    except AttachmentUnavailable:
        raise ProviderError(_("The file could not be read from storage."),
                            permanent=True) from None
    return provider.send_file(to=to, name=safe_name(attachment.name), content=content,
                              mime_type=attachment.mime_type, caption=caption,
                              idempotency_key=idempotency_key, **threading)
