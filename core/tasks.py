"""Queueing background work."""

from django.db import transaction


def delay_on_commit(task, *args, **kwargs) -> None:
    """Queue `task` once the current transaction commits, so a worker never looks for rows
    that are not committed yet (or that a rollback removed)."""
    transaction.on_commit(lambda: task.delay(*args, **kwargs))
