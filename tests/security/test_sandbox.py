"""`manage.py make_sandbox` (issue 21): a second PostgreSQL database on the test server gets a
copy of the test database in which the scan of the erasure test (tests/scanning.py) finds none
of the clients' names, phones, e-mails, chat ids or the identifiers in their texts; the same
source person has the same fake in every table; the sandbox opens with its own keys, its
chains verify, and it refuses the production database and a non-empty target."""

from io import StringIO
from urllib.parse import quote

import psycopg2
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from consents.models import Purpose
from consents.services import purpose_text_publish
from core import crypto
from crm import services as crm
from crm.models import Company
from security.audit import access_log
from security.audit.access_log import Action
from tests.scanning import Client, found, surroundings
from tests.security.test_backups import key_file, make_backup  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

# Personal data typed into free texts, of every kind the 584-FZ detector knows, and an address.
FREE_TEXT = ("Паспорт 45 06 123456, ИНН 7707083893, СНИЛС 112-233-445 95, карта "
             "4111 1111 1111 1111, доставка: г. Москва, ул. Кедровая, д. 17, кв. 42")
IN_FREE_TEXT = ["45 06 123456", "7707083893", "112-233-445 95", "4111 1111 1111 1111",
                "ул. Кедровая, д. 17"]


@pytest.fixture
def world(anna, director, north):
    newsletter = Purpose.objects.create(code="newsletter", title="Рассылка", is_advertising=True)
    purpose_text_publish(purpose=newsletter, text="Я согласен получать новости.")
    common = surroundings(owner=anna, team=north, newsletter=newsletter,
                          bot_token="1:secret-bot-token", pbx_key="mango-key")
    first = Client(name="Пётр Эрасов", phone="+79031234567", email="Petr.Erasov@example.ru",
                   chat_id="987654321", phrase="Пётр Эрасов пишет: мой паспорт 45 06 123456",
                   file_bytes=b"erasov-secret-scan", **common)
    second = Client(name="Мария Другова", phone="+79035556677", email="maria@example.org",
                    chat_id="123456789", phrase="Марии Друговой звонить на 8 903 555-66-77",
                    file_bytes=b"drugova-file-scan", **common)
    company = Company.objects.create(name="ООО «Кедрозавод»", inn="7707083893",
                                     address="г. Москва, ул. Кедровая, д. 17")
    crm.note_add(by=anna, deal=first.deal, text=f"{FREE_TEXT}. Эрасова просил Петра не звать")
    access_log.read(first.contact, action=Action.VIEW, user=anna)  # the chains have records
    return first, second, company


@pytest.fixture
def sandbox_url():
    """A second, empty database on the test server."""
    db = connection.settings_dict
    name = f"{db['NAME']}_sandbox"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield (f"postgres://{quote(db['USER'] or 'postgres')}:{quote(db['PASSWORD'] or '')}@"
           f"{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{name}")
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_sandbox(url: str, **options) -> str:
    out = StringIO()
    call_command("make_sandbox", database_url=url, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def use_keys_of(report: str, settings) -> None:
    """The sandbox's keys, as its report prints them, in the settings: production's (the test
    database's) open nothing in the sandbox."""
    lines = dict(line.split("=", 1) for line in report.splitlines() if "=" in line)
    settings.FIELD_ENCRYPTION_KEYS = lines["FIELD_ENCRYPTION_KEYS"]
    settings.BLIND_INDEX_KEY = lines["BLIND_INDEX_KEY"]


@pytest.fixture
def sandbox(world, sandbox_url):
    """The sandbox made, and a cursor on it (its values open with its keys: use_keys_of)."""
    report = make_sandbox(sandbox_url, password="training-2026")
    database = psycopg2.connect(sandbox_url)
    database.autocommit = True
    yield report, database.cursor()
    database.close()


def test_the_sandbox_holds_none_of_the_source_persons_values(world, sandbox, settings):
    first, second, company = world
    values = [*first.values(), *second.values(), company.name, company.inn, *IN_FREE_TEXT,
              "Эрасов", "Другов", "Петра"]
    assert {value for _where, value in found(values)} == \
        {value.lower() for value in values}, "the scan must see every value in the source"
    report, cursor = sandbox
    use_keys_of(report, settings)
    # Files are not copied into a sandbox: its database is all there is.
    hits = found(values, cursor=cursor, files=False)
    assert not hits, hits


def _one(cursor, query: str, *params) -> list:
    cursor.execute(query, params)
    return [row[0] if len(row) == 1 else row for row in cursor.fetchall()]


def test_the_same_person_has_the_same_fake_in_every_table(world, sandbox, settings):
    first, second, _company = world
    report, cursor = sandbox
    use_keys_of(report, settings)
    decrypt = crypto.decrypt
    for client in (first, second):
        pk = client.contact.pk
        [name] = _one(cursor, "SELECT name FROM crm_contact WHERE id = %s", pk)
        assert name != client.name and len(name.split()) == 2
        points = dict(_one(cursor, "SELECT kind, value FROM crm_contactpoint "
                                   "WHERE contact_id = %s", pk))
        phone = decrypt(points["phone"], "contact_point")
        email = decrypt(points["email"], "contact_point")
        assert phone.startswith("+79") and len(phone) == 12 and phone != client.phone
        # The calls and click-to-call commands: the card's fake number.
        assert {decrypt(value, "call_client_number") for value in _one(
            cursor, "SELECT client_number FROM telephony_call WHERE contact_id = %s", pk)} \
            == {phone}
        assert {decrypt(value, "callback_to_number") for value in _one(
            cursor, "SELECT to_number FROM telephony_callbackcommand WHERE contact_id = %s",
            pk)} == {phone[1:]}  # written as digits, as the source's
        # The identities: the person's fake name; the mail one's id is the card's fake address.
        identities = _one(cursor, "SELECT i.display_name, i.external_id, c.kind FROM "
                                  "inbox_channelidentity i JOIN inbox_channel c "
                                  "ON c.id = i.channel_id WHERE i.contact_id = %s", pk)
        assert {display for display, _id, _kind in identities} == {name, f"{name} TG"}
        assert {decrypt(external_id, "channel_identity") for _name, external_id, kind
                in identities if kind == "email"} == {email.lower()}
        # The mail: its sender's fake address and name, the subject with the fake phrase.
        [(sender, sender_name)] = _one(
            cursor, "SELECT d.sender, d.sender_name FROM inbox_maildetails d "
                    "JOIN inbox_message m ON m.id = d.message_id JOIN inbox_conversation v "
                    "ON v.id = m.conversation_id WHERE v.contact_id = %s", pk)
        assert decrypt(sender, "mail_address") == email and sender_name == name
        # Free texts name them by their fake, inflected forms included.
        tasks = _one(cursor, "SELECT title FROM crm_task WHERE deal_id = %s", client.deal.pk)
        assert tasks == [f"Перезвонить {name}"]
    notes = " ".join(_one(cursor, "SELECT text FROM crm_note WHERE deal_id = %s",
                          first.deal.pk))
    fake_first, fake_last = _one(cursor, "SELECT name FROM crm_contact WHERE id = %s",
                                 first.contact.pk)[0].split()
    assert f"{fake_last} просил {fake_first} не звать" in notes


def test_files_logs_consents_and_secrets_are_dropped_and_the_chains_verify(world, sandbox):
    report, cursor = sandbox
    count = lambda table: _one(cursor, f"SELECT count(*) FROM {table}")[0]  # noqa: E731
    for table in ("telephony_recording", "inbox_inboundevent", "telephony_callevent",
                  "consents_consentevent", "consents_consentstate", "consents_subjectkey",
                  "security_accessrecord", "security_changeseal", "auditlog_logentry",
                  "security_fieldreveal", "security_chainhead", "authtoken_token"):
        assert count(table) == 0, table
    assert _one(cursor, "SELECT DISTINCT file_path FROM inbox_attachment") == [""]
    assert _one(cursor, "SELECT DISTINCT credentials FROM inbox_channel") == [""]
    assert _one(cursor, "SELECT DISTINCT api_key FROM telephony_pbxaccount") == [""]
    # Every user has the one password given (hashed as the product hashes, not the tests).
    hashes = _one(cursor, "SELECT password FROM security_user")
    assert len(hashes) == 2 and all(PBKDF2PasswordHasher().verify("training-2026", h)
                                    for h in hashes)
    # The report: per table, what was done.
    lines = {line.split()[0]: line.split(None, 1)[1] for line in report.splitlines()
             if line.startswith("  ")}
    assert lines["crm.contact"] == "pseudonymized 2"
    assert lines["inbox.inboundevent"] == "deleted 4"
    assert lines["telephony.recording"] == "deleted with its file 2"
    assert lines["inbox.attachment"] == "file dropped 2, pseudonymized 2"
    assert "Every user's password: training-2026" in report


def test_the_production_database_and_a_non_empty_target_are_refused(world, sandbox_url):
    db = connection.settings_dict
    production = (f"postgres://{quote(db['USER'] or 'postgres')}:{quote(db['PASSWORD'] or '')}"
                  f"@localhost:{db['PORT'] or 5432}/{db['NAME']}")
    with pytest.raises(CommandError, match="production"):
        make_sandbox(production, force=True)
    make_sandbox(sandbox_url)
    with pytest.raises(CommandError, match="not empty"):
        make_sandbox(sandbox_url)


def test_a_sandbox_is_made_from_a_backup_archive(world, sandbox_url, key_file, tmp_path,  # noqa: F811
                                                 settings):
    """The same sandbox from last night's archive instead of the live database: the archive
    checked and opened with the backup key, its dump restored into the target, then the same
    pseudonymization and scan."""
    first, second, company = world
    archive = make_backup(tmp_path / "backups")
    report = make_sandbox(sandbox_url, from_backup=str(archive), key_file=str(key_file),
                          password="training-2026")
    assert "crm.contact" in report
    database = psycopg2.connect(sandbox_url)
    try:
        use_keys_of(report, settings)
        values = [*first.values(), *second.values(), company.name, company.inn, *IN_FREE_TEXT]
        hits = found(values, cursor=database.cursor(), files=False)
        assert not hits, hits
        names = _one(database.cursor(), "SELECT name FROM crm_contact ORDER BY id")
        assert len(names) == 2 and first.name not in names
    finally:
        database.close()
    # A tampered archive makes no sandbox and leaves the target empty.
    tampered = tmp_path / "tampered.crmbackup"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 1
    tampered.write_bytes(bytes(data))
    with pytest.raises(CommandError):
        make_sandbox(sandbox_url, from_backup=str(tampered), key_file=str(key_file),
                     force=True)
    database = psycopg2.connect(sandbox_url)
    try:
        assert _one(database.cursor(), "SELECT count(*) FROM information_schema.tables "
                                        "WHERE table_schema = 'public'") == [0]
    finally:
        database.close()
