"""Telephony in the deal card: the call recording's stream and click-to-call (HTML, with JSON
for fetch).

Thin: the deal comes through crm.selectors.deal_get (404 for whoever may not see it), the
call or command through the deal.

The recording is served decrypted, as audio a browser plays and cannot run (nosniff, a
sandboxing CSP), never cached, with a single byte range (206, or 416 past the end) so the
player can seek. Every request for it goes into the access log (who, which call and
recording, the range, from where).
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from core.http import int_or_404
from crm import selectors as crm_selectors
from security import files
from security.audit import access_log
from security.audit.access_log import Action, Surface
from security.requests import wants_json as _wants_json
from telephony import click_to_call as calls
from telephony import recordings, selectors

CONTENT_SECURITY_POLICY = "default-src 'none'; media-src 'self'; sandbox"



@login_required
@require_safe
def recording_stream(request, pk, call_id):
    deal = crm_selectors.deal_get(user=request.user, pk=pk)
    call = get_object_or_404(selectors.deal_calls(deal=deal), pk=call_id)
    stored = call.recordings.exclude(file_path="").order_by("created_at", "pk")
    if "id" in request.GET:  # one of several (a transferred call has one per leg)
        stored = stored.filter(pk=int_or_404(request.GET["id"]))
    recording = stored.first()
    if recording is None:
        raise Http404
    try:
        data = recordings.open_decrypted(recording)
    except recordings.RecordingUnavailable:
        raise Http404 from None
    etag = f'"{recording.sha256}"' if recording.sha256 else ""
    response, served = files.ranged_response(
        request, data, content_type=recordings.content_type(recording), etag=etag)
    if response.status_code != 416:
        access_log.read(call, action=Action.PLAYBACK, surface=Surface.FILE, detail={
            "recording": recording.pk,
            "range": f"{served[0]}-{served[1]}" if served else "all",
        })
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Cache-Control"] = "private, no-store"
    response["Content-Disposition"] = "inline"
    return response


def _status_html(request, deal, command) -> str:
    return render_to_string("telephony/_click_to_call_status.html",
                            {"deal": deal, "command": command}, request)


def _command_json(request, deal, command) -> dict:
    return {
        "command": command.pk,
        "status": command.status,
        "label": command.get_status_display(),
        "error": command.error,
        "status_html": _status_html(request, deal, command),
    }


@login_required
@require_POST
def click_to_call(request, pk):
    """The deal card's Call button: the PBX rings the user's phone, then the client."""
    deal = crm_selectors.deal_get(user=request.user, pk=pk)
    try:
        command = calls.click_to_call(deal=deal, by=request.user)
    except PermissionDenied as error:
        if _wants_json(request):
            return JsonResponse({"errors": {"__all__": [{"message": str(error)}]}}, status=403)
        raise
    except ValidationError as error:
        if _wants_json(request):
            return JsonResponse(
                {"errors": {"__all__": [{"message": m, "code": error.code or ""}
                                        for m in error.messages]}}, status=400)
        for text in error.messages:
            messages.error(request, text)
        return redirect(deal.get_absolute_url())
    command.refresh_from_db()  # without a worker it may be sent already
    if _wants_json(request):
        return JsonResponse(_command_json(request, deal, command), status=202)
    messages.success(request, _("Calling: pick up your phone, then the client is dialled."))
    return redirect(deal.get_absolute_url())


@login_required
@require_safe
def click_to_call_status(request, pk, command_id):
    deal = crm_selectors.deal_get(user=request.user, pk=pk)
    command = calls.command_get(deal=deal, pk=command_id)
    if _wants_json(request):
        return JsonResponse(_command_json(request, deal, command))
    return render(request, "telephony/_click_to_call_status.html",
                  {"deal": deal, "command": command})

