"""The funnel (issue 19): a pipeline's stages in a period from the stage rollups (deals that
came in, moved on or back, won, lost, how long they stayed), the loss reasons of the period,
the deals stuck in a stage now; the same on the page and in the API, and who may see it."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from crm import services
from crm.models import Pipeline, Stage
from reports import funnel
from security import roles
from tests.factories import make_user, stage

pytestmark = pytest.mark.django_db

MONDAY = timezone.make_aware(timezone.datetime(2026, 11, 2, 10, 0))
WEEKS = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture
def moves(ivan, anna):
    """ivan's deal: created, a day later on to stage 1, three days later back to 0, then on
    to 1 again and lost there after ten days. anna's deal goes all the way and is won. A
    third deal of ivan's sits in stage 0 since the start."""
    with time_machine.travel(MONDAY, tick=False) as clock:
        lost = services.deal_create(by=ivan, title="Потерянная")
        stuck = services.deal_create(by=ivan, title="Застрявшая")
        won = services.deal_create(by=anna, title="Выигранная")
        clock.shift(timedelta(days=1))
        services.deal_move(deal=lost, stage=stage(1), by=ivan)
        for position in range(1, 5):
            services.deal_move(deal=won, stage=stage(position), by=anna)
        clock.shift(timedelta(days=3))
        services.deal_move(deal=lost, stage=stage(0), by=ivan)
        services.deal_move(deal=lost, stage=stage(1), by=ivan)
        services.deal_close(deal=won, by=anna, status="won")
        clock.shift(timedelta(days=10))
        services.deal_close(deal=lost, by=ivan, status="lost", loss_reason="Дорого")
    return {"lost": lost, "won": won, "stuck": stuck}


def by_position(shown):
    return {row.stage.position: row for row in shown.stages}


def test_the_stages_movement_in_the_period(moves, head_north):
    page = Client()
    page.force_login(head_north)
    with time_machine.travel(MONDAY + timedelta(days=20), tick=False):
        response = page.get(reverse("team_funnel"), WEEKS)
    assert response.status_code == 200
    rows = by_position(response.context["funnel"])
    # Stage 0: three deals created in it, one came back; two left forward, one went back.
    assert (rows[0].entered, rows[0].advanced, rows[0].moved_back) == (4, 3, 0)
    assert (rows[1].entered, rows[1].moved_back, rows[1].lost) == (3, 1, 1)
    assert rows[1].conversion == pytest.approx(1 / 3)
    # The lost deal stayed 10 days in stage 1 at the end; the won one moved on at once.
    assert rows[4].won == 1 and rows[4].conversion == 1.0
    assert response.context["funnel"].loss_reasons == [("Дорого", 1)]
    # The third deal has been in stage 0 for twenty days: stuck past 14.
    assert rows[0].stuck == 1
    assert [d.pk for d in response.context["funnel"].stuck_deals] == [moves["stuck"].pk]


def test_the_median_stay_is_a_bucket_bound():
    assert funnel.median_days({}) is None
    assert funnel.median_days({"stay_le_1": 2, "stay_le_10": 1}) == 1
    assert funnel.median_days({"stay_le_1": 1, "stay_le_10": 2}) == 10
    assert funnel.median_days({"stay_over": 1}) == funnel.STAY_OVER


def test_stage_since_follows_the_deal(ivan):
    with time_machine.travel(MONDAY, tick=False) as clock:
        deal = services.deal_create(by=ivan, title="Сделка")
        assert deal.stage_since == MONDAY
        clock.shift(timedelta(days=2))
        services.deal_move(deal=deal, stage=stage(2), by=ivan)
        assert deal.stage_since == MONDAY + timedelta(days=2)
        clock.shift(timedelta(days=1))
        services.deal_close(deal=deal, by=ivan, status="lost", loss_reason="Нет бюджета")
        clock.shift(timedelta(days=1))
        services.deal_close(deal=deal, by=ivan, status="open")
        deal.refresh_from_db()
        assert deal.stage_since == MONDAY + timedelta(days=4)


def test_the_api_gives_the_pages_funnel(moves, head_north):
    api = APIClient()
    api.force_authenticate(head_north)
    with time_machine.travel(MONDAY + timedelta(days=20), tick=False):
        body = api.get("/api/v1/reports/funnel/", WEEKS).json()
    assert body["pipeline"] == Pipeline.objects.get(is_default=True).pk
    first = body["stages"][0]
    assert (first["entered"], first["advanced"], first["stuck"]) == (4, 3, 1)
    assert body["loss_reasons"] == [{"reason": "Дорого", "deals": 1}]


def test_another_teams_funnel_is_a_404(moves, north, south, ivan):
    head_south = make_user("head_south", roles.SALES_HEAD, south)
    south.head = head_south
    south.save()
    head_south = type(head_south).objects.get(pk=head_south.pk)
    own = Pipeline.objects.create(name="Север, тендеры", team=north)
    Stage.objects.create(pipeline=own, name="Заявка", position=0)
    client, api = Client(), APIClient()
    client.force_login(head_south)
    api.force_authenticate(head_south)
    for params in ({"team": north.pk}, {"user": ivan.pk}, {"pipeline": own.pk}):
        assert client.get(reverse("team_funnel"), params).status_code == 404, params
        assert api.get("/api/v1/reports/funnel/", params).status_code == 404, params
    for params in ({"stuck": "0"}, {"stuck": "x"}, {"pipeline": "-1"}):
        assert client.get(reverse("team_funnel"), params).status_code == 404, params
    assert api.get("/api/v1/reports/funnel/", {"stuck": 0}).status_code == 400
    # Their own funnel shows none of the north's movement.
    rows = client.get(reverse("team_funnel"), WEEKS).context["funnel"].stages
    assert sum(row.entered for row in rows) == 0
