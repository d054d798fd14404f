import io
import json
import time
from datetime import timedelta

import phonenumbers
import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from consents.models import ConsentState, Purpose
from crm.management import demo_data
from crm.models import Company, Contact, ContactPoint, Deal, Note, Task, TimelineEntry
from security import roles
from security.models import Team, User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def debug_on(settings):
    # pytest-django runs with DEBUG off; the demo is for DEBUG (embedded) databases.
    settings.DEBUG = True


# Seeding takes a few seconds on PostgreSQL, so no test seeds more than twice.
def seed(*args) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = (User, Team, Company, Contact, ContactPoint, Deal, Task, Note, TimelineEntry)
    return {model.__name__: model.objects.count() for model in models}


def assert_documented_staff():
    for username, role, team, first, last in demo_data.STAFF:
        user = User.objects.get(username=username)
        assert user.role == role, username
        assert (user.team.name if user.team else None) == team, username
        assert (user.first_name, user.last_name) == (first, last)
    director = User.objects.get(username="director")
    assert director.is_staff and director.is_superuser
    assert User.objects.get(username="security").groups.get().name == roles.SECURITY_OFFICER
    assert Team.objects.get(name="north").head.username == "head_north"
    assert Team.objects.get(name="south").head.username == "head_south"


def assert_documented_data():
    assert Company.objects.count() == 120
    assert Contact.objects.count() == 300
    assert Deal.objects.count() == 150
    assert Task.objects.count() > 150 and Note.objects.count() > 150

    managers = set(User.objects.filter(groups__name=roles.MANAGER).values_list("pk", flat=True))
    assert set(Deal.objects.values_list("owner", flat=True)) == managers
    assert not Deal.objects.exclude(contact__owner=F("owner")).exists()
    assert not Deal.objects.exclude(team=F("owner__team")).exists()

    assert set(Deal.objects.values_list("status", flat=True)) == {"open", "won", "lost"}
    assert not Deal.objects.filter(status="lost", loss_reason="").exists()
    stages = set(Deal.objects.values_list("pipeline__stages", flat=True))
    assert set(Deal.objects.filter(status="open").values_list("stage", flat=True)) == stages

    now = timezone.now()
    assert Task.objects.filter(done=True).exists()
    assert Task.objects.filter(done=False, due_at__lt=now).exists()  # overdue
    assert Task.objects.filter(done=False, due_at__gt=now).exists()
    assert TimelineEntry.objects.filter(occurred_at__lt=now - timedelta(days=30)).exists()
    # 90 days of history: every week of the quarter the team page charts has work in it.
    weeks = {(now - at).days // 7 for at in TimelineEntry.objects.filter(
        occurred_at__gte=now - timedelta(days=91)).values_list("occurred_at", flat=True)}
    assert weeks == set(range(13)), sorted(weeks)
    assert not TimelineEntry.objects.filter(occurred_at__lt=now - timedelta(days=91)).exists()
    assert not TimelineEntry.objects.filter(occurred_at__gt=now).exists()

    for value in ContactPoint.objects.filter(kind="phone").values_list("value", flat=True):
        assert value.startswith("+79")
        assert phonenumbers.is_valid_number(phonenumbers.parse(value))
    assert all(len(inn) == 10 and inn.isdigit()
               for inn in Company.objects.values_list("inn", flat=True))


def assert_documented_pbx():
    from telephony.demo import describe
    from telephony.models import Extension, PbxAccount

    described = describe()["pbx"]
    account = PbxAccount.objects.get()
    assert account.team.name == "north" and account.api_key == described["vpbx_api_key"]
    assert account.api_salt == described["vpbx_api_salt"]
    assert described["webhook_base"].endswith(f"/hooks/mango/{account.uuid}/")
    assert dict(Extension.objects.values_list("user__username", "extension")) == \
        described["extensions"]
    assert account.lines.get(team__name="north").number == "+74951234567"


def test_it_creates_the_documented_users_teams_data_and_consents(client):
    seed()
    assert_documented_staff()
    assert_documented_data()
    assert_documented_pbx()
    for username in demo_data.USERNAMES:
        # Through the login form, as people log in (the brute-force guard wants the request).
        response = client.post("/login/", {"username": username, "password": "demo"})
        assert response.status_code == 302, username
        client.logout()
    # The consents' purposes, their texts, and some clients' consents (the same seed: each
    # costs seconds on PostgreSQL).
    assert set(Purpose.objects.values_list("code", flat=True)) == {
        "newsletter", "service_notifications", "contract"}
    assert Purpose.objects.get(code="newsletter").current_text().text.startswith("Я согласен")
    states = ConsentState.objects.filter(purpose__code="newsletter")
    assert states.filter(granted=True).exists() and states.filter(granted=False).exists()
    assert ConsentState.objects.values("contact").distinct().count() < Contact.objects.count()


def test_it_builds_the_same_data_each_run_and_a_second_run_changes_nothing():
    def fingerprint():
        return (
            sorted(Company.objects.values_list("name", "inn")),
            sorted(Contact.objects.values_list("name", "company__name", "owner__username")),
            sorted(ContactPoint.objects.values_list("contact__name", "value")),
            sorted(Deal.objects.values_list("title", "amount", "status", "stage__name")),
            sorted(ConsentState.objects.values_list("contact__name", "purpose__code",
                                                    "granted")),
        )

    with transaction.atomic():
        seed()
        first = fingerprint()
        transaction.set_rollback(True)
    seed()
    assert fingerprint() == first
    before = counts()

    assert "already" in seed()
    started = time.monotonic()
    assert "already" in seed("--if-empty")
    assert time.monotonic() - started < 1
    assert counts() == before


def test_it_refuses_a_database_with_other_data(anna):
    with pytest.raises(CommandError, match="not the demo.*--force"):
        seed()
    assert not Deal.objects.exists()
    assert not User.objects.filter(username="director").exists()


def test_it_refuses_with_debug_off_unless_forced(settings, anna):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        seed()
    assert not Deal.objects.exists()

    seed("--force")  # also beside other data: the existing demo username joins the demo
    assert Deal.objects.count() == 150
    anna.refresh_from_db()
    assert anna.check_password("demo")


def test_if_empty_skips_instead_of_failing(settings, anna):
    assert "other data" in seed("--if-empty")
    settings.DEBUG = False
    assert "DEBUG is off" in seed("--if-empty")
    assert not Deal.objects.exists()


def test_json_describes_the_demo_and_changes_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        described = json.loads(seed("--json"))

    assert {u["username"] for u in described["users"]} == set(demo_data.USERNAMES)
    assert {u["password"] for u in described["users"]} == {"demo"}
    director = next(u for u in described["users"] if u["username"] == "director")
    assert director["role"] == roles.ADMIN and director["team"] is None
    assert {t["name"] for t in described["teams"]} == {"north", "south"}
    assert described["url"].startswith("http://")
    telegram, site, whatsapp, max_, vk, mail = described["channels"]
    assert mail["kind"] == "email" and mail["name"] and "@" in mail["address"]
    assert telegram["kind"] == "telegram" and telegram["secret"]
    # What each provider itself holds to sign or authenticate its calls.
    assert whatsapp["kind"] == "whatsapp" and whatsapp["app_secret"] and whatsapp["verify_token"]
    assert max_["kind"] == "max" and max_["secret"]
    assert vk["kind"] == "vk" and vk["secret"] and vk["confirmation_code"]
    for channel in (whatsapp, max_, vk):
        assert channel["name"]
        assert channel["webhook_url"].startswith(f"{described['url']}hooks/{channel['kind']}/")
    assert telegram["webhook_url"].startswith(described["url"] + "hooks/telegram/")
    assert site["kind"] == "website" and site["public_key"]
    assert site["webhook_url"] == f"{described['url']}widget/{site['public_key']}/messages/"
    pbx = described["pbx"]
    assert pbx["webhook_base"].startswith(described["url"] + "hooks/mango/")
    assert pbx["webhook_base"].endswith("/")
    assert pbx["vpbx_api_key"] and pbx["vpbx_api_salt"]
    assert pbx["vpbx_api_key"] != pbx["vpbx_api_salt"]
    assert pbx["extensions"]["anna"] == "101" and pbx["extensions"]["head_north"] == "100"
    managers = {u["username"] for u in described["users"] if u["role"] == roles.MANAGER}
    assert managers <= set(pbx["extensions"])
    assert not User.objects.exists()
