"""Periodic jobs in the embedded mode: the scheduler thread runs Celery's own schedule."""

import threading

import pytest
from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone

from config.scheduler import EmbeddedScheduler

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
