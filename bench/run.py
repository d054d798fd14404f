"""Benchmark of the pages and API a manager and a head hit all day, at a realistic size.

    make bench                      # throwaway PostgreSQL + Redis, as the tests use
    BENCH_DEALS=100000 make bench   # bigger

Builds its own data set in a fresh database (20,000 deals, 8,000 contacts, 60 managers in 6
teams, ~10 timeline entries per deal by default) with bulk inserts, then requests each URL
through Django's test client (no network: this measures our code and queries) and prints
median and p95 latency and the number of SQL queries per request. Not run in CI.
"""

import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench.django_setup  # noqa: E402, F401 (first: Django set up)

# isort: split

from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from crm.models import Contact, ContactPoint, Deal, Note, Pipeline, TimelineEntry  # noqa: E402
from security import roles  # noqa: E402
from security.models import Team, User  # noqa: E402

DEALS = int(os.environ.get("BENCH_DEALS", 20_000))
CONTACTS = DEALS * 2 // 5
TEAMS, MANAGERS_PER_TEAM = 6, 10
ENTRIES_PER_DEAL = 10
REPEAT = int(os.environ.get("BENCH_REPEAT", 30))


def _is_bench_database() -> bool:
    """Only a database that is empty or holds an earlier bench run may be flushed."""
    users = User.objects.values_list("username", flat=True)
    return all(name.startswith(("head", "m")) and name[-1].isdigit() for name in users)


def build():
    rnd = random.Random(7)
    call_command("migrate", "--noinput", verbosity=0)
    if not _is_bench_database():
        raise SystemExit("this database holds real data; run the bench on a throwaway one")
    call_command("flush", "--noinput", verbosity=0)
    manager_group = Group.objects.get(name=roles.MANAGER)
    head_group = Group.objects.get(name=roles.SALES_HEAD)
    managers, heads = [], []
    for t in range(TEAMS):
        team = Team.objects.create(name=f"team{t}")
        head = User.objects.create_user(f"head{t}", password="x", team=team)
        head.groups.add(head_group)
        team.head = head
        team.save()
        heads.append(head)
        for m in range(MANAGERS_PER_TEAM):
            user = User.objects.create_user(f"m{t}_{m}", password="x", team=team)
            user.groups.add(manager_group)
            managers.append(user)
    pipeline = Pipeline.objects.get(is_default=True)
    stages = list(pipeline.stages.all())
    contacts = Contact.objects.bulk_create(
        Contact(name=f"Контакт {i}", owner=(o := rnd.choice(managers)), team_id=o.team_id)
        for i in range(CONTACTS)
    )
    ContactPoint.objects.bulk_create(
        # bulk_create skips save(), which keeps the blind index: set it here.
        ContactPoint(contact=c, kind="phone", value=f"+7916{i:07d}", is_primary=True,
                     value_index=ContactPoint.index_of("phone", f"+7916{i:07d}"))
        for i, c in enumerate(contacts)
    )
    now = timezone.now()
    deals = Deal.objects.bulk_create(
        Deal(title=f"Сделка {i}", amount=Decimal(rnd.randint(1, 5000) * 1000),
             pipeline=pipeline, stage=rnd.choice(stages), owner=c.owner, team_id=c.team_id,
             contact=c, last_activity_at=now - timezone.timedelta(minutes=rnd.randint(0, 10**5)))
        for i, c in ((i, rnd.choice(contacts)) for i in range(DEALS))
    )
    notes = Note.objects.bulk_create(
        Note(deal=d, contact_id=d.contact_id, author_id=d.owner_id, text="Обсудили условия")
        for d in deals for _ in range(ENTRIES_PER_DEAL)
    )
    from django.contrib.contenttypes.models import ContentType

    note_type = ContentType.objects.get_for_model(Note)
    TimelineEntry.objects.bulk_create(
        (
            TimelineEntry(deal_id=n.deal_id, contact_id=n.contact_id, kind="note",
                          actor_id=n.author_id, source_type=note_type, source_id=n.pk)
            for n in notes
        ),
        batch_size=5000,
    )
    return managers[0], heads[0]


def measure(client, url, repeat=REPEAT):
    timings, queries = [], 0
    for _ in range(repeat):
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        queries = len(ctx.captured_queries)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1], queries


def main():
    started = time.perf_counter()
    manager, head = build()
    print(f"data: {Deal.objects.count()} deals, {Contact.objects.count()} contacts, "
          f"{TimelineEntry.objects.count()} timeline entries "
          f"({time.perf_counter() - started:.1f}s to build), "
          f"database: {connection.vendor}")
    deal = Deal.objects.filter(owner=manager).first()
    print(f"{'who':<8} {'url':<34} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for who, user in (("manager", manager), ("head", head)):
        client = Client()
        client.force_login(user)
        for url in ("/deals/", "/deals/?q=Сделка 1&sort=amount", "/deals/board/",
                    f"/deals/{deal.pk}/", "/api/v1/deals/", "/api/v1/deals/?page_size=100",
                    f"/api/v1/deals/{deal.pk}/timeline/"):
            if who == "head" and url.startswith(f"/deals/{deal.pk}"):
                continue
            median, p95, queries = measure(client, url)
            print(f"{who:<8} {url:<34} {median:>10.1f} {p95:>8.1f} {queries:>8}")


if __name__ == "__main__":
    main()
