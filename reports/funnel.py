"""The funnel: how deals moved through a pipeline's stages in a period, from the stage
rollups (crm.StageDay), with the loss reasons and the deals stuck in a stage now."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from crm.models import STAY_BUCKETS, Deal, Pipeline, StageDay
from crm.rollups import STAGE_FIGURES, handed_deals, owner_at, owner_history
from reports.figures import bucket_percentile
from reports.periods import Period

STAYS = tuple(f"stay_le_{bound}" for bound in STAY_BUCKETS) + ("stay_over",)
# A stay in the last bucket: longer than the last bound.
STAY_OVER = STAY_BUCKETS[-1] + 1
# Deals in their stage longer than this are stuck (the page may ask for another number).
STUCK_DAYS = 14
STUCK_SHOWN = 50


def median_days(counts: dict) -> int | None:
    """The nearest-rank median stay, as its bucket's upper bound in days."""
    return bucket_percentile(counts, 0.5, names=STAYS, bounds=(*STAY_BUCKETS, STAY_OVER))


@dataclass
class StageRow:
    stage: object
    counts: dict = field(default_factory=dict)
    stuck: int = 0

    def __getattr__(self, name):
        if name in STAGE_FIGURES:
            return self.counts.get(name, 0)
        raise AttributeError(name)

    @property
    def left(self) -> int:
        return (self.counts.get("advanced", 0) + self.counts.get("moved_back", 0)
                + self.counts.get("lost", 0))

    @property
    def conversion(self) -> float | None:
        """Of the deals that left the stage in the period, the share that moved on (to a
        later stage, or won)."""
        return self.counts.get("advanced", 0) / self.left if self.left else None

    @property
    def median_days(self) -> int | None:
        return median_days(self.counts)


@dataclass
class Funnel:
    period: Period
    pipeline: Pipeline
    stuck_days: int
    stages: list[StageRow]
    loss_reasons: list[tuple[str, int]]
    stuck_deals: list  # the oldest first, at most STUCK_SHOWN


def pipelines_for(people_qs):
    """The pipelines the people work in: their teams' and the company-wide ones."""
    teams = people_qs.values("team_id")
    return Pipeline.objects.filter(Q(team__isnull=True) | Q(team_id__in=teams)).order_by(
        "-is_default", "name")


def funnel(*, people_qs, period: Period, pipeline: Pipeline, stuck_days: int = STUCK_DAYS,
           now: datetime | None = None, visible_deals=None) -> Funnel:
    now = now or timezone.now()
    user_ids = list(people_qs.values_list("pk", flat=True))
    stages = {stage.pk: StageRow(stage) for stage in pipeline.stages.order_by("position", "pk")}
    for values in (StageDay.objects.filter(pipeline=pipeline, user_id__in=user_ids,
                                           day__gte=period.since, day__lte=period.until)
                   .values("stage_id").annotate(**{name: Sum(name) for name in STAGE_FIGURES})):
        if values["stage_id"] in stages:
            stages[values["stage_id"]].counts = {
                name: values[name] for name in STAGE_FIGURES if values[name]}
    stuck = (Deal.objects.filter(pipeline=pipeline, status=Deal.Status.OPEN,
                                 owner_id__in=user_ids,
                                 stage_since__lt=now - timedelta(days=stuck_days)))
    for stage_id, count in stuck.values_list("stage_id").annotate(Count("pk")):
        if stage_id in stages:
            stages[stage_id].stuck = count
    shown = stuck if visible_deals is None else stuck.filter(pk__in=visible_deals.values("pk"))
    return Funnel(
        period=period, pipeline=pipeline, stuck_days=stuck_days, stages=list(stages.values()),
        loss_reasons=_loss_reasons(user_ids, period, pipeline),
        stuck_deals=list(shown.select_related("stage", "owner")
                         .order_by("stage_since", "pk")[:STUCK_SHOWN]),
    )


def _loss_reasons(user_ids: list[int], period: Period, pipeline: Pipeline) -> list:
    """The reasons of the deals lost in the period by these people (who owned each when it
    was lost), the commonest first. Deals that never changed hands are counted by the
    database; only the handed ones are looked up in their owner history."""
    people = set(user_ids)
    lost = Deal.objects.filter(pipeline=pipeline, status=Deal.Status.LOST,
                               closed_at__gte=period.start, closed_at__lt=period.end)
    handed = handed_deals(user_ids)
    counts: dict[str, int] = dict(
        lost.filter(owner_id__in=user_ids).exclude(pk__in=handed)
        .values_list("loss_reason").annotate(Count("pk")).order_by())
    moved = list(lost.filter(pk__in=handed).values_list("pk", "closed_at", "loss_reason"))
    owners = owner_history(pk for pk, _at, _reason in moved)
    for pk, closed_at, reason in moved:
        if owner_at(owners, pk, closed_at) in people:
            counts[reason] = counts.get(reason, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
