# Contact points encrypted at rest, found through a blind index (DESIGN.md, invariant 7).
#
# The unique constraint and the lookup index move from `value` (now a ciphertext that differs
# on every write) to `value_index`. Existing rows are encrypted here with the current key of
# FIELD_ENCRYPTION_KEYS and indexed under BLIND_INDEX_KEY, in batches, through plain SQL:
# the historical model's field would try to decrypt the plain values it reads.
#
# Change-log entries of contact points written before this lose the values they held (the
# whole value as the entry's title, half of it in the changes).
#
# The index ignores the case of e-mail addresses, so two addresses of one contact that
# differed only in case become duplicates: the primary one (else the oldest) is kept.
# Reversible: going back decrypts the values into the old column.

import json

from django.db import migrations, models

import core.fields
from core import crypto

PURPOSE = "contact_point"
BATCH = 2000


def _index(kind, value):
    # As ContactPoint.index_of at the time of writing; a later change to it needs its own
    # migration to recompute the indexes (or `manage.py rotate_keys --reindex`).
    return crypto.blind_index(kind, value.lower() if kind == "email" else value)


def _plain(value):
    if value.startswith(crypto.VERSION + ":"):
        try:
            return crypto.decrypt(value, PURPOSE), True
        except crypto.DecryptionError:
            pass
    return value, False


def _batches(cursor, table, columns):
    last = 0
    while True:
        cursor.execute(
            f"SELECT id, {', '.join(columns)} FROM {table} WHERE id > %s ORDER BY id LIMIT %s",
            [last, BATCH],
        )
        rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def encrypt_values(apps, schema_editor):
    model = apps.get_model("crm", "ContactPoint")
    connection = schema_editor.connection
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as reader, connection.cursor() as writer:
        for rows in _batches(reader, table, ["kind", "value"]):
            updates = []
            for pk, kind, value in rows:
                plain, encrypted = _plain(value or "")
                token = value if encrypted else crypto.encrypt(plain, PURPOSE)
                updates.append([token, _index(kind, plain), pk])
            writer.executemany(
                f"UPDATE {table} SET value = %s, value_index = %s WHERE id = %s", updates
            )
        # Duplicates under the new rule: keep the primary one, else the oldest.
        reader.execute(
            f"SELECT contact_id, kind, value_index FROM {table} "
            "GROUP BY contact_id, kind, value_index HAVING COUNT(*) > 1"
        )
        for contact_id, kind, index in reader.fetchall():
            writer.execute(
                f"SELECT id FROM {table} WHERE contact_id = %s AND kind = %s AND value_index = %s "
                "ORDER BY is_primary DESC, id",
                [contact_id, kind, index],
            )
            extra = [row[0] for row in writer.fetchall()[1:]]
            model.objects.filter(pk__in=extra).delete()
            if connection.vendor == "postgresql":
                # Check the deferred foreign keys now: PostgreSQL refuses the ALTER TABLE that
                # adds the constraint while trigger events of the deletion are pending.
                writer.execute("SET CONSTRAINTS ALL IMMEDIATE")
                writer.execute("SET CONSTRAINTS ALL DEFERRED")


def scrub_audit_log(apps, schema_editor):
    """Earlier change-log entries named each point by its value and kept half of it; the
    values go, the fact of the change stays."""
    log = apps.get_model("auditlog", "LogEntry")
    entries = log.objects.filter(
        content_type__app_label="crm", content_type__model="contactpoint"
    ).order_by("pk")
    last = 0
    while batch := list(entries.filter(pk__gt=last)[:BATCH]):
        for entry in batch:
            changes = entry.changes
            if isinstance(changes, str):
                changes = json.loads(changes or "{}")
            changes = changes or {}
            changes.pop("value", None)
            kind = (changes.get("kind") or [None, None])[-1]
            entry.object_repr = f"{kind if kind in ('phone', 'email') else 'contact point'} " \
                                f"#{entry.object_pk}"
            entry.changes = changes
        log.objects.bulk_update(batch, ["object_repr", "changes"])
        last = batch[-1].pk


def decrypt_values(apps, schema_editor):
    model = apps.get_model("crm", "ContactPoint")
    connection = schema_editor.connection
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as reader, connection.cursor() as writer:
        for rows in _batches(reader, table, ["value"]):
            updates = [[_plain(value or "")[0], pk] for pk, value in rows]
            writer.executemany(f"UPDATE {table} SET value = %s WHERE id = %s", updates)


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0002_initial"),
        # FieldReveal points at contact points; its SET_NULL must exist before duplicates go.
        ("security", "0002_shares_field_policy_exports"),
        ("auditlog", "0017_add_actor_email"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="contactpoint",
            name="contact_point_unique_per_contact",
        ),
        migrations.RemoveIndex(
            model_name="contactpoint",
            name="crm_contact_kind_6e46e0_idx",
        ),
        migrations.AddField(
            model_name="contactpoint",
            name="value_index",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="contactpoint",
            name="value",
            field=core.fields.EncryptedTextField(
                max_length=254, purpose="contact_point", verbose_name="value"
            ),
        ),
        migrations.RunPython(encrypt_values, decrypt_values, elidable=False),
        migrations.RunPython(scrub_audit_log, migrations.RunPython.noop, elidable=False),
        migrations.AddIndex(
            model_name="contactpoint",
            index=models.Index(fields=["kind", "value_index"], name="contact_point_lookup"),
        ),
        migrations.AddConstraint(
            model_name="contactpoint",
            constraint=models.UniqueConstraint(
                fields=("contact", "kind", "value_index"), name="contact_point_unique_per_contact"
            ),
        ),
    ]
