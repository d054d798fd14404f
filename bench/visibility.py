"""Benchmark of the visibility rule at scale: the first page of deals, sorted by last activity.

    make bench-visibility                         # throwaway PostgreSQL + Redis
    BENCH_DEALS=100000 make bench-visibility      # smaller, for a quick look

Builds, with COPY through psycopg2, 1M contacts, 1M deals, 10,000 users (500 teams of one
sales head and 19 managers) and 100,000 explicit shares (a quarter of them for editing, a
tenth already expired, some expiring later), plus the same live shares as django-guardian's
generic `UserObjectPermission` rows. Then, for 40 managers who hold shares and 40 heads:

- ours: the page query of `crm.selectors.deal_list_pages` (the union of each visibility
  part's own top 25: owner, team, shares), and the count query the paginator also runs;
- the whole API request `GET /api/v1/deals/` in process (django.test.Client, DEBUG off);
- the natural query: `owner = me [OR team = mine] OR id IN (live shares)`, same order;
- guardian's generic path: own deals OR `get_objects_for_user(user, "crm.view_deal")`
  reading the generic rows (the direct model switched off for the measurement).

Prints p50/p95 in milliseconds and the ratios. Refuses to run on anything but PostgreSQL,
and on a database holding anything this script did not create. Not run in CI.
"""

import io
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench.django_setup  # noqa: E402, F401 (first: Django set up)

# isort: split

from django.contrib.auth.models import Group, Permission  # noqa: E402
from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.color import no_style  # noqa: E402
from django.db import Error, connection  # noqa: E402
from django.db.models import Q  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from guardian.models import UserObjectPermission  # noqa: E402
from guardian.shortcuts import get_objects_for_user  # noqa: E402

from crm import selectors  # noqa: E402
from crm.models import (  # noqa: E402
    Company,
    Contact,
    Deal,
    DealUserObjectPermission,  # noqa: E402
    Pipeline,
)
from security import roles  # noqa: E402
from security.models import Team, User  # noqa: E402

DEALS = int(os.environ.get("BENCH_DEALS", 1_000_000))
CONTACTS = int(os.environ.get("BENCH_CONTACTS", DEALS))
USERS = int(os.environ.get("BENCH_USERS", 10_000))
TEAMS = int(os.environ.get("BENCH_TEAMS", 500))
SHARES = int(os.environ.get("BENCH_SHARES", DEALS // 10))
SAMPLE_USERS = 40  # per role; each measured in turn, so no single user's rows stay hot
ROUNDS_FAST, ROUNDS_SLOW = 8, 1  # passes over the sample: 320 and 40 timings
PAGE = 25
MARKER = f"bench-visibility {DEALS} {CONTACTS} {USERS} {TEAMS} {SHARES}"
PREFIX = "bench_"


# --- Data ------------------------------------------------------------------------------------


def _refuse_real_data() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("bench/visibility.py measures PostgreSQL; set DATABASE_URL to one")
    foreign = (
        User.objects.exclude(username__startswith=PREFIX).exists()
        or Contact.objects.exclude(owner__username__startswith=PREFIX).exists()
        or Deal.objects.exclude(owner__username__startswith=PREFIX).exists()
        or Company.objects.exists()
    )
    if foreign:
        raise SystemExit("this database holds data the bench did not create; "
                         "run it on a throwaway one (make bench-visibility starts one)")


def _text(value) -> str:
    if value is None:
        return r"\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return (str(value).replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n").replace("\r", "\\r"))


def _copy(model, names: list[str], rows, *, chunk: int = 200_000) -> int:
    """COPY `rows` (tuples of the fields `names`) into the model's table. Other columns get
    the field's default (or NULL, or now for auto_now), so a field added later needs no
    change here as long as it has a default."""
    now = timezone.now()
    columns = [model._meta.get_field(name).column for name in names]
    fixed = []
    for field in model._meta.concrete_fields:
        if field.name in names or field.primary_key or (field.null and not field.has_default()):
            continue  # given, the sequence's, or NULL
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            fixed.append((field.column, now))
            continue
        default = field.get_default()  # "" for text fields without a default
        if default is None:
            raise SystemExit(f"bench/visibility.py: no value for {model.__name__}.{field.name}")
        fixed.append((field.column, field.get_db_prep_save(default, connection)))
    tail = "".join("\t" + _text(value) for _column, value in fixed) + "\n"
    sql = (f"COPY {model._meta.db_table} ({', '.join(columns + [c for c, _v in fixed])}) "
           "FROM STDIN")
    count = 0
    with connection.cursor() as cursor:
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(map(_text, row)) + tail)
            count += 1
            if count % chunk == 0:
                buffer.seek(0)
                cursor.cursor.copy_expert(sql, buffer)
                buffer = io.StringIO()
        buffer.seek(0)
        cursor.cursor.copy_expert(sql, buffer)
    return count


def build() -> None:
    rnd = random.Random(2026)
    call_command("migrate", "--noinput", verbosity=0)
    _refuse_real_data()
    if Team.objects.filter(name=MARKER).exists():
        print("data: reusing the data set of an earlier run")
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE security_team, security_user, crm_contact, crm_deal, crm_company, "
            "guardian_userobjectpermission RESTART IDENTITY CASCADE"
        )
    # Pipelines reference teams, so the TRUNCATE took them along: migrate's post_migrate
    # handlers bring back the default pipeline (and the role groups).
    call_command("migrate", "--noinput", verbosity=0)
    with connection.cursor() as cursor:
        try:  # a throwaway database: skip the foreign key triggers while loading
            cursor.execute("SET session_replication_role = replica")
        except Error:
            print("data: not a superuser, loading with foreign key checks (slower)")
    now = timezone.now()
    groups = {g.name: g.pk for g in Group.objects.filter(name__in=roles.ROLES)}
    per_team = USERS // TEAMS

    _copy(Team, ["id", "name"], ((t, f"{PREFIX}team{t}") for t in range(1, TEAMS + 1)))
    team_of = {}
    user_rows = []
    heads = {}
    for uid in range(1, USERS + 1):
        team = (uid - 1) // per_team + 1 if uid <= per_team * TEAMS else TEAMS
        team_of[uid] = team
        is_head = (uid - 1) % per_team == 0 and team not in heads
        if is_head:
            heads[team] = uid
        name = f"{PREFIX}h{team}" if is_head else f"{PREFIX}m{uid}"
        user_rows.append((uid, "!", name, name.title(), True, now, team))
    _copy(User, ["id", "password", "username", "first_name", "is_active", "date_joined",
                 "team"], user_rows)
    _copy(User.groups.through, ["user", "group"], (
        (uid, groups[roles.SALES_HEAD if heads.get(team_of[uid]) == uid else roles.MANAGER])
        for uid in range(1, USERS + 1)
    ))
    with connection.cursor() as cursor:
        cursor.executemany("UPDATE security_team SET head_id = %s WHERE id = %s",
                           [(head, team) for team, head in heads.items()])

    owners = [rnd.randint(1, USERS) for _ in range(max(DEALS, CONTACTS))]
    _copy(Contact, ["id", "name", "owner", "team", "created_at"], (
        (i, f"Контакт {i}", owners[i - 1], team_of[owners[i - 1]], now)
        for i in range(1, CONTACTS + 1)
    ))
    pipeline = Pipeline.objects.get(is_default=True)
    stages = list(pipeline.stages.values_list("pk", flat=True))
    year = 365 * 24 * 3600

    def deal_rows():
        for i in range(1, DEALS + 1):
            owner = owners[i - 1]
            status = rnd.choices(("open", "won", "lost"), (7, 2, 1))[0]
            yield (
                i, f"Сделка {i}", rnd.randint(1, 5000) * 1000, "RUB", status,
                "Дорого" if status == "lost" else "", pipeline.pk, rnd.choice(stages), owner,
                team_of[owner], (i - 1) % CONTACTS + 1,
                now - timedelta(seconds=rnd.randint(0, year)), now,
            )

    _copy(Deal, ["id", "title", "amount", "currency", "status", "loss_reason", "pipeline",
                 "stage", "owner", "team", "contact", "last_activity_at", "created_at"],
          deal_rows())

    view = Permission.objects.get(content_type__app_label="crm", codename="view_deal")
    change = Permission.objects.get(content_type__app_label="crm", codename="change_deal")
    pairs, shares = set(), []
    while len(shares) < SHARES:
        deal, user = rnd.randint(1, DEALS), rnd.randint(1, USERS)
        if user == owners[deal - 1] or (deal, user) in pairs:
            continue
        pairs.add((deal, user))
        roll = rnd.random()
        expires = (now - timedelta(days=rnd.randint(1, 30)) if roll < 0.1
                   else now + timedelta(days=rnd.randint(1, 60)) if roll < 0.4 else None)
        shares.append((deal, user, rnd.random() < 0.25, expires))
    rows = []
    for deal, user, edit, expires in shares:
        for perm in ((view, change) if edit else (view,)):
            rows.append((perm.pk, user, deal, owners[deal - 1], now, expires))
    _copy(DealUserObjectPermission, ["permission", "user", "content_object", "granted_by",
                                     "granted_at", "expires_at"], rows)
    deal_type = ContentType.objects.get_for_model(Deal).pk
    _copy(UserObjectPermission, ["permission", "user", "content_type", "object_pk"], (
        (perm, user, deal_type, str(deal))
        for perm, user, deal, _by, _at, expires in rows
        if expires is None or expires > now
    ))
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = DEFAULT")
        for sql in connection.ops.sequence_reset_sql(
            no_style(), [Team, User, User.groups.through, Contact, Deal,
                         DealUserObjectPermission, UserObjectPermission]
        ):
            cursor.execute(sql)
        cursor.execute("ANALYZE")
    Team.objects.create(name=MARKER)
    print(f"data: {Deal.objects.count():,} deals, {Contact.objects.count():,} contacts, "
          f"{User.objects.count():,} users in {TEAMS} teams, {len(shares):,} shares "
          f"({DealUserObjectPermission.objects.count():,} direct rows, "
          f"{UserObjectPermission.objects.count():,} generic rows); "
          f"built in {time.perf_counter() - started:.0f} s")


# --- Measuring -------------------------------------------------------------------------------


def _fresh(user_id) -> User:
    user = User.objects.get(pk=user_id)
    _cached = (user.role, user.headed_team_ids)  # as within one request
    return user


def _timed(users, rounds, run) -> list[float]:
    timings = []
    for _ in range(rounds):
        for user in users:
            started = time.perf_counter()
            run(user)
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def _p(timings, q) -> float:
    timings = sorted(timings)
    return timings[min(len(timings) - 1, int(len(timings) * q))]


def _order():
    return selectors.DEAL_SORTS["activity"]


def natural_page(user):
    """The query one writes first: one WHERE with ORs (the OR defeats the indexes)."""
    visible = Q(owner=user) | Q(pk__in=selectors.live_deal_shares(user=user)
                                .values("content_object_id"))
    if user.role == roles.SALES_HEAD:
        visible |= Q(team_id__in=user.headed_team_ids)
    return list(Deal.objects.filter(visible).order_by(*_order())[:PAGE])


def guardian_page(user):
    """Own deals plus guardian's generic object permissions (`get_objects_for_user`)."""
    shared = get_objects_for_user(user, "crm.view_deal", klass=Deal, use_groups=False,
                                  with_superuser=False, accept_global_perms=False)
    visible = Q(owner=user) | Q(pk__in=shared.values("pk"))
    if user.role == roles.SALES_HEAD:
        visible |= Q(team_id__in=user.headed_team_ids)
    return list(Deal.objects.filter(visible).order_by(*_order())[:PAGE])


class generic_guardian:  # noqa: N801 (a context manager named for what it switches to)
    """Make guardian use its generic tables for deals, as if the direct model did not exist."""

    def __enter__(self):
        DealUserObjectPermission.enabled = False

    def __exit__(self, *exc):
        del DealUserObjectPermission.enabled


def ours_page(user):
    return list(selectors.deal_list_pages(user=user)[:PAGE])


def ours_count(user):
    return selectors.deal_list_pages(user=user).count()


def api_request(clients):
    def run(user):
        response = clients[user.pk].get("/api/v1/deals/")
        if response.status_code != 200:
            raise SystemExit(f"/api/v1/deals/ answered {response.status_code} to {user}")
    return run


def _sample(role: str) -> list[User]:
    users = User.objects.filter(groups__name=role, username__startswith=PREFIX)
    if role == roles.MANAGER:
        users = users.filter(pk__in=selectors.live_deal_shares().values("user_id"))
    rnd = random.Random(7)
    ids = sorted(users.values_list("pk", flat=True))
    return [_fresh(pk) for pk in rnd.sample(ids, min(SAMPLE_USERS, len(ids)))]


def _plan(user) -> str:
    pages = selectors.deal_list_pages(user=user)
    with CaptureQueriesContext(connection) as queries:
        _rows = pages[:PAGE]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) "
                       + queries.captured_queries[0]["sql"])
        lines = [row[0] for row in cursor.fetchall()]
    # How each part reads deals and shares, and the time the server spent.
    keep = [line.strip() for line in lines
            if ("Scan" in line and ("crm_deal " in line or "dealuserobject" in line))
            or line.startswith(("Planning Time", "Execution Time"))]
    return "\n".join("    " + line for line in keep)


def main():
    from django.conf import settings

    build()
    print(f"PostgreSQL {connection.pg_version // 10000}.{connection.pg_version % 10000}, "
          f"DEBUG={settings.DEBUG}, page size {PAGE}")
    results = {}
    for label, role in (("manager", roles.MANAGER), ("head", roles.SALES_HEAD)):
        users = _sample(role)
        for user in users[:5]:  # the three ways give the same page
            ours = [d.pk for d in ours_page(user)]
            assert ours == [d.pk for d in natural_page(user)], user
            with generic_guardian():
                assert ours == [d.pk for d in guardian_page(user)], user
        clients = {}
        for user in users:
            clients[user.pk] = Client()
            clients[user.pk].force_login(user)
        api_request(clients)(users[0])  # warm up the URL resolver and the templates
        rows = {
            "query (page)": _timed(users, ROUNDS_FAST, ours_page),
            "query (count)": _timed(users, ROUNDS_FAST, ours_count),
            "API request": _timed(users, ROUNDS_FAST, api_request(clients)),
            "natural OR query": _timed(users, ROUNDS_SLOW, natural_page),
        }
        with generic_guardian():
            rows["guardian generic"] = _timed(users, ROUNDS_SLOW, guardian_page)
        results[label] = rows
        print(f"\n{label}s ({len(users)} users, e.g. {users[0].username}: "
              f"{ours_count(users[0]):,} visible deals); plan of the page query:")
        print(_plan(users[0]))

    print(f"\n{'who':<8} {'measure':<18} {'p50 ms':>8} {'p95 ms':>8} {'runs':>5}")
    for label, rows in results.items():
        for name, timings in rows.items():
            print(f"{label:<8} {name:<18} {statistics.median(timings):>8.1f} "
                  f"{_p(timings, 0.95):>8.1f} {len(timings):>5}")
    print()
    for label, rows in results.items():
        ours = rows["query (page)"]
        for other in ("natural OR query", "guardian generic"):
            p50 = statistics.median(rows[other]) / statistics.median(ours)
            p95 = _p(rows[other], 0.95) / _p(ours, 0.95)
            print(f"{label}: {other} / ours: p50 x{p50:.0f}, p95 x{p95:.0f}")
    targets = all(
        _p(rows["query (page)"], 0.95) <= 20 and _p(rows["API request"], 0.95) <= 60
        for rows in results.values()
    )
    print(f"\ntargets (query p95 <= 20 ms, request p95 <= 60 ms): {'met' if targets else 'MISSED'}")


if __name__ == "__main__":
    main()
