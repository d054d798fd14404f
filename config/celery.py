import os

from celery import Celery
from celery.signals import task_prerun, worker_process_init

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


@task_prerun.connect
def _check_database_connections(task=None, **_kwargs) -> None:
    """What Django does for each request, for each task: a connection that failed, or is
    older than CONN_MAX_AGE, is closed, and the others are health-checked before the task's
    first query (CONN_HEALTH_CHECKS). Celery itself looks only every CELERY_DB_REUSE_MAX tasks,
    so after a PostgreSQL restart the tasks of a pool process failed on its dead connection
    (make faults: 72 of 120 updates unprocessed a minute later; and a sweeper meeting the
    dead connection first failed too, so recovery waited for the next sweep). Not for a
    task run in the caller's process (eagerly: the embedded mode, tests), whose connection
    and transaction are the caller's."""
    from django.db import connections

    if task is None or getattr(task.request, "is_eager", False):
        return
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
