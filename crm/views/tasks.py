"""The task list and completing a task."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
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
