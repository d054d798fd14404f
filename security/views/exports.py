"""Exports in the HTML UI: the button on the deal and contact lists posts here with the list's
current filters; the export's page shows the one-time download link. The rules are in
security/exports.py."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from security import exports
from security.models import ExportRequest
from security.requests import client_ip


def export_response(filename: str, content_type: str, data: bytes) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def export_create(request):
    resource = request.POST.get("resource", "")
    fmt = request.POST.get("format", "")
    # The filters as the list page read them from its query string (the button copies it),
    # so the file holds what the list showed.
    found = exports.exports().get(resource)
    filters = found.from_request(request) if found else {}
    try:
        export = exports.export_request(
            user=request.user, resource=resource, fmt=fmt, filters=filters,
            ip=client_ip(request),
        )
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
        return redirect(found.list_url if found else "home")
    return redirect("export_detail", export.pk)


@login_required
@require_GET
def export_detail(request, export_id):
    export = exports.export_get(user=request.user, export_id=export_id)
    return render(request, "security/export_detail.html", {
        "nav": {ExportRequest.Resource.DEALS: "deals", ExportRequest.Resource.CONTACTS: "contacts",
                ExportRequest.Resource.TEAM_ACTIVITY: "team"}.get(export.resource, ""),
        "export": export,
        # Until the cleanup job runs, an export past its time still says "ready".
        "downloadable": export.status == ExportRequest.Status.READY
        and export.expires_at > timezone.now(),
        "back_url": reverse(exports.exports()[export.resource].list_url),
        "max_rows": settings.EXPORT_MAX_ROWS,
    })


@login_required
@require_GET
def export_download(request, export_id):
    return export_response(*exports.export_download(user=request.user, export_id=export_id))
