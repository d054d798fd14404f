"""Click-to-call from the deal card: the signed command to the fake Mango API, its result
through our own result/callback webhook, the status live on the deal's websocket.

The fake cannot call our server (there is no live server in these tests): it keeps the signed
result/callback request it would send, and the tests deliver it to the webhook through
Django's test Client (`FakeMango.deliver_results`)."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from config.asgi import application
from crm import sharing
from crm.models import ContactPoint
from telephony import click_to_call
from telephony.models import CallbackCommand
from tests.factories import client_for, make_contact, make_deal
from tests.telephony.fixtures_outbound import *  # noqa: F403

JSON = {"HTTP_ACCEPT": "application/json"}


def call(user, deal, capture):
    with capture(execute=True):
        return client_for(user).post(reverse("click_to_call", args=[deal.pk]), **JSON)


def hook(account):
    return f"/hooks/mango/{account.uuid}/"


def deliver(fake, account, capture):
    with capture(execute=True):
        responses = fake.deliver_results(Client(), hook(account))
    assert [r.status_code for r in responses] == [200]


@pytest.mark.django_db
class TestSend:
    def test_the_command_goes_signed_with_the_extension_the_team_line_and_the_number(
        self, anna, anna_deal, anna_extension, north_line, fake_mango_api,
        django_capture_on_commit_callbacks,
    ):
        response = call(anna, anna_deal, django_capture_on_commit_callbacks)
        assert response.status_code == 202
        command = CallbackCommand.objects.get()
        [sent] = fake_mango_api.calls("commands/callback")
        assert sent.sign_ok
        assert sent.payload == {
            "command_id": str(command.command_id), "from": {"extension": "101"},
            "to_number": "79161234567", "line_number": "74951234567",
        }
        assert command.status == CallbackCommand.Status.SENT
        assert command.user == anna and command.deal == anna_deal
        # Queued when the view answered: the test's transaction commits (and the task runs)
        # after it.
        assert response.json()["command"] == command.pk
        assert response.json()["status"] == "queued"
        # The manager never sees the number.
        assert "9161234567" not in response.content.decode()
        assert "45-67" not in response.content.decode()

    def test_the_first_line_serves_a_team_without_one(
        self, olga, olga_deal, mango_account, general_line, north_line, fake_mango_api,
        django_capture_on_commit_callbacks,
    ):
        from telephony.models import Extension

        Extension.objects.create(account=mango_account, extension="201", user=olga)
        ContactPoint.objects.create(contact=olga_deal.contact, kind="phone",
                                    value="+79035550011")
        assert call(olga, olga_deal, django_capture_on_commit_callbacks).status_code == 202
        [sent] = fake_mango_api.calls("commands/callback")
        assert sent.payload["line_number"] == "74950000001"
        assert sent.payload["from"] == {"extension": "201"}

    def test_result_1000_makes_it_ok(
        self, anna, anna_deal, anna_extension, north_line, mango_account, fake_mango_api,
        django_capture_on_commit_callbacks,
    ):
        call(anna, anna_deal, django_capture_on_commit_callbacks)
        deliver(fake_mango_api, mango_account, django_capture_on_commit_callbacks)
        command = CallbackCommand.objects.get()
        assert command.status == CallbackCommand.Status.OK
        assert command.result_code == "1000"
        assert command.finished_at is not None
        status = client_for(anna).get(
            reverse("click_to_call_status", args=[anna_deal.pk, command.pk]), **JSON).json()
        assert status["status"] == "ok"

    def test_a_failure_code_makes_it_failed_with_the_code(
        self, anna, anna_deal, anna_extension, north_line, mango_account, fake_mango_api,
        django_capture_on_commit_callbacks,
    ):
        fake_mango_api.callback_result = 4001
        call(anna, anna_deal, django_capture_on_commit_callbacks)
        deliver(fake_mango_api, mango_account, django_capture_on_commit_callbacks)
        command = CallbackCommand.objects.get()
        assert command.status == CallbackCommand.Status.FAILED
        assert command.result_code == "4001"
        assert "4001" in command.error

    def test_a_repeated_result_changes_nothing(
        self, anna, anna_deal, anna_extension, north_line, mango_account, fake_mango_api,
        django_capture_on_commit_callbacks,
    ):
        from telephony.providers.base import CallbackResult

        call(anna, anna_deal, django_capture_on_commit_callbacks)
        deliver(fake_mango_api, mango_account, django_capture_on_commit_callbacks)
        command = CallbackCommand.objects.get()
        again = click_to_call.callback_result(
            account=mango_account,
            result=CallbackResult(command_id=str(command.command_id), ok=False, code="4001"))
        assert again.status == CallbackCommand.Status.OK

    def test_429_is_retried_then_sent(
        self, anna, anna_deal, anna_extension, north_line, fake_mango_api,
        django_capture_on_commit_callbacks, provider_waits,
    ):
        fake_mango_api.retry_after = 3
        fake_mango_api.fail_next("429", path="commands/callback")
        assert call(anna, anna_deal, django_capture_on_commit_callbacks).status_code == 202
        first, second = fake_mango_api.calls("commands/callback")
        assert provider_waits == [3]  # retry_after honoured
        assert first.payload["command_id"] == second.payload["command_id"]
        assert CallbackCommand.objects.get().status == CallbackCommand.Status.SENT

    def test_a_refusal_fails_it_with_the_reason_at_once(
        self, anna, anna_deal, anna_extension, north_line, fake_mango_api,
        django_capture_on_commit_callbacks,
    ):
        fake_mango_api.fail_next("400", path="commands/callback")
        response = call(anna, anna_deal, django_capture_on_commit_callbacks)
        assert response.status_code == 202
        command = CallbackCommand.objects.get()
        assert command.status == CallbackCommand.Status.FAILED
        assert "400" in command.error
        assert len(fake_mango_api.calls("commands/callback")) == 1

    def test_a_command_left_unsent_too_long_is_not_sent(
        self, anna, anna_deal, anna_extension, north_line, fake_mango_api,
    ):
        from datetime import timedelta

        from django.utils import timezone

        command = CallbackCommand.objects.create(
            account=anna_extension.account, user=anna, deal=anna_deal, to_number="79161234567",
            extension="101", created_at=timezone.now() - timedelta(minutes=5))
        assert click_to_call.command_send(command_pk=command.pk) is False
        command.refresh_from_db()
        assert command.status == CallbackCommand.Status.FAILED
        assert not fake_mango_api.requests


@pytest.mark.django_db
class TestRefusals:
    def test_without_an_extension_it_says_so(
        self, anna, anna_deal, mango_account, fake_mango_api, django_capture_on_commit_callbacks,
    ):
        response = call(anna, anna_deal, django_capture_on_commit_callbacks)
        assert response.status_code == 400
        [error] = response.json()["errors"]["__all__"]
        assert error["code"] == "no_extension"
        assert not CallbackCommand.objects.exists()
        assert not fake_mango_api.requests

    def test_without_a_client_phone_it_says_so(
        self, anna, anna_extension, fake_mango_api, django_capture_on_commit_callbacks,
    ):
        deal = make_deal(anna, contact=make_contact(anna, name="Без телефона",
                                                   emails=["a@b.ru"]))
        response = call(anna, deal, django_capture_on_commit_callbacks)
        assert response.status_code == 400
        assert response.json()["errors"]["__all__"][0]["code"] == "no_phone"
        no_contact = call(anna, make_deal(anna), django_capture_on_commit_callbacks)
        assert no_contact.json()["errors"]["__all__"][0]["code"] == "no_contact"
        assert not fake_mango_api.requests

    def test_a_plain_form_post_gets_the_message_on_the_card(
        self, anna, anna_deal, mango_account,
    ):
        response = client_for(anna).post(reverse("click_to_call", args=[anna_deal.pk]),
                                        follow=True)
        assert response.redirect_chain[-1][0] == anna_deal.get_absolute_url()
        assert "extension" in response.content.decode() or "внутренн" in \
            response.content.decode()

    def test_a_second_click_while_connecting_is_refused(
        self, anna, anna_deal, anna_extension, north_line, fake_mango_api,
        django_capture_on_commit_callbacks,
    ):
        call(anna, anna_deal, django_capture_on_commit_callbacks)
        again = call(anna, anna_deal, django_capture_on_commit_callbacks)
        assert again.status_code == 400
        assert again.json()["errors"]["__all__"][0]["code"] == "in_progress"
        assert len(fake_mango_api.calls("commands/callback")) == 1

    def test_a_read_only_share_is_refused(
        self, anna, ivan, anna_deal, mango_account, fake_mango_api,
        django_capture_on_commit_callbacks,
    ):
        from telephony.models import Extension

        Extension.objects.create(account=mango_account, extension="102", user=ivan)
        sharing.deal_share(deal=anna_deal, user=ivan, access="read", by=anna)
        response = call(ivan, anna_deal, django_capture_on_commit_callbacks)
        assert response.status_code == 403
        assert not CallbackCommand.objects.exists()
        assert not fake_mango_api.requests

    def test_an_outsider_gets_404(
        self, olga, anna_deal, mango_account, fake_mango_api, django_capture_on_commit_callbacks,
    ):
        from telephony.models import Extension

        Extension.objects.create(account=mango_account, extension="201", user=olga)
        assert call(olga, anna_deal, django_capture_on_commit_callbacks).status_code == 404
        assert not fake_mango_api.requests

    def test_the_status_of_another_deals_command_is_not_found(
        self, anna, anna_deal, olga, olga_deal, mango_account,
    ):
        command = CallbackCommand.objects.create(account=mango_account, user=olga,
                                                 deal=olga_deal, to_number="7903", extension="2")
        path = reverse("click_to_call_status", args=[anna_deal.pk, command.pk])
        assert client_for(anna).get(path).status_code == 404


@pytest.mark.django_db
class TestDealCard:
    def test_the_button_is_on_the_card_without_the_number(
        self, anna, anna_deal, anna_extension,
    ):
        html = client_for(anna).get(anna_deal.get_absolute_url()).content.decode()
        assert reverse("click_to_call", args=[anna_deal.pk]) in html
        assert "9161234567" not in html

    def test_no_button_without_an_extension_or_for_a_read_share(
        self, anna, ivan, anna_deal, mango_account,
    ):
        html = client_for(anna).get(anna_deal.get_absolute_url()).content.decode()
        assert reverse("click_to_call", args=[anna_deal.pk]) not in html
        from telephony.models import Extension

        Extension.objects.create(account=mango_account, extension="102", user=ivan)
        sharing.deal_share(deal=anna_deal, user=ivan, access="read", by=anna)
        html = client_for(ivan).get(anna_deal.get_absolute_url()).content.decode()
        assert reverse("click_to_call", args=[anna_deal.pk]) not in html


# --- Live -------------------------------------------------------------------------------------


@database_sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def subscribe(user, deal):
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"),
               (b"cookie", f"sessionid={await session_cookie(user)}".encode())]
    communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
    connected, _code = await communicator.connect()
    assert connected
    await communicator.send_json_to({"subscribe": "deal", "id": deal.pk})
    assert await communicator.receive_json_from() == {"subscribed": "deal", "id": deal.pk}
    return communicator


async def statuses_until(communicator, command_pk, final: str) -> list[str]:
    seen = []
    while True:
        event = await communicator.receive_json_from(timeout=5)
        if event.get("type") != "call.callback":
            continue
        assert set(event) == {"type", "deal", "command"}  # ids only
        assert event["command"] == command_pk
        status = await database_sync_to_async(
            lambda: CallbackCommand.objects.get(pk=command_pk).status)()
        seen.append(status)
        if status == final:
            return seen


@pytest.mark.django_db(transaction=True)
async def test_the_result_shows_live_on_the_deal(
    anna, anna_deal, anna_extension, north_line, mango_account, fake_mango_api,
):
    communicator = await subscribe(anna, anna_deal)
    command = await database_sync_to_async(click_to_call.click_to_call)(deal=anna_deal, by=anna)
    assert "sent" in await statuses_until(communicator, command.pk, "sent")

    responses = await database_sync_to_async(fake_mango_api.deliver_results)(
        Client(), hook(mango_account))
    assert [r.status_code for r in responses] == [200]
    assert await statuses_until(communicator, command.pk, "ok") == ["ok"]
    await communicator.disconnect()
