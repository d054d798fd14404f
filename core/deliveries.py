"""Provider deliveries stored before they are acknowledged (DESIGN.md, invariant 6).

A messenger's updates (inbox.InboundEvent) and a PBX's events (telephony.CallEvent) live the
same life: received, then processed or ignored, or failed with the error and tried again. That
life is written once here, for a model with `status` ("received", "processed", "ignored",
"failed"), `error`, `attempts` and `received_at`, and the app's `process_event` task.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.tasks import delay_on_commit

logger = logging.getLogger("deliveries")

SWEEP_AFTER_SECONDS = 20
MAX_AUTOMATIC_ATTEMPTS = 5
_DONE = ("processed", "ignored")


def fail(model, pk, error: str) -> None:
    """Record a failed attempt (the processing transaction has been rolled back)."""
    model.objects.filter(pk=pk).update(status="failed", error=error[:5000],
                                       attempts=F("attempts") + 1)


def retry(model, pk, task) -> None:
    """Queue a failed (or stuck) delivery again; the admins' retry actions call this."""
    with transaction.atomic():
        model.objects.filter(pk=pk).exclude(status__in=_DONE).update(status="received")
        delay_on_commit(task, pk)


def sweep(model, task, *, now=None) -> int:
    """Queue every delivery still waiting a minute after it arrived (the broker or a worker
    was down), and failed ones again until they have had MAX_AUTOMATIC_ATTEMPTS tries (a
    failure past that waits for someone to press retry in the admin)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=SWEEP_AFTER_SECONDS)
    ids = list(
        model.objects.filter(
            Q(status="received") | Q(status="failed", attempts__lt=MAX_AUTOMATIC_ATTEMPTS),
            received_at__lt=cutoff,
        ).order_by("received_at").values_list("pk", flat=True)[:1000]
    )
    with transaction.atomic():
        for pk in ids:
            delay_on_commit(task, pk)
    return len(ids)


def process(model, pk, process_event) -> str:
    """The body of an app's `process_event` task: run the service on the stored delivery; a
    failure is recorded on it (for the sweeper and the admin's retry), never raised."""
    event = model.objects.filter(pk=pk).first()
    if event is None:
        return "missing"
    try:
        event = process_event(event=event)
    except Exception as e:
        logger.exception("%s %s failed", model._meta.label, pk)
        fail(model, pk, f"{type(e).__name__}: {e}")
        return "failed"
    return event.status
