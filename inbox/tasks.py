"""Celery tasks of the inbox: thin, they load the row and call the service."""

import logging

from celery import shared_task

from inbox import services
from inbox.models import InboundEvent

logger = logging.getLogger("inbox")


@shared_task(name="inbox.process_event")
def process_event(event_id: int) -> str:
    event = InboundEvent.objects.filter(pk=event_id).first()
    if event is None:
        return "missing"
    try:
        event = services.event_process(event=event)
    except Exception as e:  # recorded on the event, retried by the sweeper or from the admin
        logger.exception("inbound event %s failed", event_id)
        services.event_fail(event=event, error=f"{type(e).__name__}: {e}")
        return InboundEvent.Status.FAILED
    return event.status


@shared_task(name="inbox.sweep_events")
def sweep_events() -> int:
    """Queue the events nobody processed (invariant 6: a stored event is never lost)."""
    return services.events_sweep()
