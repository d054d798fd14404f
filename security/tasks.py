from celery import shared_task
from django.core.management import call_command


@shared_task(name="security.clear_expired_sessions")
def clear_expired_sessions() -> None:
    """Expired sessions pile up in the database until removed (Django does not do it)."""
    call_command("clearsessions")
