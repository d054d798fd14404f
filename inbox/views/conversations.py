"""The conversations list and the deal card's conversation panel: replies, private notes,
read marks and retries (HTML, with JSON for fetch).

Thin: the deal comes through crm.selectors.deal_get (404 for whoever may not see it), the
conversation or message through the deal, the write through inbox.services.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.http import int_or_404
from crm import selectors as crm_selectors
from inbox import selectors, services
from inbox.models import Channel, Message
from security.audit import access_log
from security.audit.access_log import Action
from security.ratelimit import list_rate_limited
from security.requests import wants_json as _wants_json


def _errors(error: ValidationError) -> dict:
    if hasattr(error, "error_dict"):
        return {field: [{"message": m} for m in msgs]
                for field, msgs in error.message_dict.items()}
    return {"__all__": [{"message": m} for m in error.messages]}


def _back(deal):
    return redirect(f"{deal.get_absolute_url()}#conversations")


@login_required
@require_GET
@list_rate_limited
def conversation_list(request):
    """"My conversations": unanswered first, then by last activity; a head may switch to
    the team's."""
    user = request.user
    if not user.has_perm("crm.view_deal"):
        raise Http404
    assignee, waiting, kind = _narrowing(request)
    mine = request.GET.get("scope") != "all" and assignee is None
    page = selectors.conversation_page(user=user, mine=mine, page=request.GET.get("page"),
                                       assignee=assignee, waiting=waiting, kind=kind)
    access_log.read(page.object_list, action=Action.LIST)
    return render(request, "inbox/conversation_list.html", {
        "nav": "conversations",
        "mine": mine,
        "page": page,
        "assignee": assignee,
        "waiting": waiting,
        "kind": kind,
        "now": timezone.now(),
    })


def _narrowing(request):
    """What a team page figure opens: one person's conversations (`assignee`, someone whose
    work the user reviews, or the user: 404 for anyone else), those waiting for an answer
    (`waiting=unanswered`) or past the first-response time (`overdue`), of one channel kind
    (`channel`). Anything else in them is a 404, not a wider list."""
    assignee = None
    if request.GET.get("assignee"):
        pk = int_or_404(request.GET["assignee"])
        if pk == request.user.pk:
            assignee = request.user
        else:
            assignee = crm_selectors.team_members(user=request.user).filter(pk=pk).first()
            if assignee is None:
                raise Http404
    waiting = request.GET.get("waiting", "")
    kind = request.GET.get("channel", "")
    if (waiting and waiting not in selectors.WAITING) or (
            kind and kind not in Channel.Kind.values):
        raise Http404
    return assignee, waiting, kind


def _chat_html(request, messages_) -> str:
    return "".join(render_to_string("inbox/_chat_message.html", {"message": message}, request)
                   for message in messages_)


@login_required
@require_GET
def conversation_messages(request, pk, conversation_id):
    """A page of the conversation panel: older messages (`?before=<message id>`) for "Load
    older messages", or the newest page, which the panel's script merges on live events."""
    deal = crm_selectors.deal_get(user=request.user, pk=pk)
    conversation = get_object_or_404(selectors.deal_conversations(deal=deal), pk=conversation_id)
    before = int_or_404(request.GET["before"]) if request.GET.get("before") else None
    chat, has_older = selectors.chat_page(conversation=conversation, before=before)
    access_log.read(conversation, action=Action.TIMELINE)
    older = (f"{reverse('conversation_messages', args=[deal.pk, conversation.pk])}"
             f"?before={chat[0].pk}") if has_older and chat else None
    if _wants_json(request):
        # The conversation's state (awaiting whose answer, a failed reply) comes along, so
        # the panel shows it as it is now whenever it merges the chat.
        state = render_to_string("inbox/_conversation_state.html", {
            "conversation": conversation, "now": timezone.now(),
            "failed": selectors.failed_reply(conversation=conversation),
        }, request)
        return JsonResponse({"html": _chat_html(request, chat), "older": older,
                             "state": state})
    return render(request, "inbox/conversation_messages.html", {
        "nav": "deals", "deal": deal, "conversation": conversation, "chat": chat,
        "older": older,
    })


def _reply_to(deal, value) -> Message | None:
    if not value:
        return None
    try:
        return selectors.deal_message_get(deal=deal, pk=int(value))
    except (TypeError, ValueError):
        raise ValidationError({"reply_to": _("That message is from another chat.")}) from None


@login_required
@require_POST
def conversation_reply(request, pk, conversation_id):
    """Send a reply (typed, a canned reply, or a WhatsApp template), or keep a private note
    when `private` is set: the same composer, as a manager would expect."""
    deal = crm_selectors.deal_get(user=request.user, pk=pk)
    conversation = get_object_or_404(selectors.deal_conversations(deal=deal), pk=conversation_id)
    text = request.POST.get("text", "")
    private = request.POST.get("private") in ("1", "on", "true")
    try:
        if not text.strip() and request.POST.get("canned") and not private:
            text = selectors.canned_reply_get(user=request.user,
                                              pk=int_or_404(request.POST["canned"])).text
        if request.POST.get("template"):
            # WhatsApp past its 24-hour window: an approved template, its fields filled in.
            message = services.message_reply_template(
                conversation=conversation, by=request.user,
                template_id=int_or_404(request.POST["template"]),
                parameters=request.POST.getlist("parameter"))
        elif request.FILES.get("file"):
            if private:
                raise ValidationError({"file": _("A private note cannot carry a file.")})
            message = services.message_reply_file(conversation=conversation, by=request.user,
                                                  upload=request.FILES["file"], caption=text)
        elif private:
            message = services.message_note(conversation=conversation, by=request.user,
                                            text=text)
        else:
            message = services.message_reply(
                conversation=conversation, by=request.user, text=text,
                reply_to=_reply_to(deal, request.POST.get("reply_to")),
            )
    except ValidationError as error:
        if _wants_json(request):
            return JsonResponse({"errors": _errors(error)}, status=400)
        for text in error.messages:
            messages.error(request, text)
        return _back(deal)
    if _wants_json(request):
        # The panel's script puts the message into the chat (static/js/inbox.js).
        return JsonResponse({"message": message.pk, "chat_html": _chat_html(request, [message])})
    messages.success(request, _("Note saved.") if private else _("Reply queued for sending."))
    return _back(deal)



@login_required
@require_POST
def conversation_read(request, pk, conversation_id):
    """The deal card was looked at with new messages in it: the assignee has read them."""
    deal = crm_selectors.deal_get(user=request.user, pk=pk)
    conversation = get_object_or_404(selectors.deal_conversations(deal=deal), pk=conversation_id)
    services.conversation_mark_read(conversation=conversation, by=request.user)
    if _wants_json(request):
        return JsonResponse({
            "unread": conversation.unread_count,
            # For the nav's badge: conversations of this user still holding unread messages.
            "unread_conversations": selectors.unread_conversation_count(user=request.user),
        })
    return _back(deal)


@login_required
@require_POST
def message_retry(request, pk, message_id):
    deal = crm_selectors.deal_get(user=request.user, pk=pk)
    message = selectors.deal_message_get(deal=deal, pk=message_id)
    try:
        message = services.message_retry(message=message, by=request.user,
                                         confirmed=request.POST.get("confirm") == "1")
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
