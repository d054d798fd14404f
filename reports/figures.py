"""The team page's figures: who a viewer may review, and each person's work in a period,
per channel, from the rollups (crm.ActivityDay), with what stands now (unanswered
conversations, overdue tasks) read live."""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from math import ceil

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from crm import selectors as crm_selectors
from crm.models import RESPONSE_BUCKETS, ActivityDay, Task
from crm.rollups import FIGURES
from inbox import selectors as inbox_selectors
from reports.periods import Period
from security import roles

COUNTS = tuple(name for name in FIGURES if not name.endswith("_amount"))
BUCKETS = tuple(f"response_le_{bound}" for bound in RESPONSE_BUCKETS) + ("response_over",)
# A percentile in the last bucket: more than the last bound.
OVER = RESPONSE_BUCKETS[-1] + 1


def people(viewer):
    """Whose figures `viewer` may see: a head their teams' members, the director everyone in
    a team, a manager themself; nobody else."""
    role = crm_selectors.active_role(viewer)
    if role in (roles.SALES_HEAD, roles.ADMIN):
        return crm_selectors.team_members(user=viewer)
    if role == roles.MANAGER:
        return get_user_model().objects.filter(pk=viewer.pk).select_related("team")
    return get_user_model().objects.none()


def narrow(people, *, team_id: int | None = None, user_id: int | None = None):
    """The people narrowed to one of their teams and to one of them: (people, team,
    person); Http404 for a team or person outside them."""
    from django.http import Http404

    from security.models import Team

    team = person = None
    if team_id is not None:
        team = Team.objects.filter(pk=team_id, pk__in=people.values("team_id")).first()
        if team is None:
            raise Http404
        people = people.filter(team=team)
    if user_id is not None:
        person = people.filter(pk=user_id).first()
        if person is None:
            raise Http404
        people = people.filter(pk=person.pk)
    return people, team, person


def may_review(viewer) -> bool:
    return crm_selectors.active_role(viewer) in (roles.SALES_HEAD, roles.ADMIN, roles.MANAGER)


def bucket_percentile(counts: dict[str, int], share: float, *, names, bounds) -> int | None:
    """The nearest-rank percentile of a histogram (`names`: its columns, `bounds`: each
    one's upper bound, the last one's meaning "over"), as its bucket's bound; None when it
    is empty."""
    total = sum(counts.get(name, 0) for name in names)
    if not total:
        return None
    rank, seen = max(1, ceil(share * total)), 0
    for bound, name in zip(bounds, names, strict=True):
        seen += counts.get(name, 0)
        if seen >= rank:
            return bound
    return bounds[-1]


def percentile(counts: dict[str, int], share: float) -> int | None:
    """A first-response percentile in working minutes (OVER: beyond the last bound)."""
    return bucket_percentile(counts, share, names=BUCKETS, bounds=(*RESPONSE_BUCKETS, OVER))


@dataclass
class Row:
    user: object
    channel: str | None  # a channel's kind, "phone", or None: everything of the person
    counts: dict = field(default_factory=dict)
    won: dict = field(default_factory=dict)  # currency -> amount
    won_in_crm: dict = field(default_factory=dict)  # of it, the deals worked in the CRM
    lost: dict = field(default_factory=dict)
    unanswered_now: int = 0
    overdue_now: int = 0
    waiting_since: datetime | None = None
    tasks_overdue_now: int = 0
    channels: list = field(default_factory=list)  # a person's row: the rows per channel
    team: object | None = None  # a team's row (by_team): the team

    def __getattr__(self, name):
        if name in COUNTS:
            return self.counts.get(name, 0)
        raise AttributeError(name)

    @property
    def first_response_median(self) -> int | None:
        return percentile(self.counts, 0.5)

    @property
    def first_response_p90(self) -> int | None:
        return percentile(self.counts, 0.9)

    @property
    def within_sla_share(self) -> float | None:
        responses = self.counts.get("responses", 0)
        return self.counts.get("responses_within_sla", 0) / responses if responses else None

    @property
    def has_activity(self) -> bool:
        return any(self.counts.values()) or bool(self.unanswered_now or self.tasks_overdue_now)

    def add(self, other: "Row") -> None:
        for name, value in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + value
        for mine, theirs in ((self.won, other.won), (self.lost, other.lost),
                             (self.won_in_crm, other.won_in_crm)):
            for currency, amount in theirs.items():
                mine[currency] = mine.get(currency, Decimal("0")) + amount
        self.unanswered_now += other.unanswered_now
        self.overdue_now += other.overdue_now
        self.tasks_overdue_now += other.tasks_overdue_now
        if other.waiting_since and (self.waiting_since is None
                                    or other.waiting_since < self.waiting_since):
            self.waiting_since = other.waiting_since


@dataclass
class Report:
    period: Period
    rows: list[Row]  # one per person, each with its channel rows
    total: Row

    def by_team(self) -> list[Row]:
        """One row per team (its people's sums), by team name: the director's company at a
        glance, each team opening its people and their channels."""
        teams: dict[int, Row] = {}
        for person in self.rows:
            team = person.user.team
            teams.setdefault(team.pk if team else 0, Row(None, None, team=team)).add(person)
        return sorted(teams.values(), key=lambda row: str(row.team or "").lower())


def activity(*, people_qs, period: Period, now: datetime | None = None) -> Report:
    """Each person's figures for the period (per channel and in all), and the total."""
    now = now or timezone.now()
    users = {user.pk: user for user in people_qs}
    per_channel: dict[tuple[int, str], Row] = {}

    def row(user_id: int, channel: str) -> Row:
        key = (user_id, channel)
        if key not in per_channel:
            per_channel[key] = Row(users[user_id], channel)
        return per_channel[key]

    rollups = ActivityDay.objects.filter(user_id__in=list(users), day__gte=period.since,
                                         day__lte=period.until)
    for values in rollups.values("user_id", "channel").annotate(
            **{name: Sum(name) for name in COUNTS}):
        row(values["user_id"], values["channel"]).counts = {
            name: values[name] for name in COUNTS if values[name]}
    for values in rollups.filter(channel="").values("user_id", "currency").annotate(
            won=Sum("deals_won_amount"), lost=Sum("deals_lost_amount"),
            won_in_crm=Sum("deals_won_in_crm_amount")):
        target = row(values["user_id"], "")
        for name in ("won", "lost", "won_in_crm"):
            if values[name]:
                getattr(target, name)[values["currency"]] = values[name]
    for values in (inbox_selectors.conversations_waiting(assignee_ids=list(users))
                   .values("assignee_id", "channel__kind")
                   .annotate(count=Count("pk"), oldest=Min("waiting_since"),
                             overdue=Count("pk", filter=Q(first_response_due_at__lt=now)))):
        target = row(values["assignee_id"], values["channel__kind"])
        target.unanswered_now = values["count"]
        target.overdue_now = values["overdue"]
        target.waiting_since = values["oldest"]
    for assignee_id, count in (Task.objects.filter(assignee_id__in=list(users), done=False,
                                                   due_at__lt=now)
                               .values_list("assignee_id").annotate(Count("pk"))):
        row(assignee_id, "").tasks_overdue_now = count

    of_person: dict[int, list[Row]] = {}
    for (owner, _channel), channel_row in per_channel.items():
        of_person.setdefault(owner, []).append(channel_row)
    people_rows = []
    for user_id, user in users.items():
        person = Row(user, None)
        channels = sorted(of_person.get(user_id, ()), key=lambda r: (r.channel == "", r.channel))
        for channel_row in channels:
            person.add(channel_row)
        person.channels = [r for r in channels if r.channel]
        if person.has_activity or user.is_active:
            people_rows.append(person)
    people_rows.sort(key=lambda r: (-r.unanswered_now, str(r.user).lower()))
    total = Row(None, None)
    for person in people_rows:
        total.add(person)
    return Report(period, people_rows, total)


# --- The live wallboard ----------------------------------------------------------------------


@dataclass
class Tile:
    user: object
    call: object | None = None  # the call they are on (ringing or talking), if any
    unanswered: int = 0
    overdue: int = 0
    waiting_since: datetime | None = None

    @property
    def call_since(self) -> datetime | None:
        """Since when the call has been talking (ringing, if not answered yet)."""
        return self.call and (self.call.answered_at or self.call.started_at)


def wallboard(*, people_qs, now: datetime | None = None) -> list[Tile]:
    """Each active person: the call they are on now, their clients waiting for an answer
    (how many, how many past the first-response time, since when the longest)."""
    from telephony.selectors import calls_now

    now = now or timezone.now()
    tiles = {user.pk: Tile(user) for user in people_qs.filter(is_active=True)}
    for values in (inbox_selectors.conversations_waiting(assignee_ids=list(tiles))
                   .values("assignee_id")
                   .annotate(count=Count("pk"), oldest=Min("waiting_since"),
                             overdue=Count("pk", filter=Q(first_response_due_at__lt=now)))):
        tile = tiles[values["assignee_id"]]
        tile.unanswered, tile.overdue = values["count"], values["overdue"]
        tile.waiting_since = values["oldest"]
    for call in calls_now(manager_ids=list(tiles), now=now).order_by("started_at"):
        tiles[call.manager_id].call = tiles[call.manager_id].call or call
    return sorted(tiles.values(), key=lambda tile: str(tile.user).lower())


# Longer periods are charted by week: a column a day would be too thin to read.
DAILY_UP_TO_DAYS = 92


def chart_messages(*, people_qs, period: Period) -> dict:
    """The people's clients' messages and replies per day of the period (per week, from its
    Monday, for a long one): the page's chart."""
    rows = ActivityDay.objects.filter(user_id__in=people_qs.values("pk"),
                                      day__gte=period.since, day__lte=period.until)
    if period.days > DAILY_UP_TO_DAYS:
        rows = rows.annotate(bucket=TruncWeek("day")).values("bucket")
    else:
        rows = rows.annotate(bucket=F("day")).values("bucket")
    rows = rows.annotate(inbound=Sum("inbound"), outbound=Sum("outbound"))
    return {_as_date(row["bucket"]): (row["inbound"] or 0, row["outbound"] or 0)
            for row in rows}


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value
