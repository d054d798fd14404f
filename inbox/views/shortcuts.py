"""Where the keyboard's shortcuts go (static/js/keys.js)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from core.http import int_or_none
from inbox import selectors


@login_required
@require_GET
def next_unanswered(request):
    """To the deal card of the client who has waited longest for this user's answer (`after`:
    the deal on screen, skipped); the conversations list when nobody waits."""
    conversation = selectors.next_unanswered(user=request.user,
                                             after_deal=int_or_none(request.GET.get("after")))
    if conversation is None:
        messages.info(request, _("No client is waiting for your answer."))
        return redirect("conversation_list")
    return redirect(f"{conversation.deal.get_absolute_url()}#conversations")
