"""Benchmark of the search at 10 million messages.

    make bench-search                        # the full size
    BENCH_SCALE=0.1 make bench-search        # a tenth of it, for a quick look
    BENCH_MEASURE_ONLY=1 DATABASE_URL=... .venv/bin/python bench/search.py
                                             # measure again on a database a run built

Builds, in a throwaway PostgreSQL database, a company of 10,000 users (200 teams of 49
managers and a head, and the director) with 1M deals (their contacts, channel identities and
conversations) and 10M messages of Russian-looking text with a Zipf vocabulary: 1M word forms
made of Russian syllables, drawn with P(rank r) ~ 1/r into a pool of 1M twelve-word
sentences, each sentence the text of 10 messages of different deals and days, the messages
written in time order as a live system writes them. So a word of
the vocabulary's tail is in about 10 messages (rare), a word of rank about 1,000 in about
10,000 (medium) and one of the first ranks in about 1M (common); the bench picks its terms by
their counts, measured. The messages are written with INSERT ... SELECT: the database computes
each one's stored search form as it would for the drain; the GIN index is built after them
(its build time and size are reported), then 100,000 more messages are written with the index
in place (the insert cost per message with the index).

Then, through the search service (search.services.search: the page's and the API's work, the
counts of every kind and the newest hits, no rendering), per role (a manager: ~100 deals; a
head: a team of 49; the director: everything) and term (rare, medium, common): p50 and p95 of
the whole search, of the messages' top-20 by recency, and of their capped count. Targets:
top-20 p95 <= 50 ms (rare <= 20 ms), the count p95 <= 100 ms. And the deal card of a deal
with 10,000 messages through the test client (first page p95 <= 50 ms).

Not run in CI.
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bench.django_setup  # noqa: E402, F401 (first: Django set up)

# isort: split

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.database import is_bench_database, median_and_p95, scalar, sql  # noqa: E402
from core import search as text_search  # noqa: E402
from core.holdings import search_sources  # noqa: E402
from crm.models import Pipeline  # noqa: E402
from inbox.models import Channel, ChannelIdentity, Message  # noqa: E402
from search import services  # noqa: E402
from security import roles  # noqa: E402
from security.models import Team, User  # noqa: E402

SCALE = float(os.environ.get("BENCH_SCALE", 1))
TEAMS, MANAGERS_PER_TEAM = 200, 49
DEALS = int(1_000_000 * SCALE)
CONTACTS = DEALS
MESSAGES = int(10_000_000 * SCALE)
VOCABULARY = 1_000_000
SENTENCES = int(1_000_000 * SCALE)  # each the text of MESSAGES / SENTENCES messages
WORDS_PER_SENTENCE = 12
LONG_HISTORY = 10_000  # the messages of the one deal whose card is measured
MORE_MESSAGES = int(100_000 * SCALE)  # written once the index is there
DAYS = 365
REPEAT = int(os.environ.get("BENCH_REPEAT", 20))
SYLLABLES = ("ба ве ги до жу за ки ло ме но па ре си то фу ха це чи ша щу лю ня ры вы ду ко "
             "ма пе ра со").split()


def vocabulary():
    """Word r: r's digits in base 30 as syllables, and a consonant."""
    syllables = "(ARRAY[" + ", ".join(f"'{s}'" for s in SYLLABLES) + "])"
    sql(f"CREATE TEMP TABLE bench_word AS SELECT r, {syllables}[1 + r %% 30] "
        f"|| {syllables}[1 + (r / 30) %% 30] || {syllables}[1 + (r / 900) %% 30] "
        f"|| {syllables}[1 + (r / 27000) %% 30] || (ARRAY['т','к','н','м'])[1 + (r / 810000)] "
        "AS word FROM generate_series(0, %(v)s - 1) r", {"v": VOCABULARY}, label="vocabulary")
    sql("CREATE UNIQUE INDEX ON bench_word (r)")


def build():
    call_command("migrate", "--noinput", verbosity=0)
    if not is_bench_database():
        raise SystemExit("this database holds real data; run the bench on a throwaway one")
    call_command("flush", "--noinput", verbosity=0)
    started = time.perf_counter()
    manager_group = Group.objects.get(name=roles.MANAGER)
    head_group = Group.objects.get(name=roles.SALES_HEAD)
    password = make_password("x")  # one hash for all
    director = User.objects.create(username="director", password=password)
    director.groups.add(Group.objects.get(name=roles.ADMIN))
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
    Channel.objects.bulk_create(Channel(kind="telegram", name=f"telegram {t}", team=team)
                                for t, team in enumerate(teams))
    pipeline = Pipeline.objects.get(is_default=True)
    stage = pipeline.stages.order_by("position").first()
    print(f"building {len(managers) + len(heads) + 1:,} users, {DEALS:,} deals, "
          f"{MESSAGES:,} messages in {connection.settings_dict['NAME']}", flush=True)
    now = timezone.now()
    params = {"now": now, "days": DAYS}
    sql("CREATE TEMP TABLE bench_manager AS SELECT row_number() OVER (ORDER BY u.id) - 1 AS n, "
        "u.id AS user_id, u.team_id FROM security_user u WHERE u.username LIKE 'm%%'")
    managers_count = len(managers)
    sql("INSERT INTO crm_contact (name, position, source, owner_id, team_id, created_at, "
        "updated_at) SELECT 'Контакт ' || g, '', 'manual', m.user_id, m.team_id, "
        "%(now)s - (g %% %(days)s) * interval '1 day', %(now)s "
        "FROM generate_series(0, %(n)s - 1) g JOIN bench_manager m ON m.n = g %% %(managers)s",
        {**params, "n": CONTACTS, "managers": managers_count}, label="contacts")
    sql("INSERT INTO crm_deal (title, amount, currency, pipeline_id, stage_id, status, "
        "loss_reason, owner_id, team_id, contact_id, next_step, created_at, updated_at, "
        "last_activity_at, stage_since) "
        "SELECT 'Сделка ' || c.id, 0, 'RUB', %(pipeline)s, %(stage)s, 'open', '', "
        "c.owner_id, c.team_id, c.id, '', c.created_at, %(now)s, %(now)s, %(now)s "
        "FROM crm_contact c", {**params, "pipeline": pipeline.pk, "stage": stage.pk},
        label="deals")
    sql("INSERT INTO inbox_channelidentity (channel_id, external_id, external_id_index, "
        "contact_id, display_name, is_unreachable, unreachable_reason, created_at) "
        "SELECT ch.id, %(external)s, md5(d.id::text), d.contact_id, '', false, '', "
        "d.created_at FROM crm_deal d JOIN inbox_channel ch ON ch.team_id = d.team_id",
        # The ids are encrypted at rest: one real ciphertext for all, as the card reads it.
        {"external": ChannelIdentity._meta.get_field("external_id").get_prep_value("1")},
        label="channel identities")
    sql("INSERT INTO inbox_conversation (channel_id, identity_id, contact_id, deal_id, "
        "assignee_id, status, last_activity_at, unread_count, awaiting_reply, "
        "last_reply_failed, created_at) "
        "SELECT i.channel_id, i.id, i.contact_id, d.id, d.owner_id, 'open', d.created_at, 0, "
        "false, false, d.created_at FROM crm_deal d "
        "JOIN inbox_channelidentity i ON i.external_id_index = md5(d.id::text)",
        label="conversations")
    sql("CREATE TEMP TABLE bench_conversation AS SELECT row_number() OVER (ORDER BY id) - 1 "
        "AS n, id, channel_id, assignee_id, created_at FROM inbox_conversation")
    sql("CREATE INDEX ON bench_conversation (n)")
    vocabulary()
    # Zipf: rank = floor(exp(u * ln V)) - 1 for u uniform in [0, 1) has P(r) ~ 1/(r + 1).
    # (The ranks are drawn in a subquery of their own: a volatile join condition would be
    # compared with every word.)
    sql("CREATE TEMP TABLE bench_sentence AS SELECT p, (SELECT string_agg(w.word, ' ') "
        "FROM (SELECT least(floor(exp(random() * ln(%(v)s)))::int - 1, %(v)s - 1) + 0 * p "
        "AS r FROM generate_series(1, %(k)s)) x JOIN bench_word w ON w.r = x.r) AS text "
        "FROM generate_series(0, %(n)s - 1) p",
        {"k": WORDS_PER_SENTENCE, "v": VOCABULARY, "n": SENTENCES}, label="sentences")
    sql("CREATE UNIQUE INDEX ON bench_sentence (p)")
    # The index comes after the rows, as a bulk load builds it.
    sql("DROP INDEX IF EXISTS message_search_gin")
    conversations = DEALS
    insert_messages = (
        "INSERT INTO inbox_message (conversation_id, channel_id, direction, external_id, "
        "author_id, owner_id, text, status, error, attempts, is_automatic, created_at, "
        "sent_at, sealed_text, delivery_unknown) "
        "SELECT c.id, c.channel_id, CASE WHEN g %% 2 = 0 THEN 'in' ELSE 'out' END, "
        "'m' || g, CASE WHEN g %% 2 = 1 THEN c.assignee_id END, c.assignee_id, s.text, "
        "CASE WHEN g %% 2 = 0 THEN 'received' ELSE 'read' END, '', 0, false, "
        "%(now)s - ((g * 7919) %% (%(days)s * 1440)) * interval '1 minute', "
        "CASE WHEN g %% 2 = 1 THEN %(now)s END, '', false "
        "FROM generate_series(%(first)s::bigint, %(last)s::bigint) g "
        "JOIN bench_conversation c ON c.n = g %% %(conversations)s "
        "JOIN bench_sentence s ON s.p = (g * 104729) %% %(sentences)s "
        # In time order, as a live system writes them: a conversation's (and a team's)
        # messages scattered over the whole table, not side by side.
        "ORDER BY 12")
    values = {**params, "conversations": conversations, "sentences": SENTENCES}
    seconds = sql(insert_messages, {**values, "first": 0, "last": MESSAGES - 1},
                  label="messages (stored form computed)")
    print(f"  {'':<34} {seconds / MESSAGES * 1e6:>11.0f} µs a message without the index")
    gin = sql("CREATE INDEX message_search_gin ON inbox_message USING gin (search_document)",
              label="GIN index built")
    size = scalar("SELECT pg_relation_size('message_search_gin')")
    table = scalar("SELECT pg_table_size('inbox_message')")
    print(f"  GIN index: {size / 2**20:,.0f} MiB built in {gin:.0f} s (the messages' table "
          f"{table / 2**20:,.0f} MiB)", flush=True)
    seconds = sql(insert_messages, {**values, "first": MESSAGES,
                                    "last": MESSAGES + MORE_MESSAGES - 1},
                  label="more messages, index in place")
    print(f"  {'':<34} {seconds / MORE_MESSAGES * 1e6:>11.0f} µs a message with the index")
    # The deal whose card is measured: 10,000 messages, one conversation.
    long_deal = scalar("SELECT deal_id FROM inbox_conversation ORDER BY id LIMIT 1")
    sql("INSERT INTO inbox_message (conversation_id, channel_id, direction, external_id, "
        "author_id, owner_id, text, status, error, attempts, is_automatic, created_at, "
        "sent_at, sealed_text, delivery_unknown) "
        "SELECT c.id, c.channel_id, 'in', 'long' || g, NULL, c.assignee_id, s.text, "
        "'received', '', 0, false, %(now)s - g * interval '1 hour', NULL, '', false "
        "FROM generate_series(1, %(n)s) g JOIN inbox_conversation c ON c.deal_id = %(deal)s "
        "JOIN bench_sentence s ON s.p = g %% %(sentences)s",
        {"now": now, "n": LONG_HISTORY, "deal": long_deal, "sentences": SENTENCES},
        label="a deal of 10,000 messages")
    sql("ANALYZE", label="")
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return long_deal


def _hits(text: str) -> int:
    """Messages holding the word (the director's count, uncapped: for picking terms)."""
    match = text_search.Match(text_search.Query.parse(text))
    return Message.objects.filter(search_document__matches=match).count()


def pick_terms() -> dict[str, tuple[str, int]]:
    """A word of each frequency, by its measured number of messages."""
    # A sentence is the text of 10 messages at any scale: a word once in the pool is rare.
    # The rank whose word is about once in the pool: the pool's words over ln(vocabulary).
    once = int(SENTENCES * WORDS_PER_SENTENCE / 13.8 * 0.7)
    wanted = {"rare": (once, 10), "medium": (800, 10_000 * SCALE),
              "common": (8, 1_000_000 * SCALE)}
    picked = {}
    for name, (rank, target) in wanted.items():
        best = None
        for candidate in range(rank, rank + 400):
            word = scalar("SELECT word FROM bench_word WHERE r = %s", [candidate])
            hits = _hits(word)
            if hits and (best is None or abs(hits - target) < abs(best[1] - target)):
                best = (word, hits)
            if name != "rare" or (best and best[1] <= 20):
                break
        picked[name] = best
        print(f"  {name:<7} «{best[0]}»: {best[1]:,} messages", flush=True)
    return picked


def timed(fn, repeat=REPEAT) -> tuple[float, float]:
    fn()  # warm
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - began) * 1000)
    return median_and_p95(timings)


def main():
    if os.environ.get("BENCH_MEASURE_ONLY"):  # again, on the database a run left
        call_command("migrate", "--noinput", verbosity=0)
        long_deal = scalar("SELECT c.deal_id FROM inbox_message m JOIN inbox_conversation c "
                           "ON c.id = m.conversation_id WHERE m.external_id = 'long1'")
        vocabulary()
    else:
        long_deal = build()
    print("\nterms:")
    terms = pick_terms()
    users = {
        "manager": User.objects.get(username="m0_0"),
        "head": User.objects.get(username="head0"),
        "director": User.objects.get(username="director"),
    }
    [message_source] = [s for s in search_sources() if s.kind == "message"]
    print(f"\n{'who':<9} {'term':<7} {'hits':>9} | {'search p50':>10} {'p95':>6} | "
          f"{'top-20 p50':>10} {'p95':>6} | {'count p50':>9} {'p95':>6}  (ms)")
    for who, user in users.items():
        for name, (word, _total) in terms.items():
            query = text_search.Query.parse(word)

            def messages(user=user, word=word, query=query):
                return services._rows(message_source, user=user, text=word, query=query,
                                      filters=services.Filters())

            def top20(messages=messages, query=query):  # as the service does
                rows, read_all = messages()
                keyed = services._keyed(rows, "created_at") if read_all else None
                return services._first(message_source, rows, keyed, 20, query=query,
                                       order=services.RECENT)

            def count(messages=messages):  # as the service does: from the rows read, if read
                rows, read_all = messages()
                if read_all:
                    return min(len(services._keyed(rows, "created_at")), services.COUNT_CAP)
                return rows.order_by()[:services.COUNT_CAP].count()

            search_p50, search_p95 = timed(lambda u=user, w=word: services.search(user=u,
                                                                                 text=w))
            top_p50, top_p95 = timed(top20)
            count_p50, count_p95 = timed(count)
            found = count()
            print(f"{who:<9} {name:<7} {found:>9,} | {search_p50:>10.1f} {search_p95:>6.1f} | "
                  f"{top_p50:>10.1f} {top_p95:>6.1f} | {count_p50:>9.1f} {count_p95:>6.1f}",
                  flush=True)
    client = Client()
    owner = User.objects.get(deals__pk=long_deal)
    client.force_login(owner)
    card_p50, card_p95 = timed(lambda: client.get(f"/deals/{long_deal}/"))
    print(f"\nthe deal card of {LONG_HISTORY:,} messages, first page: p50 {card_p50:.1f} ms, "
          f"p95 {card_p95:.1f} ms")


if __name__ == "__main__":
    main()
