"""The live wallboard (/team/live/, issue 19): who is on a call now and whose clients wait,
followed over the websocket: the team's head and the director may subscribe to the team's
board (anyone else gets not_found and hears nothing), and a client's message or a ringing
phone pings it; the board's page and its fragment keep the team page's visibility."""

import json

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from inbox import services as inbox_services
from inbox.models import Channel, Conversation
from telephony.models import Call
from tests.crm.test_consumers import connect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat(north):
    return Channel.objects.create(kind="website", name="Чат", team=north, public_key="board")


def client_writes(channel, visitor, event):
    payload = {"visitor": visitor, "id": event, "text": "Добрый день",
               "sent_at": timezone.now().isoformat()}
    inbox_services.event_receive(channel=channel, provider_event_id=event,
                                 event_type="message", payload=json.dumps(payload))
    inbox_services.events_drain(linger=0, pause=0)


async def subscribe(communicator, team_id):
    await communicator.send_json_to({"subscribe": "team", "id": team_id})
    return await communicator.receive_json_from(timeout=5)


async def test_the_head_hears_the_team_board_change_when_a_client_writes(head_north, anna,
                                                                         north, chat):
    communicator, connected = await connect(head_north)
    assert connected
    assert await subscribe(communicator, north.pk) == {"subscribed": "team", "id": north.pk}
    await database_sync_to_async(client_writes)(chat, "v-1", "w1")
    events = []
    while True:
        event = await communicator.receive_json_from(timeout=5)
        events.append(event)
        if event.get("type") == "wallboard.changed":
            break
    assert event == {"type": "wallboard.changed", "team": north.pk}
    await communicator.disconnect()


@pytest.mark.parametrize("who", ["head_south", "anna", "olga"])
async def test_nobody_else_may_follow_a_teams_board(request, who, north, south, chat, ivan):
    if who == "head_south":
        from security import roles
        from tests.factories import make_user

        user = await database_sync_to_async(make_user)("head_south", roles.SALES_HEAD, south)
        south.head = user
        await database_sync_to_async(south.save)()
    else:
        user = await database_sync_to_async(request.getfixturevalue)(who)
    communicator, connected = await connect(user)
    assert connected
    reply = await subscribe(communicator, north.pk)
    assert reply == {"error": "not_found", "subscribe": "team", "id": north.pk}
    await database_sync_to_async(client_writes)(chat, "v-2", "w2")
    assert await database_sync_to_async(
        lambda: Conversation.objects.filter(channel=chat).count())() == 1
    # Their own events may come (a message to them); never the north board's.
    while not await communicator.receive_nothing(timeout=0.8):
        assert (await communicator.receive_json_from()).get("type") != "wallboard.changed"
    await communicator.disconnect()


async def test_the_director_may_follow_any_team(director, north, anna):
    communicator, connected = await connect(director)
    assert await subscribe(communicator, north.pk) == {"subscribed": "team", "id": north.pk}
    await communicator.disconnect()


def test_the_board_shows_calls_now_and_waiting_clients(head_north, anna, ivan, north, chat,
                                                       pbx_account):
    client_writes(chat, "v-3", "w3")
    Call.objects.create(account=pbx_account, entry_id="live-1", direction="in",
                        state="talking", manager=ivan, started_at=timezone.now(),
                        answered_at=timezone.now(), answered=True)
    client = Client()
    client.force_login(head_north)
    page = client.get(reverse("team_live"))
    assert page.status_code == 200
    tiles = {tile.user.pk: tile for tile in page.context["tiles"]}
    assert tiles[ivan.pk].call is not None and tiles[ivan.pk].call.state == "talking"
    assert sum(tile.unanswered for tile in tiles.values()) == 1
    html = page.content.decode()
    assert f'data-teams="{north.pk}"' in html
    board = client.get(reverse("team_live"), {"board": "1"})
    assert board.status_code == 200 and b"<html" not in board.content
    assert b'data-tile="%d"' % ivan.pk in board.content


def test_the_board_keeps_the_team_pages_visibility(anna, ivan, olga, north, head_north):
    client = Client()
    client.force_login(olga)
    assert client.get(reverse("team_live"), {"team": north.pk}).status_code == 404
    assert client.get(reverse("team_live"), {"user": ivan.pk}).status_code == 404
    tiles = client.get(reverse("team_live")).context["tiles"]
    assert [tile.user.pk for tile in tiles] == [olga.pk]
