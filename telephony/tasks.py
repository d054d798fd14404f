"""Celery tasks of telephony: thin, they load the row and call the service."""

import logging

from celery import shared_task

from telephony import services
from telephony.models import CallEvent

logger = logging.getLogger("telephony")


@shared_task(name="telephony.process_event")
def process_event(event_id: int) -> str:
    event = CallEvent.objects.filter(pk=event_id).first()
    if event is None:
        return "missing"
    try:
        event = services.event_process(event=event)
    except Exception as e:  # recorded on the event, retried by the sweeper or from the admin
        logger.exception("PBX event %s failed", event_id)
        services.event_fail(event=event, error=f"{type(e).__name__}: {e}")
        return CallEvent.Status.FAILED
    return event.status


@shared_task(name="telephony.sweep_events")
def sweep_events() -> int:
    """Queue the events nobody processed (invariant 6: a stored event is never lost)."""
    return services.events_sweep()
