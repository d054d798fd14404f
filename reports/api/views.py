"""The team page's figures in the REST API v1: `reports/activity/`.

Scoped as the page (reports.figures.people): a head their teams, the director everyone, a
manager themself; a team or person outside that answers 404, a role that reviews nobody
404 as well."""

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.throttles import ListThrottle
from reports import figures, periods
from reports import funnel as funnel_module


class ActivityQuerySerializer(serializers.Serializer):
    # "from" is a Python keyword: the field is declared under it below.
    to = serializers.DateField(required=False, help_text="Last day (ISO), included.")
    team = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    user = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(
            required=False, help_text="First day (ISO). Without from and to: this week.")
        return fields


class ActivityRowSerializer(serializers.Serializer):
    user = serializers.IntegerField()
    channel = serializers.CharField(
        allow_null=True, help_text="A channel kind (telegram, whatsapp, max, vk, website, "
        "email), phone for calls, or null: everything of the person, deals and tasks too.")
    inbound = serializers.IntegerField(help_text="Clients' messages (not a machine's).")
    outbound = serializers.IntegerField(help_text="Replies that reached the client.")
    conversations_started = serializers.IntegerField()
    responses = serializers.IntegerField(help_text="Clients' waits answered.")
    first_response_median_min = serializers.IntegerField(
        allow_null=True, help_text="Working minutes, rounded up to the histogram's bucket "
        "(1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120, 240, 480, 1440); 1441 means more "
        "than a day; null without responses.")
    first_response_p90_min = serializers.IntegerField(allow_null=True)
    within_sla_share = serializers.FloatField(allow_null=True)
    unanswered_now = serializers.IntegerField()
    overdue_now = serializers.IntegerField()
    calls_answered = serializers.IntegerField()
    calls_missed = serializers.IntegerField()
    calls_outgoing = serializers.IntegerField()
    calls_called_back = serializers.IntegerField(
        help_text="Missed incoming calls whose client was called back within the call-back "
        "time (15 working minutes).")
    talk_seconds = serializers.IntegerField()
    tasks_done = serializers.IntegerField(allow_null=True)
    tasks_overdue_now = serializers.IntegerField(allow_null=True)
    deals_created = serializers.IntegerField(allow_null=True)
    deals_won = serializers.IntegerField(allow_null=True)
    deals_won_amount = serializers.DecimalField(
        max_digits=18, decimal_places=2, allow_null=True,
        help_text=f"In {settings.DEFAULT_CURRENCY}; other currencies in deals_won_amounts.")
    deals_won_amounts = serializers.DictField(child=serializers.DecimalField(
        max_digits=18, decimal_places=2), allow_null=True)
    deals_won_in_crm = serializers.IntegerField(
        allow_null=True, help_text="Of the deals won, those worked in the CRM (a client touch "
        "recorded in the 30 days before the win): what KPIs count.")
    deals_won_in_crm_amounts = serializers.DictField(child=serializers.DecimalField(
        max_digits=18, decimal_places=2), allow_null=True)
    deals_lost = serializers.IntegerField(allow_null=True)
    deals_lost_amounts = serializers.DictField(child=serializers.DecimalField(
        max_digits=18, decimal_places=2), allow_null=True)


class ActivityReportSerializer(serializers.Serializer):
    # "from" again.
    to = serializers.DateField()
    rows = ActivityRowSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField()
        return fields


def _money(amounts: dict) -> dict:
    return {currency: f"{amount:.2f}" for currency, amount in sorted(amounts.items())}


def _row(row: figures.Row) -> dict:
    person = row.channel is None
    data = {
        "user": row.user.pk, "channel": row.channel,
        **{name: row.counts.get(name, 0) for name in (
            "inbound", "outbound", "conversations_started", "responses", "calls_answered",
            "calls_missed", "calls_outgoing", "calls_called_back", "talk_seconds")},
        "first_response_median_min": row.first_response_median,
        "first_response_p90_min": row.first_response_p90,
        "within_sla_share": row.within_sla_share,
        "unanswered_now": row.unanswered_now, "overdue_now": row.overdue_now,
    }
    # Tasks and deals belong to no channel: on the person's row only.
    data.update({
        "tasks_done": row.counts.get("tasks_done", 0) if person else None,
        "tasks_overdue_now": row.tasks_overdue_now if person else None,
        "deals_created": row.counts.get("deals_created", 0) if person else None,
        "deals_won": row.counts.get("deals_won", 0) if person else None,
        "deals_won_amount": (f"{row.won.get(settings.DEFAULT_CURRENCY, 0):.2f}" if person
                             else None),
        "deals_won_amounts": _money(row.won) if person else None,
        "deals_won_in_crm": row.counts.get("deals_won_in_crm", 0) if person else None,
        "deals_won_in_crm_amounts": _money(row.won_in_crm) if person else None,
        "deals_lost": row.counts.get("deals_lost", 0) if person else None,
        "deals_lost_amounts": _money(row.lost) if person else None,
    })
    return data


def _scope(request, params) -> tuple:
    """The people (narrowed to `team`, `user`: 404 outside the viewer's) and the period
    (`from`, `to`; this week without them) a report covers."""
    if not figures.may_review(request.user):
        raise Http404
    try:
        period = periods.parse(
            since=params["from"].isoformat() if params.get("from") else None,
            until=params["to"].isoformat() if params.get("to") else None)
    except periods.PeriodError as error:
        raise ValidationError({"from": [str(error)]}) from None
    people, _team, _person = figures.narrow(figures.people(request.user),
                                            team_id=params.get("team"),
                                            user_id=params.get("user"))
    return people, period


class ActivityReportView(APIView):
    throttle_classes = [ListThrottle]
    bulk_rows = True  # ListThrottle counts it as a list

    @extend_schema(
        tags=["reports"], summary="The team's activity",
        description="Each person's figures for the period, one row per channel and one "
        "(`channel` null) for everything of theirs, as the team page shows them. A head sees "
        "their teams, the director everyone, a manager themself.",
        parameters=[ActivityQuerySerializer],
        responses={200: ActivityReportSerializer,
                   400: OpenApiResponse(description="Bad dates or a period over a year."),
                   404: OpenApiResponse(description="A team or person you do not review.")},
    )
    def get(self, request):
        query = ActivityQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        people, period = _scope(request, query.validated_data)
        report = figures.activity(people_qs=people, period=period)
        rows = []
        for person in report.rows:
            rows.append(_row(person))
            rows += [_row(channel_row) for channel_row in person.channels]
        return Response({"from": period.since, "to": period.until, "rows": rows})


class FunnelQuerySerializer(ActivityQuerySerializer):
    pipeline = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1,
                                        help_text="Default: the default pipeline.")
    stuck = serializers.IntegerField(required=False, min_value=1, max_value=365,
                                     help_text="Days in a stage after which an open deal is "
                                     f"stuck (default {funnel_module.STUCK_DAYS}).")


class FunnelStageSerializer(serializers.Serializer):
    stage = serializers.IntegerField()
    name = serializers.CharField()
    entered = serializers.IntegerField(help_text="Deals that came into the stage.")
    advanced = serializers.IntegerField(help_text="Left it for a later stage, or won in it.")
    moved_back = serializers.IntegerField()
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    conversion = serializers.FloatField(
        allow_null=True, help_text="Of the deals that left the stage, the share that moved on.")
    median_days = serializers.IntegerField(
        allow_null=True, help_text="Median stay, rounded up to the histogram's bucket (1, 2, "
        "3, 5, 7, 10, 14, 21, 30, 45, 60, 90 days; 91 means longer).")
    stuck = serializers.IntegerField(help_text="Open deals in it longer than `stuck` days now.")


class LossReasonSerializer(serializers.Serializer):
    reason = serializers.CharField()
    deals = serializers.IntegerField()


class FunnelReportSerializer(serializers.Serializer):
    to = serializers.DateField()
    pipeline = serializers.IntegerField()
    stuck_days = serializers.IntegerField()
    stages = FunnelStageSerializer(many=True)
    loss_reasons = LossReasonSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField()
        return fields


class FunnelReportView(APIView):
    throttle_classes = [ListThrottle]
    bulk_rows = True  # ListThrottle counts it as a list

    @extend_schema(
        tags=["reports"], summary="The funnel",
        description="A pipeline's stages in the period, as the funnel page shows them, for the "
        "people you review (a head: their teams; the director: everyone; a manager: themself).",
        parameters=[FunnelQuerySerializer],
        responses={200: FunnelReportSerializer,
                   400: OpenApiResponse(description="Bad dates or a period over a year."),
                   404: OpenApiResponse(description="A team, person or pipeline you do not "
                                        "review.")},
    )
    def get(self, request):
        query = FunnelQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        params = query.validated_data
        people, period = _scope(request, params)
        pipelines = funnel_module.pipelines_for(figures.people(request.user))
        pipeline = (pipelines.filter(pk=params["pipeline"]).first() if "pipeline" in params
                    else pipelines.first())
        if pipeline is None:
            raise Http404
        shown = funnel_module.funnel(people_qs=people, period=period, pipeline=pipeline,
                                     stuck_days=params.get("stuck", funnel_module.STUCK_DAYS))
        return Response({
            "from": period.since, "to": period.until, "pipeline": pipeline.pk,
            "stuck_days": shown.stuck_days,
            "stages": [{
                "stage": row.stage.pk, "name": row.stage.name, "entered": row.entered,
                "advanced": row.advanced, "moved_back": row.moved_back, "won": row.won,
                "lost": row.lost, "conversion": row.conversion, "median_days": row.median_days,
                "stuck": row.stuck,
            } for row in shown.stages],
            "loss_reasons": [{"reason": reason, "deals": count}
                             for reason, count in shown.loss_reasons],
        })
