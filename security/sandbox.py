"""A sandbox for training and testing: `manage.py make_sandbox --database-url URL`.

The source, the configured database or an encrypted backup (security/backups.py), is copied
into the target database as it is (pg_dump into pg_restore, or SQLite's backup API). Then a
second process of manage.py rewrites the copy: its DATABASE_URL is the target and its var and
media folders are throwaway ones, so the ORM and every service it calls act on the sandbox
only. That process refuses to run on a database that lacks the marker the copy left in it.

In it every app pseudonymizes what it holds (core.holdings: `pseudonym_sources`, then
`pseudonymize`): each client person gets one fake (security/pseudonyms.py) in every table,
free texts lose their personal data, files and raw provider deliveries go, and so do the
consents, the logs and every credential. Last, every encrypted value and blind index moves to
keys of the sandbox's own, printed with the report: the sandbox holds no secret of
production, and production's keys open nothing in it.

If the rewriting fails, the target is wiped: a half-made sandbox still holds real data.
"""

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.apps import apps
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

from core import crypto
from core.holdings import Pseudonymization, SandboxReport, declared
from security import backups

MARKER_TABLE = "crm_sandbox_marker"
MARKER_ENV = "CRM_SANDBOX_MARKER"
PASSWORD_ENV = "CRM_SANDBOX_PASSWORD"
_LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}
# Settings of production's services the rewriting process must not inherit (object storage:
# a recording deleted from the copy must not take production's file with it).
_PRODUCTION_SERVICES = ("AWS_", "S3_", "STORAGE", "OBJECT_STORAGE", "BACKUP_S3")


class SandboxError(Exception):
    """A sandbox that cannot be made, with why."""


# --- The target ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    url: str
    vendor: str  # "postgresql" or "sqlite"
    name: str  # the database's name, or the SQLite file's path
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""

    @classmethod
    def parse(cls, url: str) -> "Target":
        parsed = urlparse(url)
        if parsed.scheme in ("postgres", "postgresql"):
            name = unquote(parsed.path.lstrip("/"))
            if not name:
                raise SandboxError(f"The database URL names no database: {parsed.scheme}://"
                                   f"{parsed.hostname or ''}/")
            return cls(url=url, vendor="postgresql", name=name, host=parsed.hostname or "",
                       port=parsed.port or 5432, user=unquote(parsed.username or ""),
                       password=unquote(parsed.password or ""))
        if parsed.scheme == "sqlite":
            path = unquote(parsed.path)
            if not path or path == "/":
                raise SandboxError("The database URL names no SQLite file.")
            return cls(url=url, vendor="sqlite", name=str(Path(path).resolve()))
        raise SandboxError(f"Unsupported database URL scheme {parsed.scheme!r} "
                           "(postgres:// or sqlite:///).")

    def is_configured_database(self) -> bool:
        """Whether this is the database the product runs on (the same host, port and name,
        or the same SQLite file)."""
        source = connection.settings_dict
        if connection.vendor != self.vendor:
            return False
        if self.vendor == "sqlite":
            return Path(str(source["NAME"])).resolve() == Path(self.name)
        host = (source["HOST"] or "").lower()
        same_host = host == self.host.lower() or {host, self.host.lower()} <= _LOCAL_HOSTS
        return (same_host and int(source["PORT"] or 5432) == self.port
                and source["NAME"] == self.name)

    def _pg_arguments(self) -> tuple[list[str], dict]:
        return (["--host", self.host or "localhost", "--port", str(self.port),
                 "--username", self.user or "postgres"],
                {**os.environ, "PGPASSWORD": self.password})

    def _pg_connect(self):
        import psycopg2

        return psycopg2.connect(host=self.host or "localhost", port=self.port,
                                user=self.user or "postgres", password=self.password,
                                dbname=self.name)

    def _execute(self, *statements: str, fetch: bool = False):
        if self.vendor == "postgresql":
            database = self._pg_connect()
            database.autocommit = True
        else:
            database = sqlite3.connect(self.name, isolation_level=None)
        try:
            cursor = database.cursor()
            for statement in statements:
                cursor.execute(statement)
            return cursor.fetchall() if fetch else None
        finally:
            database.close()

    def table_count(self) -> int:
        if self.vendor == "sqlite":
            if not Path(self.name).exists():
                return 0
            query = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        else:
            query = ("SELECT count(*) FROM information_schema.tables "
                     "WHERE table_schema = 'public'")
        return self._execute(query, fetch=True)[0][0]

    def wipe(self) -> None:
        if self.vendor == "postgresql":
            self._execute("DROP SCHEMA public CASCADE", "CREATE SCHEMA public")
        else:
            Path(self.name).unlink(missing_ok=True)

    def mark(self, token: str) -> None:
        self._execute(f"CREATE TABLE {MARKER_TABLE} (token varchar(64) NOT NULL)",
                      f"INSERT INTO {MARKER_TABLE} (token) VALUES ('{token}')")


# --- Copying the source ------------------------------------------------------------------------


def _copy_live(target: Target) -> None:
    """The configured database into the empty target, as one consistent snapshot."""
    if connection.vendor == "postgresql":
        source_arguments, source_env = backups._postgres_env()
        arguments, env = target._pg_arguments()
        dump = subprocess.Popen(
            ["pg_dump", *source_arguments, "--format=custom", "--no-owner", "--no-privileges",
             connection.settings_dict["NAME"]], env=source_env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        restore = subprocess.run(
            ["pg_restore", *arguments, "--no-owner", "--no-privileges", "--exit-on-error",
             "--dbname", target.name], env=env, stdin=dump.stdout, capture_output=True,
            text=True)
        dump.stdout.close()
        dumped = dump.wait()
        if dumped:
            raise SandboxError(f"pg_dump failed: {dump.stderr.read().decode()[-2000:]}")
        if restore.returncode:
            raise SandboxError(f"pg_restore failed: {restore.stderr.strip()[-2000:]}")
    else:
        connection.ensure_connection()
        copy = sqlite3.connect(target.name)
        try:
            connection.connection.backup(copy)
        finally:
            copy.close()


def _copy_backup(target: Target, archive: Path, key, work: Path) -> None:
    """The database of a backup archive into the empty target (its files are not wanted)."""
    try:
        manifest, content = backups._open_archive(archive, key, work)
    except backups.BackupError as e:
        raise SandboxError(str(e)) from None
    if manifest["vendor"] != target.vendor:
        raise SandboxError(f"The archive is of a {manifest['vendor']} database; the target "
                           f"is {target.vendor}.")
    missing = set(manifest["field_key_ids"]) - set(crypto.keyring().ciphers)
    if missing:
        raise SandboxError("FIELD_ENCRYPTION_KEYS lacks the key ids the archive's values are "
                           f"under: {', '.join(sorted(missing))}.")
    database = content / manifest["database"]["name"]
    if target.vendor == "postgresql":
        arguments, env = target._pg_arguments()
        backups._run(["pg_restore", *arguments, "--no-owner", "--no-privileges",
                      "--exit-on-error", "--dbname", target.name, str(database)], env)
    else:
        shutil.copyfile(database, target.name)
    shutil.rmtree(content / "media", ignore_errors=True)


# --- Making one ------------------------------------------------------------------------------


@dataclass
class Made:
    report: dict  # {"tables": {table: {what: count}}, ...} as the rewriting process wrote it
    password: str
    field_keys: str  # the sandbox's FIELD_ENCRYPTION_KEYS
    blind_index_key: str  # and its BLIND_INDEX_KEY


def make(database_url: str, *, archive: Path | None = None, key=None, force: bool = False,
         password: str | None = None,
         progress: Callable[[str], None] = lambda line: None) -> Made:
    """Make the sandbox at `database_url` from the configured database, or from `archive`
    (decrypted with the backup private `key`)."""
    target = Target.parse(database_url)
    if target.is_configured_database():
        raise SandboxError("The target is the configured (production) database: a sandbox "
                           "is written into a separate database only.")
    if target.vendor != connection.vendor and archive is None:
        raise SandboxError(f"The configured database is {connection.vendor}; a sandbox of it "
                           f"goes into a {connection.vendor} database, not {target.vendor}.")
    if target.table_count():
        if not force:
            raise SandboxError("The target database is not empty: give an empty one, or pass "
                               "--force to wipe it first.")
        target.wipe()
    password = password or secrets.token_urlsafe(12)
    sandbox_key = f"sbx{crypto.generate_key_id()[1:]}:{crypto.generate_key()}"
    blind_index_key = crypto.generate_key()
    with tempfile.TemporaryDirectory(prefix="crm-sandbox-") as work:
        work = Path(work)
        try:
            progress("copying the database")
            if archive is not None:
                _copy_backup(target, Path(archive), key, work)
            else:
                _copy_live(target)
            token = secrets.token_hex(16)
            target.mark(token)
            progress("pseudonymizing the copy")
            report = _rewrite_in_own_process(target, work, token=token, password=password,
                                             field_keys=sandbox_key,
                                             blind_index_key=blind_index_key)
        except BaseException:
            target.wipe()  # a half-made sandbox holds real data
            raise
    return Made(report=report, password=password, field_keys=sandbox_key,
                blind_index_key=blind_index_key)


def _rewrite_in_own_process(target: Target, work: Path, *, token: str, password: str,
                            field_keys: str, blind_index_key: str) -> dict:
    report_path = work / "report.json"
    # Nothing of production's services: no Redis, no broker (embedded: tasks in process), no
    # object storage, a secret key of its own; the copy's database, throwaway folders.
    env = {name: value for name, value in os.environ.items()
           if name not in ("REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY")
           and not name.startswith(_PRODUCTION_SERVICES)}
    env.update({
        "DATABASE_URL": target.url, "CRM_MODE": "embedded",
        "CRM_VAR_DIR": str(work / "var"), "MEDIA_ROOT": str(work / "var" / "media"),
        "MAILDIR_ROOT": str(work / "var" / "maildir"),
        "BACKUP_DIR": str(work / "var" / "backups"),
        # The sandbox's key first (it encrypts), production's after it (to read the copy).
        "FIELD_ENCRYPTION_KEYS": f"{field_keys},{settings.FIELD_ENCRYPTION_KEYS}",
        "BLIND_INDEX_KEY": blind_index_key,
        MARKER_ENV: token, PASSWORD_ENV: password,
    })
    done = subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "make_sandbox",
         "--rewrite-this-copy", "--report-file", str(report_path)],
        env=env, capture_output=True, text=True)
    if done.returncode:
        raise SandboxError("Pseudonymizing the copy failed (the target was wiped): "
                           f"{(done.stderr or done.stdout).strip()[-3000:]}")
    return json.loads(report_path.read_text())


# --- Rewriting the copy (in the sandbox's own process) ---------------------------------------


def rewrite_this_copy(*, token: str, password: str) -> dict:
    """Pseudonymize the configured database, which must be a copy marked with `token`."""
    from auditlog.context import disable_auditlog
    from django.core.management import call_command

    _check_marker(token)
    call_command("migrate", "--noinput", verbosity=0)  # a backup of an older version
    report = SandboxReport()
    pseudonymization = Pseudonymization(pseudonyms=_pseudonyms(), report=report,
                                        password_hash=make_password(password))
    holdings = declared()
    with disable_auditlog(), transaction.atomic():
        for h in holdings:
            if h.pseudonym_sources:
                h.pseudonym_sources(pseudonymization)
        for h in holdings:
            for model in h.raw_deliveries:
                report.add(model._meta.label_lower, "deleted", model.objects.all().delete()[0])
            if h.pseudonymize:
                h.pseudonymize(pseudonymization)
    with open(os.devnull, "w") as quiet:
        # What no app rewrote moves to the sandbox's key too, and every index to its blind key.
        call_command("rotate_keys", stdout=quiet)
        call_command("rotate_keys", reindex=True, stdout=quiet)
        call_command("rotate_keys", check=True, stdout=quiet)  # CommandError if any is left
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {MARKER_TABLE}")
    return {"tables": report.tables}


def _pseudonyms():
    from security.pseudonyms import Pseudonyms

    return Pseudonyms()


def _check_marker(token: str) -> None:
    if not token or MARKER_TABLE not in connection.introspection.table_names():
        raise SandboxError("This database is not a sandbox's copy: refusing to rewrite it.")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT token FROM {MARKER_TABLE}")
        if [row[0] for row in cursor.fetchall()] != [token]:
            raise SandboxError("This database is another run's copy: refusing to rewrite it.")


# --- What security holds (core.holdings: pseudonymize) ---------------------------------------

# Credentials and traces of production's sessions: a production token or second factor must
# open nothing in a sandbox, and staff's addresses stay out of it.
_CREDENTIAL_APPS = ("authtoken", "otp_totp", "otp_static", "otp_hotp", "otp_email", "axes",
                    "sessions")


def pseudonymize(pseudonymization: Pseudonymization) -> None:
    """Users keep their accounts with the one new password; the access and change logs, the
    reveals and exports, alerts and incidents (they cite the logs), and every credential go."""
    from auditlog.models import LogEntry

    from security.audit import audit_chain
    from security.models import (
        AccessRecord,
        Alert,
        ChangeSeal,
        ExportRequest,
        FieldReveal,
        Incident,
        KnownAddress,
        RevokedCredential,
        Suspension,
        User,
        UserSession,
    )

    report = pseudonymization.report
    report.add("security.user", "password reset",
               User.objects.update(password=pseudonymization.password_hash))
    for model in (AccessRecord, ChangeSeal):
        report.add(model._meta.label_lower, "deleted", audit_chain.clear(model))
    for model in (LogEntry, FieldReveal, ExportRequest, Incident, Alert, KnownAddress,
                  UserSession, RevokedCredential):
        report.add(model._meta.label_lower, "deleted", model.objects.all().delete()[0])
    for label in _CREDENTIAL_APPS:
        try:
            config = apps.get_app_config(label)
        except LookupError:
            continue
        for model in config.get_models():
            report.add(model._meta.label_lower, "deleted", model.objects.all().delete()[0])
    fakes = pseudonymization.pseudonyms
    for suspension in Suspension.objects.exclude(reason=""):
        reason = fakes.text(suspension.reason)
        if reason != suspension.reason:
            Suspension.objects.filter(pk=suspension.pk).update(reason=reason)
            report.add("security.suspension", "pseudonymized", 1)
