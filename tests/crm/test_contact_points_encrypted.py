"""Phones and e-mails are encrypted in the database and found through their blind index."""

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from crm import selectors, services
from crm.models import Contact, ContactPoint
from crm.selectors import DealFilters
from tests.factories import make_contact

pytestmark = pytest.mark.django_db

PHONE, EMAIL = "+79161234567", "Petr@example.ru"
CLEAR = ["+79161234567", "9161234567", "916123", "petr@example.ru", "example.ru"]


def all_cells(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
        return [str(cell).lower() for row in cursor.fetchall() for cell in row]


def test_the_raw_rows_hold_no_plaintext_phone_or_email(anna_contact):
    cells = all_cells("crm_contactpoint")
    assert cells
    for clear in CLEAR:
        assert not [cell for cell in cells if clear in cell], clear
    # The values read back in clear in Python.
    assert sorted(p.value for p in anna_contact.points.all()) == [PHONE, EMAIL]


def test_the_change_log_holds_no_plaintext_either(anna_contact):
    services.contact_points_replace(
        contact=anna_contact, kind="phone", values=["+7 916 765-43-21"]
    )
    cells = all_cells("auditlog_logentry")
    assert any("value_index" in cell for cell in cells)  # the change itself is recorded
    for clear in CLEAR + ["+79167654321", "7654321"]:
        assert not [cell for cell in cells if clear in cell], clear


@pytest.mark.parametrize(
    "typed", ["8 (916) 123-45-67", "+7 916 123 45 67", "89161234567", "+79161234567"]
)
def test_lookup_by_phone_in_any_format_finds_the_contact(anna, anna_contact, typed):
    assert list(selectors.contacts_by_phone(user=anna, phone=typed)) == [anna_contact]


def test_lookup_is_scoped_by_visibility_but_inbound_matching_is_not(anna_contact, olga):
    assert not selectors.contacts_by_phone(user=olga, phone="8 916 123-45-67").exists()
    [point] = selectors.contact_point_lookup(kind="phone", value="8 916 123-45-67")
    assert point.contact == anna_contact and point.value == PHONE


def test_email_lookup_ignores_case_and_keeps_the_typed_value(anna, anna_contact):
    found = selectors.contacts_by_point(user=anna, kind="email", value="PETR@example.RU")
    assert list(found) == [anna_contact]
    assert anna_contact.points.get(kind="email").value == EMAIL


def test_nonsense_finds_nothing(anna, anna_contact):
    assert not selectors.contacts_by_phone(user=anna, phone="not a phone").exists()
    assert not selectors.contacts_by_phone(user=anna, phone="8 916 123-45-68").exists()
    assert not selectors.contact_point_lookup(kind="email", value="@").exists()


@pytest.mark.parametrize("q", ["8 (916) 123-45-67", "+7 916 123 45 67", "petr@EXAMPLE.ru"])
def test_contact_and_deal_search_match_a_whole_phone_or_email(anna, anna_contact, anna_deal, q):
    assert list(selectors.contact_list(user=anna, q=q)) == [anna_contact]
    assert list(selectors.deal_list(user=anna, filters=DealFilters(q=q))) == [anna_deal]


def test_search_by_name_still_works_and_partial_numbers_do_not_leak(anna, anna_contact):
    assert list(selectors.contact_list(user=anna, q="Смирнов")) == [anna_contact]
    assert not selectors.contact_list(user=anna, q="45-67").exists()


def test_duplicates_are_still_prevented(anna_contact):
    again = services.contact_point_add(contact=anna_contact, kind="phone", value="+7 916 1234567")
    assert anna_contact.points.filter(kind="phone").get() == again
    services.contact_point_add(contact=anna_contact, kind="email", value="PETR@example.ru")
    assert anna_contact.points.filter(kind="email").count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactPoint.objects.create(contact=anna_contact, kind="phone", value=PHONE)


def test_replace_dedupes_by_index_and_updates_in_place(anna_contact):
    point = anna_contact.points.get(kind="email")
    services.contact_points_replace(
        contact=anna_contact, kind="email",
        values=["new@mail.ru", "PETR@example.ru", "petr@example.ru"],
    )
    points = list(anna_contact.points.filter(kind="email").order_by("id"))
    assert [(p.value, p.is_primary) for p in points] == [
        ("PETR@example.ru", False), ("new@mail.ru", True),
    ]
    assert points[0].pk == point.pk  # the same row, its value re-encrypted


def test_the_same_number_may_belong_to_two_contacts(anna, anna_contact):
    other = make_contact(anna, name="Секретарь", phones=["8 916 123 45 67"])
    found = selectors.contact_point_lookup(kind="phone", value=PHONE)
    assert {p.contact for p in found} == {anna_contact, other}


def test_filtering_on_the_encrypted_value_fails_loudly(anna_contact):
    with pytest.raises(FieldError, match="blind index"):
        ContactPoint.objects.filter(value=PHONE).exists()
    assert ContactPoint.objects.filter(value__isnull=False).count() == 2


def test_the_text_of_a_point_does_not_show_its_value(anna_contact):
    assert PHONE not in str(anna_contact.points.get(kind="phone"))


# --- The migration ---------------------------------------------------------------------------

BEFORE, AFTER = [("crm", "0002_initial")], [("crm", "0003_contact_point_encrypted")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_rows_and_can_be_reversed(anna):
    contact = Contact.objects.create(name="Старый клиент", owner=anna, team=anna.team)
    rows = [("phone", PHONE, True), ("email", "Old@Mail.ru", False),
            ("email", "old@mail.ru", True), ("email", "x@mail.ru", False)]
    try:
        migrate(BEFORE)
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO crm_contactpoint (contact_id, kind, value, label, is_primary) "
                "VALUES (%s, %s, %s, '', %s)",
                [(contact.pk, *row) for row in rows],
            )
        # An entry of the old change log: the value as its title, half of it in the changes.
        LogEntry.objects.create(
            content_type=ContentType.objects.get_for_model(ContactPoint), object_pk="1",
            object_repr=PHONE, action=LogEntry.Action.CREATE,
            changes={"kind": ["None", "phone"], "value": ["None", "******234567"]},
        )
        migrate(AFTER)
        assert all(cell.startswith("v1:") for cell in _values())
        for clear in CLEAR + ["234567"]:
            assert not [cell for cell in all_cells("auditlog_logentry") if clear in cell], clear
        entry = LogEntry.objects.get_for_model(ContactPoint).get()
        assert (entry.object_repr, entry.changes) == ("phone #1", {"kind": ["None", "phone"]})
        # Two addresses differing only in case are one: the primary one stays.
        # Only the columns 0003 has: later migrations add others the model already names.
        assert sorted((p.kind, p.value) for p in contact.points.only("kind", "value")) == [
            ("email", "old@mail.ru"), ("email", "x@mail.ru"), ("phone", PHONE),
        ]
        # The blind index the lookup matches on (the lookup itself also reads a column of a
        # later crm migration: a merged card's).
        index = selectors.contact_point_index(kind="phone", value="8 916 123-45-67")
        found = ContactPoint.objects.filter(kind="phone", value_index=index)
        assert list(found.values_list("contact_id", flat=True)) == [contact.pk]

        migrate(BEFORE)
        assert sorted(_values()) == sorted([PHONE, "old@mail.ru", "x@mail.ru"])
    finally:
        # Back to the latest state of every app: going back to crm 0002 also unapplied the
        # migrations of apps that depend on later crm ones (inbox).
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def _values() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM crm_contactpoint")
        return [row[0] for row in cursor.fetchall()]
