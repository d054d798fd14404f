"""Periodic jobs in the embedded mode: the scheduler thread runs Celery's own schedule."""

import threading

import pytest
from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone

from core.scheduler import EmbeddedScheduler

ran = threading.Event()


@shared_task(name="tests.mark_ran")
def mark_ran():
    ran.set()


def test_the_embedded_scheduler_runs_due_jobs(settings):
    ran.clear()
    settings.CELERY_BEAT_SCHEDULE = {"mark": {"task": "tests.mark_ran", "schedule": 0.2}}
    scheduler = EmbeddedScheduler(tick_seconds=0.05)
    scheduler.start()
    try:
        assert ran.wait(timeout=5)
    finally:
        scheduler.stop()
        scheduler.join(timeout=5)


def test_a_failing_job_does_not_stop_the_scheduler(settings):
    ran.clear()
    settings.CELERY_BEAT_SCHEDULE = {
        "broken": {"task": "tests.no_such_task", "schedule": 0.1},
        "mark": {"task": "tests.mark_ran", "schedule": 0.3},
    }
    scheduler = EmbeddedScheduler(tick_seconds=0.05)
    scheduler.start()
    try:
        assert ran.wait(timeout=5)
    finally:
        scheduler.stop()
        scheduler.join(timeout=5)


@pytest.mark.django_db
def test_the_session_cleanup_job_removes_expired_sessions():
    from security.tasks import clear_expired_sessions

    Session.objects.create(session_key="old", session_data="x",
                           expire_date=timezone.now() - timezone.timedelta(days=1))
    Session.objects.create(session_key="live", session_data="x",
                           expire_date=timezone.now() + timezone.timedelta(days=1))
    clear_expired_sessions.apply()
    assert list(Session.objects.values_list("session_key", flat=True)) == ["live"]


def test_every_periodic_job_is_registered_in_a_fresh_process():
    """The embedded scheduler imports the apps' tasks itself, as a Celery worker would."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from config.celery import app\n"
        "app.loader.import_default_modules()\n"
        "missing = [e['task'] for e in settings.CELERY_BEAT_SCHEDULE.values()"
        " if e['task'] not in app.tasks]\n"
        "print(missing); raise SystemExit(1 if missing else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent.parent, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
