"""The websocket end to end through Channels' communicator, on the real Redis channel layer."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from crm import services

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def connect(user=None, origin=b"http://localhost"):
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if user is not None:
        headers.append((b"cookie", f"sessionid={await session_cookie(user)}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/", headers=headers)
    connected, _code = await communicator.connect()
    return communicator, connected


async def test_an_anonymous_socket_is_closed_as_logged_out():
    """Accepted only to be closed with 4401, which the page's script sees (a refused
    handshake is a bare 1006) and on which it stops reconnecting."""
    communicator, connected = await connect()
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close",
                                                           "code": 4401}


async def test_a_foreign_origin_is_refused(anna):
    communicator, connected = await connect(anna, origin=b"https://evil.example")
    assert not connected


async def test_the_owner_receives_a_new_note_live(anna, anna_deal):
    communicator, connected = await connect(anna)
    assert connected
    await communicator.send_json_to({"subscribe": "deal", "id": anna_deal.pk})
    assert await communicator.receive_json_from() == {"subscribed": "deal", "id": anna_deal.pk}

    note = await database_sync_to_async(services.note_add)(
        by=anna, deal=anna_deal, text="<b>секрет</b>"
    )
    event = await communicator.receive_json_from(timeout=5)
    assert event["type"] == "timeline.entry"
    assert event["deal"] == anna_deal.pk
    assert event["kind"] == "note"
    # Events carry ids only; the text is fetched through the access-checked view.
    assert "секрет" not in str(event)
    assert event["entry"] == await database_sync_to_async(
        lambda: anna_deal.timeline.get(kind="note", source_id=note.pk).pk
    )()
    await communicator.disconnect()


async def test_an_outsider_cannot_subscribe_to_a_deal_and_hears_nothing(olga, anna, anna_deal):
    communicator, connected = await connect(olga)
    assert connected
    await communicator.send_json_to({"subscribe": "deal", "id": anna_deal.pk})
    reply = await communicator.receive_json_from()
    assert reply["error"] == "not_found"
    await database_sync_to_async(services.note_add)(by=anna, deal=anna_deal, text="тихо")
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()


async def test_malformed_messages_get_a_clear_error(anna):
    communicator, connected = await connect(anna)
    await communicator.send_json_to({"subscribe": "deal", "id": "7; drop"})
    assert (await communicator.receive_json_from())["error"] == "bad_request"
    await communicator.send_json_to(["not", "an", "object"])
    assert (await communicator.receive_json_from())["error"] == "bad_request"
    await communicator.disconnect()


async def test_logging_out_closes_that_sessions_socket_only(anna):
    """Logout in one browser closes that browser's socket with 4401 (its script then stops
    reconnecting); the same user's socket from another session stays open."""
    cookie = await session_cookie(anna)
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"),
               (b"cookie", f"sessionid={cookie}".encode())]
    logged_out = WebsocketCommunicator(application, "/ws/", headers=headers)
    assert (await logged_out.connect())[0]
    other, connected = await connect(anna)
    assert connected

    def log_out():
        client = Client()
        client.cookies["sessionid"] = cookie
        assert client.post("/logout/").status_code == 302

    await database_sync_to_async(log_out)()
    closed = await logged_out.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    assert await other.receive_nothing(timeout=0.3)
    await other.disconnect()


async def test_a_new_task_refreshes_open_deal_cards(anna, anna_deal):
    """A task made elsewhere (a missed call's call-back task, a colleague's) reaches the open
    card as a timeline entry and a `deal.changed`, which refreshes its open-tasks panel."""
    communicator, connected = await connect(anna)
    assert connected
    await communicator.send_json_to({"subscribe": "deal", "id": anna_deal.pk})
    await communicator.receive_json_from()
    await database_sync_to_async(services.task_create)(by=anna, title="Перезвонить",
                                                       deal=anna_deal)
    received = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    assert {event["type"] for event in received} == {"timeline.entry", "deal.changed"}
    await communicator.disconnect()
