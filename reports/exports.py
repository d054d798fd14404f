"""The team page as a file (core.holdings: exports): each person's figures for the period,
per channel and in all, for the heads and the director (the export permission), through the
controlled, logged exports of security/exports.py. Figures only: no client appears in it."""

from datetime import date

from django.utils.translation import gettext as _

from core.holdings import ExportResource
from reports import figures, periods
from reports.views import CHANNEL_LABELS
from security.models import ExportRequest, Team


def _day(value) -> str:
    return date.fromisoformat(str(value)).isoformat()


def _id(value) -> int:
    if isinstance(value, bool):
        raise ValueError
    number = int(value)
    if number < 1:
        raise ValueError
    return number


FILTERS = {"from": _day, "to": _day, "team": _id, "user": _id}


def _from_request(request) -> dict:
    """The team page's period and people, as its query string named them (the export button
    copies it); a preset period is written out as its dates."""
    try:
        period = periods.parse(period=request.POST.get("period"),
                               since=request.POST.get("from"), until=request.POST.get("to"))
    except periods.PeriodError:
        period = periods.preset("week")
    found = {"from": period.since.isoformat(), "to": period.until.isoformat()}
    for name in ("team", "user"):
        if request.POST.get(name):
            found[name] = request.POST[name]
    return found


def _people(user, filters: dict):
    people = figures.people(user)
    if "team" in filters:
        people = people.filter(team_id=filters["team"])
    if "user" in filters:
        people = people.filter(pk=filters["user"])
    return people


def _table(user, filters: dict, limit: int):
    today = periods.preset("today")
    try:
        period = periods.parse(since=filters.get("from", today.since.isoformat()),
                               until=filters.get("to", today.until.isoformat()))
    except periods.PeriodError:
        period = today
    report = figures.activity(people_qs=_people(user, filters), period=period)
    header = [
        _("Person"), _("Channel"), _("From clients"), _("Replies"), _("New conversations"),
        _("First responses"), _("First response, median (working minutes, at most)"),
        _("First response, 90th percentile (working minutes, at most)"), _("Within the SLA"),
        _("Unanswered now"), _("Overdue now"), _("Incoming calls answered"),
        _("Incoming calls missed"), _("Called back in time"), _("Outgoing calls"),
        _("Talk time, minutes"), _("Tasks done"), _("Tasks overdue now"), _("Deals created"),
        _("Deals won"), _("Amount won"), _("Won, worked in the CRM"),
        _("Amount won, worked in the CRM"), _("Deals lost"),
    ]
    rows = []
    for person in report.rows:
        for row in (person, *person.channels):
            share = row.within_sla_share
            rows.append([
                person.user.get_full_name() or person.user.username,
                CHANNEL_LABELS.get(row.channel, row.channel) if row.channel else _("All"),
                row.inbound, row.outbound, row.conversations_started, row.responses,
                row.first_response_median or "", row.first_response_p90 or "",
                f"{round(share * 100)} %" if share is not None else "",
                row.unanswered_now, row.overdue_now, row.calls_answered, row.calls_missed,
                row.calls_called_back, row.calls_outgoing, row.talk_seconds // 60,
                *((row.tasks_done, row.tasks_overdue_now, row.deals_created, row.deals_won,
                   _amounts(row.won), row.deals_won_in_crm, _amounts(row.won_in_crm),
                   row.deals_lost)
                  if row.channel is None else ("",) * 8),
            ])
            if len(rows) >= limit:
                return header, rows, []
    return header, rows, []


def _amounts(by_currency: dict) -> str:
    return ", ".join(f"{amount} {currency}" for currency, amount in sorted(by_currency.items()))


def _describe(filters: dict) -> list[tuple[str, str]]:
    described = [(_("Period"), f"{filters.get('from', '')} – {filters.get('to', '')}")]
    if "team" in filters:
        team = Team.objects.filter(pk=filters["team"]).first()
        described.append((_("Team"), str(team) if team else str(filters["team"])))
    if "user" in filters:
        from security.models import User

        person = User.objects.filter(pk=filters["user"]).first()
        described.append((_("Person"), str(person) if person else str(filters["user"])))
    return described


EXPORTS = {
    ExportRequest.Resource.TEAM_ACTIVITY: ExportResource(
        filters=FILTERS, table=_table, from_request=_from_request, list_url="team_page",
        describe=_describe),
}
