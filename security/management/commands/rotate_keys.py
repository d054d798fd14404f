"""`manage.py rotate_keys`: move every encrypted value to the current key.

Rotating a field key:
1. generate one (`rotate_keys --generate-key`) and put it first in FIELD_ENCRYPTION_KEYS,
   keeping the old keys after it; restart every process (web, ws, worker, beat);
2. `rotate_keys` re-encrypts every value still under an old key, in batches, each in its
   own transaction, so it can be interrupted and run again (idempotent);
3. `rotate_keys --check` exits non-zero while any value still uses an old key id; once it
   passes, the old keys can be removed from FIELD_ENCRYPTION_KEYS.

Files encrypted with `core.crypto.encrypt_bytes` (attachments, recordings, exports: the
folders each app declares in core.holdings, `encrypted_files`) are rotated too, after the
values, wherever the file store keeps them (core/storage.py: the disk, or every object of the
bucket): each read, decrypted, encrypted under the current key and put in its place whole (on
the disk a file beside it renamed into place, in a bucket one PUT), so a rotation killed
halfway leaves every file whole, under one key or the other, and running it again goes on
where it stopped. A file deleted or replaced while it was being rewritten is not brought back
(the disk's inode and time, the object's ETag, checked). `--check` counts the files under old
keys with the values.

The blind index key (BLIND_INDEX_KEY) does not rotate with the field keys: an index is a
keyed hash that must be recomputed from the plain value, and lookups miss until every row is
done. Change it only when it has leaked: set the new key, restart, and run
`rotate_keys --reindex` (it decrypts and re-hashes every row: minutes for a million).
"""

import os  # noqa: F401 (a test stops a rotation at os.replace, reached through this module)

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from core import crypto, storage
from core.fields import EncryptedTextField


def encrypted_fields() -> list[tuple[type, EncryptedTextField]]:
    return [
        (model, field)
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
        for field in model._meta.local_concrete_fields
        if isinstance(field, EncryptedTextField)
    ]


class Command(BaseCommand):
    help = "Re-encrypt every encrypted value with the current (first) key of " \
           "FIELD_ENCRYPTION_KEYS; --check only counts the values under old keys."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check", action="store_true",
            help="Count values still under old key ids; exit 1 if there are any.",
        )
        parser.add_argument(
            "--reindex", action="store_true",
            help="Recompute every blind index (after changing BLIND_INDEX_KEY).",
        )
        parser.add_argument(
            "--generate-key", action="store_true",
            help="Print a new `id:key` entry to put first in FIELD_ENCRYPTION_KEYS and exit.",
        )
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *, check, reindex, generate_key, batch_size, **options):
        if generate_key:
            self.stdout.write(f"{crypto.generate_key_id()}:{crypto.generate_key()}")
            return
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        current = crypto.current_key_id()
        stale_total = failed_total = 0
        for model, field in encrypted_fields():
            label = f"{model._meta.label}.{field.name}"
            if check:
                by_key = self._stale_by_key(model, field, current, batch_size)
                stale = sum(by_key.values())
                detail = ", ".join(f"{kid}: {n}" for kid, n in sorted(by_key.items()))
                self.stdout.write(
                    f"{label}: {stale} under old keys" + (f" ({detail})" if detail else "")
                )
                stale_total += stale
            else:
                moved, failed = self._rotate(model, field, current, batch_size)
                self.stdout.write(f"{label}: {moved} re-encrypted under {current}, {failed} failed")
                failed_total += failed
        for folder, stale, failed in self._files(current, check=check):
            if check:
                self.stdout.write(f"files {folder}/: {stale} under old keys")
                stale_total += stale
            else:
                self.stdout.write(f"files {folder}/: {stale} re-encrypted under {current}, "
                                  f"{failed} failed")
            failed_total += failed
        if reindex and not check:
            for model in apps.get_models():
                if hasattr(model, "compute_blind_indexes"):
                    count = self._reindex(model, batch_size)
                    self.stdout.write(f"{model._meta.label}: {count} blind indexes recomputed")
        if check and stale_total:
            raise CommandError(
                f"{stale_total} values and files still use old keys; run "
                "`manage.py rotate_keys`"
            )
        if failed_total:
            raise CommandError(
                f"{failed_total} values could not be decrypted (see above): their key is "
                "missing from FIELD_ENCRYPTION_KEYS, or they were altered"
            )

    # --- Files ------------------------------------------------------------------------------

    def _files(self, current: str, *, check: bool):
        """(folder, files under old keys (moved, unless `check`), files that failed) for each
        folder of encrypted files the apps declare, in the file store (the disk or the
        bucket)."""
        from core.holdings import declared

        store = storage.files()
        for holdings in declared():
            for folder, purpose_of in holdings.encrypted_files:
                stale = failed = 0
                for relative in store.walk(folder):
                    try:
                        kid = crypto.key_id_of(store.head(relative, 64))
                    except FileNotFoundError:
                        continue  # deleted meanwhile
                    except (OSError, crypto.DecryptionError) as e:
                        failed += 1
                        self.stderr.write(f"{relative}: {e}")
                        continue
                    if kid == current:
                        continue
                    if check:
                        stale += 1
                    elif self._rotate_file(store, relative, purpose_of(relative)):
                        stale += 1
                    else:
                        failed += 1
                yield folder, stale, failed

    def _rotate_file(self, store, relative: str, purpose: str) -> bool:
        """Re-encrypt one file, put in place only if it is unchanged since it was read: a
        file deleted (erasure, retention) or replaced meanwhile is not brought back."""
        try:
            version = store.version(relative)
            if version is None:
                return True  # deleted meanwhile: nothing left under the old key
            plain = crypto.decrypt_bytes(store.read(relative), purpose)
        except FileNotFoundError:
            return True
        except (OSError, crypto.DecryptionError) as e:
            self.stderr.write(f"{relative}: {e}")
            return False
        store.replace(relative, crypto.encrypt_bytes(plain, purpose), version=version)
        return True

    # Tokens are read and written with plain SQL: the field would decrypt them on the way.

    def _stale_batches(self, model, field, current: str, batch_size: int):
        quote = connection.ops.quote_name
        table, pk, column = (quote(model._meta.db_table), quote(model._meta.pk.column),
                             quote(field.column))
        prefix = f"{crypto.VERSION}:{current}:"
        last = None
        with connection.cursor() as cursor:
            while True:
                after = "" if last is None else f"AND {pk} > %s "
                cursor.execute(
                    f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL "
                    f"AND {column} <> '' AND SUBSTR({column}, 1, %s) <> %s {after}"
                    f"ORDER BY {pk} LIMIT %s",
                    [len(prefix), prefix] + ([] if last is None else [last]) + [batch_size],
                )
                rows = cursor.fetchall()
                if not rows:
                    return
                yield rows
                last = rows[-1][0]

    def _stale_by_key(self, model, field, current, batch_size) -> dict[str, int]:
        by_key: dict[str, int] = {}
        for rows in self._stale_batches(model, field, current, batch_size):
            for _pk, token in rows:
                try:
                    kid = crypto.key_id_of(token)
                except crypto.DecryptionError:
                    kid = "(not encrypted)"
                by_key[kid] = by_key.get(kid, 0) + 1
        return by_key

    def _rotate(self, model, field, current, batch_size) -> tuple[int, int]:
        quote = connection.ops.quote_name
        table, pk, column = (quote(model._meta.db_table), quote(model._meta.pk.column),
                             quote(field.column))
        moved = failed = 0
        for rows in self._stale_batches(model, field, current, batch_size):
            updates = []
            for row_pk, token in rows:
                try:
                    plain = crypto.decrypt(token, field.purpose)
                except crypto.DecryptionError as e:
                    failed += 1
                    self.stderr.write(f"{model._meta.label} #{row_pk}: {e}")
                    continue
                updates.append([crypto.encrypt(plain, field.purpose), row_pk, token])
            if not updates:
                continue
            with transaction.atomic(), connection.cursor() as cursor:
                # Only if unchanged since read: a concurrent edit already wrote the current key.
                cursor.executemany(
                    f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s",
                    updates,
                )
            moved += len(updates)
        return moved, failed

    def _reindex(self, model, batch_size: int) -> int:
        count, last = 0, None
        while True:
            rows = model._base_manager.order_by("pk")
            if last is not None:
                rows = rows.filter(pk__gt=last)
            batch = list(rows[:batch_size])
            if not batch:
                return count
            fields: list[str] = []
            for obj in batch:
                fields = obj.compute_blind_indexes()
            with transaction.atomic():
                model._base_manager.bulk_update(batch, fields)
            count += len(batch)
            last = batch[-1].pk
