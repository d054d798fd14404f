"""A normal working day of the demo team raises no alert: the rules' defaults leave room for
the work people really do (a manager going through their pipeline, a head reviewing the
team, an export of the team's deals, a few reveals and stale links), at the hours they do it.

The day is played through the real pages, with the clock moved through a Monday."""

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from crm.management import demo_data
from crm.models import Contact, Deal
from security.models import AccessRecord, Alert, User

pytestmark = pytest.mark.django_db

MONDAY_MORNING = datetime(2026, 11, 23, 8, 45, tzinfo=ZoneInfo("Europe/Moscow"))


@pytest.fixture
def demo(settings):
    settings.DEBUG = True  # the demo is for embedded (DEBUG) databases
    settings.STAFF_WORKING_HOURS = settings.DEFAULT_STAFF_WORKING_HOURS
    settings.REVEAL_LIMIT_PER_HOUR = 20
    # The day is played in hourly steps; people click in between, which keeps them signed in.
    settings.SESSION_IDLE_TIMEOUT = 2 * 3600
    call_command("seed_demo", stdout=io.StringIO())
    return {user.username: user for user in User.objects.all()}


class Day:
    """The clock, moved forward as the day goes on."""

    def __init__(self):
        self.now = MONDAY_MORNING
        self.traveller = time_machine.travel(self.now, tick=False)
        self.traveller.start()

    def later(self, minutes: float):
        self.now += timedelta(minutes=minutes)
        self.traveller.stop()
        self.traveller = time_machine.travel(self.now, tick=False)
        self.traveller.start()

    def end(self):
        self.traveller.stop()


def sign_in(username: str, ip: str) -> Client:
    client = Client(REMOTE_ADDR=ip)
    response = client.post("/login/", {"username": username, "password": demo_data.PASSWORD})
    assert response.status_code == 302, username
    return client


def ok(client: Client, url: str, status: int = 200):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response


def test_a_normal_working_day_of_the_demo_team_raises_no_alert(demo):
    day = Day()
    try:
        staff = {name: sign_in(name, f"10.0.0.{i + 10}")
                 for i, name in enumerate(demo_data.USERNAMES)}
        managers = demo_data.MANAGERS
        for hour in range(9):  # 09:00 to 18:00
            day.later(15 if hour == 0 else 60)
            for name in managers:
                client, user = staff[name], demo[name]
                ok(client, "/deals/")
                ok(client, "/conversations/")
                # A manager goes through a slice of their open pipeline every hour: each
                # deal card, then its client's card.
                open_deals = list(Deal.objects.filter(owner=user, status="open")
                                  .order_by("pk").values_list("pk", "contact_id"))
                for deal_id, contact_id in open_deals[hour::3][:6]:
                    ok(client, f"/deals/{deal_id}/")
                    if contact_id:
                        ok(client, f"/contacts/{contact_id}/")
                    day.later(0.5)
                # And looks up a few old clients (closed deals only) in the contact list.
                ok(client, "/contacts/?page=2")
                old = list(Contact.objects.filter(owner=user).exclude(
                    deals__status="open").order_by("pk").values_list("pk", flat=True))
                for contact_id in old[hour * 2:hour * 2 + 2]:
                    ok(client, f"/contacts/{contact_id}/")
                if hour in (2, 5):  # a client asks to be called on the full number
                    contact = Contact.objects.filter(owner=user, points__kind="phone").first()
                    point = contact.points.filter(kind="phone").first()
                    response = client.post(
                        f"/contacts/{contact.pk}/points/{point.pk}/reveal/",
                        {"reason": "Клиент просит перезвонить на этот номер"})
                    assert response.status_code == 200
                if hour == 4:  # a stale bookmark
                    ok(client, "/deals/999999/", status=404)
            for name in ("head_north", "head_south"):
                client, head = staff[name], demo[name]
                ok(client, "/deals/")
                ok(client, "/deals/board/")
                team_deals = list(Deal.objects.filter(team=head.team_id, status="open")
                                  .order_by("pk").values_list("pk", flat=True))
                for deal_id in team_deals[hour * 5:hour * 5 + 5]:
                    ok(client, f"/deals/{deal_id}/")
                if hour == 8:  # the evening report
                    response = client.post("/exports/", {"resource": "deals",
                                                         "format": "xlsx"})
                    assert response.status_code in (200, 302)
            for name, pages in (("marketer", 3), ("support", 12)):
                client = staff[name]
                ok(client, "/contacts/")
                contacts = list(Contact.objects.order_by("pk").values_list("pk", flat=True))
                for contact_id in contacts[hour * pages:(hour + 1) * pages]:
                    ok(client, f"/contacts/{contact_id}/")
                    day.later(0.2)
            ok(staff["director"], "/deals/")
            for deal_id in Deal.objects.order_by("-pk").values_list("pk", flat=True)[
                    hour * 2:hour * 2 + 2]:
                ok(staff["director"], f"/deals/{deal_id}/")
            if hour == 4:  # back from lunch: the privileged sign in again, same desks
                for i, name in enumerate(demo_data.USERNAMES):
                    staff[name] = sign_in(name, f"10.0.0.{i + 10}")
    finally:
        day.end()

    reads = AccessRecord.objects.exclude(action="not_found")
    assert reads.filter(action="view").count() > 300  # a real day's work was logged
    assert reads.filter(action="export").exists()
    assert reads.filter(action="reveal").count() == 8
    assert list(Alert.objects.values_list("rule", "user__username")) == []
