import logging

from celery import shared_task
from django.conf import settings
from django.core.management import call_command

from core import storage
from security import backups
from security.accounts import revoked_credentials_delete_stale
from security.exports import export_cleanup
from security.offboarding import offboardings_run_due

logger = logging.getLogger(__name__)


@shared_task(name="security.clear_expired_sessions")
def clear_expired_sessions() -> None:
    """Expired sessions pile up in the database until removed (Django does not do it); so do
    the digests of revoked sessions, which cannot match a live cookie any more."""
    call_command("clearsessions")
    revoked_credentials_delete_stale()


@shared_task(name="security.expire_exports")
def expire_exports() -> int:
    """Delete the files of exports nobody downloaded within their 15 minutes."""
    return export_cleanup()


@shared_task(name="security.mail_alert", autoretry_for=(OSError,), retry_backoff=30,
             max_retries=5)
def mail_alert(alert_id: int) -> int:
    """E-mail a raised alert to the security officers and the user's sales head."""
    from security.audit import alerts
    from security.models import Alert

    alert = Alert.objects.select_related("user__team").filter(pk=alert_id).first()
    return alerts.mail(alert) if alert is not None else 0


@shared_task(name="security.backup_daily")
def backup_daily() -> str:
    """The nightly backup into the backup store (BACKUP_DIR, or the object storage's bucket;
    security/backups.py, which logs it), old ones pruned; nothing (a warning in the log) while
    BACKUP_PUBLIC_KEY is not set. Returns where the archive went."""
    if not settings.BACKUP_PUBLIC_KEY:
        logger.warning(
            "no backup tonight: BACKUP_PUBLIC_KEY is not set (README, Backups and restore)")
        return ""
    made = backups.backup(storage.backups(),
                          recipient=backups.public_key(settings.BACKUP_PUBLIC_KEY))
    return made.where


@shared_task(name="security.run_due_offboardings")
def run_due_offboardings() -> int:
    """Offboardings scheduled for an employee's last day, once their time has come."""
    return len(offboardings_run_due())
