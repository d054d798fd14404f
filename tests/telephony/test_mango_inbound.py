"""Inbound Mango: the webhook (sign, size, dedupe), the parser, and calls landing on deals."""

import json
from datetime import datetime
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from core.webhooks import Delivery
from crm.models import Contact, ContactPoint, Deal, Task, TimelineEntry
from telephony import services
from telephony.models import Call, CallbackCommand, CallEvent, PbxAccount, PbxLine
from telephony.providers.base import (
    CallbackResult,
    CallLegEvent,
    CallSummary,
    RecordingReady,
    provider_for,
)
from telephony.providers.mango import PATH_KINDS, MangoProvider, normalize_number
from telephony.tasks import sweep_events
from tests.factories import make_deal
from tests.telephony import mango_events as mango
from tests.telephony.mango_events import (
    FIXTURES,
    KNOWN_CLIENT,
    LINE_NORTH,
    LINE_SOUTH,
    NEW_CLIENT,
    T0,
    incoming,
    play,
    post,
    post_payload,
    scenario,
    signed,
)

pytestmark = pytest.mark.django_db
MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.fixture
def account(pbx_account, pbx_extensions):
    return pbx_account


@pytest.fixture(autouse=True)
def handed_over():
    """What goes to the other half of telephony (the recording's download, a click-to-call's
    result), caught here: these tests check that it is handed over, not what it does."""
    with mock.patch("telephony.recordings.recording_ready") as recording_ready, \
            mock.patch("telephony.click_to_call.callback_result") as callback_result:
        yield {"recording_ready": recording_ready, "callback_result": callback_result}


def first_call_event() -> dict:
    return scenario("answered_incoming")[0]


def the_call() -> Call:
    return Call.objects.select_related("manager", "deal", "contact").get()


# --- The webhook -----------------------------------------------------------------------------


class TestWebhook:
    @pytest.mark.parametrize("how", ["no sign", "wrong sign", "wrong key", "another json's sign",
                                     "sign in capitals of another"])
    def test_a_missing_or_wrong_sign_is_refused_logged_and_nothing_stored(self, account, how,
                                                                          caplog):
        request = first_call_event()
        kwargs = {
            "no sign": {"signature": ""},
            "wrong sign": {"signature": "0" * 64},
            "wrong key": {"key": "someone-else", "signature": mango.sign(
                request["json"], key="someone-else")},
            "another json's sign": {"signature": scenario("answered_incoming")[1]["sign"]},
            "sign in capitals of another": {"signature": request["sign"][:-1].upper() + "0"},
        }[how]
        response = post(account, request["path"], request["json"], **kwargs)
        assert response.status_code == 403
        assert not CallEvent.objects.exists() and not Call.objects.exists()
        assert "wrong or missing signature" in caplog.text

    def test_the_sign_is_checked_over_the_raw_json(self, account):
        request = first_call_event()
        reformatted = json.dumps(json.loads(request["json"]), indent=1)
        assert post(account, "events/call", reformatted,
                    signature=request["sign"]).status_code == 403

    def test_an_account_without_its_key_or_salt_accepts_nothing(self, account):
        request = first_call_event()
        account.api_salt = ""
        account.save()
        assert post(account, request["path"], request["json"],
                    signature=request["sign"]).status_code == 403
        assert not CallEvent.objects.exists()

    def test_unknown_and_inactive_accounts_are_not_found(self, account):
        request = first_call_event()
        stranger = PbxAccount(name="x", team=account.team)
        assert post(stranger, request["path"], request["json"]).status_code == 404
        account.is_active = False
        account.save()
        assert post(account, request["path"], request["json"]).status_code == 404
        assert not CallEvent.objects.exists()

    @pytest.mark.parametrize("path", ["", "events/", "events/unknown", "events/call/x",
                                      "events/record", "result/callbacks", "commands/callback"])
    def test_unknown_paths_under_the_account_are_not_found(self, account, path):
        request = first_call_event()
        assert post(account, path, request["json"]).status_code == 404
        assert not CallEvent.objects.exists()

    def test_a_trailing_slash_is_forgiven(self, account):
        request = first_call_event()
        assert post(account, "events/call/", request["json"]).status_code == 200
        assert CallEvent.objects.count() == 1

    def test_it_accepts_post_only(self, account):
        assert Client().get(mango.url(account, "events/call")).status_code == 405

    @pytest.mark.parametrize("path, text", [
        ("events/call", "{not json"),
        ("events/call", "[1, 2]"),
        ("events/call", '{"entry_id": "e", "call_id": "c"}'),  # no seq
        ("events/call", '{"entry_id": "e", "call_id": "c", "seq": "first"}'),
        ("events/summary", '{"call_direction": 1}'),
        ("events/record/added", '{"entry_id": "e"}'),
        ("result/callback", '{"result": 1000}'),
    ])
    def test_it_refuses_malformed_events(self, account, path, text, caplog):
        assert post(account, path, text).status_code == 400
        assert not CallEvent.objects.exists()
        assert "malformed delivery" in caplog.text

    def test_it_refuses_a_huge_body(self, account):
        _path, payload = incoming(entry_id="e1", number=KNOWN_CLIENT, line=LINE_NORTH,
                                  extension="101", at=T0, answered=False)[0]
        payload["padding"] = "x" * 70_000
        assert post_payload(account, "events/call", payload).status_code == 413
        assert not CallEvent.objects.exists()

    def test_it_stores_the_raw_event_answers_200_and_processes_it(self, account):
        request = first_call_event()
        response = post(account, request["path"], request["json"], signature=request["sign"])
        assert response.status_code == 200 and response.content == b""
        event = CallEvent.objects.get()
        payload = json.loads(request["json"])
        assert event.kind == "call"
        assert event.dedupe_key == f"{payload['call_id']}:1"
        assert event.payload == request["json"]  # exactly as received
        assert event.status == CallEvent.Status.PROCESSED
        assert event.attempts == 1 and event.processed_at is not None
        assert the_call().state == Call.State.RINGING

    def test_it_answers_before_processing(self, account):
        request = first_call_event()
        with mock.patch("telephony.tasks.process_event.delay") as delay:
            assert post(account, request["path"], request["json"]).status_code == 200
        delay.assert_called_once_with(CallEvent.objects.get().pk)
        assert not Call.objects.exists()

    def test_a_repeated_delivery_answers_200_and_creates_nothing(self, account, anna_deal):
        requests = scenario("answered_incoming")
        assert set(play(account, requests)) == {200}
        counts = (CallEvent.objects.count(), Call.objects.count(), TimelineEntry.objects.count(),
                  Task.objects.count(), Contact.objects.count(), Deal.objects.count())
        with mock.patch("telephony.tasks.process_event.delay") as delay:
            assert set(play(account, requests)) == {200}
        delay.assert_not_called()
        assert (CallEvent.objects.count(), Call.objects.count(), TimelineEntry.objects.count(),
                Task.objects.count(), Contact.objects.count(), Deal.objects.count()) == counts
        assert CallEvent.objects.count() == len(requests)

    def test_a_failure_is_recorded_on_the_event_and_retried(self, account, director):
        request = first_call_event()
        with mock.patch("telephony.services._leg_apply", side_effect=RuntimeError("boom")):
            assert post(account, request["path"], request["json"]).status_code == 200
        event = CallEvent.objects.get()
        assert event.status == CallEvent.Status.FAILED and "boom" in event.error
        assert event.attempts == 1 and not Call.objects.exists()

        client = Client()
        client.force_login(director)
        with TestCaseCallbacks():
            response = client.post(reverse("admin:telephony_callevent_changelist"),
                                   {"action": "retry", "_selected_action": [event.pk]})
        assert response.status_code == 302
        event.refresh_from_db()
        assert event.status == CallEvent.Status.PROCESSED and event.attempts == 2
        assert Call.objects.count() == 1

    def test_the_sweeper_queues_events_left_waiting(self, account):
        request = first_call_event()
        post(account, request["path"], request["json"], on_commit=False)  # the broker was down
        event = CallEvent.objects.get()
        CallEvent.objects.filter(pk=event.pk).update(received_at=event.received_at.replace(
            year=event.received_at.year - 1))
        with TestCaseCallbacks():
            assert sweep_events() == 1
        event.refresh_from_db()
        assert event.status == CallEvent.Status.PROCESSED

    def test_events_recording_is_kept_and_ignored(self, account):
        path, payload = "events/recording", {"recording_id": "r1", "recording_state": "Started",
                                             "entry_id": "e1"}
        assert post_payload(account, path, payload).status_code == 200
        event = CallEvent.objects.get()
        assert (event.kind, event.dedupe_key, event.status) == (
            "recording", "r1:Started", CallEvent.Status.IGNORED)


class TestCaseCallbacks:
    """Run the callbacks queued for after commit inside the test's transaction."""

    def __enter__(self):
        from django.test import TestCase

        self._context = TestCase.captureOnCommitCallbacks(execute=True)
        return self._context.__enter__()

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)


# --- The provider ----------------------------------------------------------------------------


def test_every_fixture_is_used_and_every_path_has_an_event():
    files = {path.stem for path in FIXTURES.glob("*.json")}
    assert files == set(mango.SCENARIOS), "fixtures and SCENARIOS differ: regenerate them"
    paths = {request["path"] for name in files for request in scenario(name)}
    assert paths == set(PATH_KINDS)


@pytest.mark.parametrize("name", sorted(mango.SCENARIOS))
def test_every_fixture_is_signed_as_mango_signs_and_parses(name, account):
    provider = provider_for(account)
    assert scenario(name) == signed(mango.SCENARIOS[name]())  # up to date
    for request in scenario(name):
        form = {"vpbx_api_key": mango.API_KEY, "sign": request["sign"], "json": request["json"]}
        assert provider.verify(delivered(form, request["path"]))
        kind = PATH_KINDS[request["path"]]
        payload = json.loads(request["json"])
        assert provider.dedupe_key(kind, payload)
        parsed = provider.parse(kind, payload)
        assert len(parsed) == (0 if kind == "recording" else 1)


def test_parse_normalizes_numbers_times_and_states(account):
    provider = MangoProvider(account)
    [leg] = provider.parse("call", json.loads(scenario("answered_incoming")[1]["json"]))
    assert isinstance(leg, CallLegEvent)
    assert (leg.state, leg.seq) == ("connected", 2)
    assert leg.caller.number == "+79161234567" and leg.caller.extension == ""
    assert leg.callee.extension == "101" and leg.line_number == LINE_NORTH
    assert leg.at == datetime(2026, 11, 23, 10, 0, 8, tzinfo=MOSCOW)

    summary = next(r for r in scenario("answered_incoming") if r["path"] == "events/summary")
    [parsed] = provider.parse("summary", json.loads(summary["json"]))
    assert isinstance(parsed, CallSummary)
    assert (parsed.direction, parsed.talk_seconds) == ("in", 125)
    assert parsed.answered_at == datetime(2026, 11, 23, 10, 0, 8, tzinfo=MOSCOW)

    missed = next(r for r in scenario("missed_incoming") if r["path"] == "events/summary")
    [parsed] = provider.parse("summary", json.loads(missed["json"]))
    assert parsed.answered_at is None and parsed.talk_seconds == 0

    [result] = provider.parse("callback", {"command_id": "c1", "result": 1000})
    assert result == CallbackResult(command_id="c1", ok=True, code="1000")
    [result] = provider.parse("callback", {"command_id": "c1", "result": 3102})
    assert not result.ok
    [ready] = provider.parse("record_added", {"entry_id": "e", "recording_id": "r"})
    assert ready == RecordingReady(entry_id="e", recording_id="r")
    assert provider.parse("call", {"entry_id": "e", "call_id": "c", "seq": 1,
                                   "call_state": "Teleported"}) == []


@pytest.mark.parametrize("raw, expected", [
    ("74951234567", "+74951234567"),
    ("+7 (916) 123-45-67", "+79161234567"),
    ("89161234567", "+79161234567"),
    ("sip:anna@vpbx.mangosip.ru", "sip:anna@vpbx.mangosip.ru"),
    ("", ""),
    (None, ""),
])
def test_numbers_are_normalized_to_e164(raw, expected):
    assert normalize_number(raw) == expected


def delivered(form: dict, path: str = "events/call") -> Delivery:
    return Delivery(headers={}, body=b"", form=form, path=path)


def test_verify_needs_both_the_key_and_the_sign(account):
    provider = MangoProvider(account)
    text = '{"a":1}'
    signed = mango.sign(text)
    assert provider.verify(delivered({"vpbx_api_key": mango.API_KEY, "sign": signed,
                                      "json": text}))
    assert not provider.verify(delivered({"vpbx_api_key": "x", "sign": signed, "json": text}))
    assert not provider.verify(delivered({"vpbx_api_key": mango.API_KEY, "sign": signed}))
    account.api_key = ""
    assert not MangoProvider(account).verify(delivered({
        "vpbx_api_key": "", "sign": mango.sign(text, key=""), "json": text}))


# --- Calls on deals --------------------------------------------------------------------------


class TestAnsweredIncoming:
    def test_a_known_number_lands_in_the_clients_open_deal_with_the_manager_by_extension(
            self, account, anna, anna_deal, anna_contact, handed_over):
        assert set(play(account, scenario("answered_incoming"))) == {200}
        call = the_call()
        assert (call.direction, call.state, call.answered, call.summarized) == (
            "in", "ended", True, True)
        assert call.talk_seconds == 125 and call.disconnect_reason == "1110"
        assert call.started_at == datetime(2026, 11, 23, 10, 0, tzinfo=MOSCOW)
        assert call.answered_at == datetime(2026, 11, 23, 10, 0, 8, tzinfo=MOSCOW)
        assert (call.extension, call.manager, call.deal, call.contact) == (
            "101", anna, anna_deal, anna_contact)
        assert call.client_number == "+79161234567" and call.line_number == LINE_NORTH
        assert call.leg_seqs == {"MToxMDAwMTIzNDo1MDE6MTAx-leg1": 3}
        entry = anna_deal.timeline.get(kind="call")
        assert entry.source == call and entry.occurred_at == call.started_at
        assert Deal.objects.count() == 1 and Contact.objects.count() == 1
        assert not Task.objects.filter(deal=anna_deal, title__icontains="клиенту").exists()
        # The recording is the other half's: handed over with the account.
        handed_over["recording_ready"].assert_called_once_with(
            account=account, event=RecordingReady(entry_id=call.entry_id,
                                                  recording_id="MToxMDAwMTIzNDo1MDE6cmVj"))
        statuses = dict(CallEvent.objects.values_list("kind", "status"))
        assert statuses["recording"] == CallEvent.Status.IGNORED
        assert statuses["record_added"] == CallEvent.Status.PROCESSED

    def test_the_newest_open_deal_of_the_client_takes_the_call(self, account, anna,
                                                               anna_deal, anna_contact):
        closed = make_deal(anna, title="Старая", contact=anna_contact)
        Deal.objects.filter(pk=closed.pk).update(status=Deal.Status.WON)
        newer = make_deal(anna, title="Новая", contact=anna_contact)
        play(account, scenario("answered_incoming"))
        assert the_call().deal == newer

    def test_a_client_whose_deals_are_closed_gets_a_new_deal_with_their_owner(
            self, account, anna, ivan, anna_deal, anna_contact):
        Deal.objects.filter(pk=anna_deal.pk).update(status=Deal.Status.LOST, loss_reason="x")
        play(account, scenario("transfer"))  # ivan answers last: the contact stays anna's
        call = the_call()
        assert call.deal != anna_deal and call.deal.contact == anna_contact
        assert call.deal.owner == anna and call.deal.status == Deal.Status.OPEN
        assert call.manager == ivan

    @pytest.mark.parametrize("order", ["disconnected before connected", "summary first",
                                       "reversed", "legs after the summary"])
    def test_out_of_order_events_end_in_the_right_state(self, account, anna, anna_deal, order):
        requests = [r for r in scenario("answered_incoming")
                    if r["path"] in ("events/call", "events/summary")]
        appeared, connected, disconnected, summary = requests
        play(account, {
            "disconnected before connected": [appeared, disconnected, connected, summary],
            "summary first": [summary, appeared, connected, disconnected],
            "reversed": [summary, disconnected, connected, appeared],
            "legs after the summary": [summary, disconnected, appeared, connected],
        }[order])
        call = the_call()
        assert (call.state, call.answered, call.talk_seconds, call.summarized) == (
            "ended", True, 125, True)
        assert call.ended_at == datetime(2026, 11, 23, 10, 2, 13, tzinfo=MOSCOW)
        assert (call.manager, call.deal) == (anna, anna_deal)
        assert call.leg_seqs == {json.loads(appeared["json"])["call_id"]: 3}
        assert anna_deal.timeline.filter(kind="call").count() == 1

    def test_without_the_summary_legs_out_of_order_still_tell_the_truth(self, account, anna,
                                                                        anna_deal):
        appeared, connected, disconnected = scenario("answered_incoming")[:3]
        play(account, [appeared, disconnected, connected])
        call = the_call()
        assert (call.state, call.answered, call.summarized) == ("ended", True, False)
        assert call.answered_at == datetime(2026, 11, 23, 10, 0, 8, tzinfo=MOSCOW)
        assert call.legs[json.loads(appeared["json"])["call_id"]]["state"] == "disconnected"

    def test_an_older_seq_does_not_move_the_state_back(self, account, anna_deal):
        appeared, connected = scenario("answered_incoming")[:2]
        play(account, [connected, appeared])
        assert the_call().state == Call.State.TALKING


class TestNewClients:
    def _call(self, account, *, number=NEW_CLIENT, line=LINE_NORTH, extension="101",
              entry_id="new-1", answered=True):
        return play(account, signed(incoming(entry_id=entry_id, number=number, line=line,
                                             extension=extension, at=T0, answered=answered)))

    def test_an_unknown_number_becomes_a_contact_and_a_lead_of_the_manager_it_rang(
            self, account, anna):
        self._call(account)
        call = the_call()
        contact, deal = call.contact, call.deal
        assert contact.name == "Новый клиент +7 *** ***-**-99"
        assert "0199" not in contact.name and "5550199" not in contact.name
        assert contact.source == Contact.Source.PHONE and contact.owner == anna
        point = contact.points.get()
        assert (point.kind, point.value) == (ContactPoint.Kind.PHONE, "+79035550199")
        assert deal.owner == anna and deal.team == anna.team and deal.contact == contact
        assert deal.title == f"Отдел продаж: {contact.name}"
        assert call.lead_created
        assert deal.timeline.filter(kind="call").count() == 1

    def test_the_lead_goes_to_the_lines_team(self, account, olga, south):
        self._call(account, line=LINE_SOUTH, extension="201")
        deal = the_call().deal
        assert deal.team == south and deal.owner == olga

    def test_round_robin_among_the_lines_team_when_no_manager_of_it_answers(
            self, account, anna, ivan, olga, south):
        # The call rings anna (north) on the south line: the lead is the south team's.
        self._call(account, line=LINE_SOUTH, extension="101")
        assert the_call().deal.owner == olga

    def test_new_clients_go_round_robin_when_nobody_mapped_answers(self, account, anna, ivan):
        self._call(account, extension="150", entry_id="new-1")
        self._call(account, number="79035550288", extension="150", entry_id="new-2")
        self._call(account, number="79035550377", extension="150", entry_id="new-3")
        owners = [c.deal.owner for c in Call.objects.order_by("id")]
        assert owners == [anna, ivan, anna]

    def test_a_new_client_goes_to_the_manager_who_finally_answered(self, account, anna, ivan):
        requests = signed(mango.transfer(entry_id="tr-new", number=NEW_CLIENT, line=LINE_NORTH,
                                         at=T0))
        play(account, requests)
        call = the_call()
        assert call.manager == ivan and call.deal.owner == ivan
        assert call.contact.owner == ivan
        assert call.deal.timeline.filter(kind="owner_changed").exists()

    def test_two_calls_of_one_new_client_make_one_contact_and_one_lead(self, account):
        self._call(account, entry_id="new-1")
        self._call(account, entry_id="new-2", answered=False)
        assert Contact.objects.count() == 1 and Deal.objects.count() == 1
        assert Call.objects.filter(deal=Deal.objects.get()).count() == 2

    def test_a_hidden_number_is_on_no_deal(self, account):
        self._call(account, number="anonymous")
        call = the_call()
        assert call.deal is None and call.contact is None and not Contact.objects.exists()


class TestOtherCalls:
    def test_an_outgoing_click_to_call_is_the_callers_on_the_clients_deal(
            self, account, anna, anna_deal, handed_over):
        CallbackCommand.objects.create(
            account=account, command_id="7c9e6679-7425-40de-944b-e07fc1f90ae7", user=anna,
            deal=anna_deal, contact=anna_deal.contact, to_number="+79161234567",
            extension="101", status=CallbackCommand.Status.SENT)
        assert set(play(account, scenario("outgoing_click_to_call"))) == {200}
        call = the_call()
        assert (call.direction, call.manager, call.deal, call.extension) == (
            "out", anna, anna_deal, "101")
        assert (call.answered, call.talk_seconds) == (True, 64)
        handed_over["callback_result"].assert_called_once_with(
            account=account, result=CallbackResult(
                command_id="7c9e6679-7425-40de-944b-e07fc1f90ae7", ok=True, code="1000"))
        assert not Task.objects.filter(title__icontains="клиенту").exists()

    def test_a_transfer_ends_with_the_extension_that_answered_last(self, account, anna, ivan,
                                                                   anna_deal):
        play(account, scenario("transfer"))
        call = the_call()
        assert (call.extension, call.manager, call.deal) == ("102", ivan, anna_deal)
        assert (call.state, call.answered, call.talk_seconds) == ("ended", True, 195)
        assert set(call.leg_seqs.values()) == {4, 3}

    def test_a_corporate_line_is_never_taken_for_a_client(self, account, anna):
        caller = {"number": LINE_NORTH.lstrip("+")}
        callee = {"extension": "101", "number": mango.sip("ext101")}
        play(account, signed([mango.leg(entry_id="cb-1", call_id="cb-1-a", seq=1,
                                        state="Appeared", at=T0, caller=caller, callee=callee)]))
        call = the_call()
        assert call.client_number == "" and call.deal is None
        assert not Contact.objects.exists()

    def test_an_internal_call_is_on_no_deal(self, account, anna):
        caller = {"extension": "101", "number": mango.sip("ext101")}
        callee = {"extension": "102", "number": mango.sip("ext102")}
        play(account, signed([mango.leg(entry_id="int-1", call_id="int-1-a", seq=1,
                                        state="Appeared", at=T0, caller=caller, callee=callee)]))
        call = the_call()
        assert call.direction == "internal" and call.deal is None
        assert not TimelineEntry.objects.filter(kind="call").exists()


class TestMissedCalls:
    def test_a_missed_call_asks_the_owner_to_call_back_within_working_time(self, account,
                                                                           anna):
        assert set(play(account, scenario("missed_incoming"))) == {200}
        call = the_call()
        assert (call.state, call.answered, call.talk_seconds) == ("ended", False, 0)
        task = Task.objects.get(title="Перезвонить клиенту")
        assert call.callback_task == task
        assert (task.assignee, task.deal) == (anna, call.deal)
        # Missed at 17:50:31 on Monday, closing at 18:00: 9.5 minutes then, the rest on Tuesday.
        assert task.due_at == datetime(2026, 11, 24, 9, 5, 31, tzinfo=MOSCOW)
        assert call.deal.timeline.filter(kind="task_created").count() == 1

    def test_the_task_is_made_once_per_call(self, account, anna):
        requests = scenario("missed_incoming")
        play(account, requests)
        summary = next(r for r in requests if r["path"] == "events/summary")
        CallEvent.objects.filter(kind="summary").delete()  # as if Mango's retry came as new
        play(account, [summary])
        assert Task.objects.filter(title="Перезвонить клиенту").count() == 1

    def test_a_missed_call_of_a_known_client_goes_to_their_deals_owner(self, account, anna,
                                                                       ivan, anna_deal):
        play(account, signed(incoming(entry_id="m2", number=KNOWN_CLIENT, line=LINE_NORTH,
                                      extension="102", at=T0, answered=False)))
        task = Task.objects.get(title="Перезвонить клиенту")
        assert task.assignee == anna and task.deal == anna_deal
        assert task.due_at == datetime(2026, 11, 23, 10, 15, 31, tzinfo=MOSCOW)

    def test_an_answered_call_makes_no_task(self, account, anna_deal):
        play(account, scenario("answered_incoming"))
        assert not Task.objects.filter(title="Перезвонить клиенту").exists()


# --- The timeline entry ----------------------------------------------------------------------


class TestTimeline:
    def _deal_page(self, user, deal) -> str:
        client = Client()
        client.force_login(user)
        response = client.get(deal.get_absolute_url())
        assert response.status_code == 200
        return response.content.decode()

    def test_the_entry_shows_the_facts_and_a_managers_masked_number(self, account, anna,
                                                                    anna_deal):
        play(account, scenario("answered_incoming"))
        html = self._deal_page(anna, anna_deal)
        assert 'class="call-entry call-entry--in"' in html
        assert "2:05" in html and "Отдел продаж" in html
        assert "+7 *** ***-45-67" in html
        entry = anna_deal.timeline.get(kind="call")
        start = html.index(f'id="entry-{entry.pk}"')
        entry_html = html[start:html.index("</li>", start)]
        for raw in ("79161234567", "9161234567", "916) 123"):
            assert raw not in entry_html

    def test_the_live_entry_and_the_reloaded_card_name_the_line_alike(self, account, anna,
                                                                       anna_deal):
        """live.js and calls.js fetch one entry (deal_timeline_entry) when the websocket
        announces it; the card after a reload renders a page of entries: one rendering."""
        play(account, scenario("answered_incoming"))
        entry = anna_deal.timeline.get(kind="call")
        client = Client()
        client.force_login(anna)
        live = client.get(reverse("deal_timeline_entry", args=[anna_deal.pk, entry.pk]))
        assert live.status_code == 200
        reloaded = self._deal_page(anna, anna_deal)

        def line_of(html: str) -> str:
            start = html.index('class="call-entry__line"')
            return html[start:html.index("</span>", start)]

        assert line_of(live.content.decode()) == line_of(reloaded)
        assert "Отдел продаж" in line_of(reloaded)
        assert LINE_NORTH not in line_of(reloaded)

    def test_a_line_nobody_named_reads_as_its_number_live_and_reloaded(self, account, anna,
                                                                        anna_deal):
        PbxLine.objects.filter(number=LINE_NORTH).update(name="")
        play(account, scenario("answered_incoming"))
        entry = anna_deal.timeline.get(kind="call")
        client = Client()
        client.force_login(anna)
        live = client.get(reverse("deal_timeline_entry", args=[anna_deal.pk, entry.pk]))
        assert f'class="call-entry__line">{LINE_NORTH}</span>' in live.content.decode()
        assert f'class="call-entry__line">{LINE_NORTH}</span>' in self._deal_page(anna,
                                                                                   anna_deal)

    def test_a_missed_call_reads_as_missed(self, account, anna):
        play(account, scenario("missed_incoming"))
        html = self._deal_page(anna, the_call().deal)
        assert "call-entry--missed" in html and "пропущен" in html

    def test_the_api_timeline_never_carries_the_number(self, account, anna, anna_deal):
        from rest_framework.test import APIClient

        play(account, scenario("answered_incoming"))
        client = APIClient()
        client.force_authenticate(anna)
        response = client.get(f"/api/v1/deals/{anna_deal.pk}/timeline/")
        assert response.status_code == 200
        body = response.content.decode()
        assert "9161234567" not in body
        [entry] = [e for e in response.json()["results"] if e["kind"] == "call"]
        assert entry["data"]["answered"] is True and entry["data"]["talk_seconds"] == 125
        assert entry["data"]["manager"] == anna.pk and entry["data"]["direction"] == "in"

    def test_the_entry_changes_live_when_the_summary_lands(self, account, anna_deal):
        requests = scenario("answered_incoming")
        play(account, requests[:3])
        with mock.patch("core.events.send_after_commit") as send:
            play(account, [requests[3]])
        sent = [call.args for call in send.call_args_list]
        entry = anna_deal.timeline.get(kind="call")
        assert (f"deal.{anna_deal.pk}", {"type": "call.updated", "deal": anna_deal.pk,
                                         "call": the_call().pk, "entry": entry.pk}) in sent
        assert (f"deal.{anna_deal.pk}", {"type": "deal.changed", "deal": anna_deal.pk}) in sent


def test_a_team_without_managers_fails_the_event_visibly(account, anna, ivan):
    for user in (anna, ivan):
        user.is_active = False
        user.save()
    play(account, signed(incoming(entry_id="x", number=NEW_CLIENT, line=LINE_NORTH,
                                  extension="150", at=T0, answered=False))[:1])
    event = CallEvent.objects.get()
    # head_north is the fallback: the lead is theirs rather than lost.
    assert event.status == CallEvent.Status.PROCESSED
    assert the_call().deal.owner.username == "head_north"


def test_process_twice_is_harmless(account, anna_deal):
    requests = scenario("answered_incoming")
    play(account, requests)
    for event in CallEvent.objects.all():
        services.event_process(event=event)
    assert CallEvent.objects.filter(attempts=1).count() == len(requests)
    assert anna_deal.timeline.filter(kind="call").count() == 1


# --- manage.py simulate_call -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the command's requests commit, as in real use
class TestSimulateCall:
    def run(self, *args) -> str:
        import io

        from django.core.management import call_command

        out = io.StringIO()
        call_command("simulate_call", *args, stdout=out)
        return out.getvalue()

    def test_a_missed_call_of_annas_client_lands_on_her_deal_with_a_task(self, account, anna,
                                                                         anna_deal):
        out = self.run("--missed")
        call = the_call()
        assert (call.deal, call.manager, call.answered, call.summarized) == (
            anna_deal, anna, False, True)
        assert Task.objects.filter(deal=anna_deal, title="Перезвонить клиенту").count() == 1
        assert "missed" in out and f"deal #{anna_deal.pk}" in out
        assert "9161234567" not in out  # the number is shown masked
        assert set(CallEvent.objects.values_list("status", flat=True)) == {
            CallEvent.Status.PROCESSED}

    def test_an_answered_call_from_a_new_number_ends_with_a_recording(self, account, anna,
                                                                      handed_over):
        out = self.run("--answered", "--from", "+7 903 555-01-99")
        call = the_call()
        assert call.answered and call.manager == anna and call.deal.owner == anna
        assert call.contact.name == "Новый клиент +7 *** ***-**-99"
        [kwargs] = [c.kwargs for c in handed_over["recording_ready"].call_args_list]
        assert kwargs["event"].entry_id == call.entry_id
        assert CallEvent.objects.order_by("-id").first().kind == "record_added"
        assert "answered" in out

    def test_it_says_what_is_missing(self, north):
        from django.core.management import CommandError

        with pytest.raises(CommandError, match="No active PBX account"):
            self.run()


# --- The admin -------------------------------------------------------------------------------


class TestAdmin:
    def client_of(self, user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    def test_the_account_page_shows_the_webhook_base_and_never_the_key_or_salt(
            self, account, director):
        client = self.client_of(director)
        response = client.get(reverse("admin:telephony_pbxaccount_change", args=[account.pk]))
        html = response.content.decode()
        assert response.status_code == 200
        assert f"http://testserver/hooks/mango/{account.uuid}/" in html
        assert mango.API_KEY not in html and mango.API_SALT not in html
        assert "101" in html and "Отдел продаж" in html  # extensions and lines inline

    def test_saving_with_empty_secrets_keeps_them(self, account, director):
        client = self.client_of(director)
        url = reverse("admin:telephony_pbxaccount_change", args=[account.pk])
        form = {
            "name": "Mango Office", "provider": "mango", "team": account.team_id,
            "is_active": "on", "api_key": "", "api_salt": "", "api_base_url": "",
            "business_hours": "{}", "time_zone": "Europe/Moscow",
            "lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "0",
            "extensions-TOTAL_FORMS": "0", "extensions-INITIAL_FORMS": "0",
        }
        response = client.post(url, form)
        assert response.status_code == 302, response.content.decode()[:3000]
        account.refresh_from_db()
        assert (account.api_key, account.api_salt) == (mango.API_KEY, mango.API_SALT)
        form["api_salt"] = "new-salt"
        assert client.post(url, form).status_code == 302
        account.refresh_from_db()
        assert (account.api_key, account.api_salt) == (mango.API_KEY, "new-salt")

    def test_calls_and_events_are_read_only_and_show_no_number(self, account, director,
                                                              anna_deal):
        play(account, scenario("answered_incoming"))
        client = self.client_of(director)
        call = the_call()
        for url in (reverse("admin:telephony_call_changelist"),
                    reverse("admin:telephony_call_change", args=[call.pk]),
                    reverse("admin:telephony_callevent_changelist")):
            response = client.get(url)
            assert response.status_code == 200, url
            if "callevent" not in url:
                assert "9161234567" not in response.content.decode()
        assert client.post(reverse("admin:telephony_call_delete", args=[call.pk])
                           ).status_code == 403

    def test_a_manager_opens_no_telephony_admin(self, account, anna):
        response = self.client_of(anna).get(reverse("admin:telephony_pbxaccount_changelist"))
        assert response.status_code in (302, 403, 404)
