"""Calls to external providers (messengers, PBXs, mail servers): one error type and one retry
policy for all of them.

As in healthchecks' transports: a provider classifies its own errors as permanent (the bot
was blocked: retrying cannot help) or retryable (429, 5xx, a network failure), and the task
retries only the latter, honouring `retry_after` when the provider gives one.
"""

import logging
import threading
import time

from django.conf import settings

logger = logging.getLogger("tasks")

BACKOFF_MAX = 600  # seconds


class ProviderError(Exception):
    """`permanent`: retrying cannot help; `retry_after`: the wait the provider asked for;
    `client_unreachable`: the client blocked us or left (nothing sent to them will arrive);
    `code`: the provider's own error code, for the logs."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None,
                 client_unreachable: bool = False, code: int | str | None = None):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.client_unreachable = client_unreachable
        self.code = code


def backoff(retries: int, retry_after: float | None) -> float:
    """What the provider asked for (429's retry_after), else exponential up to BACKOFF_MAX."""
    if retry_after:
        return retry_after
    return min(2 ** retries, BACKOFF_MAX)


# In a thread of the embedded server's in-process worker (core.tasks), `.wait`: its wait,
# which the worker can cut short.
worker_thread = threading.local()


def eager_wait(countdown: float) -> None:
    """Without a Celery worker a task runs in the process that queued it and waits for its
    retry there: within reason (settings.PROVIDER_EAGER_WAIT_MAX; 0 in tests). In the
    embedded server that is a thread of the in-process worker (core.tasks), never the
    request's; elsewhere (tests, commands) the caller's own thread."""
    seconds = min(countdown, settings.PROVIDER_EAGER_WAIT_MAX)
    wait = getattr(worker_thread, "wait", None)
    if wait is not None:
        wait(seconds)
    else:
        time.sleep(seconds)


def run_with_retries(task, attempt, *, gave_up, eager_max_retries: int, what: str,
                     unexpected: str) -> None:
    """Run `attempt()` for a bound `task`: done when it returns; on a retryable ProviderError
    try again after `backoff` (a worker re-queues the task, without one the process waits);
    on a permanent one, past the retries, or on anything unexpected call `gave_up(reason)`.
    Never raises but to retry: without a worker this may run inside the request or event
    that queued it (tests; the embedded server runs it in its in-process worker), which must
    not fail because a provider did not answer."""
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
        eager_wait(countdown)
