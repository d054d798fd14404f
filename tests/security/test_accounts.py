"""Cutting a user off (security.accounts): sessions, tokens and sockets end at once; a revoked
session or token presented again is refused and logged; suspension and reinstatement."""

import logging

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.asgi import application
from crm.consumers import SESSION_ENDED
from security import accounts
from security.models import RevokedCredential, UserSession
from tests.factories import client_for


def refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "security.access"]


def test_a_login_records_whose_session_it_is(anna):
    client = client_for(anna)
    key = client.cookies["sessionid"].value
    assert UserSession.objects.get(session_id=key).user == anna


def test_a_session_whose_key_changes_is_recorded_under_the_new_key(anna):
    from django.contrib.auth import update_session_auth_hash
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    client = client_for(anna)
    request = RequestFactory().get("/")
    request.session = SessionStore(client.cookies["sessionid"].value)
    request.user = anna
    update_session_auth_hash(request, anna)  # a password change cycles the key
    new_key = request.session.session_key
    assert not UserSession.objects.filter(session_id=new_key).exists()
    accounts.request_session_track(request)
    assert UserSession.objects.get(session_id=new_key).user == anna


def test_logging_out_drops_the_record_with_the_session(anna):
    client = client_for(anna)
    client.post("/logout/")
    assert not UserSession.objects.filter(user=anna).exists()


def test_cut_off_ends_every_session_and_the_token_of_that_user_only(anna, ivan):
    first, second, other = client_for(anna), client_for(anna), client_for(ivan)
    Token.objects.create(user=anna)
    ended = accounts.user_cut_off(anna, reason="suspended")
    assert ended == {"sessions_ended": 2, "tokens_revoked": 1}
    anna.refresh_from_db()
    assert not anna.is_active
    keys = [c.cookies["sessionid"].value for c in (first, second, other)]
    assert list(Session.objects.filter(session_key__in=keys).values_list("session_key",
                                                                         flat=True)) == [keys[2]]
    assert not Token.objects.filter(user=anna).exists()
    # Digests only: no key is kept.
    assert RevokedCredential.objects.filter(user=anna).count() == 3
    assert not RevokedCredential.objects.filter(digest__in=keys[:2]).exists()


def test_a_revoked_session_gets_the_login_page_and_is_logged(anna, anna_deal, caplog):
    client = client_for(anna)
    assert client.get(f"/deals/{anna_deal.pk}/").status_code == 200
    accounts.user_cut_off(anna, reason="offboarded")
    with caplog.at_level(logging.WARNING, logger="security.access"):
        response = client.get(f"/deals/{anna_deal.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    [record] = refusals(caplog)
    assert record.levelno == logging.WARNING
    assert (record.user_id, record.credential, record.surface) == (anna.pk, "session", "html")


def test_a_revoked_session_gets_401_from_the_api_and_is_logged(anna, caplog):
    client = APIClient()
    client.force_login(anna)
    accounts.user_cut_off(anna, reason="offboarded")
    with caplog.at_level(logging.WARNING, logger="security.access"):
        response = client.get("/api/v1/deals/")
    assert response.status_code == 401
    [record] = refusals(caplog)
    assert (record.user_id, record.surface) == (anna.pk, "api")


def test_a_revoked_token_gets_401_and_is_logged(anna, caplog):
    token = Token.objects.create(user=anna)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/v1/deals/").status_code == 200
    accounts.user_cut_off(anna, reason="offboarded")
    with caplog.at_level(logging.WARNING, logger="security.access"):
        response = client.get("/api/v1/deals/")
    assert response.status_code == 401
    [record] = refusals(caplog)
    assert (record.user_id, record.credential, record.surface) == (anna.pk, "token", "api")
    assert token.key not in record.getMessage()


def test_an_unknown_token_or_stale_cookie_is_refused_without_a_log(db, caplog):
    with caplog.at_level(logging.WARNING, logger="security.access"):
        assert APIClient(HTTP_AUTHORIZATION="Token nope").get("/api/v1/deals/").status_code == 401
        client = Client()
        client.cookies["sessionid"] = "expired-or-made-up"
        assert client.get("/deals/").status_code == 302
    assert not refusals(caplog)


def test_a_suspension_needs_a_reason(anna):
    with pytest.raises(ValidationError):
        accounts.user_suspend(anna, reason=" ")


def test_suspending_twice_keeps_the_first_suspension(anna, security_officer):
    first = accounts.user_suspend(anna, reason="Выгрузка клиентов ночью", by=security_officer)
    again = accounts.user_suspend(anna, reason="ещё раз")
    assert again == first
    assert anna.suspensions.count() == 1


def test_only_an_admin_or_a_security_officer_reinstates(anna, head_north, security_officer):
    accounts.user_suspend(anna, reason="Правило: выгрузка")
    with pytest.raises(PermissionDenied):
        accounts.user_reinstate(anna, by=head_north)
    suspension = accounts.user_reinstate(anna, by=security_officer)
    anna.refresh_from_db()
    assert anna.is_active
    assert suspension.lifted_by == security_officer
    assert accounts.suspension_open(anna) is None
    # She logs in again as before.
    response = Client().post("/login/", {"username": "anna", "password": "pw"})
    assert response.status_code == 302 and response["Location"] == "/deals/"


def test_reinstating_an_account_that_is_not_suspended_is_an_error(anna, director):
    with pytest.raises(ValidationError):
        accounts.user_reinstate(anna, by=director)


def test_the_stale_session_digests_are_cleared_but_token_digests_stay(anna, settings):
    from django.utils import timezone

    client_for(anna)
    Token.objects.create(user=anna)
    accounts.user_cut_off(anna, reason="offboarded")
    later = timezone.now() + timezone.timedelta(seconds=settings.SESSION_COOKIE_AGE + 60)
    assert accounts.revoked_credentials_delete_stale(now=later) == 1
    assert list(RevokedCredential.objects.values_list("kind", flat=True)) == ["token"]


# --- Websockets ------------------------------------------------------------------------------


@database_sync_to_async
def _session_cookie(user) -> str:
    return client_for(user).cookies["sessionid"].value


async def _connect(cookie: str):
    communicator = WebsocketCommunicator(application, "/ws/", headers=[
        (b"origin", b"http://localhost"), (b"host", b"localhost"),
        (b"cookie", f"sessionid={cookie}".encode()),
    ])
    connected, _code = await communicator.connect()
    return communicator, connected


@pytest.mark.django_db(transaction=True)
async def test_a_suspension_closes_a_live_websocket_within_a_second(anna, security_officer):
    communicator, connected = await _connect(await _session_cookie(anna))
    assert connected
    await database_sync_to_async(accounts.user_suspend)(
        anna, reason="Правило: просмотр чужих клиентов", by=security_officer
    )
    output = await communicator.receive_output(timeout=1)
    assert output == {"type": "websocket.close", "code": SESSION_ENDED}


@pytest.mark.django_db(transaction=True)
async def test_a_socket_opened_later_with_the_revoked_session_is_refused_and_logged(
    anna, caplog
):
    cookie = await _session_cookie(anna)
    await database_sync_to_async(accounts.user_cut_off)(anna, reason="offboarded")
    with caplog.at_level(logging.WARNING, logger="security.access"):
        communicator, _connected = await _connect(cookie)
    # Accepted only to be closed as logged out, so that the page's script sees the code.
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close",
                                                           "code": SESSION_ENDED}
    # Channels loads the missing session in its database thread and keeps that connection
    # open; close it, or the test database cannot be dropped.
    await database_sync_to_async(connections.close_all)()
    [record] = refusals(caplog)
    assert (record.user_id, record.surface) == (anna.pk, "websocket")
