"""The security officer's console: alerts and their triage, the access log, the rules.

Security officers and admins (security.selectors.can_use_console) use it; to anyone else
every page of it is a 404, lists included, so the console does not announce itself. An admin
may see and triage but neither changes the rules nor exports evidence: those two answer 403.

An alert's page names what its evidence holds as people know it (a deal's title, a client's
name, a user's name; never a contact detail: alerts.objects_named), and records in the access
log that it showed those clients, as every page that names a client does. The access log's
own page shows ids (object types and ids; paths without their query string) and is not
recorded. Exporting evidence is recorded (security/audit/evidence.py): the file leaves.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.forms import apply_service_errors
from core.http import int_or_none
from security import names, selectors
from security.audit import access_log as reads
from security.audit import alerts, evidence, rules
from security.forms import (
    AccessLogFilterForm,
    AlertAssignForm,
    AlertFilterForm,
    AlertResolveForm,
    RuleSettingForm,
)
from security.models import AccessRecord, RuleSetting, User


def console_required(view):
    """Logged in (else the login page), and a console user (else 404)."""

    @login_required
    def wrapper(request, *args, **kwargs):
        if not selectors.can_use_console(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


def _csv_response(file: evidence.EvidenceFile) -> HttpResponse:
    response = HttpResponse(file.data, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{file.filename}"'
    response["Cache-Control"] = "no-store"
    return response


# --- Start -----------------------------------------------------------------------------------


@console_required
@require_GET
def console_home(request):
    user = request.user
    return render(request, "security/console/home.html", {
        "nav": "security",
        "section": "home",
        "counts": selectors.alert_status_counts(user),
        "latest": selectors.alert_list(user=user, filters=selectors.AlertFilters())[:10],
        "chains": selectors.chain_states(),
    })


# --- Alerts ----------------------------------------------------------------------------------


@console_required
@require_GET
def alert_list(request):
    user = request.user
    form = AlertFilterForm(request.GET, user=user)
    alerts_found = selectors.alert_list(user=user, filters=form.filters())
    page = Paginator(alerts_found, settings.UI_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "security/console/alert_list.html", {
        "nav": "security", "section": "alerts", "form": form, "page": page,
    })


def _alert_page(request, alert, *, assign_form=None, resolve_form=None, status=200):
    records = selectors.alert_evidence_records(alert)
    named = names.objects_named(alerts.evidence_refs(alert, records))
    # The page names these clients to its reader: a read like any other page's.
    reads.read([n.instance for n in named.values() if n.instance is not None],
               action=AccessRecord.Action.LIST)
    events = alerts.record_events(records)
    _name_records(records, named)
    return render(request, "security/console/alert_detail.html", {
        "nav": "security",
        "section": "alerts",
        "alert": alert,
        "rule_title": alerts.rule_title(alert.rule),
        "rule": rules.RULES.get(alert.rule),
        "records": records,
        "events": events,
        "missing_records": len(alert.evidence.get("records", [])) - len(records),
        "evidence_items": _evidence_items(alert.evidence, named),
        "closed": alert.status in alerts.CLOSED,
        "assign_form": assign_form or AlertAssignForm(initial={"assignee": alert.assignee_id}),
        "resolve_form": resolve_form or AlertResolveForm(alert=alert),
        "can_export": selectors.can_export_evidence(request.user),
    }, status=status)


def _name_records(records, named) -> None:
    """Attach what each record's table row shows: the object's and the client's names, and
    the reader's name (a user no longer here: the username the record kept)."""
    people = User.objects.in_bulk({r.user_id for r in records if r.user_id is not None})
    for record in records:
        shown = named.get((record.object_type, record.object_id))
        record.object_name = shown.text if shown else ""
        client = named.get(("crm.contact", record.contact_id))
        record.client_name = client.text if client else ""
        person = people.get(record.user_id)
        record.user_name = str(person) if person else ""


# The evidence keys, labelled; `records` has its own table.
_EVIDENCE_LABELS = {
    "clients": gettext_lazy("Clients"),
    "objects": gettext_lazy("Objects"),
    "change_log_entries": gettext_lazy("Change log entries"),
    "since": gettext_lazy("Since"),
    "at": gettext_lazy("At"),
    "ip": gettext_lazy("Address"),
    "known": gettext_lazy("Known addresses"),
}
_MOMENTS = {"since", "at"}


def _evidence_items(data: dict, named: dict) -> list[tuple[str, object, bool]]:
    """(label, value, is_a_moment) per evidence key: objects and clients by name, times as
    datetimes (the template shows them localized), the rest as written."""
    items = []
    for key, value in data.items():
        if key == "records":
            continue
        label = str(_EVIDENCE_LABELS.get(key, key))
        if key in _MOMENTS and (moment := alerts.evidence_moment(value)) is not None:
            items.append((label, moment, True))
            continue
        if key == "objects":
            refs = [str(v).rpartition(":") for v in value or []]
            value = [named[(label_, int(pk))].text if pk.isdigit()
                     and (label_, int(pk)) in named else f"{label_}{sep}{pk}"
                     for label_, sep, pk in refs]
        elif key == "clients":
            value = [named[("crm.contact", pk)].text if ("crm.contact", pk) in named
                     else str(pk) for pk in value or []]
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        items.append((label, shown or "—", False))
    return items


@console_required
@require_GET
def alert_detail(request, pk):
    return _alert_page(request, selectors.alert_get(user=request.user, pk=pk))


@console_required
@require_POST
def alert_assign(request, pk):
    alert = selectors.alert_get(user=request.user, pk=pk)
    form = AlertAssignForm(request.POST)
    if form.is_valid():
        try:
            alerts.alert_assign(alert=alert, assignee=form.cleaned_data["assignee"],
                                by=request.user)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            messages.success(request, _("The alert is assigned."))
            return redirect("security_alert_detail", alert.pk)
    alert.refresh_from_db()
    return _alert_page(request, alert, assign_form=form, status=400)


@console_required
@require_POST
def alert_resolve(request, pk):
    alert = selectors.alert_get(user=request.user, pk=pk)
    form = AlertResolveForm(request.POST, alert=alert)
    if form.is_valid():
        data = form.cleaned_data
        try:
            alerts.alert_resolve(
                alert=alert, by=request.user, comment=data["comment"],
                false_positive=data["outcome"] == AlertResolveForm.FALSE_POSITIVE,
                reinstate=data.get("reinstate", False),
            )
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            messages.success(request, _("The alert is closed."))
            return redirect("security_alert_detail", alert.pk)
    alert.refresh_from_db()
    return _alert_page(request, alert, resolve_form=form, status=400)


@console_required
@require_GET
def alert_evidence(request, pk):
    alert = selectors.alert_get(user=request.user, pk=pk)
    return _csv_response(evidence.alert_evidence(alert=alert, by=request.user))


# --- The access log --------------------------------------------------------------------------


def _before(request) -> int | None:
    return int_or_none(request.GET.get("before"))


@console_required
@require_GET
def access_log(request):
    if not selectors.can_read_access_log(request.user):
        raise Http404
    form = AccessLogFilterForm(request.GET)
    filters = form.filters()
    rows, next_before = selectors.access_records_page(
        selectors.access_records_search(user=request.user, filters=filters),
        before=_before(request))
    return render(request, "security/console/access_log.html", {
        "nav": "security", "section": "access_log", "form": form, "rows": rows,
        "next_before": next_before, "first_page": _before(request) is None,
        "can_export": selectors.can_export_evidence(request.user),
    }, status=400 if form.errors else 200)


@console_required
@require_GET
def access_log_export(request):
    if not selectors.can_read_access_log(request.user):
        raise Http404
    form = AccessLogFilterForm(request.GET)
    if not form.is_valid():
        messages.error(request, _("Correct the search before exporting it."))
        return redirect(f"{reverse('security_access_log')}?{request.GET.urlencode()}")
    return _csv_response(evidence.search_evidence(filters=form.filters(), by=request.user))


# --- Rules -----------------------------------------------------------------------------------


@console_required
@require_GET
def rule_list(request):
    return render(request, "security/console/rule_list.html", {
        "nav": "security", "section": "rules", "rows": selectors.rule_rows(),
        "can_edit": selectors.can_edit_rules(request.user),
    })


@console_required
@require_http_methods(["GET", "POST"])
def rule_edit(request, code):
    row = selectors.rule_get(code)
    if not selectors.can_edit_rules(request.user):
        raise PermissionDenied(_("Only the security officer changes the rules."))
    current = row.effective
    form = RuleSettingForm(request.POST or None, initial={
        "enabled": current.enabled, "threshold": current.threshold,
        "window_minutes": current.window_minutes, "response": current.response,
    })
    if request.method == "POST" and form.is_valid():
        try:
            rules.rule_setting_save(code=code, by=request.user, **form.cleaned_data)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            messages.success(request, _("The rule “%(rule)s” is saved; it applies from now "
                                        "on.") % {"rule": row.rule.title})
            return redirect("security_rule_list")
    return render(request, "security/console/rule_form.html", {
        "nav": "security", "section": "rules", "row": row, "form": form,
        "responses": RuleSetting.Response,
    }, status=400 if form.errors else 200)
