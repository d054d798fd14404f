"""Export control (DESIGN.md, invariant 4): the one way client data leaves the CRM in bulk.

- Only a role holding `crm.export_deals` may export (the admin; a sales head, and then only
  what the visibility rule gives him). Anyone else's attempt is recorded (status `denied`)
  and refused with PermissionDenied.
- Rows come from the same selectors as the lists, and contact details through
  `security.masking.present_value`, so a file never shows more than the screen.
- At most settings.EXPORT_MAX_ROWS rows; a larger result is cut and marked `capped`.
- Text cells that a spreadsheet would run as a formula are prefixed with a single quote
  (OWASP's advice for CSV injection), in CSV and XLSX alike.
- The file names its exporter and the time (header lines), lives encrypted as exports/<id>
  in the file store (security.files: MEDIA_ROOT or object storage) for at most EXPORT_TTL,
  is handed to its requester once and is then deleted; `export_cleanup` (a periodic job)
  removes what nobody came for.
"""

import csv
import io
import uuid
from datetime import date, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from core.holdings import declared
from security import files
from security.audit import access_log
from security.models import ExportRequest

EXPORT_PERMISSION = "crm.export_deals"
EXPORT_TTL = timedelta(minutes=15)
EXPORT_DIR = "exports"

CONTENT_TYPES = {
    ExportRequest.Format.CSV: "text/csv; charset=utf-8",
    ExportRequest.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice or
# Google Sheets: `=HYPERLINK(...)`, `+1+1`, `-2+3`, `@SUM(A1)`; tab and carriage return
# shift a following `=` into place on import, and so does a line feed; Excel also reads the
# full-width forms (＝ ＋ － ＠) as the ASCII ones.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d",
                    "\uff20")


# --- Who may export --------------------------------------------------------------------------


def can_export(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active
                and user.has_perm(EXPORT_PERMISSION))


# --- Filters ---------------------------------------------------------------------------------


def exports() -> dict:
    """What can be exported, by resource: the apps' declared exports (core.holdings)."""
    return {key: resource for holdings in declared()
            for key, resource in holdings.exports.items()}


def clean_filters(*, resource: str, filters) -> dict:
    """The filters as the selectors take them; an unknown name or a bad value is an error
    (an export that silently ignored a filter would hand out more than was asked for)."""
    if filters is None:
        return {}
    if not isinstance(filters, dict):
        raise ValidationError({"filters": _("Filters must be an object.")})
    parsers = exports()[resource].filters
    unknown = sorted(str(name) for name in filters if name not in parsers)
    if unknown:
        raise ValidationError({"filters": _("Unknown filters: %(names)s.") % {
            "names": ", ".join(unknown)}})
    clean = {}
    for name, parse in parsers.items():
        value = filters.get(name)
        if value is None or value == "":
            continue
        try:
            value = parse(value)
        except (TypeError, ValueError):
            raise ValidationError(
                {"filters": _("Bad value of the filter “%(name)s”.") % {"name": name}}
            ) from None
        if value != "":
            clean[name] = value
    return clean


def _as_text(value, length: int) -> str:
    return value[:length] if isinstance(value, str) else ""


def _recorded_filters(filters) -> dict:
    """What a refused request asked for, bounded: it is a record, not a store for any body."""
    if not isinstance(filters, dict):
        return {}
    return {str(k)[:50]: str(v)[:100] for k, v in list(filters.items())[:10]}


# --- Files -----------------------------------------------------------------------------------


def neutralise(value):
    """A text cell that a spreadsheet would take for a formula gets a leading single quote;
    numbers and empty cells pass unchanged. Apply it to the final text of the cell (see
    cell_value): what is removed after it can uncover a trigger."""
    if not isinstance(value, str):
        return value
    if value[:1] in FORMULA_TRIGGERS or value.lstrip()[:1] in FORMULA_TRIGGERS:
        return "'" + value
    return value


def cell_value(value):
    """What a file's cell holds for `value`: numbers, dates and empty cells as they are; any
    other value as text without the control characters a spreadsheet drops (openpyxl refuses
    them, Excel skips them in a CSV), then neutralised. In this order: "\x01=HYPERLINK(...)"
    neutralised first would lose its \x01 afterwards and be a live formula again."""
    if value is None or isinstance(value, (bool, int, float, Decimal, date, time)):
        return value
    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


def _preamble(export: ExportRequest, user, row_count: int, capped: bool) -> list[list]:
    """Header lines: what this file is, who exported it and when (a copy that leaks names
    its source)."""
    name = user.get_full_name()
    who = f"{name} ({user.username})" if name else user.username
    when = timezone.localtime(export.created_at).strftime("%Y-%m-%d %H:%M:%S %Z")
    describe = exports()[export.resource].describe
    described = describe(export.filters) if describe else list(export.filters.items())
    filters = "; ".join(f"{label}: {value}" for label, value in described) or "—"
    rows = str(row_count)
    if capped:
        rows = _("%(count)s (cut at the limit of %(limit)s)") % {
            "count": row_count, "limit": settings.EXPORT_MAX_ROWS}
    return [
        [_("Export"), str(ExportRequest.Resource(export.resource).label)],
        [_("Exported by"), who],
        [_("Exported at"), when],
        [_("Filters"), filters],
        [_("Rows"), rows],
        [],
    ]


def render_csv(lines: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in lines:
        writer.writerow(["" if v is None else str(v) for v in map(cell_value, line)])
    # The BOM makes Excel read the file as UTF-8 (Cyrillic names) instead of the ANSI page.
    return out.getvalue().encode("utf-8-sig")


def render_xlsx(lines: list[list], title: str) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    for line in lines:
        sheet.append([cell_value(v) for v in line])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def ready_file_text(export: ExportRequest) -> str | None:
    """The decrypted text of an export's waiting file (None when it cannot be read): the
    client's erasure checks whether a file not yet downloaded lists them."""
    try:
        data = storage.read(export.file_path)
    except files.FileUnavailable:
        return None
    return data.decode("utf-8", "replace")


def withdraw(export: ExportRequest) -> None:
    """Delete a waiting export's file at once (it would list an erased client)."""
    _expire(export)


def purpose_of_path(relative: str) -> str:
    """The purpose of the file `relative` (`exports/<id>`): the export's id in the associated
    data, so a file moved under another export's name does not decrypt."""
    return f"export:{relative.rsplit('/', 1)[-1]}"


storage = files.EncryptedFiles(EXPORT_DIR, purpose_of=purpose_of_path)


def _write(export: ExportRequest, data: bytes) -> str:
    return storage.write(f"{EXPORT_DIR}/{export.pk}", data)


def _delete_file(export: ExportRequest) -> None:
    storage.delete(export.file_path)


# --- Services --------------------------------------------------------------------------------


def export_request(*, user, resource: str, fmt: str, filters, ip: str | None) -> ExportRequest:
    """Record an export and, when `user` may export, write its file; PermissionDenied (after
    recording the attempt) when not, ValidationError for an unknown resource, format or
    filter."""
    now = timezone.now()
    if not can_export(user):
        ExportRequest.objects.create(
            user=user, resource=_as_text(resource, 20), format=_as_text(fmt, 10),
            filters=_recorded_filters(filters), status=ExportRequest.Status.DENIED, ip=ip,
            created_at=now,
        )
        raise PermissionDenied(_("Your role does not allow exports."))
    if resource not in ExportRequest.Resource.values:
        raise ValidationError({"resource": _("Unknown resource.")})
    if fmt not in ExportRequest.Format.values:
        raise ValidationError({"format": _("Unknown format.")})
    export = ExportRequest(
        id=uuid.uuid4(), user=user, resource=resource, format=fmt,
        filters=clean_filters(resource=resource, filters=filters), ip=ip, created_at=now,
        expires_at=now + EXPORT_TTL, status=ExportRequest.Status.READY,
    )
    cap = settings.EXPORT_MAX_ROWS
    try:
        header, rows, shown = exports()[resource].table(user, export.filters, cap + 1)
        export.capped = len(rows) > cap
        rows, shown = rows[:cap], shown[:cap]
        export.row_count = len(rows)
        lines = _preamble(export, user, export.row_count, export.capped) + [header] + rows
        if fmt == ExportRequest.Format.XLSX:
            data = render_xlsx(lines, str(ExportRequest.Resource(resource).label))
        else:
            data = render_csv(lines)
        export.file_path = _write(export, data)
    except Exception as e:
        export.status = ExportRequest.Status.FAILED
        export.error = f"{type(e).__name__}: {e}"[:300]
        export.file_path = ""
        export.save()
        raise
    export.save()
    # Each exported row is a read of that client's data.
    access_log.read(shown, action=access_log.Action.EXPORT, surface=access_log.Surface.EXPORT,
                    user=user, detail={"export": str(export.pk)})
    return export


def export_get(*, user, export_id) -> ExportRequest:
    """One of `user`'s own exports (anyone else's, even for the admin, is a 404)."""
    export = ExportRequest.objects.filter(pk=export_id, user=user).first()
    if export is None or export.status == ExportRequest.Status.DENIED:
        raise Http404
    return export


def export_filename(export: ExportRequest) -> str:
    stamp = timezone.localtime(export.created_at).strftime("%Y%m%d-%H%M")
    return f"{export.resource}-{stamp}.{export.format}"


def export_download(*, user, export_id) -> tuple[str, str, bytes]:
    """The file of `user`'s ready export, once: the row is claimed by a conditional UPDATE,
    so two concurrent requests cannot both get it; the file is deleted at once. An expired
    export is marked so and its file deleted; every refusal is a 404."""
    now = timezone.now()
    mine = ExportRequest.objects.filter(pk=export_id, user=user)
    claimed = mine.filter(status=ExportRequest.Status.READY, expires_at__gt=now).update(
        status=ExportRequest.Status.DOWNLOADED, downloaded_at=now
    )
    if not claimed:
        for export in mine.filter(status=ExportRequest.Status.READY, expires_at__lte=now):
            _expire(export)
        raise Http404
    export = mine.get()
    try:
        data = storage.read(export.file_path)
    except files.FileUnavailable as e:
        ExportRequest.objects.filter(pk=export.pk).update(
            status=ExportRequest.Status.FAILED, error=f"file unreadable: {e}"[:300]
        )
        raise Http404 from None
    finally:
        _delete_file(export)
    return export_filename(export), CONTENT_TYPES[export.format], data


def _expire(export: ExportRequest) -> None:
    _delete_file(export)
    ExportRequest.objects.filter(pk=export.pk, status=ExportRequest.Status.READY).update(
        status=ExportRequest.Status.EXPIRED
    )


def export_cleanup(*, now=None) -> int:
    """Expire every ready export past its time and delete its file; also delete any file in
    the exports folder older than EXPORT_TTL that no ready export owns (a crash between
    writing a file and recording it). Returns how many exports expired."""
    now = now or timezone.now()
    expired = 0
    for export in ExportRequest.objects.filter(
        status=ExportRequest.Status.READY, expires_at__lte=now
    ).only("pk", "file_path"):
        _expire(export)
        expired += 1
    ready = {
        str(pk) for pk in ExportRequest.objects.filter(
            status=ExportRequest.Status.READY
        ).values_list("pk", flat=True)
    }
    oldest = now - EXPORT_TTL
    for name in storage.names():
        if name.rsplit("/", 1)[-1] in ready:
            continue
        written = storage.modified(name)  # None: downloaded meanwhile
        if written is not None and written < oldest:
            storage.delete(name)
    return expired
