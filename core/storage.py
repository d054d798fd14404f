"""Where files are kept: the local disk, or a bucket of S3-compatible object storage.

Two stores, as Django's STORAGES names them (config/settings.py):
- "files": the files of client data (attachments, call recordings, exports), encrypted by the
  code that writes them (security/files.py, security/exports.py) before they get here:
  MEDIA_ROOT, or the bucket under `media/`;
- "backups": the archives of `manage.py backup`, encrypted to the backup key
  (security/backups.py): BACKUP_DIR, or the bucket under `backups/`.

So what leaves the server is ciphertext either way. The bucket is any S3-compatible service
(Yandex Object Storage, VK Cloud, MinIO), through django-storages' S3 backend (boto3) once
OBJECT_STORAGE_BUCKET is set; otherwise the disk, and `make run` needs nothing.

Each store is a Django Storage, LocalStorage here or core.object_storage.ObjectStorage (imported
only where configured), with the few operations Django's API does not name, done the same way
by both:
- `write(name, data)`: whole or not at all, replacing what was there: a reader never sees half
  a file (on the disk, a file beside it renamed into place; in a bucket, one PUT);
- `version(name)` and `replace(name, data, version=)`: rewrite a file only if nobody changed
  or deleted it since it was read, so a key rotation does not bring back a file erased
  meanwhile;
- `walk(folder)`: the name of every file under a folder (a rotation and a backup see them all);
- `head(name, size)`: a file's first bytes (its key id) without reading the whole of it;
- `move_in(name, path)` and `copy_to(name, file)`: a large local file in and out, streamed;
- `where(name)`: how to name a file to an operator (a path, or s3://bucket/key).
"""

import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.utils.functional import cached_property

FILES = "files"
BACKUPS = "backups"
# Left by a write that was interrupted (and `.rotating`, by rotations before this module):
# never a file of ours.
_UNFINISHED = (".part", ".rotating")


def files() -> Storage:
    """The store of attachments, recordings and exports."""
    return storages[FILES]


def backups() -> Storage:
    """The store of backup archives."""
    return storages[BACKUPS]


class LocalStorage(FileSystemStorage):
    """A folder on this machine: `location`, else the folder the setting `setting` names
    (MEDIA_ROOT by default), followed when that setting changes. Files are readable by the
    owner only."""

    def __init__(self, location=None, setting: str = "MEDIA_ROOT"):
        self._setting = setting
        super().__init__(location=location, allow_overwrite=True)

    @cached_property
    def base_location(self):
        return self._value_or_setting(self._location, getattr(settings, self._setting))

    def _clear_cached_properties(self, setting, **kwargs):
        super()._clear_cached_properties(setting, **kwargs)
        if setting == self._setting:
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)

    def _beside(self, path: Path) -> Path:
        return path.with_name(f"{path.name}.{secrets.token_hex(4)}.part")

    def _write_beside(self, path: Path, chunks) -> Path:
        """A new file beside `path` holding `chunks`, mode 0600; removed on any failure."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._beside(path)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                for chunk in chunks:
                    file.write(chunk)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return temporary

    def _save(self, name, content):
        path = Path(self.path(name))
        temporary = self._write_beside(path, content.chunks())
        try:
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return path.relative_to(self.location).as_posix()

    def write(self, name: str, data: bytes) -> str:
        return self.save(name, ContentFile(data))

    def read(self, name: str) -> bytes:
        with self.open(name, "rb") as file:
            return file.read()

    def head(self, name: str, size: int) -> bytes:
        with open(self.path(name), "rb") as file:
            return file.read(size)

    def version(self, name: str) -> str | None:
        try:
            stat = os.stat(self.path(name))
        except FileNotFoundError:
            return None
        return f"{stat.st_ino}:{stat.st_mtime_ns}"

    def replace(self, name: str, data: bytes, *, version: str) -> bool:
        """Put `data` in place of `name` if it is still at `version`; False when it was
        deleted or replaced meanwhile (then nothing is written)."""
        path = Path(self.path(name))
        temporary = self._write_beside(path, [data])
        try:
            if self.version(name) != version:
                return False
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return True

    def walk(self, folder: str = "") -> Iterator[str]:
        root = Path(self.path(folder)) if folder else Path(self.location)
        if not root.is_dir():
            return iter(())
        return iter(sorted(
            path.relative_to(self.location).as_posix() for path in root.rglob("*")
            if path.is_file() and not path.name.endswith(_UNFINISHED)))

    def move_in(self, name: str, path: Path) -> None:
        """The local file at `path` becomes `name` (renamed when it is on the same disk)."""
        target = Path(self.path(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
            with open(path, "rb") as source:  # another disk: copied beside, renamed into place
                self._save(name, File(source))
            os.unlink(path)
        os.chmod(target, 0o600)

    def copy_to(self, name: str, file) -> None:
        with open(self.path(name), "rb") as source:
            shutil.copyfileobj(source, file, 1 << 20)

    def where(self, name: str) -> str:
        return self.path(name)


def object_storages(*, bucket: str, endpoint_url: str, access_key_id: str,
                    secret_access_key: str, region: str = "",
                    addressing_style: str = "path") -> dict:
    """STORAGES' "files" and "backups" in one bucket, under `media/` and `backups/`."""
    options = {
        "bucket_name": bucket, "endpoint_url": endpoint_url, "region_name": region or None,
        "access_key": access_key_id, "secret_key": secret_access_key,
        "addressing_style": addressing_style, "signature_version": "s3v4",
        # Private objects, replaced in place under the same name (a key rotation).
        "default_acl": None, "file_overwrite": True,
        # What is read goes to a temporary file past 16 MiB, not all into memory.
        "max_memory_size": 16 << 20,
    }
    backend = "core.object_storage.ObjectStorage"
    return {
        FILES: {"BACKEND": backend, "OPTIONS": {**options, "location": "media"}},
        BACKUPS: {"BACKEND": backend, "OPTIONS": {**options, "location": "backups"}},
    }


def local_storages() -> dict:
    """STORAGES' "files" and "backups" on the disk: MEDIA_ROOT and BACKUP_DIR."""
    return {
        FILES: {"BACKEND": "core.storage.LocalStorage"},
        BACKUPS: {"BACKEND": "core.storage.LocalStorage", "OPTIONS": {"setting": "BACKUP_DIR"}},
    }


def object_storage_for(bucket: str) -> Storage:
    """The configured object storage's connection, on another bucket from its root (a
    restore from `s3://bucket/key`); ValueError when no object storage is configured."""
    configured = settings.STORAGES.get(BACKUPS, {})
    if configured.get("BACKEND") != "core.object_storage.ObjectStorage":
        raise ValueError("no object storage is configured (OBJECT_STORAGE_BUCKET)")
    from core.object_storage import ObjectStorage

    return ObjectStorage(**{**configured["OPTIONS"], "bucket_name": bucket, "location": ""})
