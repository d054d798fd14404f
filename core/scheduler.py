"""Periodic jobs for the embedded mode, where no `celery beat` runs.

A daemon thread walks `CELERY_BEAT_SCHEDULE` with Celery's own schedule objects (so the
same entries mean the same thing in both modes) and runs each due task in process.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

log = logging.getLogger(__name__)


class EmbeddedScheduler(threading.Thread):
    def __init__(self, *, tick_seconds: float = 5.0):
        super().__init__(name="embedded-scheduler", daemon=True)
        self.tick_seconds = tick_seconds
        self.stopped = threading.Event()

    def run(self):
        from celery import current_app as app  # the project's (config/celery.py)
        from celery.schedules import maybe_schedule

        # Celery finds the apps' tasks modules lazily; a worker imports them at start, and
        # so must we, or every job would be "not registered".
        app.loader.import_default_modules()
        entries = {
            name: (entry["task"], maybe_schedule(entry["schedule"]), entry.get("args", ()),
                   entry.get("kwargs", {}))
            for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        }
        # As beat does: the first run of each job is one interval after start.
        last_run = {name: timezone.now() for name in entries}
        while not self.stopped.wait(self.tick_seconds):
            for name, (task_name, schedule, args, kwargs) in entries.items():
                due, _next = schedule.is_due(last_run[name])
                if not due:
                    continue
                last_run[name] = timezone.now()
                started = time.monotonic()
                try:
                    app.tasks[task_name].apply(args=args, kwargs=kwargs, throw=True)
                except Exception:
                    log.exception("periodic job %s failed", name)
                else:
                    log.info("periodic job %s done in %.2fs", name, time.monotonic() - started)
                finally:
                    close_old_connections()

    def stop(self):
        self.stopped.set()
