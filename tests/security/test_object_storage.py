"""Object storage (issue 21): with the file and backup stores in a fresh bucket of a real
S3-compatible server (moto's, started by scripts/test-services.sh as TEST_S3_URL), files of
client data go through the product's own ways in and out: an attachment uploaded from the
composer, a recording fetched from the PBX and an export are in the bucket encrypted and read
back whole and by byte range; a key rotation moves the objects and `--check` counts them; an
erasure deletes them; a backup goes to the bucket and restores from it. Nothing lands on the
local disk meanwhile."""

import os
import uuid
from io import StringIO
from pathlib import Path

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from config import env
from consents import erasure
from core import storage
from inbox import attachments
from inbox.models import Attachment, Message
from security import exports
from security.models import ExportRequest
from telephony.models import Recording
from tests.factories import client_for
from tests.inbox.conftest import anna_conversation  # noqa: F401
from tests.inbox.test_attachments import BINARY, download_url, send_file
from tests.security.test_backups import key_file, media, restore, snapshot, world  # noqa: F401
from tests.security.test_crypto import NEW, OLD, keys, rotate  # noqa: F401
from tests.security.test_exports import download, export_via_api, rows_of
from tests.telephony.fixtures_outbound import anna_call, fake_mango_api, mango_account  # noqa: F401
from tests.telephony.test_recordings import MP3, stored, url  # noqa: F401

KEY_ID, SECRET = "test-key-id", "test-secret"


class Bucket:
    """The bucket as the S3 server holds it, read from outside the product."""

    def __init__(self, endpoint_url: str, name: str):
        self.name = name
        self.client = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1",
                                   aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
        self.client.create_bucket(Bucket=name)

    def keys(self, prefix: str = "") -> list[str]:
        answer = self.client.list_objects_v2(Bucket=self.name, Prefix=prefix)
        return sorted(entry["Key"] for entry in answer.get("Contents", ()))

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        return {key: self.get(key) for key in self.keys(prefix)}

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def empty(self, prefix: str) -> None:
        for key in self.keys(prefix):
            self.client.delete_object(Bucket=self.name, Key=key)


@pytest.fixture
def bucket(settings, tmp_path):
    """A bucket of its own for the test, holding the file store (media/) and the backup store
    (backups/) as OBJECT_STORAGE_* would configure them. The local folders must stay empty."""
    endpoint_url = os.environ.get("TEST_S3_URL")
    assert endpoint_url, "no S3 server: run the tests through scripts/test-services.sh"
    bucket = Bucket(endpoint_url, f"crm-test-{uuid.uuid4().hex[:16]}")
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.STORAGES = {**settings.STORAGES, **storage.object_storages(
        bucket=bucket.name, endpoint_url=endpoint_url, region="us-east-1",
        access_key_id=KEY_ID, secret_access_key=SECRET)}
    yield bucket
    for folder in (settings.MEDIA_ROOT, settings.BACKUP_DIR):
        assert not [p for p in Path(folder).rglob("*") if p.is_file()], f"a file in {folder}"


def assert_encrypted(raw: bytes, plaintext: bytes, recognisable: bytes) -> None:
    assert raw.startswith(b"v1:") and raw != plaintext and recognisable not in raw


@pytest.mark.django_db
def test_an_uploaded_attachment_is_in_the_bucket_encrypted_and_downloads_by_range(
        bucket, anna, anna_conversation, fake_bot_api,  # noqa: F811
        django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("Счёт №17.pdf", BINARY, content_type="application/pdf")
    response = send_file(anna, anna_conversation, django_capture_on_commit_callbacks, upload)
    assert response.status_code == 200
    attachment = Message.objects.get().attachments.get()
    [key] = bucket.keys()
    assert key == f"media/{attachment.file_path}"
    assert_encrypted(bucket.get(key), BINARY, b"technical specification")
    [call] = fake_bot_api.calls("sendDocument")  # sent from what the bucket holds
    assert call.files["document"][1] == BINARY

    client = client_for(anna)
    assert client.get(download_url(attachment)).content == BINARY
    part = client.get(download_url(attachment), HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and part.content == BINARY[10:20]
    assert part["Content-Range"] == f"bytes 10-19/{len(BINARY)}"
    assert client.get(download_url(attachment), HTTP_RANGE="bytes=-5").content == BINARY[-5:]
    beyond = client.get(download_url(attachment), HTTP_RANGE=f"bytes={len(BINARY)}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{len(BINARY)}"


@pytest.mark.django_db
def test_a_fetched_recording_is_in_the_bucket_encrypted_and_plays_by_range(
        bucket, anna, anna_call, stored):  # noqa: F811
    [key] = bucket.keys()
    assert key == f"media/{stored.file_path}"
    assert_encrypted(bucket.get(key), MP3, b"budget-is-2M")
    client = client_for(anna)
    assert client.get(url(anna_call)).content == MP3
    part = client.get(url(anna_call), HTTP_RANGE="bytes=4-13")
    assert part.status_code == 206 and part.content == MP3[4:14]
    assert part["Content-Range"] == f"bytes 4-13/{len(MP3)}"


@pytest.mark.django_db
def test_an_export_waits_in_the_bucket_encrypted_and_goes_once_downloaded(
        bucket, head_north, anna_deal):
    response = export_via_api(head_north)
    assert response.status_code == 201, response.content
    export = ExportRequest.objects.get(pk=response.json()["id"])
    assert bucket.keys() == [f"media/exports/{export.pk}"]
    raw = bucket.get(f"media/exports/{export.pk}")
    assert raw.startswith(b"v1:") and anna_deal.title.encode() not in raw
    assert "Поставка серверов" in exports.ready_file_text(export)  # what erasure checks

    file = download(head_north, export.pk)
    assert file.status_code == 200
    assert anna_deal.title in {cell for row in rows_of(file.content, "csv") for cell in row}
    assert bucket.keys() == []  # handed out once, then deleted


@pytest.mark.django_db
def test_rotation_reencrypts_every_object_and_check_counts_them(
        bucket, keys, anna, head_north, anna_deal, anna_conversation,  # noqa: F811
        fake_bot_api, anna_call, stored, django_capture_on_commit_callbacks):  # noqa: F811
    """An attachment uploaded, the recording fetched and an export made under the old key."""
    send_file(anna, anna_conversation, django_capture_on_commit_callbacks,
              SimpleUploadedFile("a.pdf", BINARY, content_type="application/pdf"))
    export = ExportRequest.objects.get(pk=export_via_api(head_north).json()["id"])
    assert len(bucket.keys("media/")) == 3
    assert all(raw.startswith(b"v1:k1:") for raw in bucket.objects("media/").values())
    assert "files attachments/: 0 under old keys" in rotate("--check")

    keys.FIELD_ENCRYPTION_KEYS = f"{NEW},{OLD}"
    out = StringIO()
    with pytest.raises(CommandError, match="still use old keys"):
        call_command("rotate_keys", "--check", stdout=out, stderr=StringIO())
    for folder in ("attachments", "recordings", "exports"):
        assert f"files {folder}/: 1 under old keys" in out.getvalue()
    done = rotate()
    for folder in ("attachments", "recordings", "exports"):
        assert f"files {folder}/: 1 re-encrypted under k2, 0 failed" in done
    assert all(raw.startswith(b"v1:k2:") for raw in bucket.objects("media/").values())
    assert "files recordings/: 0 under old keys" in rotate("--check")

    keys.FIELD_ENCRYPTION_KEYS = NEW  # the old key goes; every object still reads
    assert client_for(anna).get(download_url(Attachment.objects.get())).content == BINARY
    assert client_for(anna).get(url(anna_call)).content == MP3
    assert exports.ready_file_text(export).count("Поставка серверов") == 1


@pytest.mark.django_db
def test_an_object_deleted_or_rewritten_meanwhile_is_not_replaced(bucket):
    """What lets a rotation not bring back a file erased while it was re-encrypting it."""
    store = storage.files()
    store.write("attachments/a.bin", b"first")
    version = store.version("attachments/a.bin")
    store.write("attachments/a.bin", b"rewritten")
    assert not store.replace("attachments/a.bin", b"rotated", version=version)
    assert store.read("attachments/a.bin") == b"rewritten"
    store.delete("attachments/a.bin")
    assert not store.replace("attachments/a.bin", b"rotated", version=version)
    assert bucket.keys() == []
    store.write("attachments/b.bin", b"kept")
    assert store.replace("attachments/b.bin", b"rotated",
                         version=store.version("attachments/b.bin"))
    assert bucket.get("media/attachments/b.bin") == b"rotated"
    assert store.head("attachments/b.bin", 3) == b"rot"


@pytest.mark.django_db
def test_erasure_deletes_the_clients_objects(bucket, world, stored, director,  # noqa: F811
                                             django_capture_on_commit_callbacks):
    """The client's attachment, and the recording of a call from their number (+7 916
    123-45-67, the world's client's phone and anna_call's)."""
    attachment, recording = Attachment.objects.get(), Recording.objects.get()
    assert bucket.keys() == sorted([f"media/{attachment.file_path}",
                                    f"media/{recording.file_path}"])
    with django_capture_on_commit_callbacks(execute=True):
        erasure.erase_contact(contact=world, by=director, reason="subject_request")
    assert not Recording.objects.exists()
    assert bucket.keys() == []


@pytest.mark.django_db(transaction=True)
def test_a_backup_goes_to_the_bucket_and_restores_from_it(bucket, world, key_file):  # noqa: F811
    old = ["backups/crm-backup-20250101T003000Z.crmbackup",
           "backups/crm-backup-20250102T003000Z.crmbackup"]
    for key in old:
        bucket.put(key, b"an old archive")
    bucket.put("backups/notes.txt", b"not ours")
    before, files = snapshot(), bucket.objects("media/")
    assert len(files) == 1

    out = StringIO()
    call_command("backup", keep_daily=1, keep_monthly=0, stdout=out, stderr=StringIO())
    where = out.getvalue().strip().splitlines()[-1]
    name = where.rsplit("/", 1)[-1]
    assert where == f"s3://{bucket.name}/backups/{name}"
    assert bucket.keys("backups/") == sorted([f"backups/{name}", "backups/notes.txt"])
    assert b"manifest.json" not in bucket.get(f"backups/{name}")  # encrypted
    listed = StringIO()
    call_command("backup", list_archives=True, stdout=listed)
    assert listed.getvalue().split("\t")[0] == where

    with connection.cursor() as cursor:  # everything gone
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    bucket.empty("media/")
    report = restore(where, key_file)  # by its s3:// address; raises if verify_audit breaks
    assert report.count("цепочка цела") == 3
    assert snapshot() == before
    assert bucket.objects("media/") == files
    assert attachments.open_decrypted(Attachment.objects.get()) == b"%PDF- the contract"

    with pytest.raises(CommandError, match="not empty"):
        restore(name, key_file)  # by its name in the backup store
    restore(name, key_file, force=True)
    assert snapshot() == before and bucket.objects("media/") == files
    with pytest.raises(CommandError, match="No archive at"):
        restore("crm-backup-20200101T000000Z.crmbackup", key_file, force=True)


def test_half_a_configuration_is_refused_at_start_up(monkeypatch):
    for name in env.OBJECT_STORAGE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert env.file_storages_from_env()["files"]["BACKEND"] == "core.storage.LocalStorage"
    monkeypatch.setenv("OBJECT_STORAGE_ACCESS_KEY_ID", "id")
    with pytest.raises(ImproperlyConfigured, match="without OBJECT_STORAGE_BUCKET"):
        env.file_storages_from_env()
    monkeypatch.setenv("OBJECT_STORAGE_BUCKET", "crm")
    with pytest.raises(ImproperlyConfigured, match="OBJECT_STORAGE_ENDPOINT_URL and "
                                                   "OBJECT_STORAGE_SECRET_ACCESS_KEY not"):
        env.file_storages_from_env()
    monkeypatch.setenv("OBJECT_STORAGE_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("OBJECT_STORAGE_ENDPOINT_URL", "storage.yandexcloud.net")
    with pytest.raises(ImproperlyConfigured, match="not an https:// URL"):
        env.file_storages_from_env()
    monkeypatch.setenv("OBJECT_STORAGE_ENDPOINT_URL", "https://storage.yandexcloud.net")
    configured = env.file_storages_from_env()
    assert configured["files"]["BACKEND"] == "core.object_storage.ObjectStorage"
    assert (configured["files"]["OPTIONS"]["location"],
            configured["backups"]["OPTIONS"]["location"]) == ("media", "backups")
    assert configured["files"]["OPTIONS"]["bucket_name"] == "crm"
