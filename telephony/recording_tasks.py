"""Celery tasks of telephony's outbound half: fetching call recordings and sending
click-to-call commands. Thin: they load the row, call the service, retry.

(A module of its own, beside telephony/tasks.py; config/celery.py has Celery discover it.)
Retries back off exponentially, or wait what the PBX's `Retry-After` says. Without a worker
(embedded mode, tests) a task runs in the process that queued it, after commit, and waits for
its retry there, briefly.
"""

import logging
import time

from celery import shared_task

logger = logging.getLogger("telephony")

BACKOFF_MAX = 600  # seconds
# Without a worker a retry waits inside the request that queued the task: briefly.
EAGER_WAIT_MAX = 5

FETCH_MAX_RETRIES = 8
FETCH_EAGER_MAX_RETRIES = 1
CALLBACK_MAX_RETRIES = 5
CALLBACK_EAGER_MAX_RETRIES = 2


def backoff(retries: int, retry_after: float | None) -> float:
    if retry_after:
        return retry_after
    return min(2 ** retries, BACKOFF_MAX)


@shared_task(bind=True, name="telephony.fetch_recording", max_retries=FETCH_MAX_RETRIES,
             acks_late=True)
def fetch_recording(self, recording_id: int) -> None:
    """Download a call's recording from the PBX and store it encrypted. Never raises (but to
    retry): without a worker it runs inside the processing of the PBX's event, which must not
    fail because a file was not downloaded."""
    from django.utils.translation import gettext as _

    from telephony import recordings
    from telephony.providers.base import ProviderError

    retries = self.request.retries
    max_retries = FETCH_EAGER_MAX_RETRIES if self.request.is_eager else self.max_retries
    while True:
        try:
            recordings.fetch(recording_id=recording_id)
            return
        except ProviderError as exc:
            if retries >= max_retries:
                logger.warning("giving up on recording %s: %s", recording_id, exc.message)
                recordings.fetch_gave_up(recording_id=recording_id, reason=exc.message)
                return
            countdown = backoff(retries, exc.retry_after)
        except Exception:
            logger.exception("fetching recording %s failed", recording_id)
            recordings.fetch_gave_up(recording_id=recording_id,
                                     reason=_("The recording could not be stored."))
            return
        retries += 1
        if not self.request.is_eager:
            raise self.retry(countdown=countdown)
        time.sleep(min(countdown, EAGER_WAIT_MAX))


@shared_task(bind=True, name="telephony.send_callback", max_retries=CALLBACK_MAX_RETRIES,
             acks_late=True)
def send_callback(self, command_pk: int) -> None:
    """Send a click-to-call command to the PBX (queued -> sent, or failed with the reason)."""
    from django.utils.translation import gettext as _

    from telephony import click_to_call
    from telephony.providers.base import ProviderError

    retries = self.request.retries
    max_retries = CALLBACK_EAGER_MAX_RETRIES if self.request.is_eager else self.max_retries
    while True:
        try:
            click_to_call.command_send(command_pk=command_pk)
            return
        except ProviderError as exc:
            if exc.permanent or retries >= max_retries:
                logger.warning("click-to-call %s failed: %s", command_pk, exc.message)
                click_to_call.command_failed(command_pk=command_pk, reason=exc.message)
                return
            countdown = backoff(retries, exc.retry_after)
        except Exception:
            logger.exception("click-to-call %s failed", command_pk)
            click_to_call.command_failed(command_pk=command_pk,
                                         reason=_("The call could not be started."))
            return
        retries += 1
        if not self.request.is_eager:
            raise self.retry(countdown=countdown)
        time.sleep(min(countdown, EAGER_WAIT_MAX))
