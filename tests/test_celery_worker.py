"""The worker's side of the database: a connection that died (PostgreSQL restarted) is not
kept for the next task (config/celery.py)."""

import pytest
from django.db import InterfaceError, OperationalError, connection

from config.celery import _drop_broken_database_connections


@pytest.mark.django_db(transaction=True)
def test_a_dead_connection_is_dropped_after_the_task_that_met_it():
    connection.ensure_connection()
    connection.connection.close()  # as a PostgreSQL restart leaves it
    with pytest.raises((OperationalError, InterfaceError)), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.errors_occurred
    _drop_broken_database_connections()
    assert connection.connection is None
    with connection.cursor() as cursor:  # the next task connects afresh
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.django_db(transaction=True)
def test_a_working_connection_is_kept():
    connection.ensure_connection()
    kept = connection.connection
    _drop_broken_database_connections()
    assert connection.connection is kept


def test_it_runs_after_every_task():
    from celery.signals import task_postrun

    assert any(receiver() is _drop_broken_database_connections
               for _key, receiver in task_postrun.receivers)
