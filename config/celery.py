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


def delay_on_commit(task, *args, **kwargs) -> None:
    """Queue `task` once the current transaction commits, so a worker never looks for rows
    that are not committed yet (or that a rollback removed)."""
    from django.db import transaction

    transaction.on_commit(lambda: task.delay(*args, **kwargs))


# --- Retrying a call to a provider -------------------------------------------------------------

BACKOFF_MAX = 600  # seconds
# Without a worker (embedded mode, tests) a task runs in the process that queued it and waits
# for its retry there: within reason.
EAGER_WAIT_MAX = 5


def backoff(retries: int, retry_after: float | None) -> float:
    """What the provider asked for (429's retry_after), else exponential up to BACKOFF_MAX."""
    if retry_after:
        return retry_after
    return min(2 ** retries, BACKOFF_MAX)


def run_with_retries(task, attempt, *, gave_up, eager_max_retries: int, what: str,
                     unexpected: str) -> None:
    """Run `attempt()` for a bound `task`: done when it returns; on a retryable ProviderError
    try again after `backoff` (a worker re-queues the task, without one the process waits);
    on a permanent one, past the retries, or on anything unexpected call `gave_up(reason)`.
    Never raises but to retry: without a worker this runs inside the request or event that
    queued it, which must not fail because a provider did not answer."""
    import logging
    import time

    from inbox.providers.base import ProviderError

    logger = logging.getLogger("tasks")
    retries = task.request.retries
    max_retries = eager_max_retries if task.request.is_eager else task.max_retries
    while True:
        try:
            attempt()
            return
        except ProviderError as exc:
            if exc.permanent or retries >= max_retries:
                logger.warning("giving up on %s: %s", what, exc.message)
                gave_up(exc.message)
                return
            countdown = backoff(retries, exc.retry_after)
        except Exception:
            logger.exception("%s failed", what)
            gave_up(unexpected)
            return
        retries += 1
        if not task.request.is_eager:
            raise task.retry(countdown=countdown)
        time.sleep(min(countdown, EAGER_WAIT_MAX))
