"""Encrypted backups: `manage.py backup` and `manage.py restore`.

An archive is one file: a tar of the database (`pg_dump`'s custom format, or the embedded
SQLite copied through its backup API), every file of the file store (attachments, recordings,
exports: encrypted already, under the field keys; core/storage.py: MEDIA_ROOT or the bucket)
and `manifest.json`, the whole tar encrypted to a backup key that is not the field keys.
Public-key encryption, so the servers write backups they cannot read: X25519 with a fresh key
per archive, HKDF-SHA256, then AES-256-GCM over 1 MiB parts, each numbered and the last one
marked, so an altered, reordered or truncated archive is refused with the part where it breaks
(the `cryptography` library's primitives; nothing home-made beyond their framing). The archive
goes to the backup store (BACKUP_DIR, or the bucket under backups/) or to a folder given, and a
restore takes it from either.

    header: MAGIC | recipient key id (16 bytes) | ephemeral public key (32 bytes)
    parts:  length (4 bytes) | AES-GCM(nonce = part number (11 bytes) | last (1 byte),
                                        the part, associated data = the header)

The manifest names each member with its size and SHA-256, the migrations the database is at
and the ids of the field keys its values and files are under; a restore checks all of it
before it touches the target.
"""

import base64
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.files.storage import Storage
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from core import crypto, storage

MAGIC = b"CRM-BACKUP-1\n"
PART = 1 << 20
FORMAT = 1
ARCHIVE_PREFIX = "crm-backup-"
ARCHIVE_SUFFIX = ".crmbackup"
logger = logging.getLogger(__name__)
_STAMP = "%Y%m%dT%H%M%SZ"


class BackupError(Exception):
    """A backup that cannot be made or restored, with what to do about it."""


# --- Keys ----------------------------------------------------------------------------------


def generate_keypair() -> tuple[str, str]:
    """(private, public), each base64 of 32 bytes: the public one goes to BACKUP_PUBLIC_KEY
    on the servers, the private one stays with whoever restores, off the servers."""
    private = X25519PrivateKey.generate()
    raw_private = private.private_bytes(serialization.Encoding.Raw,
                                        serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
    raw_public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw)
    return base64.b64encode(raw_private).decode(), base64.b64encode(raw_public).decode()


def _key_bytes(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 32:
        raise BackupError(f"{what} is not base64 of 32 bytes (make one: backup --generate-key)")
    return raw


def public_key(text: str) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(_key_bytes(text, "The backup public key"))


def private_key(text: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(_key_bytes(text, "The backup private key"))


def private_key_from(key_file: str | None) -> X25519PrivateKey:
    """The backup private key as `restore` and `make_sandbox --from-backup` take it: from the
    file named, else from the BACKUP_PRIVATE_KEY environment variable (never a setting: it
    stays off the servers)."""
    try:
        text = Path(key_file).read_text() if key_file else os.environ.get("BACKUP_PRIVATE_KEY",
                                                                            "")
    except OSError as e:
        raise BackupError(f"cannot read the key file: {e}") from None
    if not text.strip():
        raise BackupError("Give the backup private key: --key-file FILE or BACKUP_PRIVATE_KEY.")
    return private_key(text)


def key_id(key: X25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


# --- The encrypted stream ------------------------------------------------------------------


def _part_key(shared: bytes, header: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"crm backup parts|" + header).derive(shared)
    return AESGCM(derived)


def _nonce(number: int, last: bool) -> bytes:
    return number.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def encrypt_stream(source, target, recipient: X25519PublicKey) -> None:
    """Encrypt the readable `source` into the writable `target` for `recipient`."""
    ephemeral = X25519PrivateKey.generate()
    header = (MAGIC + bytes.fromhex(key_id(recipient))
              + ephemeral.public_key().public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw))
    sealer = _part_key(ephemeral.exchange(recipient), header)
    target.write(header)
    number, part = 0, source.read(PART)
    while True:
        following = source.read(PART)
        last = not following
        sealed = sealer.encrypt(_nonce(number, last), part, header)
        target.write(len(sealed).to_bytes(4, "big") + sealed)
        if last:
            return
        number, part = number + 1, following


def decrypt_stream(source, target, key: X25519PrivateKey) -> None:
    """Decrypt what encrypt_stream wrote; BackupError, naming the part, when it is not a
    backup, is for another key, was altered, or was cut short."""
    header = source.read(len(MAGIC) + 16 + 32)
    if len(header) < len(MAGIC) + 48 or not header.startswith(MAGIC):
        raise BackupError("This is not a backup archive of this product.")
    recipient = header[len(MAGIC):len(MAGIC) + 16].hex()
    if recipient != key_id(key.public_key()):
        raise BackupError(f"The archive was made for backup key {recipient}, not for this "
                          f"one ({key_id(key.public_key())}).")
    ephemeral = X25519PublicKey.from_public_bytes(header[len(MAGIC) + 16:])
    opener = _part_key(key.exchange(ephemeral), header)
    number = 0
    while True:
        length = source.read(4)
        if len(length) < 4:
            raise BackupError(f"The archive is truncated: it ends before its last part "
                              f"(after part {number}).")
        sealed = source.read(int.from_bytes(length, "big"))
        if len(sealed) < int.from_bytes(length, "big"):
            raise BackupError(f"The archive is truncated in part {number + 1}.")
        for last in (False, True):
            try:
                part = opener.decrypt(_nonce(number, last), sealed, header)
                break
            except InvalidTag:
                continue
        else:
            raise BackupError(f"The archive was altered or damaged: part {number + 1} does not "
                              "decrypt.")
        target.write(part)
        if last:
            if source.read(1):
                raise BackupError("The archive has data after its last part.")
            return
        number += 1


# --- Making one ----------------------------------------------------------------------------


def _sha256(stream) -> str:
    """The hex SHA-256 of a readable binary stream, read a part at a time."""
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(PART), b""):
        digest.update(block)
    return digest.hexdigest()


class _Hashing:
    """A readable file that hashes what is read of it."""

    def __init__(self, file):
        self.file, self.digest = file, hashlib.sha256()

    def read(self, size=-1) -> bytes:
        data = self.file.read(size)
        self.digest.update(data)
        return data


def _add_file(tar: tarfile.TarFile, file, name: str) -> dict:
    """Add the open `file` as `name`; its size and SHA-256, hashed as it is read in (each
    file read once: a hash first read every recording and attachment twice). The size is
    the open file's, not that of a file renamed over it meanwhile (a key rotation)."""
    status = os.fstat(file.fileno())
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = status.st_size, int(status.st_mtime), 0o600
    hashing = _Hashing(file)
    tar.addfile(info, hashing)
    return {"size": info.size, "sha256": hashing.digest.hexdigest()}


def _add_stored(tar: tarfile.TarFile, store: Storage, relative: str) -> dict:
    with store.open(relative, "rb") as file:
        return _add_file(tar, file, f"media/{relative}")


def _database_settings() -> dict:
    return connection.settings_dict


def _postgres_env() -> tuple[list[str], dict]:
    db = _database_settings()
    arguments = ["--host", db["HOST"] or "localhost", "--port", str(db["PORT"] or 5432),
                 "--username", db["USER"] or "postgres"]
    return arguments, {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}


def _run(command: list[str], env: dict) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")


def _dump_database(target: Path) -> str:
    """The database into `target`: one consistent snapshot. Returns its member name."""
    if connection.vendor == "postgresql":
        arguments, env = _postgres_env()
        _run(["pg_dump", *arguments, "--format=custom", "--no-owner", "--no-privileges",
              "--file", str(target / "database.dump"), _database_settings()["NAME"]], env)
        return "database.dump"
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        copy = sqlite3.connect(target / "database.sqlite3")
        try:
            connection.connection.backup(copy)
        finally:
            copy.close()
        return "database.sqlite3"
    raise BackupError(f"No backup for a {connection.vendor} database.")


def _migrations() -> list[list[str]]:
    return sorted([app, name] for app, name in
                  MigrationRecorder(connection).applied_migrations())


@dataclass
class Made:
    name: str
    where: str  # its path, or s3://bucket/key
    size: int
    files: int
    seconds: float
    pruned: list[str] = field(default_factory=list)


def _store(target: Path | str | Storage) -> Storage:
    """A folder (`backup --output DIR`) as a store, or the store given."""
    if isinstance(target, (str, Path)):
        return storage.LocalStorage(location=str(target))
    return target


@contextmanager
def _work_directory(store: Storage) -> Iterator[Path]:
    """Where the dump and the archive are made: inside the folder they go to (the archive is
    then renamed into place), or a temporary folder (then uploaded)."""
    if isinstance(store, storage.LocalStorage):
        Path(store.location).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=store.location, prefix=".backup-") as work:
            yield Path(work)
    else:
        with tempfile.TemporaryDirectory(prefix="crm-backup-") as work:
            yield Path(work)


def backup(target: Path | Storage, *, recipient: X25519PublicKey,
           progress: Callable[[str], None] = lambda line: None,
           keep_daily: int = 7, keep_monthly: int = 12) -> Made:
    """Write one archive into `target` (a folder, or a store: core.storage.backups(), the
    bucket when configured) and prune the old ones there."""
    started = datetime.now(UTC)
    store = _store(target)
    name = f"{ARCHIVE_PREFIX}{started:{_STAMP}}{ARCHIVE_SUFFIX}"
    media = storage.files()
    with _work_directory(store) as work:
        progress("database")
        database = _dump_database(work)
        files = list(media.walk())
        progress(f"{len(files)} files")
        archive = work / name
        with archive.open("wb") as sink, _TarToEncrypted(sink, recipient) as tar:
            with (work / database).open("rb") as dump:
                dumped = _add_file(tar, dump, database)
            manifest = {
                "format": FORMAT, "created_at": started.isoformat(),
                "vendor": connection.vendor,
                "database": {"name": database, **dumped},
                "migrations": _migrations(),
                "field_key_ids": list(crypto.keyring().ciphers),
                "backup_key_id": key_id(recipient),
                "files": [{"path": relative, **_add_stored(tar, media, relative)}
                          for relative in files],
            }
            # Last, with what was read: a restore finds it by name.
            _add_bytes(tar, "manifest.json", json.dumps(manifest, indent=1).encode())
        store.move_in(name, archive)
    progress("written")
    pruned = prune(store, keep_daily=keep_daily, keep_monthly=keep_monthly)
    made = Made(name=name, where=store.where(name), size=store.size(name), files=len(files),
                seconds=(datetime.now(UTC) - started).total_seconds(), pruned=pruned)
    logger.info("backup %s: %d bytes, %d files, %.1f s, %d old ones pruned", made.where,
                made.size, made.files, made.seconds, len(pruned))
    return made


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


class _TarToEncrypted:
    """A tar that becomes the encrypted archive when closed: written to a temporary file
    beside the archive first, then encrypted from it part by part (the disk holds the dump,
    the tar and the archive at once; a pipe to the encryption would spare the tar's copy)."""

    def __init__(self, sink, recipient):
        self.sink, self.recipient = sink, recipient
        self.spool = tempfile.TemporaryFile(dir=Path(sink.name).parent)
        self.tar = tarfile.open(fileobj=self.spool, mode="w", format=tarfile.PAX_FORMAT)

    def __enter__(self):
        return self.tar

    def __exit__(self, kind, value, traceback):
        try:
            self.tar.close()
            if kind is None:
                self.spool.seek(0)
                encrypt_stream(self.spool, self.sink, self.recipient)
        finally:
            self.spool.close()


def archives(target: Path | Storage) -> list[tuple[datetime, str]]:
    """The archives in `target` (a folder or a store), newest first, by name."""
    try:
        names = _store(target).listdir("")[1]
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if not (name.startswith(ARCHIVE_PREFIX) and name.endswith(ARCHIVE_SUFFIX)):
            continue
        stamp = name[len(ARCHIVE_PREFIX):-len(ARCHIVE_SUFFIX)]
        try:
            found.append((datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC), name))
        except ValueError:
            continue  # not one of ours: left alone
    return sorted(found, reverse=True)


def prune(target: Path | Storage, *, keep_daily: int, keep_monthly: int) -> list[str]:
    """Keep the newest archive of each of the last `keep_daily` days that have one, and of
    each of the last `keep_monthly` months; delete the others (only files of our naming)."""
    store = _store(target)
    found = archives(store)
    kept, days, months = set(), [], []
    for made, name in found:
        day, month = made.date(), (made.year, made.month)
        if day not in days and len(days) < keep_daily:
            days.append(day)
            kept.add(name)
        if month not in months and len(months) < keep_monthly:
            months.append(month)
            kept.add(name)
    pruned = [name for _made, name in found if name not in kept]
    for name in pruned:
        store.delete(name)
    return pruned


# --- Restoring one -------------------------------------------------------------------------


@contextmanager
def fetched(archive: str) -> Iterator[Path]:
    """The archive `archive` as a file on this machine: a path as it is; `s3://bucket/key`,
    or the name of an archive in the backup store (`backup --list`), downloaded first into a
    temporary file (streamed, in parts)."""
    path = Path(archive)
    if not archive.startswith("s3://") and (path.exists() or "/" in archive):
        yield path
        return
    if archive.startswith("s3://"):
        bucket, _slash, name = archive.removeprefix("s3://").partition("/")
        if not (bucket and name):
            raise BackupError(f"{archive} names no object: s3://bucket/key.")
        try:
            store = storage.object_storage_for(bucket)
        except ValueError:
            raise BackupError("An s3:// archive is read with the object storage's settings: "
                              "set OBJECT_STORAGE_BUCKET and the rest (README, Object "
                              "storage).") from None
    else:
        store, name = storage.backups(), archive
    if isinstance(store, storage.LocalStorage):
        yield Path(store.path(name))
        return
    with tempfile.TemporaryDirectory(prefix="crm-restore-fetch-") as work:
        local = Path(work) / "archive"
        try:
            with local.open("wb") as file:
                store.copy_to(name, file)
        except FileNotFoundError:
            raise BackupError(f"No archive at {archive}.") from None
        yield local


@dataclass
class Restored:
    manifest: dict
    files: int
    migrated: bool  # this code had migrations the archive's database lacked: applied
    seconds: float


def _open_archive(archive: Path, key: X25519PrivateKey, work: Path) -> tuple[dict, Path]:
    """The archive decrypted into `work` and checked against its manifest."""
    plain = work / "archive.tar"
    try:
        with archive.open("rb") as source, plain.open("wb") as target:
            decrypt_stream(source, target, key)
    except FileNotFoundError:
        raise BackupError(f"No archive at {archive}.") from None
    with tarfile.open(plain, mode="r:") as tar:
        members = {member.name: member for member in tar.getmembers()}
        if "manifest.json" not in members:
            raise BackupError("The archive has no manifest.")
        manifest = json.load(tar.extractfile(members["manifest.json"]))
        if manifest.get("format") != FORMAT:
            raise BackupError(f"Unknown archive format {manifest.get('format')!r}.")
        expected = {manifest["database"]["name"]: manifest["database"]} | {
            f"media/{entry['path']}": entry for entry in manifest["files"]}
        if set(members) - {"manifest.json"} != set(expected):
            raise BackupError("The archive's contents differ from its manifest.")
        for name, entry in expected.items():
            member = members[name]
            if not member.isfile() or ".." in Path(name).parts or name.startswith("/"):
                raise BackupError(f"The archive holds an unsafe member: {name}")
            if (member.size != entry["size"]
                    or _sha256(tar.extractfile(member)) != entry["sha256"]):
                raise BackupError(f"{name} differs from the manifest.")
        tar.extractall(work / "content", filter="data")
    plain.unlink()
    return manifest, work / "content"


def _database_is_empty() -> bool:
    return not connection.introspection.table_names()


def _media_is_empty() -> bool:
    return next(iter(storage.files().walk()), None) is None


def _wipe() -> None:
    """Everything of the target database and media store (restore --force)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    else:
        connection.close()
        Path(_database_settings()["NAME"]).unlink(missing_ok=True)
    media = storage.files()
    for name in list(media.walk()):
        media.delete(name)


def restore(archive: Path, *, key: X25519PrivateKey, force: bool = False,
            progress: Callable[[str], None] = lambda line: None) -> Restored:
    """Restore `archive` into the configured database and media store, which must be empty
    (or `force`: wiped first). Nothing of the target is touched before the whole archive has
    decrypted and matched its manifest."""
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="crm-restore-") as work:
        manifest, content = _open_archive(Path(archive), key, Path(work))
        progress("archive checked against its manifest")
        if manifest["vendor"] != connection.vendor:
            raise BackupError(f"The archive is of a {manifest['vendor']} database; this one "
                              f"is {connection.vendor}.")
        known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
        unknown = [f"{app}.{name}" for app, name in manifest["migrations"]
                   if (app, name) not in known]
        if unknown:
            raise BackupError("The archive's database is newer than this code (migrations "
                              f"{', '.join(unknown[:5])}): restore it with its own version.")
        missing = set(manifest["field_key_ids"]) - set(crypto.keyring().ciphers)
        if missing:
            raise BackupError("FIELD_ENCRYPTION_KEYS lacks the key ids the archive's values "
                              f"and files are under: {', '.join(sorted(missing))}.")
        if not force and not (_database_is_empty() and _media_is_empty()):
            raise BackupError("The database or the media store is not empty: restore into "
                              "empty ones, or pass --force to wipe them first.")
        if force:
            _wipe()
        progress("database")
        name = manifest["database"]["name"]
        if connection.vendor == "postgresql":
            arguments, env = _postgres_env()
            _run(["pg_restore", *arguments, "--no-owner", "--no-privileges",
                  "--exit-on-error", "--dbname", _database_settings()["NAME"],
                  str(content / name)], env)
        else:
            connection.close()
            shutil.copyfile(content / name, _database_settings()["NAME"])
        connection.close()  # what the connection knew of the old database is gone
        media = storage.files()
        for entry in manifest["files"]:
            media.move_in(entry["path"], content / "media" / entry["path"])
        progress(f"{len(manifest['files'])} files")
    applied = {tuple(entry) for entry in manifest["migrations"]}
    migrated = bool(known - applied)
    if migrated:
        from django.core.management import call_command

        call_command("migrate", "--noinput", verbosity=0)
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
    return Restored(manifest=manifest, files=len(manifest["files"]), migrated=migrated,
                    seconds=(datetime.now(UTC) - started).total_seconds())
