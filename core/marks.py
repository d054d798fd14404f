"""Short-lived marks that every process sees ("a drain is at work"), with expiry.

Redis in production (one client per process, its pool safe across forks); the process's own
cache in the embedded mode, which is one process. Not through Django's cache API: its Redis
backend builds a client object on every call, which cost more than the command itself on the
webhooks' hot path.
"""

from functools import cache

from django.conf import settings


@cache
def client():
    """The process's Redis client (REDIS_URL), for counters and marks kept outside the cache."""
    import redis

    return redis.Redis.from_url(settings.REDIS_URL,
                                socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
                                socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT)


def add(key: str, seconds: float) -> bool:
    """Set the mark unless it is set; True when this call set it."""
    if settings.REDIS_URL:
        return bool(client().set(key, 1, nx=True, px=int(seconds * 1000)))
    from django.core.cache import cache as local

    return local.add(key, 1, timeout=seconds)


def hold(key: str, seconds: float) -> None:
    """Set the mark (again) for `seconds` from now."""
    if settings.REDIS_URL:
        client().set(key, 1, px=int(seconds * 1000))
        return
    from django.core.cache import cache as local

    local.set(key, 1, timeout=seconds)


def drop(key: str) -> None:
    if settings.REDIS_URL:
        client().delete(key)
        return
    from django.core.cache import cache as local

    local.delete(key)
