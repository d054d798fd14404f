"""Queueing background work."""

import logging

from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger("tasks")


def delay_on_commit(task, *args, **kwargs) -> None:
    """Queue `task` once the current transaction commits, so a worker never looks for rows
    that are not committed yet (or that a rollback removed).

    A broker that cannot take it (Redis down, or not answering within its timeout) does not
    undo what was committed nor stop the transaction's other after-commit steps: the row
    waits in the database and the app's sweeper queues it again (inbox.sweep_events,
    inbox.sweep_sends, telephony.sweep_events)."""

    def queue():
        if task.app.conf.task_always_eager:
            task.delay(*args, **kwargs)  # runs here: its own errors are the caller's to see
            return
        try:
            task.delay(*args, **kwargs)
        except (OperationalError, OSError) as e:
            logger.warning("could not queue %s%r, left to the sweeper: %s", task.name, args, e)

    transaction.on_commit(queue)
