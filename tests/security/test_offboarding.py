"""Offboarding (security.offboarding): everything the leaver owns moves to the successor with
its history, their access ends on every surface, the report says what moved; validation,
scheduling, cancelling and the command."""

import dataclasses
import io
import logging

import pytest
from auditlog.models import LogEntry
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.asgi import application
from core import holdings
from crm import selectors, services, sharing
from crm.consumers import SESSION_ENDED
from crm.models import Deal, DealUserObjectPermission, Note, Task
from inbox.models import Channel, ChannelIdentity, Conversation, Message
from security import offboarding, roles
from security.audit import change_log
from security.models import Offboarding
from telephony.models import Call, Extension, PbxAccount
from tests.factories import make_contact, make_deal, make_user


class LeaverWorld:
    """What anna (a manager of the north team) owns on her last day."""

    def __init__(self, anna, ivan, head_north):
        self.contact = make_contact(anna, name="Пётр Смирнов", phones=["+79161234567"])
        self.company = services.company_create(by=anna, name="ООО «Ромашка»")
        self.deal = make_deal(anna, title="Поставка серверов", contact=self.contact)
        self.lost_deal = make_deal(anna, title="Старый тендер")
        services.deal_close(deal=self.lost_deal, by=anna, status="lost", loss_reason="Цена")
        self.open_task = services.task_create(by=anna, title="Выставить счёт", deal=self.deal)
        self.done_task = services.task_create(by=anna, title="Позвонить", deal=self.deal)
        services.task_complete(task=self.done_task, by=anna)
        # A task on a colleague's deal, given to anna by her head.
        self.ivan_deal = make_deal(ivan, title="Склад Ивана")
        self.task_elsewhere = services.task_create(by=head_north, title="Помочь Ивану",
                                                   deal=self.ivan_deal, assignee=anna)
        sharing.deal_share(deal=self.ivan_deal, user=anna, access="edit", by=ivan)
        self.note = services.note_add(by=anna, deal=self.deal, text="Бюджет утверждают в марте")
        self.conversation, self.message = _telegram_chat(self.deal, assignee=anna)
        self.account, self.extension, self.call = _pbx(self.deal, manager=anna)


def _telegram_chat(deal, *, assignee):
    channel = Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Telegram",
                                     team=deal.team, credentials="1:x",
                                     api_base_url="http://127.0.0.1:9")
    identity = ChannelIdentity.objects.create(channel=channel, external_id="555001",
                                              contact=deal.contact)
    conversation = Conversation.objects.create(channel=channel, identity=identity,
                                               contact=deal.contact, deal=deal,
                                               assignee=assignee, unread_count=1)
    message = Message.objects.create(conversation=conversation, channel=channel,
                                     direction=Message.Direction.INBOUND, status="received",
                                     text="Скидка 7% в силе, как обещали?")
    services.timeline_add(kind="message", deal=deal, source=message)
    return conversation, message


def _pbx(deal, *, manager):
    account = PbxAccount.objects.create(name="Mango", team=deal.team,
                                        api_base_url="http://127.0.0.1:9/vpbx/")
    extension = Extension.objects.create(account=account, extension="101", user=manager)
    call = Call.objects.create(account=account, entry_id="entry-1", direction="in",
                               client_number="+79161234567", deal=deal, contact=deal.contact,
                               manager=manager, state="ended", answered=True, talk_seconds=95)
    services.timeline_add(kind="call", deal=deal, source=call)
    return account, extension, call


@pytest.fixture
def world(anna, ivan, head_north):
    return LeaverWorld(anna, ivan, head_north)


def moved_ids(done, kind) -> list[int]:
    return done.report["moved"][kind]["ids"]


# --- Everything moves ------------------------------------------------------------------------


def test_everything_the_leaver_owns_moves_to_the_successor(world, anna, ivan, director):
    done = offboarding.offboard_user(anna, ivan, by=director)

    assert done.status == Offboarding.Status.DONE
    assert set(Deal.objects.filter(owner=ivan).values_list("pk", flat=True)) >= {
        world.deal.pk, world.lost_deal.pk}
    assert not Deal.objects.filter(owner=anna).exists()
    world.contact.refresh_from_db()
    world.company.refresh_from_db()
    assert world.contact.owner == ivan and world.company.owner == ivan
    world.open_task.refresh_from_db()
    world.task_elsewhere.refresh_from_db()
    world.done_task.refresh_from_db()
    assert world.open_task.assignee == ivan and world.task_elsewhere.assignee == ivan
    assert world.done_task.assignee == anna  # done tasks are history
    world.conversation.refresh_from_db()
    assert world.conversation.assignee == ivan and world.conversation.unread_count == 1
    world.extension.refresh_from_db()
    assert world.extension.user == ivan  # calls to 101 now reach ivan
    world.call.refresh_from_db()
    assert world.call.manager == anna  # who took the call stays true
    assert not DealUserObjectPermission.objects.filter(user=anna).exists()


def test_the_report_lists_what_moved_per_kind(world, anna, ivan, director):
    done = offboarding.offboard_user(anna, ivan, by=director)
    moved = done.report["moved"]
    assert moved["deals"] == {"count": 2, "ids": sorted([world.deal.pk, world.lost_deal.pk])}
    assert moved["contacts"] == {"count": 1, "ids": [world.contact.pk]}
    assert moved["companies"] == {"count": 1, "ids": [world.company.pk]}
    assert moved["tasks"] == {"count": 2,
                              "ids": sorted([world.open_task.pk, world.task_elsewhere.pk])}
    assert moved["conversations"] == {"count": 1, "ids": [world.conversation.pk]}
    assert moved["extensions"] == {"count": 1, "ids": [world.extension.pk]}
    assert moved["shares"] == {"count": 1, "ids": [world.ivan_deal.pk]}
    assert list(moved) == list(offboarding.kind_labels())
    assert done.report["tokens_revoked"] == 0 and done.by == director and done.done_at


def test_each_moved_deal_gets_a_handover_note_and_an_owner_change(world, anna, ivan, director):
    done = offboarding.offboard_user(anna, ivan, by=director)
    for deal in (world.deal, world.lost_deal):
        note = Note.objects.filter(deal=deal, author=director).get()
        assert "Anna" in note.text and "Ivan" in note.text
        kinds = list(deal.timeline.values_list("kind", flat=True)[:2])
        assert sorted(kinds) == ["note", "owner_changed"]
        change = deal.timeline.get(kind="owner_changed")
        assert change.payload["to"] == ivan.pk and change.payload["offboarding"] == done.pk


def test_every_moved_object_is_in_the_change_log(world, anna, ivan, director):
    done = offboarding.offboard_user(anna, ivan, by=director)
    for obj, field in ((world.deal, "owner"), (world.contact, "owner"),
                       (world.company, "owner"), (world.open_task, "assignee"),
                       (world.conversation, "assignee"), (world.extension, "user")):
        entry = LogEntry.objects.get_for_object(obj).filter(
            additional_data__offboarding=done.pk).get()
        assert entry.actor == director
        assert entry.changes[field] == [str(anna.pk), str(ivan.pk)]
    # The revoked share rows: deleted through the ORM, recorded by django-auditlog itself.
    assert LogEntry.objects.get_for_model(DealUserObjectPermission).filter(
        action=LogEntry.Action.DELETE).count() == 2
    # And every entry is sealed into the change log's chain, like any other.
    assert change_log.verify()[1] == []


def test_the_successor_sees_the_whole_history_at_once(world, anna, ivan, director):
    offboarding.offboard_user(anna, ivan, by=director)
    client = Client()
    client.force_login(ivan)
    card = client.get(f"/deals/{world.deal.pk}/")
    assert card.status_code == 200
    html = card.content.decode()
    assert "Бюджет утверждают в марте" in html  # anna's note
    assert "Скидка 7% в силе, как обещали?" in html  # the client's message, before she left
    assert f'data-call-id="{world.call.pk}"' in html  # the call she took
    api = APIClient()
    api.force_authenticate(ivan)
    kinds = {e["kind"] for e in api.get(f"/api/v1/deals/{world.deal.pk}/timeline/").json()[
        "results"]}
    assert {"message", "call", "note", "deal_created", "owner_changed"} <= kinds
    assert selectors.contacts_visible_to(ivan).filter(pk=world.contact.pk).exists()
    conversations = api.get(f"/api/v1/conversations/{world.conversation.pk}/")
    assert conversations.status_code == 200


def test_a_successor_in_another_team_takes_the_deals_into_their_team(
    world, anna, olga, head_north, director
):
    south_head = make_user("head_south", roles.SALES_HEAD, olga.team)
    olga.team.head = south_head
    olga.team.save()
    offboarding.offboard_user(anna, olga, by=director)
    world.deal.refresh_from_db()
    world.contact.refresh_from_db()
    assert world.deal.team == olga.team and world.contact.team == olga.team
    south_head = type(south_head).objects.get(pk=south_head.pk)
    assert selectors.deals_visible_to(olga).filter(pk=world.deal.pk).exists()
    assert selectors.deals_visible_to(south_head).filter(pk=world.deal.pk).exists()
    # The north head no longer answers for it.
    assert not selectors.deals_visible_to(head_north).filter(pk=world.deal.pk).exists()


def test_a_failure_in_any_handover_changes_nothing(world, anna, ivan, director, monkeypatch):
    def broken(handover):
        if not handover.dry_run:
            raise RuntimeError("PBX table locked")
        return {"extensions": []}

    telephony = holdings._DECLARED["telephony"]
    monkeypatch.setitem(holdings._DECLARED, "telephony",
                        dataclasses.replace(telephony, handover=broken))
    with pytest.raises(RuntimeError):
        offboarding.offboard_user(anna, ivan, by=director)
    anna.refresh_from_db()
    assert anna.is_active
    assert Deal.objects.filter(owner=anna).count() == 2
    assert not Offboarding.objects.exists()


# --- Access ends on every surface ------------------------------------------------------------


def test_after_offboarding_session_and_token_are_refused_and_logged(
    world, anna, ivan, director, caplog
):
    page = Client()
    page.force_login(anna)
    api_session = APIClient()
    api_session.force_login(anna)
    token = Token.objects.create(user=anna)
    api_token = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert page.get(f"/deals/{world.deal.pk}/").status_code == 200
    assert api_token.get("/api/v1/deals/").status_code == 200

    done = offboarding.offboard_user(anna, ivan, by=director)
    assert done.report["sessions_ended"] == 2 and done.report["tokens_revoked"] == 1

    with caplog.at_level(logging.WARNING, logger="security.access"):
        html = page.get(f"/deals/{world.deal.pk}/")
        by_session = api_session.get("/api/v1/deals/")
        by_token = api_token.get(f"/api/v1/deals/{world.deal.pk}/")
    assert html.status_code == 302 and html["Location"].startswith("/login/")
    assert by_session.status_code == 401
    assert by_token.status_code == 401
    logged = [(r.user_id, r.credential, r.surface) for r in caplog.records
              if r.name == "security.access"]
    assert logged == [(anna.pk, "session", "html"), (anna.pk, "session", "api"),
                      (anna.pk, "token", "api")]
    # And her password no longer opens anything.
    response = Client().post("/login/", {"username": "anna", "password": "pw"})
    assert response.status_code == 200  # the form again, with an error


@database_sync_to_async
def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.mark.django_db(transaction=True)
async def test_offboarding_closes_the_leavers_live_websocket(anna, ivan, director, anna_deal):
    communicator = WebsocketCommunicator(application, "/ws/", headers=[
        (b"origin", b"http://localhost"), (b"host", b"localhost"),
        (b"cookie", f"sessionid={await _session_cookie(anna)}".encode()),
    ])
    connected, _code = await communicator.connect()
    assert connected
    await communicator.send_json_to({"subscribe": "deal", "id": anna_deal.pk})
    assert (await communicator.receive_json_from())["subscribed"] == "deal"

    await database_sync_to_async(offboarding.offboard_user)(anna, ivan, by=director)
    # Deal events of the handover may come first; the close follows within a second.
    while True:
        output = await communicator.receive_output(timeout=1)
        if output["type"] == "websocket.close":
            break
    assert output["code"] == SESSION_ENDED


# --- Validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["self", "inactive", "marketer", "no_role", "leaver_is_by"])
def test_the_successor_and_the_leaver_are_checked(case, anna, ivan, director, marketer):
    successor, by = ivan, director
    if case == "self":
        successor = anna
    elif case == "inactive":
        ivan.is_active = False
        ivan.save()
    elif case == "marketer":
        successor = marketer
    elif case == "no_role":
        successor = make_user("nobody", roles.MANAGER)
        successor.groups.clear()
        successor = type(successor).objects.get(pk=successor.pk)
    elif case == "leaver_is_by":
        anna, by = director, director
    with pytest.raises(ValidationError) as error:
        offboarding.offboard_user(anna, successor, by=by)
    assert set(error.value.message_dict) <= {"successor", "user"}
    assert not Offboarding.objects.filter(status="done").exists()


def test_a_sales_head_or_an_admin_may_take_over(anna, head_north, director):
    assert offboarding.offboard_user(anna, head_north, by=director).status == "done"


def test_only_an_admin_offboards(anna, ivan, head_north, security_officer):
    for by in (head_north, security_officer, anna):
        with pytest.raises(PermissionDenied):
            offboarding.offboard_user(anna, ivan, by=by)


def test_nobody_is_offboarded_twice(anna, ivan, head_north, director):
    offboarding.offboard_user(anna, ivan, by=director)
    with pytest.raises(ValidationError) as error:
        offboarding.offboard_user(anna, head_north, by=director)
    assert "user" in error.value.message_dict


def test_a_successor_who_is_leaving_too_is_refused(anna, ivan, head_north, director):
    offboarding.offboard_user(ivan, head_north, by=director,
                              at=timezone.now() + timezone.timedelta(days=1))
    with pytest.raises(ValidationError) as error:
        offboarding.offboard_user(anna, ivan, by=director)
    assert "successor" in error.value.message_dict
    assert ivan not in offboarding.successor_candidates(user=anna)


# --- Scheduled -------------------------------------------------------------------------------


def test_a_scheduled_offboarding_runs_at_its_time_and_not_before(world, anna, ivan, director):
    last_day = timezone.now() + timezone.timedelta(hours=3)
    scheduled = offboarding.offboard_user(anna, ivan, by=director, at=last_day)
    assert scheduled.status == Offboarding.Status.SCHEDULED
    assert scheduled.report["moved"]["deals"]["count"] == 2  # what would move
    anna.refresh_from_db()
    assert anna.is_active  # she works until then

    assert offboarding.offboardings_run_due(now=last_day - timezone.timedelta(minutes=1)) == []
    assert Deal.objects.filter(owner=anna).count() == 2

    [done] = offboarding.offboardings_run_due(now=last_day)
    assert done.pk == scheduled.pk and done.status == Offboarding.Status.DONE
    assert not Deal.objects.filter(owner=anna).exists()
    anna.refresh_from_db()
    assert not anna.is_active
    assert offboarding.offboardings_run_due(now=last_day) == []  # once


def test_the_periodic_job_runs_due_offboardings(anna, ivan, director, settings):
    from security.tasks import run_due_offboardings

    assert settings.CELERY_BEAT_SCHEDULE["run-due-offboardings"]["task"] == (
        "security.run_due_offboardings")
    scheduled = offboarding.offboard_user(anna, ivan, by=director,
                                          at=timezone.now() + timezone.timedelta(seconds=60))
    assert run_due_offboardings.apply().get() == 0
    Offboarding.objects.filter(pk=scheduled.pk).update(
        scheduled_for=timezone.now() - timezone.timedelta(seconds=1))
    assert run_due_offboardings.apply().get() == 1
    scheduled.refresh_from_db()
    assert scheduled.status == Offboarding.Status.DONE


def test_a_cancelled_offboarding_never_runs(world, anna, ivan, director):
    last_day = timezone.now() + timezone.timedelta(hours=3)
    scheduled = offboarding.offboard_user(anna, ivan, by=director, at=last_day)
    offboarding.offboarding_cancel(scheduled, by=director)
    assert offboarding.offboardings_run_due(now=last_day + timezone.timedelta(hours=1)) == []
    scheduled.refresh_from_db()
    assert scheduled.status == Offboarding.Status.CANCELLED and scheduled.cancelled_by == director
    assert Deal.objects.filter(owner=anna).count() == 2
    with pytest.raises(ValidationError):
        offboarding.offboarding_cancel(scheduled, by=director)
    # And a new one may be scheduled.
    assert offboarding.offboard_user(anna, ivan, by=director, at=last_day).status == "scheduled"


def test_a_scheduled_offboarding_whose_successor_left_fails_and_changes_nothing(
    world, anna, ivan, director
):
    last_day = timezone.now() + timezone.timedelta(hours=3)
    scheduled = offboarding.offboard_user(anna, ivan, by=director, at=last_day)
    type(ivan).objects.filter(pk=ivan.pk).update(is_active=False)
    assert offboarding.offboardings_run_due(now=last_day) == []
    scheduled.refresh_from_db()
    assert scheduled.status == Offboarding.Status.FAILED and scheduled.error
    anna.refresh_from_db()
    assert anna.is_active and Deal.objects.filter(owner=anna).count() == 2


def test_the_time_must_be_in_the_future_and_one_schedule_at_a_time(anna, ivan, director):
    with pytest.raises(ValidationError) as error:
        offboarding.offboard_user(anna, ivan, by=director,
                                  at=timezone.now() - timezone.timedelta(minutes=1))
    assert "at" in error.value.message_dict
    at = timezone.now() + timezone.timedelta(days=2)
    offboarding.offboard_user(anna, ivan, by=director, at=at)
    with pytest.raises(ValidationError) as error:
        offboarding.offboard_user(anna, ivan, by=director, at=at)
    assert "user" in error.value.message_dict


def test_offboarding_now_someone_scheduled_runs_that_offboarding(anna, ivan, head_north,
                                                                 director):
    scheduled = offboarding.offboard_user(anna, ivan, by=director,
                                          at=timezone.now() + timezone.timedelta(days=2))
    done = offboarding.offboard_user(anna, head_north, by=director)
    assert done.pk == scheduled.pk and done.successor == head_north
    assert done.status == Offboarding.Status.DONE
    assert Offboarding.objects.count() == 1


# --- The command -----------------------------------------------------------------------------


def run(*args) -> str:
    out = io.StringIO()
    call_command("offboard", *args, stdout=out)
    return out.getvalue()


def test_the_command_dry_run_changes_nothing(world, anna, ivan):
    out = run("anna", "--to", "ivan", "--dry-run")
    assert "deals: 2" in out and f"extensions: 1 ({world.extension.pk})" in out
    assert Deal.objects.filter(owner=anna).count() == 2
    assert not Offboarding.objects.exists()


def test_the_command_offboards_and_prints_the_report(world, anna, ivan):
    Token.objects.create(user=anna)
    out = run("anna", "--to", "ivan")
    done = Offboarding.objects.get()
    assert done.status == "done" and done.by is None
    assert f"Offboarding #{done.pk}" in out
    assert f"deals: 2 ({world.deal.pk}, {world.lost_deal.pk})" in out
    assert "API tokens revoked: 1" in out
    assert not Deal.objects.filter(owner=anna).exists()


def test_the_command_schedules_and_cancels(anna, ivan):
    at = (timezone.now() + timezone.timedelta(days=1)).isoformat()
    assert "is scheduled for" in run("anna", "--to", "ivan", "--at", at)
    assert Offboarding.objects.get().status == "scheduled"
    assert "Cancelled" in run("anna", "--cancel")
    assert Offboarding.objects.get().status == "cancelled"


def test_the_command_explains_what_is_wrong(anna, marketer):
    with pytest.raises(CommandError, match="no user"):
        run("anna", "--to", "nobody")
    with pytest.raises(CommandError, match="менеджер"):  # the services speak Russian
        run("anna", "--to", "marketer")
    with pytest.raises(CommandError, match="ISO"):
        run("anna", "--to", "marketer", "--at", "tomorrow")


def test_tasks_of_the_successors_deal_keep_their_place(world, anna, ivan, director):
    """A moved task keeps its deal and contact: only the assignee changes."""
    offboarding.offboard_user(anna, ivan, by=director)
    task = Task.objects.get(pk=world.task_elsewhere.pk)
    assert task.deal == world.ivan_deal
