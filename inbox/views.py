"""The deal card's conversation panel: replies and retries (HTML, with JSON for fetch).

Thin: the deal comes through crm.selectors.deal_get (404 for whoever may not see it), the
conversation or message through the deal, the write through inbox.services.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors as crm_selectors
from crm import timeline
from inbox import selectors, services
from inbox.models import Message
from security.requests import wants_json as _wants_json


def _errors(error: ValidationError) -> dict:
    if hasattr(error, "error_dict"):
        return {field: [{"message": m} for m in msgs]
                for field, msgs in error.message_dict.items()}
    return {"__all__": [{"message": m} for m in error.messages]}


def _entry_html(request, message: Message) -> str:
    entry = crm_selectors.timeline_entry_for(kind="message", source=message)
    if entry is None:
        return ""
    entry.kind_info = timeline.kind_for(entry.kind)
    return render_to_string("crm/timeline/_entry.html", {"entry": entry}, request)


def _back(deal):
    return redirect(f"{deal.get_absolute_url()}#conversations")


@login_required
@require_POST
def conversation_reply(request, pk, conversation_id):
    deal = crm_selectors.deal_get(user=request.user, pk=pk)
    conversation = get_object_or_404(selectors.deal_conversations(deal=deal), pk=conversation_id)
    try:
        message = services.message_reply(conversation=conversation, by=request.user,
                                         text=request.POST.get("text", ""))
    except ValidationError as error:
        if _wants_json(request):
            return JsonResponse({"errors": _errors(error)}, status=400)
        for text in error.messages:
            messages.error(request, text)
        return _back(deal)
    if _wants_json(request):
        return JsonResponse({"message": message.pk, "html": _entry_html(request, message)})
    messages.success(request, _("Reply queued for sending."))
    return _back(deal)


@login_required
@require_POST
def message_retry(request, pk, message_id):
    deal = crm_selectors.deal_get(user=request.user, pk=pk)
    message = selectors.deal_message_get(deal=deal, pk=message_id)
    try:
        message = services.message_retry(message=message, by=request.user)
    except ValidationError as error:
        if _wants_json(request):
            return JsonResponse({"errors": _errors(error)}, status=400)
        for text in error.messages:
            messages.error(request, text)
        return _back(deal)
    if _wants_json(request):
        return JsonResponse({"message": message.pk, "status": message.status})
    messages.success(request, _("The message is queued again."))
    return _back(deal)
