"""The sales head's figures, counted as the work happens (crm.ActivityDay; the funnel's,
crm.StageDay, below).

Every app that records work describes each piece of it as `Fact`s: who did it, when, in
which channel, which figures it adds to ({"inbound": 1}). The service that records the work
calls `record(facts)` in its own transaction, and when a recorded thing changes (a deal's
amount after it was won, a call's answer that a later event corrects) it records the new
facts with the old ones as `undo`: the rollups always hold the sum of the facts of the rows
as they are now. The same functions that describe the facts rebuild the rollups from the raw
rows (`manage.py rebuild_rollups`) and list the records behind a figure, so a figure, its
rebuild and its drill-down cannot disagree.

Who a fact counts for is fixed when it happens: a message counts for the deal's owner of
that moment, a deal won for the owner who won it (the deals' owner history is their
owner-change entries on the timeline). Offboarding and reassignment move what is open, never
what was done.
"""

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from crm.models import (
    RESPONSE_BUCKETS,
    STAY_BUCKETS,
    ActivityDay,
    Deal,
    Stage,
    StageDay,
    Task,
    TimelineEntry,
)
from crm.selectors import deals_not_worked_in_crm

# The figures a fact can add to: every counter of ActivityDay.
FIGURES = tuple(f.name for f in ActivityDay._meta.concrete_fields
                if f.name not in ("id", "user", "day", "channel", "currency"))
_KEY = ("user_id", "day", "channel", "currency")


@dataclass(frozen=True)
class Fact:
    user_id: int | None  # nobody to count it for: it is left out
    at: datetime
    channel: str
    counts: dict = field(hash=False)
    currency: str = ""
    # The record behind it ("crm.deal", 12): what a figure's drill-down lists.
    source: tuple[str, int] | None = None

    @property
    def day(self) -> date:
        return timezone.localdate(self.at)


def response_bucket(minutes: int) -> str:
    """The histogram column a response of `minutes` working minutes counts in."""
    position = bisect_right(RESPONSE_BUCKETS, minutes - 1)
    if position == len(RESPONSE_BUCKETS):
        return "response_over"
    return f"response_le_{RESPONSE_BUCKETS[position]}"


def response_counts(minutes: int, sla_minutes: int) -> dict:
    return {"responses": 1, "responses_within_sla": int(minutes <= sla_minutes),
            response_bucket(minutes): 1}


def totals(facts: Iterable[Fact], *, undo: Iterable[Fact] = ()) -> dict[tuple, dict]:
    """The facts summed per rollup row (user, day, channel, currency), `undo` subtracted;
    rows and figures that come to nothing are left out."""
    rows: dict[tuple, dict] = {}
    for sign, group in ((1, facts), (-1, undo)):
        for fact in group:
            if fact.user_id is None:
                continue
            row = rows.setdefault((fact.user_id, fact.day, fact.channel, fact.currency), {})
            for name, value in fact.counts.items():
                row[name] = row.get(name, 0) + sign * value
    return {key: changed for key, row in rows.items()
            if (changed := {name: value for name, value in row.items() if value})}


def record(facts: Iterable[Fact], *, undo: Iterable[Fact] = ()) -> None:
    """Add the facts to the rollups (and take `undo` away), in one statement: an upsert that
    adds to the rows' figures. The rows are written in key order, as every writer does, so
    two transactions adding to the same rows wait for each other instead of deadlocking."""
    rows = totals(facts, undo=undo)
    if not rows:
        return
    _upsert(rows)


def _upsert(rows: dict[tuple, dict], *, model=ActivityDay, key=_KEY, figures=FIGURES,
            conflict=_KEY) -> None:
    """rows: {key values: {figure: increment}}; `conflict` the unique columns of `key`."""
    changed = sorted({name for row in rows.values() for name in row})
    unknown = set(changed) - set(figures)
    if unknown:
        raise ValueError(f"not a rollup figure: {sorted(unknown)}")
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [*key, *figures]
    values, params = [], []
    for values_of_key in sorted(rows):
        row = rows[values_of_key]
        values.append("(" + ", ".join(["%s"] * len(columns)) + ")")
        params += [*values_of_key, *(row.get(name, 0) for name in figures)]
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES {', '.join(values)} "
        f"ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO UPDATE SET "
        + ", ".join(f"{quote(name)} = {table}.{quote(name)} + EXCLUDED.{quote(name)}"
                    for name in changed)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def rebuild(facts: Iterable[Fact], *, since: date, until: date, user_ids=None) -> int:
    """Replace the rollups of the days since..until (of `user_ids`, else everyone's) by the
    sum of `facts` (which must be every fact of those days and people). Returns the rows."""
    rows = {key: counts for key, counts in totals(facts).items()
            if since <= key[1] <= until and (user_ids is None or key[0] in user_ids)}
    stale = ActivityDay.objects.filter(day__gte=since, day__lte=until)
    if user_ids is not None:
        stale = stale.filter(user_id__in=user_ids)
    stale.delete()
    keys = sorted(rows)
    for start in range(0, len(keys), 1000):
        _upsert({key: rows[key] for key in keys[start:start + 1000]})
    return len(rows)


# --- Owners over time ------------------------------------------------------------------------


def owner_history(deal_ids: Iterable[int]) -> dict[int, list[tuple[datetime | None, int]]]:
    """Each deal's owners in order, as (since, user id), the first one since None: read from
    its owner-change entries, the current owner where it never changed hands."""
    deal_ids = list(set(deal_ids))
    history: dict[int, list] = {}
    for start in range(0, len(deal_ids), 5000):
        chunk = deal_ids[start:start + 5000]
        for deal_id, at, payload in (TimelineEntry.objects.filter(
                deal_id__in=chunk, kind="owner_changed").order_by("occurred_at", "id")
                .values_list("deal_id", "occurred_at", "payload")):
            steps = history.setdefault(deal_id, [(None, payload.get("from"))])
            steps.append((at, payload.get("to")))
        for deal_id, owner_id in Deal.objects.filter(pk__in=chunk).exclude(
                pk__in=list(history)).values_list("pk", "owner_id"):
            history[deal_id] = [(None, owner_id)]
    return history


def handed_deals(user_ids) -> list[int]:
    """The deals handed to these people or by them (their owner-change entries, read through
    their own partial index)."""
    user_ids = list(user_ids)
    return sorted(set(TimelineEntry.objects.filter(kind="owner_changed").filter(
        Q(payload__from__in=user_ids) | Q(payload__to__in=user_ids))
        .values_list("deal_id", flat=True)))


def ever_owned(user_ids) -> Q:
    """The deals these people ever owned: those they own now and those handed to them or by
    them. The ids come as a list, so the database combines two index scans instead of
    filtering every deal."""
    user_ids = list(user_ids)
    return Q(owner_id__in=user_ids) | Q(pk__in=handed_deals(user_ids))


def owner_at(history: dict, deal_id: int | None, at: datetime) -> int | None:
    """The deal's owner at `at` (by `owner_history`)."""
    owner = None
    for since, user_id in history.get(deal_id, ()):
        if since is not None and since > at:
            break
        owner = user_id
    return owner


# --- crm's own facts: deals and tasks --------------------------------------------------------


def deal_facts(deals: Iterable[Deal], history: dict | None = None) -> list[Fact]:
    """A deal counts when it is created (for its first owner) and when it is won or lost (for
    the owner who closed it, with its amount)."""
    deals = list(deals)
    if history is None:
        history = owner_history(deal.pk for deal in deals)
    not_worked = deals_not_worked_in_crm(deals)
    facts = []
    for deal in deals:
        source = ("crm.deal", deal.pk)
        facts.append(Fact(owner_at(history, deal.pk, deal.created_at), deal.created_at, "",
                          {"deals_created": 1}, deal.currency, source))
        if deal.status != Deal.Status.OPEN and deal.closed_at is not None:
            counts = {f"deals_{deal.status}": 1, f"deals_{deal.status}_amount": deal.amount}
            if deal.status == Deal.Status.WON and deal.pk not in not_worked:
                counts |= {"deals_won_in_crm": 1, "deals_won_in_crm_amount": deal.amount}
            facts.append(Fact(owner_at(history, deal.pk, deal.closed_at), deal.closed_at, "",
                              counts, deal.currency, source))
    return facts


def deal_changed(before: Deal | None, after: Deal) -> None:
    """Record what a created or changed deal adds (`before`: a copy of it as it was)."""
    history = owner_history([after.pk])
    record(deal_facts([after], history),
           undo=deal_facts([before], history) if before is not None else ())


def task_facts(tasks: Iterable[Task]) -> list[Fact]:
    return [Fact(task.assignee_id, task.done_at, "", {"tasks_done": 1}, "", ("crm.task", task.pk))
            for task in tasks if task.done and task.done_at is not None]


def crm_facts(*, start: datetime, end: datetime, user_ids=None) -> list[Fact]:
    """Every fact of crm's rows in [start, end): the rebuild's and the drill-downs' source."""
    deals = Deal.objects.filter(created_at__gte=start, created_at__lt=end) | Deal.objects.filter(
        closed_at__gte=start, closed_at__lt=end)
    if user_ids is not None:
        deals = deals.filter(ever_owned(user_ids))
    deals = list(deals.only("pk", "created_at", "closed_at", "status", "amount", "currency"))
    facts = [fact for fact in deal_facts(deals) if start <= fact.at < end]
    tasks = Task.objects.filter(done=True, done_at__gte=start, done_at__lt=end)
    if user_ids is not None:
        tasks = tasks.filter(assignee_id__in=user_ids)
    facts += task_facts(tasks.only("pk", "assignee_id", "done", "done_at"))
    if user_ids is not None:
        facts = [fact for fact in facts if fact.user_id in user_ids]
    return facts


# --- The funnel: stages entered and left -----------------------------------------------------

STAGE_FIGURES = tuple(f.name for f in StageDay._meta.concrete_fields
                      if f.name not in ("id", "user", "day", "pipeline", "stage"))
_STAGE_KEY = ("user_id", "day", "stage_id", "pipeline_id")
_STAGE_CONFLICT = ("user_id", "day", "stage_id")
_STAGE_KINDS = ("deal_created", "stage_changed", "status_changed")


@dataclass(frozen=True)
class StageFact:
    user_id: int | None
    at: datetime
    stage_id: int
    counts: dict = field(hash=False)
    deal_id: int | None = None

    @property
    def day(self) -> date:
        return timezone.localdate(self.at)


def stay_bucket(days: int) -> str:
    position = bisect_right(STAY_BUCKETS, days - 1)
    return "stay_over" if position == len(STAY_BUCKETS) else f"stay_le_{STAY_BUCKETS[position]}"


def _stay(since: datetime, until: datetime) -> dict:
    days = -int(-(until - since).total_seconds() // 86400)
    return {"stays": 1, stay_bucket(days): 1}


def stage_history(deal_ids: Iterable[int]) -> dict[int, list]:
    """Each deal's creation, stage moves and status changes, in order: (at, kind, payload)."""
    deal_ids = list(set(deal_ids))
    history: dict[int, list] = {}
    for start in range(0, len(deal_ids), 5000):
        for deal_id, at, kind, payload in (TimelineEntry.objects.filter(
                deal_id__in=deal_ids[start:start + 5000], kind__in=_STAGE_KINDS)
                .order_by("occurred_at", "id")
                .values_list("deal_id", "occurred_at", "kind", "payload")):
            history.setdefault(deal_id, []).append((at, kind, payload))
    return history


def stage_facts(deals: Iterable[Deal], *, history: dict | None = None,
                owners: dict | None = None) -> list[StageFact]:
    """What each deal's stage history adds to the funnel: it enters its first stage when it
    is created; a move leaves a stage (forward or back, with the stay's length) and enters
    another; a win or a loss ends the stay in the stage it happened in; reopening enters the
    stage again. Each counts for the deal's owner of that moment."""
    deals = list(deals)
    ids = [deal.pk for deal in deals]
    history = stage_history(ids) if history is None else history
    owners = owner_history(ids) if owners is None else owners
    positions = dict(Stage.objects.values_list("pk", "position"))
    facts: list[StageFact] = []
    for deal in deals:
        entries = history.get(deal.pk, [])
        moves = [payload for _at, kind, payload in entries if kind == "stage_changed"]
        stage = moves[0].get("from_id") if moves else deal.stage_id
        since = deal.created_at
        is_open = True

        def add(at, stage_id, counts, deal_id=deal.pk):
            facts.append(StageFact(owner_at(owners, deal_id, at), at, stage_id, counts,
                                   deal_id))

        add(since, stage, {"entered": 1})
        for at, kind, payload in entries:
            if kind == "stage_changed":
                target = payload.get("to_id")
                if is_open:
                    forward = positions.get(target, 0) > positions.get(stage, 0)
                    add(at, stage, {"advanced" if forward else "moved_back": 1,
                                    **_stay(since, at)})
                    add(at, target, {"entered": 1})
                stage, since = target, at
            elif kind == "status_changed":
                outcome = payload.get("to")
                if outcome in (Deal.Status.WON, Deal.Status.LOST) and is_open:
                    counts = {outcome: 1, **_stay(since, at)}
                    if outcome == Deal.Status.WON:
                        counts["advanced"] = 1
                    add(at, stage, counts)
                    is_open = False
                elif outcome == Deal.Status.OPEN and not is_open:
                    add(at, stage, {"entered": 1})
                    since, is_open = at, True
    return facts


def stage_totals(facts: Iterable[StageFact], *, undo: Iterable[StageFact] = ()) -> dict:
    pipelines = dict(Stage.objects.values_list("pk", "pipeline_id"))
    rows: dict[tuple, dict] = {}
    for sign, group in ((1, facts), (-1, undo)):
        for fact in group:
            if fact.user_id is None or fact.stage_id not in pipelines:
                continue
            key = (fact.user_id, fact.day, fact.stage_id, pipelines[fact.stage_id])
            row = rows.setdefault(key, {})
            for name, value in fact.counts.items():
                row[name] = row.get(name, 0) + sign * value
    return {key: changed for key, row in rows.items()
            if (changed := {name: value for name, value in row.items() if value})}


def _stage_upsert(rows: dict) -> None:
    if rows:
        _upsert(rows, model=StageDay, key=_STAGE_KEY, figures=STAGE_FIGURES,
                conflict=_STAGE_CONFLICT)


class StagesChange:
    """A change of a deal's stage or status: the deal's funnel facts read before it and
    recorded in their place after it (`with rollups.StagesChange(deal): ...`)."""

    def __init__(self, deal: Deal):
        self.deal = deal

    def __enter__(self):
        self.before = stage_facts([self.deal]) if self.deal.pk else []
        return self

    def __exit__(self, kind, error, traceback):
        if kind is None:
            _stage_upsert(stage_totals(stage_facts([self.deal]), undo=self.before))
        return False


def stage_rebuild(since: date, until: date, *, start: datetime, end: datetime) -> int:
    """The funnel rollups of since..until (the instants start..end) rebuilt from the
    deals' stage histories."""
    deal_ids = set(TimelineEntry.objects.filter(
        kind__in=_STAGE_KINDS, occurred_at__gte=start, occurred_at__lt=end,
        deal__isnull=False).values_list("deal_id", flat=True))
    rows = {}
    ids = sorted(deal_ids)
    for offset in range(0, len(ids), 2000):
        chunk = ids[offset:offset + 2000]
        deals = Deal.objects.filter(pk__in=chunk).only("pk", "created_at", "stage_id")
        facts = [fact for fact in stage_facts(deals) if start <= fact.at < end]
        for key, counts in stage_totals(facts).items():
            row = rows.setdefault(key, {})
            for name, value in counts.items():
                row[name] = row.get(name, 0) + value
    StageDay.objects.filter(day__gte=since, day__lte=until).delete()
    keys = sorted(rows)
    for offset in range(0, len(keys), 1000):
        _stage_upsert({key: rows[key] for key in keys[offset:offset + 1000]})
    return len(rows)

