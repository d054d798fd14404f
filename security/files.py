"""Files of client data kept encrypted in the file store, and serving them by byte ranges.

Shared by the inbox's attachments, telephony's call recordings and the exports. The store is
core.storage's "files": MEDIA_ROOT, or a bucket of S3-compatible object storage; the bytes are
encrypted here before they reach either. A file is `<folder>/<yyyy>/<mm>/<random>.bin`: the
name says nothing of the client or the record, and the bytes are `core.crypto.encrypt_bytes`
of the plaintext under a purpose naming the file (`<purpose>:<name>`), so a file copied over
another's does not decrypt there.
"""

import re
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.db.models.signals import post_delete
from django.utils import timezone

from core import crypto, storage

# ASCII only: `\d` would also take Arabic-Indic or full-width digits, which HTTP does not.
_RANGE = re.compile(r"^[ \t]*bytes[ \t]*=[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*$")
# Past any file we store. int() refuses strings of more than 4,300 digits (a ValueError, so a
# 500), and a huge number means the same as this one to a range of a file.
_BEYOND_ANY_FILE = 10**18


def _position(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < 19 else _BEYOND_ANY_FILE


class FileUnavailable(Exception):
    """The file is not stored, or what is stored cannot be read back."""


class EncryptedFiles:
    """The encrypted files of one kind: `EncryptedFiles("attachments", "attachment")`, each
    under the purpose `attachment:<name>`; or with `purpose_of`, a function of the name."""

    def __init__(self, folder: str, purpose: str = "", *,
                 purpose_of: Callable[[str], str] | None = None):
        self.folder = folder
        self.purpose = purpose
        self._purpose_of = purpose_of

    def _purpose(self, relative: str) -> str:
        if self._purpose_of is not None:
            return self._purpose_of(relative)
        return f"{self.purpose}:{relative}"

    def declared(self) -> tuple[str, Callable[[str], str]]:
        """As core.holdings.Holdings.encrypted_files takes it."""
        return self.folder, self._purpose

    def _checked(self, relative: str) -> str:
        if not relative.startswith(f"{self.folder}/") or ".." in relative.split("/"):
            raise FileUnavailable(f"not a file of {self.folder}: {relative!r}")
        return relative

    def path_of(self, relative: str) -> Path:
        """The file's path on this machine, where the store is the local disk."""
        try:
            return Path(storage.files().path(self._checked(relative)))
        except SuspiciousOperation:
            raise FileUnavailable(f"not a file of {self.folder}: {relative!r}") from None

    def store(self, data: bytes) -> str:
        """Encrypt `data` into a new file; returns its name in the store."""
        now = timezone.now()
        return self.write(f"{self.folder}/{now:%Y}/{now:%m}/{secrets.token_hex(16)}.bin", data)

    def write(self, relative: str, data: bytes) -> str:
        """Encrypt `data` into the file `relative`, whole or not at all."""
        token = crypto.encrypt_bytes(data, self._purpose(self._checked(relative)))
        return storage.files().write(relative, token)

    def read(self, relative: str) -> bytes:
        """The plaintext; FileUnavailable when there is no name, the file is missing or
        altered, or it is under a key no longer held."""
        if not relative:
            raise FileUnavailable("the file is not stored")
        try:
            token = storage.files().read(self._checked(relative))
            return crypto.decrypt_bytes(token, self._purpose(relative))
        except (OSError, crypto.DecryptionError, SuspiciousOperation) as e:
            raise FileUnavailable(str(e)) from None

    def delete(self, relative: str) -> None:
        if relative:
            try:
                storage.files().delete(self._checked(relative))
            except (FileUnavailable, SuspiciousOperation):
                pass

    def names(self) -> list[str]:
        """Every file of this kind in the store."""
        return list(storage.files().walk(self.folder))

    def modified(self, relative: str) -> datetime | None:
        """When the file was written; None when it is gone."""
        try:
            return storage.files().get_modified_time(self._checked(relative))
        except (OSError, FileUnavailable):
            return None

    def delete_with_rows_of(self, model) -> None:
        """A row of `model` (its file's name in `file_path`) takes its file along when it is
        deleted, once the deletion commits (a rollback keeps both), however it goes: erasure,
        retention, or a cascade from a contact deleted in the admin. Client data must not
        outlive its record in the store."""

        def delete_file(sender, instance, **kwargs):
            path = instance.file_path
            if path:
                transaction.on_commit(lambda: self.delete(path))

        post_delete.connect(delete_file, sender=model, weak=False,
                            dispatch_uid=f"security.files.{model._meta.label}")


def byte_range(request, size: int, etag: str) -> tuple[int, int] | None | bool:
    """(first, last) of a satisfiable single range; None to answer the whole file (no
    Range, several ranges, a malformed one, or an If-Range that no longer matches); False
    when the range starts past the end (416)."""
    header = request.headers.get("Range")
    if not header:
        return None
    if_range = request.headers.get("If-Range")
    if if_range and if_range.strip() != etag:
        return None
    match = _RANGE.match(header)
    if not match or not (match[1] or match[2]):
        return None
    if not match[1]:  # the last N bytes
        suffix = _position(match[2])
        if suffix == 0 or size == 0:  # no byte to point at (RFC 9110, 14.1.1)
            return False
        return max(size - suffix, 0), size - 1
    first = _position(match[1])
    last = _position(match[2]) if match[2] else size - 1
    if first >= size:
        return False
    if last < first:
        return None
    return first, min(last, size - 1)


def ranged_response(request, data: bytes, *, content_type: str, etag: str = ""):
    """The whole of `data` (200), the one range asked for (206) or 416; with Accept-Ranges
    and the ETag. Returns (response, (first, last) or None)."""
    from django.http import HttpResponse

    wanted = byte_range(request, len(data), etag)
    served = None
    if wanted is False:
        response = HttpResponse(status=416, content_type=content_type)
        response["Content-Range"] = f"bytes */{len(data)}"
    elif wanted is None:
        response = HttpResponse(data, content_type=content_type)
    else:
        first, last = served = wanted
        response = HttpResponse(data[first:last + 1], content_type=content_type, status=206)
        response["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
    response["Accept-Ranges"] = "bytes"
    if etag:
        response["ETag"] = etag
    return response, served
