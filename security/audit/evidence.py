"""Evidence export: access-log records as a CSV file the security officer takes away (for an
investigation, the regulator, a court), from an alert or from an access-log search.

The file says what it is, who exported it and when, and carries the chain's hash of its first
and last record and of each record in between: whoever holds the file runs
`manage.py verify_audit` (the chain is intact) and compares those hashes with the log's (the
rows are the chain's own). Cells go through security.exports.cell_value, control characters
dropped, then formula neutralisation (a user agent or a path is whatever a client sent). As on
the console's pages, a path leaves without its query string (a search box's query is a
client's name or phone), so a row's hash is checked against the log, not recomputed from the
file.

Only the security officer exports (selectors.can_export_evidence); each export is itself
recorded in the access log (an `export` event naming its source and its range), so the log
tells who took which part of it away.
"""

import json
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from django.utils.translation import gettext as _

from security import selectors
from security.audit import access_log, alerts
from security.exports import render_csv
from security.models import AccessRecord, Alert, ChainHead


@dataclass
class EvidenceFile:
    filename: str
    data: bytes
    records: int


def _who(user) -> str:
    name = user.get_full_name()
    return f"{name} ({user.username})" if name else user.username


def _local(moment) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds")


def _row(record: AccessRecord) -> list:
    obj = f"{record.object_type}:{record.object_id}" if record.object_id is not None else \
        record.object_type
    return [
        record.seq, _local(record.at), record.user_id, record.username,
        record.get_surface_display(), record.get_action_display(), obj, record.contact_id,
        selectors.path_without_query(record.path), record.ip, record.user_agent,
        json.dumps(record.detail, ensure_ascii=False, sort_keys=True) if record.detail else "",
        record.hash,
    ]


HEADER_FIELDS = ("seq", "at", "user_id", "username", "surface", "action", "object",
                 "contact_id", "path", "ip", "user_agent", "detail", "hash")


def _render(*, records: list[AccessRecord], source: str, by, capped: bool) -> bytes:
    """`records` oldest first."""
    head = ChainHead.objects.filter(name=AccessRecord._meta.label_lower).first()
    first, last = (records[0], records[-1]) if records else (None, None)

    def link(record):
        return f"#{record.seq} {record.hash}" if record else "—"

    count = str(len(records))
    if capped:
        count = _("%(count)s (cut at the limit of %(limit)s)") % {
            "count": len(records), "limit": settings.EXPORT_MAX_ROWS}
    lines = [
        [_("Evidence: access log records")],
        [_("Source"), source],
        [_("Exported by"), _who(by)],
        [_("Exported at"), _local(timezone.now())],
        [_("Records"), count],
        [_("First record"), link(first)],
        [_("Last record"), link(last)],
        [_("Chain head at export"), f"#{head.seq} {head.hash}" if head else "—"],
        [_("How to check"), _("Run manage.py verify_audit (the chain is intact), then compare "
                              "the hash of each record here with the log's record of the same "
                              "number.")],
        [],
        list(HEADER_FIELDS),
    ]
    lines += [_row(record) for record in records]
    return render_csv(lines)


def _check(by) -> None:
    if not selectors.can_export_evidence(by):
        raise PermissionDenied(_("Only the security officer exports evidence."))


def _stamp() -> str:
    return timezone.localtime().strftime("%Y%m%d-%H%M%S")


def _record_export(*, by, detail: dict, records: list[AccessRecord]) -> None:
    if records:
        detail |= {"first": records[0].seq, "last": records[-1].seq}
    access_log.event(action=access_log.Action.EXPORT, surface=access_log.Surface.EXPORT,
                     user=by, detail={"evidence": True, **detail, "records": len(records)})


def alert_evidence(*, alert: Alert, by) -> EvidenceFile:
    """The records the alert's evidence names. Alerts of rules that do not count reads
    (deletions, a new address) name none: their file then holds the user's reads in the
    alert's window, the context the officer needs."""
    _check(by)
    records = selectors.alert_evidence_records(alert)
    if not records:
        since = alert.raised_at - timedelta(minutes=alert.window_minutes)
        records = list(AccessRecord.objects.filter(
            user_id=alert.user_id, at__gte=since, at__lte=alert.raised_at,
        ).order_by("-seq")[:settings.EXPORT_MAX_ROWS])[::-1]
    source = _("Alert #%(id)s: %(rule)s, user %(user)s, raised %(at)s") % {
        "id": alert.pk, "rule": alerts.rule_title(alert.rule), "user": alert.user.username,
        "at": _local(alert.raised_at)}
    data = _render(records=records, source=source, by=by, capped=False)
    _record_export(by=by, detail={"alert": alert.pk}, records=records)
    return EvidenceFile(f"evidence-alert-{alert.pk}-{_stamp()}.csv", data, len(records))


def search_evidence(*, filters: selectors.AccessFilters, by) -> EvidenceFile:
    """The access-log search's records (as the page finds them), at most EXPORT_MAX_ROWS,
    the newest ones when there are more."""
    _check(by)
    found = selectors.access_records_search(user=by, filters=filters)
    newest = list(found[:settings.EXPORT_MAX_ROWS + 1])
    capped = len(newest) > settings.EXPORT_MAX_ROWS
    records = newest[:settings.EXPORT_MAX_ROWS][::-1]
    shown = filters.as_dict()
    source = _("Access log search: %(filters)s") % {
        "filters": "; ".join(f"{k}={v}" for k, v in shown.items()) or _("everything")}
    data = _render(records=records, source=source, by=by, capped=capped)
    _record_export(by=by, detail={"search": shown}, records=records)
    return EvidenceFile(f"evidence-access-log-{_stamp()}.csv", data, len(records))
