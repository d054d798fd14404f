"""The task list and completing a task."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from crm import selectors, services
from crm.views.common import entry_html, next_url
from crm.views.deals import open_tasks_html
from security.audit import access_log
from security.audit.access_log import Action
from security.ratelimit import list_rate_limited
from security.requests import wants_json as _wants_json


@login_required
@require_GET
@list_rate_limited
def task_list(request):
    tasks = list(selectors.my_open_tasks(user=request.user))
    access_log.read(tasks, action=Action.LIST)
    return render(request, "crm/task_list.html", {
        "nav": "tasks",
        "tasks": tasks,
        "can_complete_task": request.user.has_perm("crm.change_task"),
        "reviews_team": selectors.reviews_team(request.user),
        "next": reverse("task_list"),
    })


@login_required
@require_GET
@list_rate_limited
def team_task_list(request):
    """A sales head's team's open tasks (the admin's: every team's), with each person's open
    and overdue counts; `?assignee=<id>` lists one person's (404 for anyone outside)."""
    if not selectors.reviews_team(request.user):
        raise PermissionDenied
    assignee = None
    if request.GET.get("assignee"):
        try:
            assignee = selectors.team_members(user=request.user).get(
                pk=int(request.GET["assignee"]))
        except (ValueError, OverflowError, ObjectDoesNotExist):
            raise Http404 from None
    tasks = list(selectors.team_open_tasks(user=request.user, assignee=assignee)[:500])
    access_log.read(tasks, action=Action.LIST)
    return render(request, "crm/team_task_list.html", {
        "nav": "tasks",
        "tasks": tasks,
        "members": selectors.team_task_counts(user=request.user),
        "assignee": assignee,
        "can_complete_task": request.user.has_perm("crm.change_task"),
        "next": request.get_full_path(),
    })


def _visible_deal(user, deal_id):
    """The task's deal if the user may see it (an assignee may not see the deal)."""
    if deal_id is None:
        return None
    try:
        return selectors.deal_get(user=user, pk=deal_id)
    except Http404:
        return None


@login_required
@require_POST
def task_complete(request, pk):
    task = selectors.task_get(user=request.user, pk=pk)
    services.task_complete(task=task, by=request.user)
    deal = _visible_deal(request.user, task.deal_id)
    if _wants_json(request):
        data = {"task": task.pk}
        if deal is not None:
            entry = selectors.timeline_entry_for(kind="task_done", source=task)
            if entry is not None:
                data.update(entry=entry.pk, html=entry_html(request, entry))
            data["tasks_html"] = open_tasks_html(request, deal)
        return JsonResponse(data)
    messages.success(request, _("Task completed."))
    default = deal.get_absolute_url() if deal is not None else reverse("task_list")
    return redirect(next_url(request, default))
