"""Queueing background work, and the in-process worker of the embedded mode."""

import logging
import queue
import threading
import time

from django.db import connections, transaction
from kombu.exceptions import OperationalError

from core import providers

logger = logging.getLogger("tasks")


def delay_on_commit(task, *args, **kwargs) -> None:
    """Queue `task` once the current transaction commits, so a worker never looks for rows
    that are not committed yet (or that a rollback removed).

    A broker that cannot take it (Redis down, or not answering within its timeout) does not
    undo what was committed nor stop the transaction's other after-commit steps: the row
    waits in the database and the app's sweeper queues it again (inbox.sweep_events,
    inbox.sweep_sends, telephony.sweep_events).

    Without a broker (eager tasks) it runs in the in-process worker when one is started (the
    embedded server), else right here (tests, management commands)."""

    def queue():
        if task.app.conf.task_always_eager:
            if _worker is not None and _worker.submit(task, args, kwargs):
                return
            task.delay(*args, **kwargs)  # runs here: its own errors are the caller's to see
            return
        try:
            task.delay(*args, **kwargs)
        except (OperationalError, OSError) as e:
            logger.warning("could not queue %s%r, left to the sweeper: %s", task.name, args, e)

    transaction.on_commit(queue)


def delay_now(task, *args, **kwargs) -> None:
    """Queue `task` now, not after commit (for work that reads nothing uncommitted); in the
    in-process worker when one is started. Raises what the broker raises."""
    if task.app.conf.task_always_eager and _worker is not None \
            and _worker.submit(task, args, kwargs):
        return
    task.delay(*args, **kwargs)


class InProcessWorker:
    """A few daemon threads running eager tasks off the request thread (the embedded mode,
    where no Celery worker runs): a request queues its send and answers at once, and the
    task's retries wait in a worker thread with the same policy as anywhere without a
    Celery worker (core.providers.eager_wait).

    `drain()` lets the waits end at once and returns when every queued task has run: a test
    (or the server stopping) does not sit through a provider's backoff."""

    def __init__(self, *, threads: int = 2):
        self._tasks: queue.Queue = queue.Queue()
        self._hurry = threading.Event()
        self._stopping = False
        self._threads = [threading.Thread(target=self._run, name=f"embedded-worker-{i}",
                                          daemon=True) for i in range(threads)]

    def start(self) -> "InProcessWorker":
        for thread in self._threads:
            thread.start()
        return self

    def submit(self, task, args=(), kwargs=None) -> bool:
        """False once stopping: the caller runs the task itself."""
        if self._stopping:
            return False
        self._tasks.put((task, tuple(args), dict(kwargs or {})))
        return True

    def wait(self, seconds: float) -> None:
        """A retry's wait in a worker thread; cut short by `drain`."""
        self._hurry.wait(seconds)

    def drain(self, timeout: float = 30) -> bool:
        """Run what is queued without waiting between retries; True when all of it ran."""
        self._hurry.set()
        deadline = time.monotonic() + timeout
        try:
            while self._tasks.unfinished_tasks:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.01)
            return True
        finally:
            if not self._stopping:
                self._hurry.clear()

    def stop(self) -> None:
        """Take no more tasks; the threads end after what they hold. A send still waiting
        for its retry when the process exits is queued again by the outbound sweeper at the
        next start (as when a Celery worker dies), rather than hurried to failure now."""
        self._stopping = True
        for _thread in self._threads:
            self._tasks.put(None)

    def _run(self) -> None:
        providers.worker_thread.wait = self.wait
        while True:
            item = self._tasks.get()
            try:
                if item is None:
                    return
                task, args, kwargs = item
                started = time.monotonic()
                try:
                    task.apply(args=args, kwargs=kwargs, throw=True)
                except Exception:
                    logger.exception("task %s%r failed", task.name, args)
                else:
                    logger.debug("task %s done in %.2fs", task.name, time.monotonic() - started)
                finally:
                    # This thread's own connections: none is left open between tasks (the
                    # embedded SQLite opens one in no time).
                    connections.close_all()
            finally:
                self._tasks.task_done()


_worker: InProcessWorker | None = None


def worker_start(*, threads: int = 2) -> InProcessWorker:
    """Start the process's in-process worker (the embedded server does, at start)."""
    global _worker
    _worker = InProcessWorker(threads=threads).start()
    return _worker


def worker_stop() -> None:
    global _worker
    worker, _worker = _worker, None
    if worker is not None:
        worker.stop()

