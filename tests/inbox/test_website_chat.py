"""Website chat (issue 4): the widget's script, a visitor's messages through the inbound
pipeline, replies live on the visitor's socket, and what a visitor may and may not read."""

import json
import logging
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client, TestCase
from django.urls import reverse

from config.asgi import application
from crm.models import Contact, Deal
from inbox import services, website
from inbox.models import Channel, ChannelIdentity, Conversation, InboundEvent, Message
from inbox.providers.base import ProviderError, provider_for

SITE = "https://shop.example"
EVIL = "https://evil.example"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def channel(north, anna):
    """The north team's website chat; anna is the team's only manager: new visitors are hers."""
    return Channel.objects.create(
        kind=Channel.Kind.WEBSITE, name="Чат на сайте", team=north, public_key="pk_test-123",
        allowed_origins=f"{SITE}\nhttp://localhost:8000\n",
    )


def messages_url(channel) -> str:
    return reverse("widget:messages", args=[channel.public_key])


def script_url(channel) -> str:
    return reverse("widget:script", args=[channel.public_key])


def post(channel, body=None, *, origin=SITE, raw: bytes | None = None, **headers):
    """POST as the widget does; the callbacks queued after commit (the processing task, live
    events) run here, since the test's transaction never commits."""
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    # No CSRF token: the widget on another site has none (the endpoint is exempt).
    client = Client(enforce_csrf_checks=True)
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(messages_url(channel), data=data, content_type="application/json",
                           **headers)


def say(channel, text, *, token=None, name=None, message_id=None, origin=SITE):
    body = {"id": message_id or str(uuid.uuid4()), "text": text}
    if token:
        body["token"] = token
    if name:
        body["name"] = name
    return post(channel, body, origin=origin)


def history(channel, token, *, origin=SITE):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    return Client().get(messages_url(channel), **headers)


def reply(conversation, by, text):
    """A manager's reply from the deal card; the send task runs once the reply commits."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.message_reply(conversation=conversation, by=by, text=text)


# --- The script -------------------------------------------------------------------------------


@pytest.mark.django_db
class TestScript:
    def test_it_serves_the_widget_with_the_channel_settings(self, channel):
        response = Client().get(script_url(channel), HTTP_REFERER=f"{SITE}/contacts/")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/javascript")
        body = response.content.decode()
        assert "/*CRM_WIDGET_CONFIG*/" not in body
        assert f'"key": "{channel.public_key}"' in body
        assert f"http://testserver/widget/{channel.public_key}/messages/" in body
        assert f"ws://testserver/ws/widget/{channel.public_key}/" in body
        assert "Напишите нам" in body  # the visitors of a Russian company's site
        assert "innerHTML" not in body  # text goes in with textContent only

    def test_a_script_tag_without_origin_or_referer_gets_it(self, channel):
        assert Client().get(script_url(channel)).status_code == 200

    @pytest.mark.parametrize("header", ["HTTP_ORIGIN", "HTTP_REFERER"])
    def test_a_page_of_another_site_gets_no_widget(self, channel, header, caplog):
        with caplog.at_level(logging.WARNING, logger="inbox.widget"):
            response = Client().get(script_url(channel), **{header: f"{EVIL}/"})
        assert response.status_code == 403
        assert "evil.example" in caplog.text

    def test_markup_in_the_settings_cannot_end_the_script(self, channel):
        channel.name = "</script><script>alert(1)</script>"
        channel.save()
        body = Client().get(script_url(channel)).content.decode()
        assert "</script>" not in body and "\\u003C/script\\u003E" in body

    def test_the_embed_snippet_names_the_script(self, channel):
        assert website.snippet(channel, "https://crm.example/") == (
            f'<script src="https://crm.example/widget/{channel.public_key}.js" async></script>')

    def test_an_unknown_key_or_an_inactive_channel_is_404(self, channel):
        assert Client().get("/widget/no-such-key.js").status_code == 404
        channel.is_active = False
        channel.save()
        assert Client().get(script_url(channel)).status_code == 404
        assert say(channel, "Здравствуйте").status_code == 404
        assert history(channel, "x").status_code == 404

    def test_a_telegram_channel_is_no_website_chat(self, channel, north):
        Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="tg", team=north,
                               public_key="tg-key", allowed_origins=SITE)
        assert Client().get("/widget/tg-key.js").status_code == 404


# --- Origins, sizes, limits -------------------------------------------------------------------


@pytest.mark.django_db
class TestRefusals:
    @pytest.mark.parametrize("origin", [None, EVIL, "https://shop.example.evil.example",
                                        "http://shop.example", "https://shop.example:8443",
                                        "null"])
    def test_a_wrong_or_missing_origin_is_refused_logged_and_nothing_is_stored(
        self, channel, origin, caplog
    ):
        with caplog.at_level(logging.WARNING, logger="inbox.widget"):
            response = say(channel, "Здравствуйте", origin=origin)
        assert response.status_code == 403
        assert response.json()["error"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in response
        assert "refused" in caplog.text
        assert not InboundEvent.objects.exists()

    def test_history_and_preflight_from_another_site_are_refused(self, channel):
        token = say(channel, "Здравствуйте").json()["token"]
        assert history(channel, token, origin=EVIL).status_code == 403
        assert history(channel, token, origin=None).status_code == 403
        response = Client().options(messages_url(channel), HTTP_ORIGIN=EVIL,
                                    HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
        assert response.status_code == 403
        assert "Access-Control-Allow-Origin" not in response

    def test_the_preflight_of_an_allowed_site_is_answered_for_that_site_only(self, channel):
        response = Client().options(messages_url(channel), HTTP_ORIGIN=SITE,
                                    HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                                    HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type")
        assert response.status_code == 204
        assert response["Access-Control-Allow-Origin"] == SITE
        assert "POST" in response["Access-Control-Allow-Methods"]
        assert "authorization" in response["Access-Control-Allow-Headers"].lower()
        assert "Access-Control-Allow-Credentials" not in response

    def test_answers_carry_cors_for_the_calling_site(self, channel):
        response = say(channel, "Здравствуйте", origin="http://localhost:8000")
        assert response.status_code == 202
        assert response["Access-Control-Allow-Origin"] == "http://localhost:8000"

    def test_a_same_origin_read_without_origin_header_counts_as_this_server(self, channel):
        """Browsers send no Origin on a same-origin GET (the demo site is on this server)."""
        token = say(channel, "Здравствуйте").json()["token"]
        response = Client().get(messages_url(channel), HTTP_AUTHORIZATION=f"Bearer {token}",
                                HTTP_SEC_FETCH_SITE="same-origin")
        assert response.status_code == 403  # http://testserver is not one of its sites
        channel.allowed_origins += "http://testserver\n"
        channel.save()
        response = Client().get(messages_url(channel), HTTP_AUTHORIZATION=f"Bearer {token}",
                                HTTP_SEC_FETCH_SITE="same-origin")
        assert response.status_code == 200

    @pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b""])
    def test_malformed_json_is_400_with_a_clear_error(self, channel, raw):
        response = post(channel, raw=raw)
        assert response.status_code == 400
        assert response.json()["error"] == "malformed_json"
        assert response.json()["detail"]
        assert response["Access-Control-Allow-Origin"] == SITE  # the widget can read why
        assert not InboundEvent.objects.exists()

    @pytest.mark.parametrize("body, field", [
        ([1, 2], "object"),
        ({"text": "x"}, "id"),
        ({"id": "not-a-uuid", "text": "x"}, "id"),
        ({"id": str(uuid.uuid4()), "text": "   "}, "text"),
        ({"id": str(uuid.uuid4()), "text": 5}, "text"),
        ({"id": str(uuid.uuid4()), "text": "x", "name": ["a"]}, "name"),
        ({"id": str(uuid.uuid4()), "text": "я" * (website.TEXT_LIMIT + 1)}, "long"),
    ])
    def test_an_invalid_message_is_400_and_says_what_is_wrong(self, channel, body, field):
        response = post(channel, body)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid"
        assert response.json()["detail"]
        assert not InboundEvent.objects.exists()

    def test_a_huge_body_is_413(self, channel):
        body = {"id": str(uuid.uuid4()), "text": "я" * 100_000}
        response = post(channel, body)
        assert response.status_code == 413
        assert not InboundEvent.objects.exists()

    def test_a_forged_token_is_refused(self, channel, north):
        response = say(channel, "Здравствуйте", token="made-up:token")
        assert response.status_code == 403
        assert response.json()["error"] == "unknown_token"
        # A token of another channel is no token here.
        other = Channel.objects.create(kind=Channel.Kind.WEBSITE, name="Другой сайт",
                                       team=north, public_key="other", allowed_origins=SITE)
        token = say(other, "Привет").json()["token"]
        assert say(channel, "Здравствуйте", token=token).status_code == 403
        assert history(channel, token).status_code == 403
        assert InboundEvent.objects.filter(channel=channel).count() == 0

    def test_each_address_has_a_budget_per_channel(self, channel, north, settings):
        settings.WIDGET_RATE = "3/min"
        other = Channel.objects.create(kind=Channel.Kind.WEBSITE, name="Другой сайт",
                                       team=north, public_key="other", allowed_origins=SITE)
        token = say(channel, "1").json()["token"]
        assert say(channel, "2", token=token).status_code == 202
        assert history(channel, token).status_code == 200
        response = say(channel, "4", token=token)
        assert response.status_code == 429
        assert int(response["Retry-After"]) >= 1
        assert response.json()["error"] == "rate_limited"
        assert Client().get(script_url(channel)).status_code == 429
        assert say(other, "1").status_code == 202  # another channel: its own budget
        assert Client().get(script_url(channel), REMOTE_ADDR="10.0.0.7").status_code == 200
        assert InboundEvent.objects.filter(channel=channel).count() == 2


# --- The pipeline -----------------------------------------------------------------------------


@pytest.mark.django_db
class TestVisitorMessages:
    def test_a_first_message_makes_a_contact_a_lead_deal_and_a_conversation(self, channel,
                                                                            anna):
        message_id = str(uuid.uuid4())
        response = say(channel, "Здравствуйте! Сколько стоит доставка?", name="Мария",
                       message_id=message_id)
        assert response.status_code == 202
        token = response.json()["token"]
        assert response.json() == {"token": token, "id": message_id, "duplicate": False}

        event = InboundEvent.objects.get()
        assert event.status == InboundEvent.Status.PROCESSED
        contact = Contact.objects.get(name="Мария")
        assert contact.source == Contact.Source.WEBSITE and contact.owner == anna
        deal = Deal.objects.get(contact=contact)
        assert deal.owner == anna and deal.team == channel.team
        conversation = Conversation.objects.get(deal=deal)
        assert conversation.channel == channel and conversation.assignee == anna
        message = conversation.messages.get()
        assert message.direction == Message.Direction.INBOUND
        assert message.text == "Здравствуйте! Сколько стоит доставка?"
        assert deal.timeline.filter(kind="message", source_id=message.pk).exists()

        # The token is a bearer secret: stored nowhere, not even in the raw event.
        identity = ChannelIdentity.objects.get()
        assert identity.external_id == website.visitor_id(channel, token)
        assert token not in event.payload and token not in message.external_id
        assert token.split(":")[0] not in event.payload
        assert message.external_id.endswith(message_id)

    def test_the_deal_card_shows_the_message(self, channel, anna):
        say(channel, f"{HOSTILE} это картинка?", name="Мария")
        deal = Deal.objects.get(contact__name="Мария")
        client = Client()
        client.force_login(anna)
        page = client.get(reverse("deal_detail", args=[deal.pk])).content.decode()
        assert "&lt;img src=x onerror=alert(1)&gt; это картинка?" in page
        assert HOSTILE not in page

    def test_a_repeated_id_creates_nothing_and_gives_the_same_token(self, channel):
        message_id = str(uuid.uuid4())
        first = say(channel, "Здравствуйте", message_id=message_id)
        # The widget got no answer and tries again, still without a token.
        again = say(channel, "Здравствуйте", message_id=message_id)
        assert again.status_code == 200
        assert again.json() == {**first.json(), "duplicate": True}
        token = first.json()["token"]
        assert say(channel, "Здравствуйте", message_id=message_id,
                   token=token).json()["duplicate"] is True
        assert InboundEvent.objects.count() == 1
        assert Message.objects.count() == 1 and Contact.objects.count() == 1

    def test_the_next_messages_join_the_same_conversation_and_keep_the_name(self, channel):
        token = say(channel, "Здравствуйте", name="Мария").json()["token"]
        assert say(channel, "Вы тут?", token=token).status_code == 202
        conversation = Conversation.objects.get()
        assert [m.text for m in conversation.messages.all()] == ["Здравствуйте", "Вы тут?"]
        assert conversation.identity.display_name == "Мария"
        assert Contact.objects.count() == 1

    def test_a_visitor_without_a_name_gets_a_neutral_one(self, channel):
        say(channel, "Здравствуйте")
        assert Contact.objects.get().name == "Посетитель сайта"

    def test_two_visitors_are_two_clients(self, channel):
        first = say(channel, "Я первый", name="Мария").json()["token"]
        second = say(channel, "Я второй", name="Пётр").json()["token"]
        assert first != second
        assert Conversation.objects.count() == 2 and Deal.objects.count() == 2


# --- What a visitor reads ---------------------------------------------------------------------


@pytest.mark.django_db
class TestHistory:
    def test_a_visitor_reads_their_messages_and_the_replies_sent_to_them(self, channel, anna):
        token = say(channel, "Здравствуйте", name="Мария").json()["token"]
        conversation = Conversation.objects.get()
        reply(conversation, anna, f"{HOSTILE} Добрый день!")
        response = history(channel, token)
        assert response.status_code == 200
        assert response["Access-Control-Allow-Origin"] == SITE
        messages = response.json()["messages"]
        assert [(m["direction"], m["text"]) for m in messages] == [
            ("in", "Здравствуйте"), ("out", f"{HOSTILE} Добрый день!")]
        assert set(messages[0]) == {"id", "direction", "text", "at"}
        assert "anna" not in response.content.decode()

    def test_notes_and_unsent_replies_never_reach_the_widget(self, channel, anna):
        token = say(channel, "Здравствуйте").json()["token"]
        conversation = Conversation.objects.get()
        for direction, status, text in [
            (Message.Direction.NOTE, Message.Status.SENT, "Клиент сложный, скидку не давать"),
            (Message.Direction.OUTBOUND, Message.Status.QUEUED, "ещё не ушло"),
            (Message.Direction.OUTBOUND, Message.Status.FAILED, "не ушло"),
        ]:
            Message.objects.create(conversation=conversation, channel=channel, author=anna,
                                   direction=direction, status=status, text=text,
                                   external_id=f"x:{uuid.uuid4()}")
        body = history(channel, token).content.decode()
        assert "Здравствуйте" in body
        for secret in ("скидку", "ещё не ушло", "не ушло"):
            assert secret not in body

    def test_one_visitor_cannot_read_another(self, channel):
        mine = say(channel, "Мой секрет", name="Мария").json()["token"]
        theirs = say(channel, "Чужой вопрос", name="Пётр").json()["token"]
        assert [m["text"] for m in history(channel, theirs).json()["messages"]] == [
            "Чужой вопрос"]
        assert "Мой секрет" not in history(channel, theirs).content.decode()
        assert [m["text"] for m in history(channel, mine).json()["messages"]] == ["Мой секрет"]

    @pytest.mark.parametrize("auth", ["", "Bearer ", "Bearer forged:token", "Token x"])
    def test_no_history_without_a_token_of_this_channel(self, channel, auth):
        say(channel, "Здравствуйте")
        response = Client().get(messages_url(channel), HTTP_ORIGIN=SITE,
                                HTTP_AUTHORIZATION=auth)
        assert response.status_code == 403
        assert "Здравствуйте" not in response.content.decode()

    def test_a_token_whose_first_message_is_not_processed_yet_reads_an_empty_history(
        self, channel
    ):
        token = website.token_for_first_message(channel, str(uuid.uuid4()))
        assert history(channel, token).json() == {"messages": []}


# --- The provider -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_files_cannot_be_sent_to_the_website_chat_yet(channel):
    with pytest.raises(ProviderError) as error:
        provider_for(channel).send_file(to="x", name="a.pdf", content=b"%PDF",
                                        mime_type="application/pdf")
    assert error.value.permanent
    assert error.value.message


# --- The visitor's socket ---------------------------------------------------------------------


async def connect(channel, *, origin=SITE, key=None):
    headers = [(b"host", b"crm.example")]
    if origin:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(application,
                                         f"/ws/widget/{key or channel.public_key}/",
                                         headers=headers)
    connected, _code = await communicator.connect()
    if not connected:
        await communicator.disconnect()  # let the consumer finish (and its database thread)
    return communicator, connected


async def join(channel, token):
    communicator, connected = await connect(channel)
    assert connected
    await communicator.send_json_to({"token": token})
    assert await communicator.receive_json_from(timeout=5) == {"type": "ready"}
    return communicator


@database_sync_to_async
def visitor_writes(channel, text, token=None, name="Мария"):
    response = say(channel, text, token=token, name=name)
    assert response.status_code == 202, response.content
    return response.json()["token"]


@pytest.mark.django_db(transaction=True)
class TestSocket:
    async def test_a_manager_reply_reaches_the_visitor_live(self, channel, anna):
        token = await visitor_writes(channel, "Здравствуйте")
        communicator = await join(channel, token)
        conversation = await database_sync_to_async(Conversation.objects.get)()

        message = await database_sync_to_async(services.message_reply)(
            conversation=conversation, by=anna, text=f"{HOSTILE} Добрый день, Мария!")
        event = await communicator.receive_json_from(timeout=5)
        assert event["type"] == "message"
        assert event["message"]["direction"] == "out"
        assert event["message"]["text"] == f"{HOSTILE} Добрый день, Мария!"
        assert set(event["message"]) == {"id", "direction", "text", "at"}

        await database_sync_to_async(message.refresh_from_db)()
        assert message.status == Message.Status.SENT
        assert message.external_id == f"w:out:{event['message']['id']}"
        await communicator.disconnect()

    async def test_a_visitor_socket_hears_only_its_own_visitor(self, channel, anna):
        mine = await visitor_writes(channel, "Я Мария")
        theirs = await visitor_writes(channel, "Я Пётр", name="Пётр")
        mine_socket, their_socket = await join(channel, mine), await join(channel, theirs)

        @database_sync_to_async
        def answer_peter():
            conversation = Conversation.objects.get(identity__display_name="Пётр")
            return services.message_reply(conversation=conversation, by=anna,
                                          text="Пётр, ответ вам")

        await answer_peter()
        event = await their_socket.receive_json_from(timeout=5)
        assert event["message"]["text"] == "Пётр, ответ вам"
        assert await mine_socket.receive_nothing(timeout=0.5)
        await mine_socket.disconnect()
        await their_socket.disconnect()

    async def test_a_private_note_never_reaches_the_socket(self, channel, anna):
        token = await visitor_writes(channel, "Здравствуйте")
        communicator = await join(channel, token)

        @database_sync_to_async
        def note():
            conversation = Conversation.objects.get()
            Message.objects.create(conversation=conversation, channel=channel, author=anna,
                                   direction=Message.Direction.NOTE,
                                   status=Message.Status.SENT, text="только для своих")

        await note()
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    @pytest.mark.parametrize("origin", [None, EVIL, "http://shop.example"])
    async def test_a_wrong_or_missing_origin_is_refused(self, channel, origin):
        _communicator, connected = await connect(channel, origin=origin)
        assert not connected

    async def test_an_unknown_key_or_inactive_channel_is_refused(self, channel):
        _communicator, connected = await connect(channel, key="no-such-key")
        assert not connected
        channel.is_active = False
        await database_sync_to_async(channel.save)()
        _communicator, connected = await connect(channel)
        assert not connected

    @pytest.mark.parametrize("first", [{"token": "forged:token"}, {"token": 5}, {}, "token",
                                       None])
    async def test_an_unknown_token_is_closed(self, channel, first):
        communicator, connected = await connect(channel)
        assert connected
        if first is None:
            await communicator.send_to(text_data="{not json")
        else:
            await communicator.send_json_to(first)
        output = await communicator.receive_output(timeout=5)
        assert output == {"type": "websocket.close", "code": 4403}
        await communicator.disconnect()

    async def test_the_staff_socket_keeps_its_own_origin_check(self, channel, anna):
        communicator = WebsocketCommunicator(application, "/ws/", headers=[
            (b"origin", SITE.encode()), (b"host", b"localhost")])
        connected, _code = await communicator.connect()
        assert not connected


# --- Admin and demo ---------------------------------------------------------------------------


def channel_admin(director) -> Client:
    """The admin role manages channels (security.roles)."""
    client = Client()
    client.force_login(director)
    return client


@pytest.mark.django_db
def test_the_admin_gives_a_website_channel_its_key_and_shows_the_snippet(director, north):
    client = channel_admin(director)
    response = client.post(reverse("admin:inbox_channel_add"), {
        "name": "Сайт", "kind": "website", "team": north.pk, "is_active": "on",
        "allowed_origins": "https://shop.example", "business_hours": "{}",
        "time_zone": "Europe/Moscow", "first_response_minutes": "15",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    channel = Channel.objects.get(name="Сайт")
    assert len(channel.public_key) >= 32
    page = client.get(reverse("admin:inbox_channel_change", args=[channel.pk])).content.decode()
    assert f"http://testserver/widget/{channel.public_key}.js" in page


@pytest.mark.django_db
def test_the_admin_refuses_an_origin_with_a_path(director, north):
    client = channel_admin(director)
    response = client.post(reverse("admin:inbox_channel_add"), {
        "name": "Сайт", "kind": "website", "team": north.pk,
        "allowed_origins": "https://shop.example/contacts", "business_hours": "{}",
        "time_zone": "Europe/Moscow", "first_response_minutes": "15",
    })
    assert response.status_code == 200
    assert not Channel.objects.exists()


@pytest.mark.django_db
def test_the_demo_site_shows_the_demo_channel_widget_in_embedded_mode_only(
    north, south, anna, settings
):
    import random

    from django.utils import timezone

    from crm.demo import DemoBuilder
    from inbox import demo

    assert Client().get("/demo/site/").status_code == 404  # no demo channel
    demo.seed(DemoBuilder(random.Random(1), timezone.now()))
    [described] = [c for c in demo.describe()["channels"] if c["kind"] == "website"]
    channel = Channel.objects.get(kind=Channel.Kind.WEBSITE)
    assert channel.public_key == described["public_key"] and channel.team == north
    assert {"http://127.0.0.1:8000", "http://localhost:8000"} <= website.allowed_origins(
        channel)

    page = Client().get("/demo/site/")
    assert page.status_code == 200
    assert f'src="/widget/{channel.public_key}.js"' in page.content.decode()
    settings.EMBEDDED = False
    assert Client().get("/demo/site/").status_code == 404
