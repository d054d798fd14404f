import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Task modules besides `tasks`: telephony keeps its outbound half's in recording_tasks.
app.autodiscover_tasks(related_name="recording_tasks")


def delay_on_commit(task, *args, **kwargs) -> None:
    """Queue `task` once the current transaction commits, so a worker never looks for rows
    that are not committed yet (or that a rollback removed)."""
    from django.db import transaction

    transaction.on_commit(lambda: task.delay(*args, **kwargs))
