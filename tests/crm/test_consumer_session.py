"""The staff websocket under exactly the page's rules, end to end on the real Redis layer: the
session (two-factor, idle) at connect and while open, the Origin with its scheme and port, and
every change that takes a followed deal away ending the subscription (`deal.access_lost`)."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.forms import MultiWidget
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.asgi import application
from crm import consumers, services, sharing
from crm.models import DealUserObjectPermission
from crm.tasks import delete_expired_deal_shares
from security import accounts, roles

pytestmark = pytest.mark.django_db(transaction=True)

IDLE = 600


@pytest.fixture(autouse=True)
def _idle_timeout(settings):
    settings.SESSION_IDLE_TIMEOUT = IDLE


# --- Helpers ---------------------------------------------------------------------------------


@database_sync_to_async
def login_cookie(user, **session_values) -> str:
    client = Client()
    client.force_login(user)
    if session_values:
        session = client.session
        session.update(session_values)
        session.save()
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def open_socket(cookie=None, *, origin="http://localhost", host="localhost",
                      scheme=None):
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
    if scheme is not None:
        communicator.scope["scheme"] = scheme
    connected, _code = await communicator.connect()
    return communicator, connected


async def close_code(communicator) -> int:
    """The code the socket is closed with; live events before it are skipped."""
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output["code"]


async def subscribe(communicator, deal_id: int) -> dict:
    await communicator.send_json_to({"subscribe": "deal", "id": deal_id})
    return await communicator.receive_json_from(timeout=5)


@database_sync_to_async
def make_idle(cookie: str) -> None:
    session = SessionStore(cookie)
    session["last_activity"] = int(time.time()) - IDLE - 1
    session.save()


@database_sync_to_async
def session_exists(cookie: str) -> bool:
    return Session.objects.filter(session_key=cookie).exists()


@database_sync_to_async
def page_status(cookie: str, path: str = "/deals/") -> int:
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    return client.get(path).status_code


def _form_data(form) -> dict:
    """What a browser posts back for an unchanged admin form."""
    data = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        key, value = form.add_prefix(name), form[name].value()
        if isinstance(field.widget, MultiWidget):
            for i, part in enumerate(field.widget.decompress(value)):
                data[f"{key}_{i}"] = "" if part is None else str(part)
        elif isinstance(value, bool):
            if value:
                data[key] = "on"
        elif isinstance(value, (list, tuple)):
            data[key] = [getattr(item, "pk", item) for item in value]
        else:
            data[key] = "" if value is None else value
    return data


def admin_change(director, url: str, **changes) -> None:
    """Change a record through its Django admin page, as the admin does (None: unticked)."""
    client = Client()
    client.force_login(director)
    context = client.get(url).context
    data = _form_data(context["adminform"].form)
    for inline in context["inline_admin_formsets"]:
        data.update(_form_data(inline.formset.management_form))
        for form in inline.formset.forms:
            data.update(_form_data(form))
    data.update(changes)
    response = client.post(url, {k: v for k, v in data.items() if v is not None})
    assert response.status_code == 302, response.context["adminform"].form.errors


# --- Connect: the page's session rules -------------------------------------------------------


async def test_a_session_that_passes_the_pages_rules_opens_a_socket(anna, anna_deal):
    communicator, connected = await open_socket(await login_cookie(anna))
    assert connected
    assert await subscribe(communicator, anna_deal.pk) == {"subscribed": "deal",
                                                           "id": anna_deal.pk}
    await communicator.disconnect()


async def test_a_head_who_has_not_passed_two_factor_is_closed_with_its_own_code(
    head_north, anna_deal, settings
):
    settings.TWO_FACTOR_REQUIRED = True
    cookie = await login_cookie(head_north)
    assert await page_status(cookie) == 302  # the page sends them to the two-factor step
    communicator, _connected = await open_socket(cookie)
    assert await close_code(communicator) == consumers.TWO_FACTOR_PENDING == 4403


async def test_a_head_verified_in_this_session_opens_a_socket(head_north, anna_deal, settings):
    settings.TWO_FACTOR_REQUIRED = True
    device = await database_sync_to_async(TOTPDevice.objects.create)(
        user=head_north, name="app", confirmed=True)
    cookie = await login_cookie(head_north, **{DEVICE_ID_SESSION_KEY: device.persistent_id})
    assert await page_status(cookie) == 200
    communicator, connected = await open_socket(cookie)
    assert connected
    assert (await subscribe(communicator, anna_deal.pk))["subscribed"] == "deal"
    await communicator.disconnect()


async def test_another_users_device_in_the_session_is_no_second_factor(
    head_north, director, settings
):
    settings.TWO_FACTOR_REQUIRED = True
    device = await database_sync_to_async(TOTPDevice.objects.create)(
        user=director, name="app", confirmed=True)
    cookie = await login_cookie(head_north, **{DEVICE_ID_SESSION_KEY: device.persistent_id})
    communicator, _connected = await open_socket(cookie)
    assert await close_code(communicator) == 4403


async def test_a_manager_needs_no_second_factor(anna, settings):
    settings.TWO_FACTOR_REQUIRED = True
    communicator, connected = await open_socket(await login_cookie(anna))
    assert connected
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_an_idle_session_is_closed_and_ended_as_a_page_ends_it(anna):
    cookie = await login_cookie(anna, last_activity=int(time.time()) - IDLE - 1)
    communicator, _connected = await open_socket(cookie)
    assert await close_code(communicator) == consumers.SESSION_ENDED
    assert not await session_exists(cookie)
    assert await page_status(cookie) == 302


async def test_an_open_socket_whose_session_went_idle_is_closed_at_the_next_subscription(
    anna, anna_deal
):
    cookie = await login_cookie(anna)
    communicator, connected = await open_socket(cookie)
    assert connected
    await make_idle(cookie)
    await communicator.send_json_to({"subscribe": "deal", "id": anna_deal.pk})
    assert await close_code(communicator) == consumers.SESSION_ENDED
    assert not await session_exists(cookie)


async def test_an_open_socket_whose_session_went_idle_is_closed_at_the_next_heartbeat(
    anna, monkeypatch
):
    monkeypatch.setattr(consumers, "HEARTBEAT_SECONDS", 0.2)
    cookie = await login_cookie(anna)
    communicator, connected = await open_socket(cookie)
    other, _connected = await open_socket(cookie)  # another tab of the same session
    assert connected
    await asyncio.sleep(0.5)  # heartbeats go round, the session holds
    await make_idle(cookie)
    assert await close_code(communicator) == consumers.SESSION_ENDED
    assert await close_code(other) == consumers.SESSION_ENDED


async def test_a_socket_whose_session_key_was_replaced_is_asked_to_reconnect(anna, anna_deal):
    """A password change gives the login a new key and deletes the old one: the page's
    script reconnects with its cookie of now instead of showing "logged out"."""
    cookie = await login_cookie(anna)
    communicator, _connected = await open_socket(cookie)
    await database_sync_to_async(lambda: SessionStore(cookie).cycle_key())()
    await communicator.send_json_to({"subscribe": "deal", "id": anna_deal.pk})
    assert await close_code(communicator) == consumers.SESSION_GONE


# --- Origin: scheme, host and port -----------------------------------------------------------


@pytest.mark.parametrize(("origin", "host", "scheme", "allowed"), [
    ("http://localhost:8000", "localhost:8000", None, True),
    ("https://localhost", "localhost", "wss", True),
    ("http://localhost:8001", "localhost:8000", None, False),  # another app on the host
    ("http://localhost", "localhost:8000", None, False),
    ("https://localhost:8000", "localhost:8000", None, False),  # the scheme differs
    ("http://localhost:8000", "localhost:8000", "wss", False),
    ("https://crm.example.com", "10.0.0.5:8000", "wss", True),  # CSRF_TRUSTED_ORIGINS
    ("https://crm.example.com:8443", "10.0.0.5:8000", "wss", False),
    ("https://evil.example", "evil.example", None, False),  # a Host not allowed
    ("null", "localhost", None, False),
    (None, "localhost", None, False),
])
async def test_the_origin_must_match_with_scheme_and_port(
    anna, settings, origin, host, scheme, allowed
):
    settings.CSRF_TRUSTED_ORIGINS = ["https://crm.example.com"]
    settings.ALLOWED_HOSTS = ["localhost"]
    communicator, connected = await open_socket(await login_cookie(anna), origin=origin,
                                                host=host, scheme=scheme)
    assert connected is allowed
    if connected:
        assert await communicator.receive_nothing(timeout=0.2)  # not closed either
        await communicator.disconnect()


# --- Every change that takes a followed deal away --------------------------------------------


def _share_with_olga(deal, *, anna, olga, expires_at=None, **_):
    sharing.deal_share(deal=deal, user=olga, access=sharing.READ, expires_at=expires_at,
                       by=anna)


def _share_for_an_hour(deal, **people):
    _share_with_olga(deal, expires_at=timezone.now() + timedelta(hours=1), **people)


def _reassign_to_olga(deal, *, olga, director, **_):
    services.deal_reassign(deal=deal, to_user=olga, by=director)


def _deal_team_to_south(deal, *, olga, director, **_):
    admin_change(director, f"/admin/crm/deal/{deal.pk}/change/", team=olga.team_id)


def _unshare(deal, *, anna, olga, **_):
    assert sharing.deal_unshare(deal=deal, user=olga, by=anna)


def _share_expires(deal, **_):
    DealUserObjectPermission.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert delete_expired_deal_shares() == 1


def _role_to_marketer(deal, *, anna, director, **_):
    marketer = Group.objects.get(name=roles.MARKETER)
    admin_change(director, f"/admin/security/user/{anna.pk}/change/", groups=[marketer.pk])


def _head_replaced(deal, *, director, head_north, **_):
    admin_change(director, f"/admin/security/team/{head_north.team_id}/change/", head="")


def _deactivated(deal, *, anna, director, **_):
    admin_change(director, f"/admin/security/user/{anna.pk}/change/", is_active=None)


def _cut_off(deal, *, anna, **_):
    accounts.user_cut_off(anna, reason="test")


@dataclass
class Change:
    watcher: str
    change: Callable
    prepare: Callable | None = None
    closes: int | None = None  # the socket closes with this code instead of access_lost


CHANGES = {
    "reassigned: the former owner": Change("anna", _reassign_to_olga),
    "reassigned to another team: the former team's head": Change("head_north",
                                                                 _reassign_to_olga),
    "the deal's team changed in the admin: the former head": Change("head_north",
                                                                    _deal_team_to_south),
    "a share revoked": Change("olga", _unshare, prepare=_share_with_olga),
    "a share expired": Change("olga", _share_expires, prepare=_share_for_an_hour),
    "the role changed in the admin": Change("anna", _role_to_marketer),
    "no longer heads the team": Change("head_north", _head_replaced),
    "deactivated in the admin": Change("anna", _deactivated, closes=4401),
    "cut off (offboarding, suspension)": Change("anna", _cut_off, closes=4401),
}


@pytest.mark.parametrize("case", CHANGES.values(), ids=CHANGES.keys())
async def test_a_change_that_takes_the_deal_away_ends_the_subscription(
    case, anna, olga, head_north, director, anna_deal
):
    people = {"anna": anna, "olga": olga, "head_north": head_north, "director": director}
    if case.prepare is not None:
        await database_sync_to_async(case.prepare)(anna_deal, **people)
    communicator, connected = await open_socket(await login_cookie(people[case.watcher]))
    assert connected
    assert (await subscribe(communicator, anna_deal.pk))["subscribed"] == "deal"

    await database_sync_to_async(case.change)(anna_deal, **people)

    if case.closes is not None:
        assert await close_code(communicator) == case.closes
        return
    while True:  # the change's own events (ids only) may come first
        event = await communicator.receive_json_from(timeout=5)
        if event.get("type") == "deal.access_lost":
            break
        assert event["type"] in ("timeline.entry", "deal.changed")
    assert event == {"type": "deal.access_lost", "deal": anna_deal.pk}
    # The change's own events went out with the same commit, to other groups: they may
    # still arrive. Nothing of what happens to the deal afterwards does.
    while not await communicator.receive_nothing(timeout=0.3):
        assert (await communicator.receive_json_from())["type"] == "timeline.entry"
    await database_sync_to_async(services.note_add)(by=director, deal=anna_deal, text="тихо")
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_a_change_that_keeps_the_deal_keeps_the_subscription(
    anna, olga, director, anna_deal
):
    """Moving a manager to another team leaves her the deals she owns."""
    communicator, connected = await open_socket(await login_cookie(anna))
    assert (await subscribe(communicator, anna_deal.pk))["subscribed"] == "deal"
    await database_sync_to_async(admin_change)(
        director, f"/admin/security/user/{anna.pk}/change/", team=olga.team_id)
    assert await communicator.receive_nothing(timeout=0.5)
    await database_sync_to_async(services.note_add)(by=anna, deal=anna_deal, text="слышно")
    assert (await communicator.receive_json_from(timeout=5))["type"] == "timeline.entry"
    await communicator.disconnect()


async def test_a_role_changed_while_open_applies_to_the_next_subscription(
    anna, director, anna_deal
):
    """The socket asks as the user is now, not as they were when it opened."""
    communicator, connected = await open_socket(await login_cookie(anna))
    await database_sync_to_async(_role_to_marketer)(anna_deal, anna=anna, director=director)
    await communicator.send_json_to({"subscribe": "deal", "id": anna_deal.pk})
    assert (await communicator.receive_json_from(timeout=5))["error"] == "not_found"
    await communicator.disconnect()
