"""Incident pages of the security console: the list, opening one from alerts, and the
incident itself (clocks, affected clients, evidence, containment, the regulator draft,
timeline). Console users only (security officers and admins); anyone else gets 404."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
    require_safe,
)

from core.http import int_or_404
from security import selectors
from security.audit import containment, incidents
from security.views.console import console_required


def _first_error(error: ValidationError) -> str:
    return next(iter(error.message_dict.values()))[0] if hasattr(error, "message_dict") \
        else error.messages[0]


@console_required
@require_GET
def incident_list(request):
    page = Paginator(selectors.incident_list(), 25).get_page(
        request.GET.get("page"))
    return render(request, "security/incidents/list.html", {
        "nav": "security", "section": "incidents", "page": page, "now": timezone.now(),
    })


@console_required
@require_http_methods(["GET", "POST"])
def incident_open(request):
    """Opening an incident starts the regulator's 24-hour clock and freezes evidence: the
    alert's "Open an incident" comes here (GET) to say what will happen, and only a POST with
    the confirmation ticked opens it."""
    source = request.POST if request.method == "POST" else request.GET
    ids = [int(value) for value in source.getlist("alert") if value.isdigit()]
    alerts = selectors.alerts_by_ids(ids)
    if not alerts or len(alerts) != len(set(ids)):
        raise Http404
    title = source.get("title", "").strip()[:200]
    confirmed = request.method == "POST" and source.get("confirm") == "yes"
    if confirmed:
        incident = incidents.incident_open(alerts=alerts, by=request.user, title=title)
        messages.success(request, _("Incident opened; the evidence is frozen."))
        return redirect("incident_detail", pk=incident.pk)
    return render(request, "security/incidents/open.html", {
        "nav": "security", "section": "incidents", "alerts": alerts, "title": title,
        "evidence": incidents.evidence_summary(alerts),
        "unconfirmed": request.method == "POST",
        "notify_by": min(alert.raised_at for alert in alerts) + incidents.NOTIFY_WITHIN,
    }, status=400 if request.method == "POST" else 200)


@console_required
@require_safe
def incident_detail(request, pk):
    incident = selectors.incident_get(pk=pk)
    now = timezone.now()
    deadlines = incidents.deadlines(incident)
    return render(request, "security/incidents/detail.html", {
        "nav": "security",
        "section": "incidents",
        "incident": incident,
        "now": now,
        "notify_by": deadlines["notify_by"],
        "report_by": deadlines["report_by"],
        "notify_overdue": incident.regulator_notified_at is None
        and now > deadlines["notify_by"],
        "report_overdue": incident.results_reported_at is None
        and now > deadlines["report_by"],
        "alerts": incident.alerts.select_related("user"),
        "subjects": incident.subjects.all(),
        "events": incident.events.select_related("by"),
        "evidence_intact": incidents.evidence_intact(incident),
        "switchables": [(s, s.active()) for s in containment.switchables()],
        "automation_paused": containment.automation_paused(),
        "draft": incidents.notification_draft(incident),
    })


@console_required
@require_safe
def incident_notification(request, pk):
    """The regulator notification draft as a text file to edit and send."""
    incident = selectors.incident_get(pk=pk)
    response = HttpResponse(incidents.notification_draft(incident),
                            content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="incident-{incident.pk}.txt"'
    return response


@console_required
@require_POST
def incident_action(request, pk):
    """One step on the incident: containment, the regulator's clocks, a note, closing."""
    incident = selectors.incident_get(pk=pk)
    action, by = request.POST.get("action"), request.user
    try:
        with transaction.atomic():
            if action == "suspend":
                user = selectors.incident_subject(incident=incident,
                                                  pk=int_or_404(request.POST.get("user")))
                incidents.contain_suspend(incident=incident, user=user, by=by)
            elif action == "disable":
                incidents.contain_disable(incident=incident, kind=request.POST.get("kind", ""),
                                          target_id=int_or_404(request.POST.get("target")), by=by)
            elif action == "pause":
                incidents.contain_pause_automation(incident=incident, by=by)
            elif action == "notified":
                incidents.mark_regulator_notified(incident=incident, by=by)
            elif action == "reported":
                incidents.mark_results_reported(incident=incident, by=by)
            elif action == "note":
                incidents.incident_note(incident=incident, by=by,
                                        text=request.POST.get("text", ""))
            elif action == "close":
                incidents.incident_close(incident=incident, by=by,
                                         comment=request.POST.get("comment", ""))
            else:
                raise Http404
    except ValidationError as error:
        messages.error(request, _first_error(error))
    else:
        messages.success(request, _("Done; it is on the incident's timeline."))
    return redirect("incident_detail", pk=incident.pk)
