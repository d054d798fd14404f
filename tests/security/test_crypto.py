"""Encryption at rest (core.crypto), its settings, and `manage.py rotate_keys`."""

import base64
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from core import crypto
from crm import selectors
from tests.factories import make_contact

ROOT = Path(__file__).resolve().parent.parent.parent


def b64key(fill: bytes) -> str:
    return base64.b64encode(fill * 32).decode()


OLD = f"k1:{b64key(b'a')}"
NEW = f"k2:{b64key(b'b')}"
BLIND = b64key(b"c")


@pytest.fixture
def keys(settings):
    settings.FIELD_ENCRYPTION_KEYS = OLD
    settings.BLIND_INDEX_KEY = BLIND
    return settings


# --- Values ----------------------------------------------------------------------------------


def test_a_value_round_trips_and_each_encryption_differs(keys):
    first = crypto.encrypt("+79161234567", "contact_point")
    second = crypto.encrypt("+79161234567", "contact_point")
    assert first != second  # a fresh nonce every time
    assert first.startswith("v1:k1:") and "9161234567" not in first
    assert crypto.decrypt(first, "contact_point") == "+79161234567"
    assert crypto.decrypt(crypto.encrypt("Ёжик@почта.рф", "x"), "x") == "Ёжик@почта.рф"


def test_bytes_round_trip_with_a_compact_header(keys):
    data = os.urandom(1000)
    token = crypto.encrypt_bytes(data, "export")
    assert token.startswith(b"v1:k1:")
    assert len(token) == len(b"v1:k1:") + 12 + len(data) + 16
    assert crypto.decrypt_bytes(token, "export") == data


@pytest.mark.parametrize("position", [6, 10, -1])
def test_it_detects_a_flipped_byte(keys, position):
    token = bytearray(crypto.encrypt_bytes(b"payment schedule", "export"))
    token[position] ^= 0x01
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(bytes(token), "export")


def test_it_detects_an_altered_string(keys):
    token = crypto.encrypt("+79161234567", "contact_point")
    body = bytearray(base64.urlsafe_b64decode(token.split(":")[2] + "=="))
    body[-3] ^= 0x80
    altered = "v1:k1:" + base64.urlsafe_b64encode(bytes(body)).decode().rstrip("=")
    with pytest.raises(crypto.DecryptionError, match="altered"):
        crypto.decrypt(altered, "contact_point")


def test_a_value_does_not_decrypt_under_another_purpose(keys):
    token = crypto.encrypt("+79161234567", "contact_point")
    with pytest.raises(crypto.DecryptionError, match="purpose"):
        crypto.decrypt(token, "provider_token")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt_bytes(crypto.encrypt_bytes(b"x", "export"), "recording")


@pytest.mark.parametrize("token", ["+79161234567", "v1:k1", "v2:k1:abc", "v1:k1:!!!", "v1:k1:AA"])
def test_malformed_tokens_are_refused(keys, token):
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, "contact_point")


def test_a_second_key_decrypts_old_values_and_encrypts_new_ones(keys):
    old_token = crypto.encrypt("ivan@mail.ru", "contact_point")
    keys.FIELD_ENCRYPTION_KEYS = f"{NEW},{OLD}"
    assert crypto.decrypt(old_token, "contact_point") == "ivan@mail.ru"
    assert crypto.encrypt("ivan@mail.ru", "contact_point").startswith("v1:k2:")
    keys.FIELD_ENCRYPTION_KEYS = NEW
    with pytest.raises(crypto.DecryptionError, match="'k1'"):
        crypto.decrypt(old_token, "contact_point")


def test_the_blind_index_is_keyed_and_bound_to_its_purpose(keys):
    index = crypto.blind_index("phone", "+79161234567")
    assert len(index) == 64 and index == crypto.blind_index("phone", "+79161234567")
    assert crypto.blind_index("email", "+79161234567") != index
    keys.BLIND_INDEX_KEY = b64key(b"d")
    assert crypto.blind_index("phone", "+79161234567") != index


# --- Key settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no key"),
        ("k1", "id:base64-key"),
        ("bad id:" + b64key(b"a"), "id:base64-key"),
        ("k1:not base64!", "not base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        (f"{OLD},k1:{b64key(b'b')}", "twice"),
    ],
)
def test_a_malformed_keyring_is_refused(text, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        crypto.parse_keyring(text)


def test_urlsafe_and_unpadded_keys_are_accepted():
    raw = bytes(range(250, 256)) * 5 + b"\xfb\xff"
    keys = crypto.parse_keyring("k9:" + base64.urlsafe_b64encode(raw).decode().rstrip("="))
    assert keys == [("k9", raw)]


def test_the_blind_index_key_must_differ_from_the_field_keys():
    with pytest.raises(ImproperlyConfigured, match="differ"):
        crypto.check_keys(f"{NEW},{OLD}", OLD.split(":")[1])


def _boot(extra_env: dict, code: str = "import django; django.setup()"):
    drop = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CRM_MODE", "DEBUG", "CRM_VAR_DIR",
            "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY", "FIELD_ENCRYPTION_KEYS_FILE",
            "BLIND_INDEX_KEY_FILE"}
    environment = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT, env=environment | extra_env | {"DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, timeout=60,
    )


PRODUCTION = {
    "CRM_MODE": "production",
    "DATABASE_URL": "postgres://u:p@127.0.0.1:1/crm",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "ALLOWED_HOSTS": "crm.example.ru",
    "SECRET_KEY": "Zq9-" * 15,
}
PRINT_KEYS = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.FIELD_ENCRYPTION_KEYS); print(settings.BLIND_INDEX_KEY)"
)


@pytest.mark.parametrize(
    "missing", [("FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY"), ("BLIND_INDEX_KEY",)]
)
def test_production_refuses_to_start_without_keys(missing, tmp_path):
    given = {"FIELD_ENCRYPTION_KEYS": NEW, "BLIND_INDEX_KEY": BLIND}
    extra = {k: v for k, v in given.items() if k not in missing}
    result = _boot(PRODUCTION | extra | {"CRM_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    for name in missing:
        assert f"{name}" in result.stderr
    assert not (tmp_path / "keys.json").exists()  # never silently generated in production


def test_production_starts_with_keys_from_secret_files(tmp_path):
    (tmp_path / "field_keys").write_text(f"{NEW},{OLD}\n")
    (tmp_path / "blind_key").write_text(BLIND + "\n")
    result = _boot(
        PRODUCTION | {"FIELD_ENCRYPTION_KEYS_FILE": str(tmp_path / "field_keys"),
                      "BLIND_INDEX_KEY_FILE": str(tmp_path / "blind_key")},
        PRINT_KEYS,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [f"{NEW},{OLD}", BLIND]


@pytest.mark.parametrize(
    "extra, name",
    [
        ({"FIELD_ENCRYPTION_KEYS": "k1:tooshort", "BLIND_INDEX_KEY": BLIND},
         "FIELD_ENCRYPTION_KEYS"),
        ({"FIELD_ENCRYPTION_KEYS": "no-colon-here", "BLIND_INDEX_KEY": BLIND},
         "FIELD_ENCRYPTION_KEYS"),
        ({"FIELD_ENCRYPTION_KEYS": NEW, "BLIND_INDEX_KEY": "%%%"}, "BLIND_INDEX_KEY"),
        ({"FIELD_ENCRYPTION_KEYS": NEW, "BLIND_INDEX_KEY": NEW.split(":")[1]},
         "BLIND_INDEX_KEY"),
    ],
)
@pytest.mark.parametrize("mode", ["production", "embedded"])
def test_malformed_keys_stop_the_process(extra, name, mode, tmp_path):
    base = PRODUCTION if mode == "production" else {"CRM_VAR_DIR": str(tmp_path)}
    result = _boot(base | extra)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr


def test_the_embedded_mode_generates_its_keys_once_and_keeps_them_private(tmp_path):
    first = _boot({"CRM_VAR_DIR": str(tmp_path)}, PRINT_KEYS)
    assert first.returncode == 0, first.stderr
    path = tmp_path / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert first.stdout.split() == [stored["field_encryption_keys"], stored["blind_index_key"]]
    crypto.check_keys(*first.stdout.split())
    second = _boot({"CRM_VAR_DIR": str(tmp_path)}, PRINT_KEYS)
    assert second.stdout == first.stdout
    assert [p.name for p in tmp_path.iterdir() if "keys" in p.name] == ["keys.json"]


def test_the_environment_overrides_the_embedded_keys(tmp_path):
    result = _boot(
        {"CRM_VAR_DIR": str(tmp_path), "FIELD_ENCRYPTION_KEYS": NEW, "BLIND_INDEX_KEY": BLIND},
        PRINT_KEYS,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [NEW, BLIND]


# --- rotate_keys -----------------------------------------------------------------------------


def rotate(*args) -> str:
    out = io.StringIO()
    call_command("rotate_keys", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def stored_tokens() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM crm_contactpoint ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def test_rotate_keys_moves_every_value_to_the_new_key(keys, anna):
    contacts = [make_contact(anna, phones=[f"+7916000000{i}"], emails=[f"c{i}@mail.ru"])
                for i in range(3)]
    assert all(t.startswith("v1:k1:") for t in stored_tokens())
    assert "0 under old keys" in rotate("--check")

    keys.FIELD_ENCRYPTION_KEYS = f"{NEW},{OLD}"
    with pytest.raises(CommandError, match="6 values and files still use old keys"):
        rotate("--check")
    assert "crm.ContactPoint.value: 6 re-encrypted under k2, 0 failed" in rotate()
    assert all(t.startswith("v1:k2:") for t in stored_tokens())
    assert "crm.ContactPoint.value: 0 re-encrypted" in rotate()  # idempotent
    assert "0 under old keys" in rotate("--check")

    keys.FIELD_ENCRYPTION_KEYS = NEW  # the old key can go now
    assert contacts[2].points.get(kind="phone").value == "+79160000002"
    assert selectors.contacts_by_phone(user=anna, phone="8 916 000-00-01").get() == contacts[1]


def test_rotate_keys_reports_values_it_cannot_decrypt(keys, anna):
    make_contact(anna, phones=["+79160000001", "+79160000002"])
    keys.FIELD_ENCRYPTION_KEYS = NEW  # k1 dropped before rotating: its values are unreadable
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="2 values could not be decrypted"):
        call_command("rotate_keys", stdout=out, stderr=err)
    assert "0 re-encrypted under k2, 2 failed" in out.getvalue()
    assert "'k1'" in err.getvalue()
    with pytest.raises(CommandError, match="2 values and files still use old keys"):
        rotate("--check")


def test_rotate_keys_moves_every_file_too_and_resumes_after_a_crash(keys, anna, north,
                                                                    monkeypatch):
    """Attachments, recordings and exports under the old key; a rotation killed on its
    second file; files written meanwhile (under the new key); the run again finishes, the
    check passes, the old key goes, and every file and value still reads."""
    from inbox import attachments
    from inbox.models import Attachment, Channel, ChannelIdentity, Conversation, Message
    from security import exports
    from security.models import ExportRequest
    from telephony import recordings

    contact = make_contact(anna, phones=["+79160000001"])
    channel = Channel.objects.create(kind="website", name="Чат", team=north, public_key="rot")
    identity = ChannelIdentity.objects.create(channel=channel, external_id="v", contact=contact)
    message = Message.objects.create(
        conversation=Conversation.objects.create(channel=channel, identity=identity,
                                                 contact=contact),
        channel=channel, direction="in", status="received")
    old_files = [attachments.attach(message=message, data=f"file {i}".encode(),
                                    name=f"{i}.pdf", mime_type="application/pdf")
                 for i in range(3)]
    recording = recordings.storage.store(b"ID3 the call")
    export = ExportRequest.objects.create(user=anna, resource="deals", status="ready")
    export.file_path = exports._write(export, b"id;title")
    export.save(update_fields=["file_path"])

    keys.FIELD_ENCRYPTION_KEYS = f"{NEW},{OLD}"
    with pytest.raises(CommandError, match="7 values and files still use old keys"):
        rotate("--check")  # the phone, the visitor's id; 3 attachments, a recording, an export
    real_replace, calls = os.replace, []

    def killed_on_the_second(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process killed mid-rotation
        real_replace(source, target)

    monkeypatch.setattr("security.management.commands.rotate_keys.os.replace",
                        killed_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        rotate()
    monkeypatch.undo()
    assert not list(Path(keys.MEDIA_ROOT).rglob("*.rotating"))  # nothing half-written left
    written_meanwhile = attachments.attach(message=message, data=b"new", name="new.pdf",
                                           mime_type="application/pdf")
    with pytest.raises(CommandError, match="still use old keys"):
        rotate("--check")
    out = rotate()
    assert "files attachments/: 2 re-encrypted under k2, 0 failed" in out  # 1 done before
    assert "files recordings/: 1 re-encrypted" in out and "files exports/: 1 re-encrypted" in out
    assert "files attachments/: 0 under old keys" in rotate("--check")

    keys.FIELD_ENCRYPTION_KEYS = NEW  # the old key can go now
    for i, attachment in enumerate(old_files):
        assert attachments.open_decrypted(attachment) == f"file {i}".encode()
    assert attachments.open_decrypted(written_meanwhile) == b"new"
    assert recordings.storage.read(recording) == b"ID3 the call"
    assert exports.ready_file_text(export) == "id;title"
    assert contact.points.get(kind="phone").value == "+79160000001"
    assert all(Path(keys.MEDIA_ROOT, a.file_path).read_bytes().startswith(b"v1:k2:")
               for a in Attachment.objects.all())


def test_reindex_recomputes_the_blind_indexes_under_a_new_key(keys, anna):
    contact = make_contact(anna, phones=["+79161234567"])
    keys.BLIND_INDEX_KEY = b64key(b"e")
    assert not selectors.contacts_by_phone(user=anna, phone="+79161234567").exists()
    assert "crm.ContactPoint: 1 blind indexes recomputed" in rotate("--reindex")
    assert selectors.contacts_by_phone(user=anna, phone="+79161234567").get() == contact


def test_generate_key_prints_an_entry_for_the_keyring(db):
    entry = rotate("--generate-key").strip()
    [(kid, key)] = crypto.parse_keyring(entry)
    assert entry.startswith(kid + ":") and len(key) == 32
