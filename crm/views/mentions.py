"""The "Mentions" list: notes and private notes in which colleagues named the user; whom a
note on a deal may mention (the autocomplete's list)."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm import mentions, selectors
from crm.views.common import with_kinds
from security.audit import access_log
from security.audit.access_log import Action
from security.ratelimit import list_rate_limited


@login_required
@require_GET
@list_rate_limited
def mention_list(request):
    found = mentions.mentions_of(user=request.user)
    entries = with_kinds([mention.entry for mention in found])
    access_log.read(entries, action=Action.LIST)
    return render(request, "crm/mention_list.html", {"nav": "tasks", "mentions": found})


@login_required
@require_GET
def deal_mention_candidates(request, pk):
    """The colleagues who see the deal, whom its notes may @mention (static/js/mentions.js
    asks the first time "@" is typed): staff names, no client data. Asked, not put in every
    card, where listing them took 9 ms of 80 at 10,000 users."""
    deal = selectors.deal_get(user=request.user, pk=pk)
    people = mentions.mention_candidates(deal=deal, by=request.user)
    return JsonResponse({"candidates": [{"username": user.username, "name": str(user)}
                                        for user in people]})
