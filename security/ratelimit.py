"""Per-user limits on the pages that list client records (the same budget as the API's
lists, `API_LIST_RATE`): paging through the whole base in a browser is as much a bulk
extraction as doing it through the API. Counters live in the shared cache (Redis in
production)."""

import functools
import time

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render

_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
            "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """"60/min" -> (60, 60): requests per window, window in seconds."""
    count, period = rate.split("/")
    return int(count), _SECONDS[period]


def _rate() -> tuple[int, int]:
    return parse_rate(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["list"])


def _allow(user_id: int) -> int:
    return spend(f"list:{user_id}", *_rate())


def spend(key: str, limit: int, window: int) -> int:
    """Count one request against the budget `key` (`limit` per fixed `window` seconds):
    0 when it may go on, else the seconds until the current window ends."""
    now = int(time.time())
    start = now - now % window
    key = f"ratelimit:{key}:{start}"
    cache.add(key, 0, window + 5)
    try:
        used = cache.incr(key)
    except ValueError:  # evicted between add and incr: start again
        cache.set(key, 1, window + 5)
        used = 1
    return 0 if used <= limit else max(1, start + window - now)


def list_rate_limited(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated:
            wait = _allow(request.user.pk)
            if wait:
                response = render(request, "security/rate_limited.html", {"wait": wait},
                                  status=429)
                response["Retry-After"] = str(wait)
                return response
        return view(request, *args, **kwargs)

    return wrapper
