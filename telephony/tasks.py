"""Celery tasks of telephony: thin, they load the row and call the service."""

from celery import shared_task

from core import deliveries
from telephony import services
from telephony.models import CallEvent


@shared_task(name="telephony.process_event")
def process_event(event_id: int) -> str:
    return deliveries.process(CallEvent, event_id, services.event_process)


@shared_task(name="telephony.sweep_events")
def sweep_events() -> int:
    """Queue the events nobody processed (invariant 6: a stored event is never lost)."""
    return services.events_sweep()
