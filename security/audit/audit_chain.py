"""Hash chains over append-only logs: the access log and the seals of the change log.

Each record's hash covers its content and the previous record's hash, so changing a row,
deleting one or slipping one in breaks the chain from that point; the chain's head (one row
per chain, locked while appending) also catches records cut from the end. `verify` walks a
chain and reports every break; `manage.py verify_audit` runs it.

This proves tampering, it does not prevent it: the database role of the application needs no
UPDATE, DELETE or TRUNCATE on the log tables (and on PostgreSQL a trigger refuses UPDATE and
DELETE anyway), but whoever owns the database can still rewrite a whole chain with its head.
Frozen evidence (an incident's log range with its hash) and head hashes kept elsewhere close
that gap.
"""

import datetime
import hashlib
import json
import threading
from dataclasses import dataclass

from django.db import connection, transaction

from security.models import ChainedRecord, ChainHead

GENESIS = "0" * 64
# SQLite (the embedded mode) ignores SELECT ... FOR UPDATE; its one process serializes
# appends with this lock instead.
_local_lock = threading.Lock()


def canonical(value):
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat(timespec="microseconds")
    return value


def record_hash(record, prev_hash: str) -> str:
    content = {name: canonical(getattr(record, name)) for name in _hashed_fields(record)}
    content["seq"] = record.seq
    body = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _hashed_fields(record) -> tuple[str, ...]:
    # A migration's historical model has no class attributes: look at the real one.
    from django.apps import apps

    return apps.get_model(record._meta.label).HASHED_FIELDS


def append(model: type[ChainedRecord], records: list[ChainedRecord], *,
           heads=ChainHead) -> list[ChainedRecord]:
    """Link `records` (unsaved) to the end of `model`'s chain and insert them in one query.
    (`heads`: a migration passes its historical model.)"""
    if not records:
        return records
    name = model._meta.label_lower
    with _local_lock, transaction.atomic():
        head = heads.objects.select_for_update().filter(name=name).first()
        if head is None:  # the chain's first records: its head made, by whoever comes first
            heads.objects.bulk_create([heads(name=name)], ignore_conflicts=True)
            head = heads.objects.select_for_update().get(name=name)
        seq, prev = head.seq, head.hash or GENESIS
        for record in records:
            seq += 1
            record.seq, record.prev_hash = seq, prev
            record.hash = prev = record_hash(record, prev)
        model.objects.bulk_create(records)
        heads.objects.filter(name=name).update(seq=seq, hash=prev)
    return records


def clear(model: type[ChainedRecord]) -> int:
    """Empty `model`'s chain, head included, so it verifies as a chain never begun: for a
    sandbox's copy of the database only (security/sandbox.py), never the product's own. A
    TRUNCATE, which the append-only trigger (a guard of row UPDATE and DELETE) lets through.
    Returns how many records went."""
    count = model.objects.count()
    table = connection.ops.quote_name(model._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}" if connection.vendor == "postgresql"
                       else f"DELETE FROM {table}")
        ChainHead.objects.filter(name=model._meta.label_lower).delete()
    return count


@dataclass
class Break:
    seq: int | None
    problem: str

    def __str__(self):
        where = f"record #{self.seq}" if self.seq is not None else "chain head"
        return f"{where}: {self.problem}"


def verify(model: type[ChainedRecord], *, batch: int = 2000) -> tuple[int, list[Break]]:
    """Walk `model`'s chain in order: (records checked, breaks found)."""
    breaks: list[Break] = []
    expected_seq, prev, checked = 1, GENESIS, 0
    last_seq = 0
    # Keyset pagination: the log can be large, and this must not hold it all in memory.
    while True:
        rows = list(model.objects.filter(seq__gte=expected_seq).order_by("seq")[:batch])
        if not rows:
            break
        for record in rows:
            checked += 1
            if record.seq != expected_seq:
                breaks.append(Break(expected_seq, f"missing (records #{expected_seq} to "
                                                  f"#{record.seq - 1} were deleted)"))
                # Go on from the record found, against the link it claims.
                prev = record.prev_hash
            elif record.prev_hash != prev:
                breaks.append(Break(record.seq, "does not link to the record before it"))
            if record_hash(record, record.prev_hash) != record.hash:
                breaks.append(Break(record.seq, "altered (its content does not match its hash)"))
            prev, expected_seq, last_seq = record.hash, record.seq + 1, record.seq
    head = ChainHead.objects.filter(name=model._meta.label_lower).first()
    if head is not None and (head.seq != last_seq or (head.seq and head.hash != prev)):
        breaks.append(Break(None, f"points at record #{head.seq}, the last record is "
                                  f"#{last_seq}: records were deleted from the end"))
    return checked, breaks
