"""The team page (`/team/`), the records behind its figures (`/team/records/`), the funnel
(`/team/funnel/`) and the live wallboard (`/team/live/`).

Who sees whom is reports.figures.people: a head their teams, the director everyone, a
manager themself; a person or team outside that is a 404, as an object outside the
visibility rule is everywhere."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from core.http import int_or_404
from crm import selectors as crm_selectors
from inbox.models import Channel
from reports import charts, figures, funnel, periods, records
from security.audit import access_log
from security.audit.access_log import Action
from security.models import Team
from security.ratelimit import list_rate_limited
from telephony.rollups import CHANNEL as PHONE

CHANNEL_LABELS = {**dict(Channel.Kind.choices), PHONE: gettext_lazy("Phone")}
RECORDS_PAGE = 100


def _reviewable(request):
    if not figures.may_review(request.user):
        raise Http404
    return figures.people(request.user)


def _period(request, *, default: str = "week") -> tuple[periods.Period, str]:
    """The request's period, or the default one and why the asked one was refused."""
    try:
        return periods.parse(period=request.GET.get("period"), since=request.GET.get("from"),
                             until=request.GET.get("to"), default=default), ""
    except periods.PeriodError as error:
        return periods.preset(default), str(error)


def _narrowed(request, people):
    """The people shown: one team's (`team`), one person (`user`); 404 outside the viewer's."""
    return figures.narrow(
        people,
        team_id=int_or_404(request.GET["team"]) if request.GET.get("team") else None,
        user_id=int_or_404(request.GET["user"]) if request.GET.get("user") else None)


@login_required
@require_GET
@list_rate_limited
def team_page(request):
    everyone = _reviewable(request)
    people, team, person = _narrowed(request, everyone)
    period, period_error = _period(request)
    report = figures.activity(people_qs=people, period=period)
    # Several teams at once (the director's company): a row per team, each opening its people.
    team_rows = (report.by_team() if team is None and person is None
                 and people.values("team_id").distinct().count() > 1 else [])
    for row in (*report.rows, *team_rows):
        for channel_row in row.channels:
            channel_row.label = CHANNEL_LABELS.get(channel_row.channel, channel_row.channel)
    series = figures.chart_messages(people_qs=people, period=period)
    weekly = period.days > figures.DAILY_UP_TO_DAYS
    return render(request, "reports/team.html", {
        "columns": charts.daily(series, since=period.since, until=period.until, weekly=weekly),
        "weekly": weekly,
        "chart_days": sorted(series.items()),
        "nav": "team",
        "report": report,
        "team_rows": team_rows,
        "period": period,
        "period_error": period_error,
        "presets": periods.PRESETS,
        "period_query": f"from={period.since.isoformat()}&to={period.until.isoformat()}",
        "teams": Team.objects.filter(pk__in=everyone.values("team_id")),
        "people": everyone.order_by("first_name", "last_name", "username"),
        "team": team,
        "person": person,
        "channel_labels": CHANNEL_LABELS,
    })


@login_required
@require_GET
@list_rate_limited
def team_funnel(request):
    """The funnel (`/team/funnel/`): a pipeline's stages in the period, for the people shown,
    with the loss reasons and the deals stuck in a stage longer than `stuck` days."""
    everyone = _reviewable(request)
    people, team, person = _narrowed(request, everyone)
    period, period_error = _period(request, default="quarter")
    pipelines = funnel.pipelines_for(everyone)
    pipeline = pipelines.first()
    if request.GET.get("pipeline"):
        pipeline = pipelines.filter(pk=int_or_404(request.GET["pipeline"])).first()
    if pipeline is None:
        raise Http404
    stuck_days = int_or_404(request.GET.get("stuck") or funnel.STUCK_DAYS)
    if not 1 <= stuck_days <= 365:
        raise Http404
    shown = funnel.funnel(people_qs=people, period=period, pipeline=pipeline,
                          stuck_days=stuck_days,
                          visible_deals=crm_selectors.deals_visible_to(request.user))
    access_log.read(shown.stuck_deals, action=Action.LIST)
    bars, height = charts.horizontal([(row.stage.name, row.entered) for row in shown.stages])
    return render(request, "reports/funnel.html", {
        "nav": "team", "funnel": shown, "period": period, "period_error": period_error,
        "presets": periods.PRESETS, "pipelines": pipelines, "teams": Team.objects.filter(
            pk__in=everyone.values("team_id")),
        "people": everyone.order_by("first_name", "last_name", "username"),
        "team": team, "person": person, "bars": bars, "chart_height": height,
    })


@login_required
@require_GET
def team_live(request):
    """The live wallboard (`/team/live/`), for a screen in the sales room: who is on a call,
    whose clients wait and since when. It follows its teams over the websocket and fetches
    itself again (`?board=1`: the board alone) when anything on it changes."""
    everyone = _reviewable(request)
    people, team, _person = _narrowed(request, everyone)
    tiles = figures.wallboard(people_qs=people)
    context = {"nav": "team", "tiles": tiles, "team": team, "now": timezone.now(),
               "team_ids": sorted({t.user.team_id for t in tiles if t.user.team_id})}
    if request.GET.get("board") == "1":
        return render(request, "reports/_wallboard.html", context)
    return render(request, "reports/live.html", context)


@login_required
@require_GET
@list_rate_limited
def team_records(request):
    """The records behind one figure of one person in a period (in one channel)."""
    people = _reviewable(request)
    person = people.filter(pk=int_or_404(request.GET.get("user"))).first()
    figure = request.GET.get("figure", "")
    channel = request.GET.get("channel") or None
    if person is None or figure not in records.FIGURES or (
            channel is not None and channel not in CHANNEL_LABELS):
        raise Http404
    try:
        period = periods.parse(since=request.GET.get("from"), until=request.GET.get("to"))
    except periods.PeriodError:
        raise Http404 from None
    found = records.facts(user_id=person.pk, period=period, figure=figure, channel=channel)
    shown, hidden = records.records(viewer=request.user, found=found)
    page = Paginator(shown, RECORDS_PAGE).get_page(request.GET.get("page"))
    access_log.read([record.obj for record in page.object_list], action=Action.LIST)
    return render(request, "reports/records.html", {
        "nav": "team",
        "person": person,
        "figure": figure,
        "figure_label": records.FIGURES[figure],
        "channel": channel,
        "channel_label": CHANNEL_LABELS.get(channel, ""),
        "period": period,
        "page": page,
        "count": len(found),
        "hidden": hidden,
        "channel_labels": CHANNEL_LABELS,
    })
