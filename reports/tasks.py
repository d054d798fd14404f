from celery import shared_task

from reports import digest


@shared_task(name="reports.send_weekly_digests")
def send_weekly_digests() -> int:
    """Each head's weekly digest, on Monday from 9:00 in the team's time zone."""
    return digest.send_due()
