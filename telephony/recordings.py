"""Call recordings: announced by the PBX (events/record/added), fetched by a worker, kept
encrypted in the file store (security.files: MEDIA_ROOT or object storage), streamed to
whoever may see the call's deal.

`recording_ready` is called by the processing of events/record/added: it creates the
Recording row once and queues the fetch after commit. When the call itself is not known yet
(the PBX's events may arrive in any order) it raises CallNotYetKnown and stores nothing, so
the event fails and is processed again later.

Fetching (`fetch`, run by the `telephony.fetch_recording` task) is idempotent: a recording
already stored, or already refused, is not fetched again. A ProviderError that may pass (429,
5xx, network, a used-up link) is raised for the task to retry; a permanent one, or a file over
TELEPHONY_MAX_RECORDING_BYTES, is recorded in `fetch_error`. The provider's one-time download
link is never stored, logged or shown: only the bytes are kept, with their sha256.
"""

import hashlib
import logging

from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from core import events as crm_events
from core.tasks import delay_on_commit
from security import files
from telephony.models import Call, Recording
from telephony.providers.base import ProviderError, RecordingReady, provider_for
from telephony.providers.mango_client import max_recording_bytes, normalize_mime

logger = logging.getLogger("telephony")

RECORDING_DIR = "recordings"
storage = files.EncryptedFiles(RECORDING_DIR, "recording")

# What the stream may say it is: audio a browser plays and cannot run as script.
AUDIO_TYPES = frozenset({"audio/mpeg", "audio/ogg", "audio/wav", "audio/mp4", "audio/webm"})


class CallNotYetKnown(Exception):
    """A recording of a call whose events have not been processed yet: retry the event."""


class RecordingUnavailable(files.FileUnavailable):
    """The recording is not stored (yet), or what is stored cannot be read back."""


def recording_ready(*, account, event: RecordingReady) -> Recording:
    """The PBX says a recording of the call can be downloaded: note it, fetch it later."""
    with transaction.atomic():
        call = Call.objects.filter(account=account, entry_id=event.entry_id).first()
        if call is None:
            raise CallNotYetKnown(
                f"no call {event.entry_id!r} yet on account {account.pk}: the recording's "
                "event is processed again later")
        recording, created = Recording.objects.get_or_create(
            call=call, recording_id=event.recording_id)
        if created or not (recording.file_path or recording.fetch_error):
            from telephony.recording_tasks import fetch_recording

            delay_on_commit(fetch_recording, recording.pk)
    return recording


def content_type(recording: Recording) -> str:
    mime = normalize_mime(recording.mime_type)
    return mime if mime in AUDIO_TYPES else "application/octet-stream"


def open_decrypted(recording: Recording) -> bytes:
    if not recording.file_path:
        raise RecordingUnavailable("the recording is not stored")
    try:
        return storage.read(recording.file_path)
    except files.FileUnavailable as e:
        logger.error("recording %s is unreadable: %s", recording.pk, e)
        raise RecordingUnavailable(str(e)) from None


def _changed(recording: Recording) -> None:
    """Tell an open deal card that the call's entry changed (the player is there, or why
    not): the same event as the call's own changes (telephony.services), which the card's
    script answers by fetching the entry again."""
    from crm.selectors import timeline_entry_for

    call = recording.call
    entry = timeline_entry_for(source=call, kind="call") if call.deal_id else None
    if entry is not None:
        crm_events.send_after_commit(crm_events.deal_group(call.deal_id), {
            "type": "call.updated", "deal": call.deal_id, "call": call.pk, "entry": entry.pk,
        })


def _failed(recording: Recording, reason: str) -> bool:
    with transaction.atomic():
        done = Recording.objects.filter(pk=recording.pk, file_path="", fetch_error="") \
            .update(fetch_error=reason[:300])
        if done:
            _changed(recording)
    return bool(done)


def fetch(*, recording_id: int) -> bool:
    """Fetch one recording from its PBX and store it encrypted. True when this call stored or
    refused it; False when there was nothing to do. Raises ProviderError when retrying may
    help."""
    recording = (Recording.objects.select_related("call__account")
                 .filter(pk=recording_id).first())
    if recording is None or recording.file_path or recording.fetch_error:
        return False
    limit = max_recording_bytes()
    provider = provider_for(recording.call.account)
    try:
        data, mime = provider.fetch_recording(recording.recording_id)
    except ProviderError as exc:
        if not exc.permanent:
            raise
        return _failed(recording, exc.message)
    if len(data) > limit:
        return _failed(recording, _("The recording is larger than %(limit)s and was not "
                                    "downloaded.") % {"limit": filesizeformat(limit)})
    if not data:
        return _failed(recording, _("The PBX sent an empty recording."))
    relative = storage.store(data)
    with transaction.atomic():
        stored = Recording.objects.filter(pk=recording.pk, file_path="").update(
            file_path=relative, mime_type=normalize_mime(mime)[:100], size=len(data),
            sha256=hashlib.sha256(data).hexdigest(), fetch_error="", fetched_at=timezone.now(),
        )
        if stored:
            _changed(recording)
    if not stored:  # a concurrent run got there first
        storage.delete(relative)
    return bool(stored)


def fetch_gave_up(*, recording_id: int, reason: str) -> None:
    """The retries ran out: the recording keeps the provider's last error."""
    recording = Recording.objects.select_related("call").filter(pk=recording_id).first()
    if recording is not None:
        _failed(recording, reason)
