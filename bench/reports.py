"""Benchmark of the sales head's view at a year of data.

    make bench-reports                       # the full size (some 15-25 minutes to build)
    BENCH_SCALE=0.1 make bench-reports       # a tenth of it, for a quick look

Builds, in a throwaway PostgreSQL database, a year of a company of 500 managers in 50 teams:
2M deals (with their contacts, channel identities and conversations), 20M messages, 5M
calls, 10M timeline entries, the open tasks, and the rollups those rows make (one
crm.ActivityDay row per person, day and channel they worked in; one crm.StageDay row per
person, day and stage). The rows are written with INSERT ... SELECT generate_series(), not
through the services: this measures reading, not writing (the cost of keeping the rollups is
the drain's CPU per message in `make bench-inbox`, run before and after). Then, through
Django's test client (the server's time, no network):

- a head's team page for a quarter (10 managers), its funnel and its API (target: p95 <= 300
  ms);
- the director's whole-company page for a year (500 managers; target: p95 <= 1 s), its
  funnel and its API;
- the live wallboard of a team.

Prints median and p95 per page and the number of SQL queries. Not run in CI.
"""

import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench.django_setup  # noqa: E402, F401 (first: Django set up)

# isort: split

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.database import is_bench_database, median_and_p95, sql  # noqa: E402
from crm.models import ActivityDay, Pipeline  # noqa: E402
from inbox.models import Channel  # noqa: E402
from security import roles  # noqa: E402
from security.models import Team, User  # noqa: E402
from telephony.models import PbxAccount  # noqa: E402

SCALE = float(os.environ.get("BENCH_SCALE", 1))
TEAMS, MANAGERS_PER_TEAM = 50, 10
DEALS = int(2_000_000 * SCALE)
CONTACTS = DEALS // 2
MESSAGES = int(20_000_000 * SCALE)
CALLS = int(5_000_000 * SCALE)
ENTRIES = int(10_000_000 * SCALE)
DAYS = 365
REPEAT = int(os.environ.get("BENCH_REPEAT", 20))
CHANNEL_KINDS = ("telegram", "whatsapp", "website", "email")


def build():
    call_command("migrate", "--noinput", verbosity=0)
    if not is_bench_database():
        raise SystemExit("this database holds real data; run the bench on a throwaway one")
    call_command("flush", "--noinput", verbosity=0)
    started = time.perf_counter()
    manager_group = Group.objects.get(name=roles.MANAGER)
    head_group = Group.objects.get(name=roles.SALES_HEAD)
    admin_group = Group.objects.get(name=roles.ADMIN)
    password = make_password("x")  # one hash for all: PBKDF2 takes most of a second
    director = User.objects.create(username="director", password=password)
    director.groups.add(admin_group)
    teams = Team.objects.bulk_create(Team(name=f"team{t}") for t in range(TEAMS))
    heads = User.objects.bulk_create(User(username=f"head{t}", password=password, team=team)
                                     for t, team in enumerate(teams))
    for team, head in zip(teams, heads, strict=True):
        team.head = head
    Team.objects.bulk_update(teams, ["head"])
    managers = User.objects.bulk_create(
        User(username=f"m{t}_{m}", password=password, team=team)
        for t, team in enumerate(teams) for m in range(MANAGERS_PER_TEAM))
    membership = User.groups.through
    membership.objects.bulk_create(
        [membership(user_id=head.pk, group_id=head_group.pk) for head in heads]
        + [membership(user_id=user.pk, group_id=manager_group.pk) for user in managers])
    Channel.objects.bulk_create(Channel(kind=kind, name=f"{kind} {t}", team=team)
                                for t, team in enumerate(teams) for kind in CHANNEL_KINDS)
    account = PbxAccount.objects.create(name="PBX", team=teams[0])
    pipeline = Pipeline.objects.get(is_default=True)
    print(f"building a year of {len(teams)} teams ({DEALS:,} deals) "
          f"in {connection.settings_dict['NAME']}", flush=True)
    # The managers, numbered 0..499 (m = the manager's number, its team m / 10).
    sql("CREATE TEMP TABLE bench_manager AS SELECT row_number() OVER (ORDER BY u.id) - 1 AS n, "
        "u.id AS user_id, u.team_id FROM security_user u WHERE u.username LIKE 'm%%'")
    sql("CREATE TEMP TABLE bench_channel AS SELECT row_number() OVER (ORDER BY c.id) - 1 AS n, "
        "c.id, c.team_id, c.kind FROM inbox_channel c")
    sql("CREATE TEMP TABLE bench_stage AS SELECT position AS n, id FROM crm_stage "
        "WHERE pipeline_id = %s", [pipeline.pk])
    now = timezone.now()
    params = {"now": now, "days": DAYS}
    sql("INSERT INTO crm_contact (name, position, source, owner_id, team_id, created_at, "
        "updated_at) SELECT 'Контакт ' || g, '', 'manual', m.user_id, m.team_id, "
        "%(now)s - (g %% %(days)s) * interval '1 day', %(now)s "
        "FROM generate_series(1, %(n)s) g JOIN bench_manager m ON m.n = g %% 500",
        {**params, "n": CONTACTS}, label="contacts")
    sql("CREATE TEMP TABLE bench_contact AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, "
        "id, owner_id, team_id FROM crm_contact")
    # Deals: a third won, a sixth lost, the rest open; created over the year.
    sql("INSERT INTO crm_deal (title, amount, currency, pipeline_id, stage_id, status, "
        "loss_reason, owner_id, team_id, contact_id, next_step, created_at, updated_at, "
        "closed_at, last_activity_at, stage_since) "
        "SELECT 'Сделка ' || g, (g %% 5000) * 1000, 'RUB', %(pipeline)s, s.id, "
        "CASE WHEN g %% 6 < 2 THEN 'won' WHEN g %% 6 = 2 THEN 'lost' ELSE 'open' END, "
        "CASE WHEN g %% 6 = 2 THEN 'Дорого' ELSE '' END, c.owner_id, c.team_id, c.id, '', "
        "%(now)s - (g %% %(days)s) * interval '1 day', %(now)s, "
        "CASE WHEN g %% 6 < 3 THEN %(now)s - (g %% %(days)s) * interval '1 day' "
        "+ interval '9 days' END, %(now)s - (g %% 17) * interval '1 hour', "
        "%(now)s - (g %% 40) * interval '1 day' "
        "FROM generate_series(1, %(n)s) g JOIN bench_contact c ON c.n = g %% %(contacts)s "
        "JOIN bench_stage s ON s.n = g %% 5",
        {**params, "n": DEALS, "contacts": CONTACTS, "pipeline": pipeline.pk}, label="deals")
    sql("CREATE TEMP TABLE bench_deal AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, "
        "id, owner_id, team_id, contact_id, created_at FROM crm_deal")
    sql("INSERT INTO inbox_channelidentity (channel_id, external_id, external_id_index, "
        "contact_id, display_name, is_unreachable, unreachable_reason, created_at) "
        "SELECT ch.id, 'x', md5(d.id::text), d.contact_id, '', false, '', d.created_at "
        "FROM bench_deal d JOIN bench_channel ch ON ch.team_id = d.team_id "
        "AND ch.kind = (ARRAY['telegram','whatsapp','website','email'])[1 + d.n %% 4]",
        label="channel identities")
    # One conversation per deal; one in sixty of the open ones waits for an answer now.
    sql("INSERT INTO inbox_conversation (channel_id, identity_id, contact_id, deal_id, "
        "assignee_id, status, last_activity_at, unread_count, awaiting_reply, "
        "last_reply_failed, created_at, first_response_due_at, waiting_since) "
        "SELECT i.channel_id, i.id, i.contact_id, d.id, d.owner_id, 'open', "
        "d.created_at, 0, d.n %% 60 = 5, false, d.created_at, "
        "CASE WHEN d.n %% 60 = 5 THEN %(now)s - (d.n %% 7) * interval '10 minutes' END, "
        "CASE WHEN d.n %% 60 = 5 THEN %(now)s - (d.n %% 7) * interval '20 minutes' END "
        "FROM bench_deal d JOIN inbox_channelidentity i ON i.external_id_index = md5(d.id::text)",
        params, label="conversations")
    sql("CREATE TEMP TABLE bench_conversation AS SELECT row_number() OVER (ORDER BY id) - 1 "
        "AS n, id, channel_id, assignee_id, created_at FROM inbox_conversation")
    conversations = DEALS
    sql("INSERT INTO inbox_message (conversation_id, channel_id, direction, external_id, "
        "author_id, owner_id, text, status, error, attempts, is_automatic, created_at, "
        "sent_at, sealed_text, delivery_unknown) "
        "SELECT c.id, c.channel_id, CASE WHEN g %% 2 = 0 THEN 'in' ELSE 'out' END, "
        "'m' || g, CASE WHEN g %% 2 = 1 THEN c.assignee_id END, c.assignee_id, "
        "'Добрый день, есть вопрос по заказу', "
        "CASE WHEN g %% 2 = 0 THEN 'received' ELSE 'read' END, '', 0, false, "
        "c.created_at + (g / %(conversations)s) * interval '7 minutes', "
        "CASE WHEN g %% 2 = 1 THEN c.created_at + (g / %(conversations)s) "
        "* interval '7 minutes' END, '', false "
        "FROM generate_series(0, %(n)s - 1) g "
        "JOIN bench_conversation c ON c.n = g %% %(conversations)s",
        {"n": MESSAGES, "conversations": conversations}, label="messages")
    sql("INSERT INTO telephony_call (account_id, entry_id, direction, state, client_number, "
        "client_number_index, line_number, extension, manager_id, deal_id, contact_id, "
        "started_at, answered_at, ended_at, talk_seconds, answered, summarized, "
        "disconnect_reason, leg_seqs, legs, lead_created, created_at) "
        "SELECT %(account)s, 'e' || g, CASE WHEN g %% 3 = 0 THEN 'out' ELSE 'in' END, 'ended', "
        "'x', md5(d.contact_id::text), '', '', d.owner_id, d.id, d.contact_id, "
        "%(now)s - (g %% %(days)s) * interval '1 day', NULL, "
        "%(now)s - (g %% %(days)s) * interval '1 day' + interval '3 minutes', "
        "CASE WHEN g %% 7 = 0 THEN 0 ELSE 180 END, g %% 7 <> 0, true, '', '{}', '{}', false, "
        "%(now)s FROM generate_series(1, %(n)s) g JOIN bench_deal d ON d.n = g %% %(deals)s",
        {**params, "n": CALLS, "deals": DEALS, "account": account.pk}, label="calls")
    sql("INSERT INTO crm_timelineentry (deal_id, contact_id, kind, occurred_at, actor_id, "
        "payload) SELECT d.id, d.contact_id, "
        "(ARRAY['note','stage_changed','task_done','message','call'])[1 + g %% 5], "
        "d.created_at + (g / %(deals)s) * interval '1 day', d.owner_id, '{}' "
        "FROM generate_series(0, %(n)s - 1) g JOIN bench_deal d ON d.n = g %% %(deals)s",
        {"n": ENTRIES, "deals": DEALS}, label="timeline entries")
    sql("INSERT INTO crm_task (title, assignee_id, created_by_id, due_at, deal_id, done, "
        "created_at, updated_at) SELECT 'Перезвонить', d.owner_id, d.owner_id, "
        "%(now)s + ((g %% 20) - 5) * interval '1 day', d.id, false, %(now)s, %(now)s "
        "FROM generate_series(0, %(n)s - 1) g JOIN bench_deal d ON d.n = g * 7 %% %(deals)s",
        {**params, "n": DEALS // 10, "deals": DEALS}, label="open tasks")
    # The rollups: each manager worked most days of the year in their team's channels (some
    # rows per day as the drain writes them), and the funnel moved every day.
    messages = {"inbound": "20 + (d %% 13)", "outbound": "19 + (d %% 11)",
                "conversations_started": "3", "responses": "15", "responses_within_sla": "12",
                "response_le_5": "6", "response_le_10": "5", "response_le_30": "3",
                "response_over": "1"}
    zeros = [f.name for f in ActivityDay._meta.concrete_fields
             if f.name not in ("id", "user", "day", "channel", "currency", *messages)]
    sql("INSERT INTO crm_activityday (user_id, day, channel, currency, "
        + ", ".join([*messages, *zeros]) + ") "
        "SELECT m.user_id, (%(now)s::date - d), ch.kind, '', "
        + ", ".join([*messages.values(), *["0"] * len(zeros)]) + " "
        "FROM bench_manager m CROSS JOIN generate_series(0, %(days)s - 1) d "
        "JOIN bench_channel ch ON ch.team_id = m.team_id WHERE (d + m.n) %% 7 < 5",
        params, label="activity rollups (messages)")
    # Calls (a "phone" row) and deals (a "" row in roubles), on the same working days.
    other = {"calls_answered": "x.answered", "calls_missed": "x.missed",
             "calls_outgoing": "x.outgoing", "calls_called_back": "x.back",
             "talk_seconds": "x.talk", "tasks_done": "x.tasks", "deals_created": "x.created",
             "deals_won": "x.won", "deals_won_amount": "x.won * 250000",
             "deals_won_in_crm": "x.won", "deals_won_in_crm_amount": "x.won * 250000",
             "deals_lost": "x.lost", "deals_lost_amount": "x.lost * 100000"}
    zeros = [f.name for f in ActivityDay._meta.concrete_fields
             if f.name not in ("id", "user", "day", "channel", "currency", *other)]
    sql("INSERT INTO crm_activityday (user_id, day, channel, currency, "
        + ", ".join([*other, *zeros]) + ") "
        "SELECT m.user_id, (%(now)s::date - d), x.channel, x.currency, "
        + ", ".join([*other.values(), *["0"] * len(zeros)]) + " "
        "FROM bench_manager m CROSS JOIN generate_series(0, %(days)s - 1) d "
        "CROSS JOIN (VALUES ('phone', '', 9, 2, 6, 1, 2400, 0, 0, 0, 0), "
        "('', 'RUB', 0, 0, 0, 0, 0, 5, 1, 1, 1)) AS x(channel, currency, answered, missed, "
        "outgoing, back, talk, tasks, created, won, lost) WHERE (d + m.n) %% 7 < 5",
        params, label="activity rollups (calls, deals)")
    sql("INSERT INTO crm_stageday (user_id, day, pipeline_id, stage_id, entered, advanced, "
        "moved_back, won, lost, stays, stay_le_1, stay_le_2, stay_le_3, stay_le_5, "
        "stay_le_7, stay_le_10, stay_le_14, stay_le_21, stay_le_30, stay_le_45, stay_le_60, "
        "stay_le_90, stay_over) "
        "SELECT m.user_id, (%(now)s::date - d), %(pipeline)s, s.id, 2, 1, 0, "
        "CASE WHEN s.n = 4 THEN 1 ELSE 0 END, CASE WHEN s.n = 2 THEN 1 ELSE 0 END, "
        "2, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 "
        "FROM bench_manager m CROSS JOIN generate_series(0, %(days)s - 1) d "
        "CROSS JOIN bench_stage s WHERE (d + m.n) %% 7 < 5",
        {**params, "pipeline": pipeline.pk}, label="stage rollups")
    sql("ANALYZE", label="")
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return heads[0], director


def measure(client, url, repeat=REPEAT):
    timings, queries = [], 0
    client.get(url)  # warm: the first request compiles templates and fills caches
    for _ in range(repeat):
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            began = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        queries = len(ctx.captured_queries)
    return (*median_and_p95(timings), queries)


def main():
    head, director = build()
    today = timezone.localdate()
    quarter_start = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    year = f"from={(today - timedelta(days=DAYS - 1)).isoformat()}&to={today.isoformat()}"
    print(f"\n{'who':<9} {'page':<52} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    pages = [
        ("head", head, "/team/?period=quarter"),
        ("head", head, "/team/funnel/?period=quarter"),
        ("head", head, f"/api/v1/reports/activity/?from={quarter_start}&to={today}"),
        ("head", head, "/team/live/"),
        ("director", director, f"/team/?{year}"),
        ("director", director, f"/team/funnel/?{year}"),
        ("director", director, f"/api/v1/reports/activity/?{year}"),
    ]
    for who, user, url in pages:
        client = Client()
        client.force_login(user)
        median, p95, queries = measure(client, url)
        print(f"{who:<9} {url[:52]:<52} {median:>10.0f} {p95:>8.0f} {queries:>8}", flush=True)
    if os.environ.get("BENCH_PROFILE"):  # where the director's year goes
        import cProfile
        import pstats

        client = Client()
        client.force_login(director)
        profile = cProfile.Profile()
        profile.runcall(client.get, f"/team/?{year}")
        pstats.Stats(profile).sort_stats("cumulative").print_stats("reports|render|execute|sql", 30)


if __name__ == "__main__":
    main()
