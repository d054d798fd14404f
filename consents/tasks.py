"""Periodic jobs of consents/: thin, the services do the work."""

from celery import shared_task

from consents import retention, services


@shared_task(name="consents.remind_subject_requests")
def remind_subject_requests() -> int:
    return services.subject_requests_remind()


@shared_task(name="consents.apply_retention")
def apply_retention() -> dict:
    return retention.apply(dry_run=False).counts()


@shared_task(name="consents.purge_pending_consents")
def purge_pending_consents() -> int:
    """Double opt-in requests whose link expired unconfirmed (hourly)."""
    from consents import confirmation

    return confirmation.pending_purge()
