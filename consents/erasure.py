"""Erasure of a client (152-FZ art. 14, 21): one service, one transaction, every table.

What is erased: the contact's name and position, their phones and e-mails, their messenger
identities, every message text and file, every call number and recording, the raw webhook
deliveries that carried them, the texts of notes and tasks about them, the reasons staff gave
for revealing their details, and the values the change log kept about them (rewritten and
sealed again with the reason, so `verify_audit` stays green and the redaction is on record).

What is kept, with the legal reason written into the report:
- the contact row itself, as "Удалённый клиент #id": deals, calls and conversations keep
  pointing at it, so the company's sales records and workload metrics stay whole;
- deals (amount, currency, stage, status, dates, owner, company) as the company's sales and
  accounting records (402-FZ art. 29, Tax Code art. 23: 5 years); their title, next step and
  loss reason are cleared, as they often name the person;
- the consent ledger rows as proof that processing was lawful (152-FZ art. 9 p. 3); their
  evidence is unreadable once the contact's SubjectKey is shredded;
- the access log (ids only, never values) and the subject requests (the proof the request was
  answered, art. 14, 20), with the client's values replaced in their free texts;
- calls and messages as rows without content (dates, directions, durations: SLA metrics).

Running it again is harmless: it finds nothing left to change and returns the last record.
"""

import re

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from consents import subject_keys
from consents.models import ConsentEvent, ConsentState, ErasureRecord, SubjectRequest
from core.holdings import ERASED, ERASED_PAYLOAD, Erasure, ErasureReport, declared
from crm.models import Contact, ContactPoint, Deal, Note, Task, TimelineEntry
from security import exports
from security.audit import change_log
from security.models import AccessRecord, ExportRequest, FieldReveal

REASON_REQUEST = "subject_request"
REASON_RETENTION = "retention"

# Why each kept table stays (the report repeats it, in Russian, for the officer and the
# regulator).
KEPT_BECAUSE = {
    "crm.contact": "Строка контакта обезличена и сохранена: на неё ссылаются сделки, звонки "
                   "и переписки компании.",
    "crm.deal": "Сделки (сумма, валюта, этап, даты) — учётные документы компании: хранятся "
                "5 лет (402-ФЗ ст. 29, НК РФ ст. 23); название, следующий шаг и причина "
                "проигрыша очищены.",
    "consents.consentevent": "Журнал согласий — доказательство законности обработки "
                             "(152-ФЗ ст. 9 ч. 3); доказательства в нём нечитаемы после "
                             "уничтожения ключа субъекта.",
    "consents.subjectrequest": "Запросы субъекта — доказательство ответа на них (152-ФЗ "
                               "ст. 14, 20); данные клиента в текстах заменены.",
    "security.accessrecord": "Журнал доступа хранит только идентификаторы, без значений; "
                             "он неизменяем (цепочка хэшей).",
}  # and what each app keeps (core.holdings: kept)

# The change-log fields that hold a client's values, per model; other fields (amounts,
# stages, owners, ids) are the company's facts and stay readable.
_PERSONAL_CHANGES = {
    Contact: None,  # every field
    ContactPoint: None,
    Note: None,
    Task: {"title"},
    Deal: {"title", "next_step", "loss_reason", "contact"},
}


def _phone_forms(e164: str) -> set[str]:
    """+79161234567 as people and providers write it: 79161234567, 89161234567, 9161234567."""
    digits = re.sub(r"\D", "", e164)
    forms = {e164, digits}
    if len(digits) == 11 and digits[0] == "7":
        forms |= {"8" + digits[1:], digits[1:]}
    return {form for form in forms if len(form) >= 6}


def _client_values(contact, points, identifiers: set[str]) -> set[str]:
    """What identifies the client wherever it may have been copied: their full name, phones
    in every usual form, e-mails, and what the apps know them by (messenger ids). Not a first
    name alone or a position: those would match other people's records too."""
    values = set()
    if not _is_erased_name(contact):
        values.add(contact.name)
    for point in points:
        if point.kind == ContactPoint.Kind.PHONE:
            values |= _phone_forms(point.value)
        else:
            values |= {point.value, point.value.lower()}
    values |= identifiers
    return {value for value in values if value and len(value) >= 5}


def erased_name(contact_id: int) -> str:
    return f"Удалённый клиент #{contact_id}"


def _is_erased_name(contact) -> bool:
    return contact.name == erased_name(contact.pk)


def _scrub_text(text: str, values: set[str]) -> str:
    """`text` with every client value in it replaced (longest first, so a full name goes
    before a part of it)."""
    for value in sorted(values, key=len, reverse=True):
        text = re.sub(re.escape(value), ERASED, text, flags=re.IGNORECASE)
    return text


def _scrub_json(data, values: set[str]):
    if isinstance(data, str):
        return _scrub_text(data, values)
    if isinstance(data, list):
        return [_scrub_json(item, values) for item in data]
    if isinstance(data, dict):
        return {key: _scrub_json(item, values) for key, item in data.items()}
    return data


def _token_regex(needles: set[str]) -> str | None:
    """A regex finding any needle as a whole token (a chat id 555001 is not found inside
    5550012); it runs in the database (PostgreSQL and SQLite both read it)."""
    needles = sorted({n for n in needles if n and len(n) >= 4}, key=len, reverse=True)
    if not needles:
        return None
    escaped = "|".join(re.sub(r"([.^$*+?()\[\]{}|\\-])", r"\\\1", n) for n in needles)
    return f"(^|[^0-9A-Za-z])({escaped})($|[^0-9A-Za-z])"


def erase_contact(*, contact: Contact, by, reason: str, request: SubjectRequest | None = None
                  ) -> ErasureRecord:
    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        report = ErasureReport()
        points = list(ContactPoint.objects.filter(contact=contact))
        holdings = declared()
        values = _client_values(contact, points, set().union(
            *(h.identifiers(contact) for h in holdings if h.identifiers)))
        deal_ids = list(Deal.objects.filter(contact=contact).values_list("pk", flat=True))
        point_ids = [point.pk for point in points]
        phone_indexes = [point.value_index for point in points
                         if point.kind == ContactPoint.Kind.PHONE]

        _erase_crm(contact, deal_ids, report)
        _erase_reveals(contact, point_ids, report)
        report.add("crm.contactpoint", "deleted", len(points))
        ContactPoint.objects.filter(pk__in=point_ids).delete()
        # Not the full name: as a token it could match another person's delivery.
        needles = {value for value in values if " " not in value}
        # Every app's content about the client (messages, calls...), then the raw provider
        # deliveries that name them.
        erasure = Erasure(contact=contact, deal_ids=deal_ids, phone_indexes=phone_indexes,
                          report=report)
        for h in holdings:
            if h.erase:
                needles |= h.erase(erasure)
        _scrub_raw_deliveries(holdings, needles, report)
        _erase_consents(contact, values, report)
        _erase_exports(values, report)
        # Recorded first, so the redaction below rewrites these entries' names as well.
        _record_changes(contact, deal_ids, by, reason, report)
        _redact_change_log(contact, point_ids, deal_ids, values, reason, report)

        previous = ErasureRecord.objects.filter(contact_id=contact.pk).first()
        if previous is not None and not report.changed and (
                request is None or previous.request_id == request.pk):
            return previous
        return ErasureRecord.objects.create(
            contact_id=contact.pk, request=request, by=by, reason=reason[:100],
            report=_report_json(contact, deal_ids, report),
        )


def _erase_crm(contact: Contact, deal_ids: list[int], report: ErasureReport) -> None:
    if not _is_erased_name(contact) or contact.position:
        Contact.objects.filter(pk=contact.pk).update(
            name=erased_name(contact.pk), position="", updated_at=timezone.now())
        report.add("crm.contact", "anonymized", 1)
    if contact.tags.exists():
        report.add("crm.contact_tags", "deleted", contact.tags.count())
        contact.tags.through.objects.filter(contact_id=contact.pk).delete()
    deals = Deal.objects.filter(pk__in=deal_ids)
    for deal in deals.exclude(title__startswith="Сделка #", next_step="", loss_reason=""):
        Deal.objects.filter(pk=deal.pk).update(title=f"Сделка #{deal.pk}", next_step="",
                                               loss_reason="")
        report.add("crm.deal", "anonymized", 1)
    about = Q(contact=contact) | Q(deal_id__in=deal_ids)
    report.add("crm.note", "anonymized",
               Note.objects.filter(about).exclude(text=ERASED).update(text=ERASED))
    report.add("crm.task", "anonymized",
               Task.objects.filter(about).exclude(title=ERASED).update(title=ERASED))
    # Timeline payloads hold stage names and user ids, and a lost deal's reason.
    for entry in TimelineEntry.objects.filter(about).exclude(payload={}):
        payload = dict(entry.payload)
        if payload.get("loss_reason") not in (None, "", ERASED):
            payload["loss_reason"] = ERASED
            TimelineEntry.objects.filter(pk=entry.pk).update(payload=payload)
            report.add("crm.timelineentry", "anonymized", 1)


def _erase_reveals(contact: Contact, point_ids: list[int], report: ErasureReport) -> None:
    reveals = FieldReveal.objects.filter(Q(contact=contact) | Q(point_id__in=point_ids))
    report.add("security.fieldreveal", "anonymized",
               reveals.exclude(reason=ERASED).update(reason=ERASED))


def _scrub_raw_deliveries(holdings, needles: set[str], report: ErasureReport) -> None:
    """The webhook deliveries as received hold the client's chat id, name, phone: replaced
    by a marker (their ids and statuses stay, so a retry is still a duplicate)."""
    pattern = _token_regex(needles)
    if pattern is None:
        return
    for model in (model for h in holdings for model in h.raw_deliveries):
        found = model.objects.filter(Q(payload__regex=pattern) | Q(error__regex=pattern))
        report.add(model._meta.label_lower, "anonymized",
                   found.update(payload=ERASED_PAYLOAD, error=""))


def _erase_consents(contact: Contact, values: set[str], report: ErasureReport) -> None:
    report.add("consents.consentstate", "deleted",
               ConsentState.objects.filter(contact=contact).delete()[0])
    if subject_keys.shred(contact.pk):
        report.add("consents.subjectkey", "deleted", 1)
    for request in SubjectRequest.objects.filter(contact=contact):
        fields = {name: _scrub_text(getattr(request, name), values)
                  for name in ("details", "response", "extension_reason")}
        if any(fields[name] != getattr(request, name) for name in fields):
            SubjectRequest.objects.filter(pk=request.pk).update(**fields)
            report.add("consents.subjectrequest", "anonymized", 1)


def _erase_exports(values: set[str], report: ErasureReport) -> None:
    """An export file still waiting for its download that lists the client is withdrawn;
    a search that named them is rewritten in the export's record."""
    if not values:
        return
    for export in ExportRequest.objects.filter(status=ExportRequest.Status.READY):
        text = exports.ready_file_text(export)
        if text is None:
            continue
        text = text.lower()
        if any(value.lower() in text for value in values):
            exports.withdraw(export)
            report.add("security.exportrequest", "file_deleted", 1)
    for export in ExportRequest.objects.exclude(filters={}):
        filters = _scrub_json(export.filters, values)
        if filters != export.filters:
            ExportRequest.objects.filter(pk=export.pk).update(filters=filters)
            report.add("security.exportrequest", "anonymized", 1)


def _redact_entry(entry: LogEntry, model, values: set[str], safe: set[str]) -> bool:
    """Rewrite one change-log entry without the client's values; True when it changed."""
    before = (entry.object_repr, entry.changes, entry.changes_text, entry.serialized_data)
    personal = _PERSONAL_CHANGES.get(model, set())
    if model in _PERSONAL_CHANGES:
        # The model's code name, not its verbose name: the same in every language.
        entry.object_repr = f"{model._meta.model_name} #{entry.object_pk}"
    else:
        entry.object_repr = _scrub_text(entry.object_repr, values)
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    entry.changes = {
        name: (_erased_change(change, safe) if personal is None or name in personal
               else _scrub_json(change, values))
        for name, change in changes.items()
    } or entry.changes
    entry.changes_text = _scrub_text(entry.changes_text or "", values) if (
        model not in _PERSONAL_CHANGES) else ""
    entry.serialized_data = None
    return before != (entry.object_repr, entry.changes, entry.changes_text,
                      entry.serialized_data)


def _erased_change(change, safe: set[str]):
    """A change's values replaced, but for those that name nobody (the erasure's own
    entries: "None" to "Удалённый клиент #7"), so that running the erasure again finds the
    entry already as it should be."""
    if isinstance(change, list):
        return [item if item in safe else ERASED for item in change]
    return change if change in safe else ERASED


def _redact_change_log(contact, point_ids, deal_ids, values, reason, report) -> None:
    task_ids = Task.objects.filter(Q(contact=contact) | Q(deal_id__in=deal_ids)) \
        .values_list("pk", flat=True)
    note_ids = Note.objects.filter(Q(contact=contact) | Q(deal_id__in=deal_ids)) \
        .values_list("pk", flat=True)
    about = {Contact: [contact.pk], ContactPoint: point_ids, Deal: deal_ids,
             Task: list(task_ids), Note: list(note_ids)}
    types = ContentType.objects.get_for_models(*about)
    condition = Q(pk__in=[])
    for model, pks in about.items():
        if pks:
            condition |= Q(content_type=types[model], object_pk__in=[str(pk) for pk in pks])
    found = {entry.pk: entry for entry in LogEntry.objects.filter(condition)}
    # Entries about anything else that still name the client (a company's history...).
    if values:
        text = Q()
        for value in values:
            text |= (Q(object_repr__icontains=value) | Q(changes_text__icontains=value)
                     | Q(changes_as_text__icontains=value))
        # Not another contact's entries: a namesake is somebody else.
        for entry in (LogEntry.objects.annotate(changes_as_text=Cast("changes", TextField()))
                      .filter(text).exclude(pk__in=found)
                      .exclude(content_type=types[Contact])):
            found[entry.pk] = entry
    by_type = {ct.pk: model for model, ct in types.items()}
    safe = {"None", "", ERASED, erased_name(contact.pk)}
    rewritten = []
    for entry in found.values():
        model = by_type.get(entry.content_type_id) or entry.content_type.model_class()
        if _redact_entry(entry, model, values, safe):
            rewritten.append(entry)
    if rewritten:
        LogEntry.objects.bulk_update(rewritten, ["object_repr", "changes", "changes_text",
                                                 "serialized_data"])
        change_log.redact(rewritten, reason=f"erasure of contact {contact.pk} ({reason})")
        report.add("auditlog.logentry", "redacted", len(rewritten))


def _record_changes(contact, deal_ids, by, reason, report: ErasureReport) -> None:
    """The erasure's own writes are queryset updates, which auditlog does not see: recorded
    here, without the values they removed."""
    why = f"erasure ({reason})"
    if "crm.contact" in report.tables:
        change_log.bulk_changed(Contact, [contact.pk], actor=by, reason=why, changes={
            "name": [None, erased_name(contact.pk)], "position": [None, ""]})
    if "crm.deal" in report.tables:
        change_log.bulk_changed(Deal, deal_ids, actor=by, reason=why, changes={
            "title": [None, ERASED], "next_step": [None, ""], "loss_reason": [None, ""]})
    for model, table in ((Note, "crm.note"), (Task, "crm.task")):
        if table in report.tables:
            field = "text" if model is Note else "title"
            pks = model.objects.filter(Q(contact=contact) | Q(deal_id__in=deal_ids)) \
                .values_list("pk", flat=True)
            change_log.bulk_changed(model, list(pks), actor=by, reason=why,
                                    changes={field: [None, ERASED]})


def _report_json(contact, deal_ids, report: ErasureReport) -> dict:
    kept = {
        "crm.contact": 1,
        "crm.deal": len(deal_ids),
        "consents.consentevent": ConsentEvent.objects.filter(contact_id=contact.pk).count(),
        "consents.subjectrequest": SubjectRequest.objects.filter(contact=contact).count(),
        "security.accessrecord": AccessRecord.objects.filter(contact_id=contact.pk).count(),
    }
    why = dict(KEPT_BECAUSE)
    for h in declared():
        if h.kept:
            for table, (rows, reason) in h.kept(contact).items():
                kept[table], why[table] = rows, reason
    return {
        "changed": report.tables,
        "files_deleted": report.files_deleted,
        "kept": {table: {"rows": rows, "why": why[table]}
                 for table, rows in kept.items() if rows},
    }
