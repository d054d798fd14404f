"""Backups (issue 21): a round trip on PostgreSQL restores every row, file and encrypted value
and an intact audit chain; an altered, truncated or foreign archive is refused before the
target is touched, as is a restore into a database that is not empty; old archives are
pruned to N days and M months."""

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from crm.models import ContactPoint
from inbox import attachments
from inbox.models import Attachment, Channel, ChannelIdentity, Conversation, Message
from security import backups
from security.audit import access_log
from security.audit.access_log import Action
from tests.embedded import run_embedded
from tests.factories import make_contact

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key_file(settings, tmp_path):
    private, public = backups.generate_keypair()
    settings.BACKUP_PUBLIC_KEY = public
    path = tmp_path / "backup.key"
    path.write_text(private)
    return path


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def world(anna, north, media):
    contact = make_contact(anna, name="Ирина Котова", phones=["+79161234567"],
                           emails=["irina@example.ru"])
    channel = Channel.objects.create(kind="website", name="Чат", team=north,
                                     public_key="backup")
    identity = ChannelIdentity.objects.create(channel=channel, external_id="visitor-1",
                                              contact=contact)
    conversation = Conversation.objects.create(channel=channel, identity=identity,
                                               contact=contact)
    message = Message.objects.create(conversation=conversation, channel=channel,
                                     direction="in", status="received",
                                     text="Пришлите договор")
    attachments.attach(message=message, data=b"%PDF- the contract", name="договор.pdf",
                       mime_type="application/pdf")
    access_log.read(contact, action=Action.VIEW, user=anna)  # the chain has a record
    return contact


def snapshot() -> dict:
    """Every row of every table, in order."""
    rows = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names()):
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY 1')
            rows[table] = cursor.fetchall()
    return rows


def make_backup(output: Path) -> Path:
    from io import StringIO

    out = StringIO()
    call_command("backup", output=str(output), stdout=out, stderr=StringIO())
    return Path(out.getvalue().strip().splitlines()[-1])


def restore(archive: Path, key_file: Path, **options) -> str:
    from io import StringIO

    out = StringIO()
    call_command("restore", str(archive), key_file=str(key_file), stdout=out,
                 stderr=StringIO(), **options)
    return out.getvalue()


def test_a_round_trip_restores_every_row_file_and_value(world, key_file, media, tmp_path):
    before = snapshot()
    files = {path.relative_to(media): path.read_bytes() for path in media.rglob("*")
             if path.is_file()}
    archive = make_backup(tmp_path / "backups")
    assert archive.exists() and archive.parent == tmp_path / "backups"
    assert b"manifest.json" not in archive.read_bytes()  # nothing readable without the key

    with connection.cursor() as cursor:  # everything gone
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    shutil.rmtree(media)

    report = restore(archive, key_file)  # raises if verify_audit finds a break
    assert report.count("цепочка цела") == 3  # the access, change and consent logs
    assert snapshot() == before
    assert {path.relative_to(media): path.read_bytes() for path in media.rglob("*")
            if path.is_file()} == files
    point = ContactPoint.objects.get(contact=world, kind="phone")
    assert point.value == "+79161234567"  # decrypts under the field key as before
    assert attachments.open_decrypted(Attachment.objects.get()) == b"%PDF- the contract"


def test_an_altered_truncated_or_foreign_archive_is_refused(world, key_file, media, tmp_path):
    archive = make_backup(tmp_path / "backups")
    data = archive.read_bytes()
    before = snapshot()
    cases = {
        "altered": data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 1])
        + data[len(data) // 2 + 1:],
        "truncated": data[:-100],
        "not a backup": b"PK\x03\x04 a zip file",
    }
    for expected, damaged in cases.items():
        path = tmp_path / f"{expected}.crmbackup"
        path.write_bytes(damaged)
        with pytest.raises(CommandError, match=expected.split()[0] if expected != "not a "
                           "backup" else "not a backup archive"):
            restore(path, key_file, force=True)
    other = tmp_path / "other.key"
    other.write_text(backups.generate_keypair()[0])
    with pytest.raises(CommandError, match="made for backup key"):
        restore(archive, other, force=True)
    assert snapshot() == before  # nothing was touched


def test_a_restore_into_a_database_that_is_not_empty_is_refused(world, key_file, tmp_path):
    archive = make_backup(tmp_path / "backups")
    with pytest.raises(CommandError, match="not empty"):
        restore(archive, key_file)


def test_old_archives_are_pruned_to_days_and_months(tmp_path):
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    made = [now - timedelta(hours=12 * i) for i in range(200)]  # twice a day for 100 days
    for when in made:
        (tmp_path / f"crm-backup-{when:%Y%m%dT%H%M%SZ}.crmbackup").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not ours")
    backups.prune(tmp_path, keep_daily=7, keep_monthly=3)
    kept = sorted(path.name for path in tmp_path.glob("*.crmbackup"))
    days = {name[11:19] for name in kept}
    # The newest of each of the last 7 days, and of each of the last 3 months.
    assert len(kept) == 9 and len(days) == 9
    assert "crm-backup-20261207T030000Z.crmbackup" in kept
    assert {name[11:17] for name in kept} == {"202612", "202611", "202610"}
    assert (tmp_path / "notes.txt").exists()


EMBEDDED = r"""
import json, os, sys
from io import StringIO
from pathlib import Path
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from security import backups
from tests.factories import make_contact, make_user
from crm.models import ContactPoint

call_command("migrate", verbosity=0)
anna = make_user("anna", "manager")
make_contact(anna, name="Ирина", phones=["+79161234567"])
private, public = backups.generate_keypair()
settings.BACKUP_PUBLIC_KEY = public
out = StringIO()
call_command("backup", output=sys.argv[1], stdout=out, stderr=StringIO())
archive = out.getvalue().strip().splitlines()[-1]
before = ContactPoint.objects.get().value
connection.close()
Path(settings.DATABASES["default"]["NAME"]).unlink()  # everything gone
key = Path(sys.argv[1]) / "key"
key.write_text(private)
report = StringIO()
call_command("restore", archive, key_file=str(key), stdout=report, stderr=StringIO())
print(json.dumps({"value": ContactPoint.objects.get().value, "before": before,
                  "report": report.getvalue()}, ensure_ascii=False))
"""


def test_the_embedded_mode_backs_up_and_restores_its_sqlite(tmp_path):
    found = run_embedded(EMBEDDED, tmp_path / "var", str(tmp_path / "backups"))
    assert found["value"] == found["before"] == "+79161234567"
    assert found["report"].count("цепочка цела") == 3


def test_the_nightly_job_writes_an_archive_once_a_key_is_set(world, settings, tmp_path,
                                                           caplog):
    from django.conf import settings as live

    from security import tasks

    assert live.CELERY_BEAT_SCHEDULE["backup-daily"]["task"] == "security.backup_daily"
    settings.BACKUP_DIR = tmp_path / "nightly"
    settings.BACKUP_PUBLIC_KEY = ""
    assert tasks.backup_daily() == "" and "BACKUP_PUBLIC_KEY is not set" in caplog.text
    assert not (tmp_path / "nightly").exists()
    private, settings.BACKUP_PUBLIC_KEY = backups.generate_keypair()
    archive = Path(tasks.backup_daily())
    assert archive.parent == tmp_path / "nightly" and archive.stat().st_size > 0
    with archive.open("rb") as source, (tmp_path / "plain.tar").open("wb") as target:
        backups.decrypt_stream(source, target, backups.private_key(private))
