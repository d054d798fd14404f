"""The team page, its drill-downs and the activity API (issue 19): the figures of real work
(a client's message through the drain, a reply sent, a deal won), history kept with whoever
did the work, each figure opening exactly its records, and who may see whose figures: a head
their team, the director everyone, a manager themself; another team's person or team is a
404 on the page, its drill-downs, the narrowed conversation list and the API."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from crm import services as crm_services
from crm.models import ActivityDay
from inbox import services as inbox_services
from inbox.models import Channel, Conversation, Message
from reports import figures, periods
from security import roles
from tests.factories import api_for, client_for, make_user

pytestmark = pytest.mark.django_db

MONDAY = timezone.make_aware(timezone.datetime(2026, 11, 23, 10, 0))  # Moscow, open


@pytest.fixture
def chat(north):
    return Channel.objects.create(kind="website", name="Чат", team=north,
                                  public_key="team-page", first_response_minutes=15)


def client_writes(channel, visitor: str, text: str = "Здравствуйте", *, event: str):
    payload = {"visitor": visitor, "id": event, "text": text,
               "sent_at": timezone.now().isoformat()}
    inbox_services.event_receive(channel=channel, provider_event_id=event,
                                 event_type="message", payload=json.dumps(payload))
    inbox_services.events_drain(linger=0, pause=0)
    return Message.objects.filter(direction="in").latest("pk").conversation


def make_his(conversation, user, head):
    if conversation.deal.owner_id != user.pk:
        crm_services.deal_reassign(deal=conversation.deal, to_user=user, by=head)
    Conversation.objects.filter(pk=conversation.pk).update(assignee=user)
    conversation.refresh_from_db()


def reply(conversation, by):
    message = inbox_services.message_reply(conversation=conversation, by=by, text="Добрый день")
    return inbox_services.message_send(message=message)


@pytest.fixture
def work(chat, anna, ivan, head_north):
    """ivan's client writes on Monday 10:00 and gets his answer 7 minutes later; another
    client of his waits now; ivan wins the first deal, which is then handed to anna."""
    with time_machine.travel(MONDAY, tick=False) as clock:
        answered = client_writes(chat, "v-1", event="e1")
        clock.shift(timedelta(seconds=5))
        # The round-robin gave it to someone: make it ivan's for the story.
        make_his(answered, ivan, head_north)
        crm_services.deal_update(deal=answered.deal, by=ivan, amount=150_000)
        clock.shift(timedelta(minutes=1))
        client_writes(chat, "v-1", "Вы тут?", event="e2")
        clock.shift(timedelta(minutes=6))
        reply(answered, ivan)
        clock.shift(timedelta(minutes=10))
        waiting = client_writes(chat, "v-2", event="e3")
        clock.shift(timedelta(seconds=5))
        make_his(waiting, ivan, head_north)
        clock.shift(timedelta(hours=1))
        crm_services.deal_close(deal=answered.deal, by=ivan, status="won")
        answered.deal.refresh_from_db()
        clock.shift(timedelta(hours=1))
        crm_services.deal_reassign(deal=answered.deal, to_user=anna, by=head_north)
    return {"answered": answered, "waiting": waiting}


def week_of_monday() -> dict:
    return {"from": "2026-11-23", "to": "2026-11-29"}


def person_row(report, user):
    return next(row for row in report.rows if row.user.pk == user.pk)


def test_the_figures_of_real_work_and_history_staying_with_who_did_it(work, ivan, anna,
                                                                      head_north):
    page = client_for(head_north).get(reverse("team_page"), week_of_monday())
    assert page.status_code == 200
    report = page.context["report"]
    row = person_row(report, ivan)
    # The first message came before the deal was his: it counts for whoever owned it then.
    assert row.inbound + person_row(report, anna).inbound >= 2
    assert row.outbound == 1 and row.responses == 1
    # Waited from 10:00 to 10:07, answered within the 15-minute SLA; bucket "at most 10".
    assert row.first_response_median == 10 and row.within_sla_share == 1.0
    # Won by ivan, handed to anna afterwards: the win stays his.
    assert row.deals_won == 1 and person_row(report, anna).deals_won == 0
    assert row.won == {"RUB": work["answered"].deal.amount}
    # What stands now: one client waits for ivan.
    assert row.unanswered_now == 1
    html = page.content.decode()
    assert f'?assignee={ivan.pk}&amp;waiting=unanswered' in html


def test_unanswered_now_opens_exactly_those_conversations(work, ivan, head_north):
    page = client_for(head_north).get(reverse("conversation_list"),
                                      {"assignee": ivan.pk, "waiting": "unanswered"})
    assert page.status_code == 200
    assert [c.pk for c in page.context["page"].object_list] == [work["waiting"].pk]


def test_a_figure_opens_the_records_behind_it(work, ivan, head_north):
    client = client_for(head_north)
    params = {**week_of_monday(), "user": ivan.pk}
    won = client.get(reverse("team_records"), {**params, "figure": "deals_won"})
    assert won.status_code == 200
    assert [r.obj.pk for r in won.context["page"].object_list] == [work["answered"].deal.pk]
    replies = client.get(reverse("team_records"), {**params, "figure": "outbound"})
    shown = replies.context["page"].object_list
    assert [r.obj.direction for r in shown] == ["out"]
    assert replies.context["count"] == person_row(
        figures.activity(people_qs=figures.people(head_north),
                         period=periods.Period(MONDAY.date(), MONDAY.date() + timedelta(6))),
        ivan).outbound


def test_the_api_gives_the_pages_figures(work, ivan, head_north):
    response = api_for(head_north).get("/api/v1/reports/activity/",
                                       {**week_of_monday(), "user": ivan.pk})
    assert response.status_code == 200
    body = response.json()
    assert body["from"] == "2026-11-23" and body["to"] == "2026-11-29"
    total = next(row for row in body["rows"] if row["channel"] is None)
    assert total["user"] == ivan.pk
    assert (total["outbound"], total["first_response_median_min"], total["deals_won"],
            total["unanswered_now"]) == (1, 10, 1, 1)
    assert total["deals_won_amount"] == str(work["answered"].deal.amount)
    website = next(row for row in body["rows"] if row["channel"] == "website")
    assert website["outbound"] == 1 and website["deals_won"] is None


@pytest.mark.parametrize("params", [
    {"from": "2026-13-01", "to": "2026-12-01"},
    {"from": "2026-12-01"},
    {"from": "2026-12-02", "to": "2026-12-01"},
    {"from": "2025-01-01", "to": "2026-12-01"},
])
def test_bad_periods_are_a_clear_400(head_north, params):
    response = api_for(head_north).get("/api/v1/reports/activity/", params)
    assert response.status_code == 400
    assert response.json()


def test_a_bad_period_on_the_page_says_so_and_shows_this_week(head_north):
    page = client_for(head_north).get(reverse("team_page"), {"from": "2026-12-02",
                                                             "to": "2026-12-01"})
    assert page.status_code == 200
    assert page.context["period_error"] and page.context["period"].preset == "week"


# --- Who sees whose figures ------------------------------------------------------------------


@pytest.fixture
def head_south(south):
    head = make_user("head_south", roles.SALES_HEAD, south)
    south.head = head
    south.save()
    return type(head).objects.get(pk=head.pk)


def test_a_head_sees_their_team_and_the_director_everyone(work, head_north, director, anna,
                                                          ivan, olga):
    north_people = {row.user.pk for row in client_for(head_north).get(
        reverse("team_page")).context["report"].rows}
    assert {anna.pk, ivan.pk} <= north_people and olga.pk not in north_people
    everyone = {row.user.pk for row in client_for(director).get(
        reverse("team_page")).context["report"].rows}
    assert {anna.pk, ivan.pk, olga.pk} <= everyone


def test_a_manager_sees_only_themself(work, anna, ivan):
    page = client_for(anna).get(reverse("team_page"), week_of_monday())
    assert [row.user.pk for row in page.context["report"].rows] == [anna.pk]
    rows = api_for(anna).get("/api/v1/reports/activity/", week_of_monday()).json()["rows"]
    assert {row["user"] for row in rows} == {anna.pk}


def _outsider_urls(ivan, north):
    week = week_of_monday()
    return [
        (reverse("team_page"), {"user": ivan.pk}),
        (reverse("team_page"), {"team": north.pk}),
        (reverse("team_records"), {**week, "user": ivan.pk, "figure": "inbound"}),
        (reverse("team_records"), {**week, "user": ivan.pk, "figure": "deals_won"}),
        (reverse("conversation_list"), {"assignee": ivan.pk, "waiting": "unanswered"}),
        (reverse("conversation_list"), {"assignee": ivan.pk}),
        ("/api/v1/reports/activity/", {"user": ivan.pk}),
        ("/api/v1/reports/activity/", {"team": north.pk}),
    ]


@pytest.mark.parametrize("outsider", ["head_south", "olga", "anna_for_ivan"])
def test_another_teams_or_another_persons_figures_are_a_404(request, work, ivan, north,
                                                            outsider):
    user = request.getfixturevalue("anna" if outsider == "anna_for_ivan" else outsider)
    for url, params in _outsider_urls(ivan, north):
        if outsider == "anna_for_ivan" and params.get("team"):
            continue  # a manager has no team filter: her own team is not "another"
        client = api_for(user) if url.startswith("/api/") else client_for(user)
        response = client.get(url, params)
        assert response.status_code == 404, (outsider, url, params, response.status_code)


@pytest.mark.parametrize("role_user", ["marketer", "support", "security_officer"])
def test_roles_that_review_nobody_get_a_404(request, role_user):
    user = request.getfixturevalue(role_user)
    assert client_for(user).get(reverse("team_page")).status_code == 404
    assert api_for(user).get("/api/v1/reports/activity/").status_code == 404


def test_anonymous_is_sent_to_log_in(db):
    assert Client().get(reverse("team_page")).status_code == 302
    assert Client().get(reverse("team_records")).status_code == 302
    assert APIClient().get("/api/v1/reports/activity/").status_code in (401, 403)


@pytest.mark.parametrize("params", [
    {"figure": "<script>alert(1)</script>"},
    {"figure": "inbound", "user": "-1"},
    {"figure": "inbound", "user": "１２"},
    {"figure": "inbound", "channel": "fax"},
    {"figure": "inbound", "from": "yesterday"},
])
def test_junk_in_a_drill_down_is_a_404(work, head_north, ivan, params):
    query = {"user": ivan.pk, **week_of_monday(), **params}
    assert client_for(head_north).get(reverse("team_records"), query).status_code == 404


def test_junk_in_the_conversation_lists_narrowing_is_a_404(head_north, ivan):
    client = client_for(head_north)
    for params in ({"waiting": "soon"}, {"channel": "fax"}, {"assignee": "x"}):
        assert client.get(reverse("conversation_list"), params).status_code == 404


# --- The numbers' helpers --------------------------------------------------------------------


def test_percentiles_are_nearest_rank_bucket_bounds():
    assert figures.percentile({}, 0.5) is None
    assert figures.percentile({"response_le_5": 1}, 0.9) == 5
    counts = {"response_le_1": 5, "response_le_10": 4, "response_over": 1}
    assert figures.percentile(counts, 0.5) == 1  # rank 5 of 10
    assert figures.percentile(counts, 0.9) == 10  # rank 9
    assert figures.percentile(counts, 1.0) == figures.OVER


def test_rebuild_rollups_command(work, capsys):
    before = list(ActivityDay.objects.order_by("pk").values())
    call_command("rebuild_rollups", "--from", "2026-11-20", "--to", "2026-11-30")
    assert "Rebuilt the rollups of 2026-11-20..2026-11-30" in capsys.readouterr().out
    strip = [{k: v for k, v in row.items() if k != "id"} for row in before]
    after = [{k: v for k, v in row.items() if k != "id"}
             for row in ActivityDay.objects.values()]
    key = lambda row: (row["user_id"], row["day"], row["channel"], row["currency"])  # noqa: E731
    assert sorted(strip, key=key) == sorted(after, key=key)


def test_a_reply_the_provider_reports_failed_is_taken_back(chat, ivan, head_north):
    with time_machine.travel(MONDAY, tick=False) as clock:
        conversation = client_writes(chat, "v-9", event="f1")
        clock.shift(timedelta(seconds=5))
        make_his(conversation, ivan, head_north)
        clock.shift(timedelta(minutes=3))
        sent = reply(conversation, ivan)
        day = ActivityDay.objects.get(user=ivan, channel="website")
        assert (day.outbound, day.responses) == (1, 1)
        message = Message.objects.select_related("conversation").get(pk=sent.pk)
        inbox_services.message_fail(message, "undeliverable")
    day.refresh_from_db()
    assert (day.outbound, day.responses) == (0, 0)
    conversation.refresh_from_db()
    assert conversation.awaiting_reply and conversation.waiting_since == MONDAY


# --- The team page as a file -----------------------------------------------------------------


def test_the_head_exports_the_team_page_through_the_controlled_exports(work, head_north,
                                                                      ivan, settings):
    from security.models import ExportRequest
    from tests.security.test_exports import exported

    body, rows = exported(head_north, resource="team_activity",
                          filters={"from": "2026-11-23", "to": "2026-11-29"})
    assert body["row_count"] >= 2 and body["resource"] == "team_activity"
    ivan_all = next(row for row in rows if row[:2] == [ivan.get_full_name() or ivan.username,
                                                        "All"])
    header = next(row for row in rows if row[:2] == ["Person", "Channel"])
    figures_of = dict(zip(header, ivan_all, strict=True))
    assert (figures_of["Replies"], figures_of["Deals won"], figures_of["Unanswered now"]) == (
        "1", "1", "1")
    export = ExportRequest.objects.get(pk=body["id"])
    assert export.user == head_north and export.resource == "team_activity"


def test_a_manager_may_not_export_the_team_page(anna):
    from security.models import ExportRequest
    from tests.security.test_exports import export_via_api

    response = export_via_api(anna, resource="team_activity", filters={})
    assert response.status_code == 403
    assert ExportRequest.objects.get(user=anna).status == ExportRequest.Status.DENIED


def test_the_page_export_button_carries_the_period(work, head_north):
    page = client_for(head_north).get(reverse("team_page"), {"period": "quarter"})
    html = page.content.decode()
    assert 'name="resource" value="team_activity"' in html
    assert 'name="period" value="quarter"' in html


def test_a_deal_won_without_a_touch_in_the_crm_is_left_out_of_the_kpi(work, ivan, head_north):
    """The KPI counts only deals worked in the CRM: ivan's first win had the client's
    messages and his reply; a second one, won with no touch recorded here, is flagged."""
    with time_machine.travel(MONDAY + timedelta(hours=5), tick=False):
        quiet = crm_services.deal_create(by=ivan, title="Договорились по телефону",
                                         amount=90_000)
        crm_services.deal_close(deal=quiet, by=ivan, status="won")
    report = client_for(head_north).get(reverse("team_page"), week_of_monday()).context["report"]
    row = person_row(report, ivan)
    assert (row.deals_won, row.deals_won_in_crm) == (2, 1)
    assert row.won_in_crm == {"RUB": work["answered"].deal.amount}
    body = api_for(head_north).get("/api/v1/reports/activity/",
                                   {**week_of_monday(), "user": ivan.pk}).json()
    total = next(r for r in body["rows"] if r["channel"] is None)
    assert (total["deals_won"], total["deals_won_in_crm"]) == (2, 1)
