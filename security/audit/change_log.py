"""The change log is django-auditlog's; this makes it tamper-evident and complete.

Every LogEntry is sealed as it is written: its fingerprint goes into a hash chain
(ChangeSeal, security.audit.audit_chain) in the same transaction, so an entry altered, deleted or
added behind the application's back no longer matches a seal. And the bulk writes of our
services, which auditlog does not see (a queryset's `update()`), are recorded here with
`record` (objects at hand) or `bulk_changed` (ids).
"""

import hashlib
import json

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils.ipv6 import clean_ipv6_address

from security.audit import audit_chain
from security.models import ChangeSeal

_SEALED_FIELDS = ("content_type_id", "object_pk", "object_id", "object_repr", "action",
                  "changes", "changes_text", "actor_id", "cid", "remote_addr", "timestamp",
                  "additional_data")


def entry_digest(entry: LogEntry) -> str:
    content = {}
    for name in _SEALED_FIELDS:
        value = getattr(entry, name)
        if name == "timestamp":
            value = audit_chain.canonical(value)
        elif name == "remote_addr" and value and ":" in value:
            value = clean_ipv6_address(value)  # as the database gives it back
        elif name == "object_id" and value is not None:
            value = int(value)
        elif name == "object_pk":
            value = str(value)  # the instance may hold the int it was given
        content[name] = value
    body = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def seal(sender, instance: LogEntry, created: bool, raw: bool = False, **kwargs) -> None:
    """post_save of LogEntry: chain the new entry's fingerprint."""
    if created and not raw:
        audit_chain.append(ChangeSeal, [ChangeSeal(entry_id=instance.pk,
                                                   digest=entry_digest(instance))])


def record(changes, *, actor=None, additional_data: dict | None = None,
           describe=str) -> list[LogEntry]:
    """One change-log entry per changed object, as a save would write it: `changes` is
    [(object, {field: [old, new]})]. The entries go in one query, and are sealed here in one
    append (a bulk insert sends no post_save, so `seal` does not see them)."""
    from auditlog.cid import get_cid

    cid = get_cid()
    entries = LogEntry.objects.bulk_create([
        LogEntry(
            content_type=ContentType.objects.get_for_model(obj), object_pk=str(obj.pk),
            object_id=obj.pk, object_repr=describe(obj)[:500], action=LogEntry.Action.UPDATE,
            changes={name: [_text(old), _text(new)] for name, (old, new) in fields.items()},
            actor=actor, additional_data=additional_data, cid=cid,
        )
        for obj, fields in changes
    ])
    audit_chain.append(ChangeSeal, [ChangeSeal(entry_id=entry.pk, digest=entry_digest(entry))
                                    for entry in entries])
    return entries


def bulk_changed(model, pks, *, changes: dict, actor=None, reason: str = "") -> None:
    """Record a bulk update of `model` rows `pks`, the same `changes` ({field: [old, new]},
    the old value None where it was not read) for each."""
    additional = {"bulk": True, "reason": reason} if reason else {"bulk": True}
    record([(model(pk=pk), changes) for pk in pks], actor=actor, additional_data=additional,
           describe=lambda obj: f"{model._meta.verbose_name} #{obj.pk}")


def _text(value):
    # auditlog keeps changes as text; so does a bulk entry, so both read the same.
    return "None" if value is None else str(value)


def redact(entries, *, reason: str) -> int:
    """Seal again change-log entries that a lawful redaction rewrote (a client's erasure
    removes their values from the change log too): the new seals carry the reason, and the
    chain keeps the old ones, so the redaction itself stays on record."""
    seals = [ChangeSeal(entry_id=entry.pk, digest=entry_digest(entry), reason=reason[:200])
             for entry in entries]
    audit_chain.append(ChangeSeal, seals)
    return len(seals)


def verify(*, batch: int = 2000) -> tuple[int, list[audit_chain.Break]]:
    """Every sealed entry is there unchanged, and every entry is sealed."""
    checked, breaks = audit_chain.verify(ChangeSeal, batch=batch)
    # In chain order, so an entry's latest seal (after a lawful redaction) is the one kept.
    seals = dict(ChangeSeal.objects.order_by("seq").values_list("entry_id", "digest"))
    seen = set()
    for entry in LogEntry.objects.order_by("pk").iterator(chunk_size=batch):
        seen.add(entry.pk)
        digest = seals.get(entry.pk)
        if digest is None:
            breaks.append(audit_chain.Break(None, f"change log entry {entry.pk} has no seal "
                                                  "(written behind the application's back)"))
        elif digest != entry_digest(entry):
            breaks.append(audit_chain.Break(None, f"change log entry {entry.pk} was altered"))
    for entry_id in sorted(set(seals) - seen):
        breaks.append(audit_chain.Break(None, f"change log entry {entry_id} was deleted"))
    return checked, breaks
