"""The "Mentions" list: notes and private notes in which colleagues named the user."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm import mentions
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
