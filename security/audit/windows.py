"""Sliding-window counters for the anomaly rules: how many distinct things (records, clients,
deleted rows) a user did within the last N minutes.

In production they live in Redis (a sorted set per rule and user: member -> time), shared by
every web and websocket process; the embedded mode, one process, keeps them in memory. A
member added twice counts once, so "distinct clients viewed" is a window of client ids.
"""

import threading
import time

from django.conf import settings

from core.marks import client as _redis

_PREFIX = "rules:window:"


class _Memory:
    def __init__(self):
        self.lock = threading.Lock()
        self.sets: dict[str, dict[str, float]] = {}

    def add(self, key: str, members: list[str], now: float, window: int) -> int:
        with self.lock:
            entries = self.sets.setdefault(key, {})
            for member in members:
                entries[member] = now
            for member, at in list(entries.items()):
                if at <= now - window:
                    del entries[member]
            return len(entries)

    def clear(self) -> None:
        with self.lock:
            self.sets.clear()


_memory = _Memory()


def add(key: str, members, *, window_seconds: int, now: float | None = None) -> int:
    """Add `members` to the window `key` and answer how many it holds now."""
    members = [str(member) for member in members]
    if not members:
        return 0
    now = time.time() if now is None else now
    if not settings.REDIS_URL:
        return _memory.add(key, members, now, window_seconds)
    key = _PREFIX + key
    with _redis().pipeline() as pipe:
        pipe.zadd(key, dict.fromkeys(members, now))
        pipe.zremrangebyscore(key, "-inf", now - window_seconds)
        pipe.zcard(key)
        pipe.expire(key, window_seconds + 60)
        _, _, count, _ = pipe.execute()
    return count


def clear() -> None:
    """Forget every window (tests; the Redis ones go with the cache's flush too)."""
    _memory.clear()
    if settings.REDIS_URL:
        keys = list(_redis().scan_iter(f"{_PREFIX}*"))
        if keys:
            _redis().delete(*keys)
