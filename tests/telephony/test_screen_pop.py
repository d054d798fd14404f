"""Screen pop: an incoming call to a manager's extension shows up live in their browser, with
the contact and deal they may see (or "new client"), and goes when the call ends."""

import json
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from telephony.models import Call
from tests.telephony import mango_events as mango
from tests.telephony.mango_events import KNOWN_CLIENT, LINE_NORTH, NEW_CLIENT, T0, incoming, play
from tests.telephony.mango_events import post as mango_post


@pytest.fixture(autouse=True)
def no_hand_over():
    with mock.patch("telephony.recordings.recording_ready"), \
            mock.patch("telephony.click_to_call.callback_result"):
        yield


def popup(user, call):
    client = Client()
    client.force_login(user)
    return client.get(reverse("call_popup", args=[call.pk]))


def ring(account, *, number=KNOWN_CLIENT, extension="101", entry_id="pop-1", answered=True):
    """The scenario of one incoming call, signed: [appeared, (connected,) disconnected,
    summary]."""
    return mango.signed(incoming(entry_id=entry_id, number=number, line=LINE_NORTH,
                                 extension=extension, at=T0, answered=answered))


# --- Live events -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_the_ringing_manager_gets_the_pop_and_nobody_else(north, south, anna, olga,
                                                               ivan, head_north):
    from tests.crm.test_consumers import connect

    account, deal = await database_sync_to_async(_account_and_deal)(north, south, anna, ivan,
                                                                    olga, head_north)
    anna_socket, connected = await connect(anna)
    assert connected
    olga_socket, connected = await connect(olga)
    assert connected
    appeared, connected_event, disconnected, summary = ring(account)

    response = await database_sync_to_async(mango_post)(
        account, appeared["path"], appeared["json"], signature=appeared["sign"], on_commit=False)
    assert response.status_code == 200
    call = await database_sync_to_async(Call.objects.get)()
    assert await anna_socket.receive_json_from(timeout=5) == {"type": "call.incoming",
                                                              "call": call.pk}
    assert await olga_socket.receive_nothing(timeout=0.5)

    for request in (connected_event, disconnected):
        await database_sync_to_async(mango_post)(
            account, request["path"], request["json"], signature=request["sign"],
            on_commit=False)
    assert await anna_socket.receive_json_from(timeout=5) == {"type": "call.ended",
                                                              "call": call.pk}
    await database_sync_to_async(mango_post)(
        account, summary["path"], summary["json"], signature=summary["sign"], on_commit=False)
    assert await anna_socket.receive_json_from(timeout=5) == {"type": "call.ended",
                                                              "call": call.pk}
    assert await olga_socket.receive_nothing(timeout=0.3)
    await anna_socket.disconnect()
    await olga_socket.disconnect()


def _account_and_deal(north, south, anna, ivan, olga, head_north):
    from telephony.models import Extension, PbxAccount, PbxLine
    from tests.factories import make_contact, make_deal

    account = PbxAccount.objects.create(name="Mango", team=north, api_key=mango.API_KEY,
                                        api_salt=mango.API_SALT)
    PbxLine.objects.create(account=account, number=LINE_NORTH, name="Отдел продаж", team=north)
    Extension.objects.create(account=account, extension="101", user=anna)
    Extension.objects.create(account=account, extension="201", user=olga)
    contact = make_contact(anna, name="Пётр Смирнов", phones=["+79161234567"])
    return account, make_deal(anna, title="Поставка серверов", contact=contact)


@pytest.mark.django_db
class TestEvents:
    @pytest.fixture
    def account(self, pbx_account, pbx_extensions):
        return pbx_account

    def sent(self, account, requests):
        with mock.patch("core.events.send_after_commit") as send:
            play(account, requests)
        return [call.args for call in send.call_args_list]

    def test_events_carry_ids_only(self, account, anna, anna_deal):
        sent = self.sent(account, ring(account))
        call = Call.objects.get()
        user_events = [event for group, event in sent if group == f"user.{anna.pk}"]
        assert {"type": "call.incoming", "call": call.pk} in user_events
        assert {"type": "call.ended", "call": call.pk} in user_events
        assert "9161234567" not in json.dumps(sent) and "Смирнов" not in json.dumps(sent)

    def test_an_outgoing_call_pops_nothing(self, account, anna, anna_deal):
        sent = self.sent(account, mango.scenario("outgoing_click_to_call"))
        assert not [e for _g, e in sent if e.get("type") == "call.incoming"]

    def test_a_transfer_pops_up_at_each_phone_it_rings(self, account, anna, ivan, anna_deal):
        sent = self.sent(account, mango.scenario("transfer"))
        incoming_to = {group for group, event in sent if event.get("type") == "call.incoming"}
        assert incoming_to == {f"user.{anna.pk}", f"user.{ivan.pk}"}
        ended_to = {group for group, event in sent if event.get("type") == "call.ended"}
        assert ended_to == {f"user.{anna.pk}", f"user.{ivan.pk}"}

    def test_a_late_appeared_after_the_end_pops_nothing(self, account, anna, anna_deal):
        appeared, connected, disconnected, summary = ring(account)
        sent = self.sent(account, [summary, disconnected, appeared])
        assert not [e for _g, e in sent if e.get("type") == "call.incoming"]


# --- The pop-up view -------------------------------------------------------------------------


@pytest.mark.django_db
class TestPopup:
    @pytest.fixture
    def account(self, pbx_account, pbx_extensions):
        return pbx_account

    def test_the_ringing_owner_sees_the_contact_and_a_link_to_the_deal(self, account, anna,
                                                                       anna_deal):
        play(account, ring(account)[:1])
        response = popup(anna, Call.objects.get())
        assert response.status_code == 200
        html = response.content.decode()
        assert 'role="alert"' in html and 'aria-live="assertive"' in html
        assert "Пётр Смирнов" in html and anna_deal.get_absolute_url() in html
        assert "+7 *** ***-45-67" in html and "9161234567" not in html
        assert "data-call-popup-close" in html

    def test_a_new_client_made_for_the_ringing_manager_is_theirs_to_see(self, account, anna):
        play(account, ring(account, number=NEW_CLIENT)[:1])
        call = Call.objects.get()
        html = popup(anna, call).content.decode()
        assert call.deal.owner == anna
        assert call.deal.get_absolute_url() in html and "новый клиент" in html.lower()

    def test_a_colleagues_client_shows_no_contact_details(self, account, anna, ivan, anna_deal):
        play(account, ring(account, extension="102")[:1])  # anna's client rings ivan
        call = Call.objects.get()
        response = popup(ivan, call)
        assert response.status_code == 200
        html = response.content.decode()
        assert "Смирнов" not in html and "45-67" not in html
        assert anna_deal.get_absolute_url() not in html and anna_deal.title not in html

    def test_the_team_head_sees_it_and_outsiders_get_404(self, account, anna, ivan, olga,
                                                        head_north, anna_deal):
        play(account, ring(account)[:1])
        call = Call.objects.get()
        assert popup(head_north, call).status_code == 200
        assert popup(olga, call).status_code == 404
        assert popup(ivan, call).status_code == 404  # his phone did not ring
        assert popup(anna, Call(pk=call.pk + 1000)).status_code == 404

    def test_the_anonymous_are_sent_to_log_in(self, account, anna_deal):
        play(account, ring(account)[:1])
        response = Client().get(reverse("call_popup", args=[Call.objects.get().pk]))
        assert response.status_code == 302 and response["Location"].startswith("/login/")

    def test_it_says_when_the_call_has_ended(self, account, anna, anna_deal):
        play(account, ring(account))
        html = popup(anna, Call.objects.get()).content.decode()
        assert "call-popup--ended" in html


# --- Every page listens ----------------------------------------------------------------------


@pytest.mark.django_db
def test_every_logged_in_page_follows_the_users_events_with_one_socket(anna, anna_deal):
    client = Client()
    client.force_login(anna)
    for url in (reverse("deal_list"), reverse("task_list"), anna_deal.get_absolute_url()):
        html = client.get(url).content.decode()
        assert "data-live-user" in html and "js/calls.js" in html, url
        assert f'data-call-popup-url="{reverse("call_popup", args=[0])}"' in html
    # A deal card opens its socket as the deal card (live.js: liveDeal, one socket a page).
    live = open("static/js/live.js").read()
    assert 'if (page) liveDeal(page);' in live
    # Any other page: one socket for the user's own events (and a wallboard's teams).
    assert 'else if (document.querySelector("[data-live-user]")) {\n      openSocket({' in live
    anonymous = Client().get(reverse("login")).content.decode()
    assert "data-live-user" not in anonymous and "calls.js" not in anonymous
