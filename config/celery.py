import os

from celery import Celery
from celery.signals import task_postrun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Task modules besides `tasks`: telephony keeps its outbound half's in recording_tasks.
app.autodiscover_tasks(related_name="recording_tasks")


@worker_process_init.connect
def _freeze_startup_objects(**_kwargs) -> None:
    """Each pool process, once forked with the loaded application (see config.memory)."""
    from config.memory import freeze_startup_objects

    freeze_startup_objects()


@task_postrun.connect
def _drop_broken_database_connections(**_kwargs) -> None:
    """A connection that failed in this task is closed if it no longer works, so the next
    task opens a fresh one. With CELERY_DB_REUSE_MAX, Celery itself looks only every so many
    tasks, and Django's health check runs per request, which a worker has none of: after a
    PostgreSQL restart every task of a pool process failed on its dead connection until a
    restart of the worker (make faults)."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if connection.errors_occurred:
            connection.close_if_unusable_or_obsolete()
