import os

from celery import Celery
from celery.signals import worker_process_init

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
