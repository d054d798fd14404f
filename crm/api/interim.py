"""Writes the API needs that crm.services does not offer yet.

Each function here has the shape it should have in crm/services.py and moves there as is
(then this module goes away); nothing else in crm/api writes to the database.
"""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from crm.models import Task

_EDITABLE_TASK_FIELDS = {"title", "assignee", "due_at", "deal", "contact"}


@transaction.atomic
def task_update(*, task: Task, by, **fields) -> Task:
    if not by.has_perm("crm.change_task"):
        raise PermissionDenied(_("Your role does not allow this action."))
    unknown = set(fields) - _EDITABLE_TASK_FIELDS
    if unknown:
        raise ValueError(f"task_update cannot change {sorted(unknown)}")
    if "title" in fields:
        fields["title"] = fields["title"].strip()
    for name, value in fields.items():
        setattr(task, name, value)
    task.full_clean()
    task.save()
    return task
