"""Celery tasks of telephony's outbound half: fetching call recordings and sending
click-to-call commands. Thin: they load the row, call the service, retry.

(A module of its own, beside telephony/tasks.py; config/celery.py has Celery discover it.)
Retries back off exponentially, or wait what the PBX's `Retry-After` says. Without a worker
(embedded mode, tests) a task runs in the process that queued it, after commit, and waits for
its retry there, briefly.
"""

from celery import shared_task

from core.providers import run_with_retries

FETCH_MAX_RETRIES = 8
FETCH_EAGER_MAX_RETRIES = 1
CALLBACK_MAX_RETRIES = 5
CALLBACK_EAGER_MAX_RETRIES = 2


@shared_task(bind=True, name="telephony.fetch_recording", max_retries=FETCH_MAX_RETRIES,
             acks_late=True)
def fetch_recording(self, recording_id: int) -> None:
    """Download a call's recording from the PBX and store it encrypted. Never raises (but to
    retry): without a worker it runs inside the processing of the PBX's event, which must not
    fail because a file was not downloaded."""
    from django.utils.translation import gettext as _

    from telephony import recordings

    run_with_retries(
        self, lambda: recordings.fetch(recording_id=recording_id),
        gave_up=lambda reason: recordings.fetch_gave_up(recording_id=recording_id,
                                                        reason=reason),
        eager_max_retries=FETCH_EAGER_MAX_RETRIES, what=f"recording {recording_id}",
        unexpected=_("The recording could not be stored."),
    )


@shared_task(bind=True, name="telephony.send_callback", max_retries=CALLBACK_MAX_RETRIES,
             acks_late=True)
def send_callback(self, command_pk: int) -> None:
    """Send a click-to-call command to the PBX (queued -> sent, or failed with the reason)."""
    from django.utils.translation import gettext as _

    from telephony import click_to_call

    run_with_retries(
        self, lambda: click_to_call.command_send(command_pk=command_pk),
        gave_up=lambda reason: click_to_call.command_failed(command_pk=command_pk,
                                                            reason=reason),
        eager_max_retries=CALLBACK_EAGER_MAX_RETRIES, what=f"click-to-call {command_pk}",
        unexpected=_("The call could not be started."),
    )
