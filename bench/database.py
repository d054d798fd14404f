"""What the benchmarks that build a throwaway database of their own share (bench/reports.py,
bench/search.py): raw SQL, timed and reported, and the refusal to build over real data.
Imported once Django is set up."""

import statistics
import time

from django.db import connection

from security.models import User


def is_bench_database() -> bool:
    """Nothing but a bench's users: heads, managers (m...) and the director."""
    users = User.objects.values_list("username", flat=True)
    return all(name.startswith(("head", "m", "director")) for name in users)


def sql(statement: str, params=None, *, label: str = "") -> float:
    """Run one statement; with a label, print its rows and seconds. Returns the seconds."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        count = cursor.rowcount
    elapsed = time.perf_counter() - started
    if label:
        print(f"  {label:<34} {count:>11,} rows {elapsed:7.1f} s", flush=True)
    return elapsed


def scalar(statement: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.fetchone()[0]


def median_and_p95(timings: list[float]) -> tuple[float, float]:
    """The median and the 95th percentile (nearest rank) of some timings."""
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)]
