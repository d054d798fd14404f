"""The worker's side of the database: a connection that died (PostgreSQL restarted) is not
used by the next task (config/celery.py), as Django does for each request."""

import time

import pytest
from django.db import InterfaceError, OperationalError, connection

from config.celery import _check_database_connections


class _WorkerTask:
    """A task as a worker runs it (not eagerly)."""

    class request:
        is_eager = False


class _EagerTask:
    class request:
        is_eager = True


def _kill():
    connection.ensure_connection()
    connection.connection.close()  # as a PostgreSQL restart leaves it


@pytest.mark.django_db(transaction=True)
def test_a_task_after_the_server_restarted_gets_a_fresh_connection():
    _kill()
    _check_database_connections(task=_WorkerTask())
    with connection.cursor() as cursor:  # health-checked, found dead, connected afresh
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_failed_in_a_task_is_closed_before_the_next():
    _kill()
    with pytest.raises((OperationalError, InterfaceError)), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    _check_database_connections(task=_WorkerTask())
    assert connection.connection is None


@pytest.mark.django_db(transaction=True)
def test_a_working_connection_is_kept():
    connection.ensure_connection()
    connection.close_at = time.monotonic() + 60  # as CONN_MAX_AGE gives it (0 in tests)
    kept = connection.connection
    _check_database_connections(task=_WorkerTask())
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.connection is kept


@pytest.mark.django_db(transaction=True)
def test_a_task_run_in_the_callers_process_leaves_its_connection_alone():
    _kill()
    _check_database_connections(task=_EagerTask())
    try:
        assert connection.connection is not None  # untouched: the caller's to manage
    finally:
        connection.close()  # the test's own clean-up of what it broke


def test_it_runs_before_every_task():
    from celery.signals import task_prerun

    assert any(receiver() is _check_database_connections
               for _key, receiver in task_prerun.receivers)
