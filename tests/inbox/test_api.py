"""The inbox in the REST API: conversations/, conversations/{id}/, conversations/{id}/messages/
(history and replies) and the retry of a failed reply."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.api.throttles import ListThrottle
from crm import sharing
from inbox.models import Attachment, Conversation, Message
from tests.factories import make_contact, make_deal
from tests.inbox.conftest import CLIENT_CHAT_ID, make_conversation

API = "/api/v1"
XSS = "<img src=x onerror=alert(1)>"


def client_for(user=None) -> APIClient:
    # Error messages follow Accept-Language (the default language is Russian).
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    if user is not None:
        token, _created = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [c["id"] for c in response.json()["results"]]


def messages_url(conversation) -> str:
    return f"{API}/conversations/{conversation.pk}/messages/"


def inbound(conversation, text="Здравствуйте", *, at=None, **fields) -> Message:
    return Message.objects.create(
        conversation=conversation, channel=conversation.channel,
        direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED, text=text,
        external_id=f"{CLIENT_CHAT_ID}:{Message.objects.count() + 1}",
        created_at=at or timezone.now(), **fields,
    )


def post(user, conversation, body, capture=None):
    client = client_for(user)
    if capture is None:
        return client.post(messages_url(conversation), body, format="json")
    with capture(execute=True):  # the on-commit send task runs (eagerly) as after a commit
        return client.post(messages_url(conversation), body, format="json")


# --- The list: who sees what -----------------------------------------------------------------


def test_a_manager_lists_the_conversations_of_her_deals_only(
    anna, anna_conversation, olga_conversation
):
    assert ids(client_for(anna).get(f"{API}/conversations/")) == [anna_conversation.pk]


def test_a_teammate_sees_none_of_a_colleagues_conversations(ivan, anna_conversation):
    assert ids(client_for(ivan).get(f"{API}/conversations/")) == []


def test_a_manager_of_the_other_team_sees_only_her_own(
    olga, anna_conversation, olga_conversation
):
    assert ids(client_for(olga).get(f"{API}/conversations/")) == [olga_conversation.pk]


def test_the_sales_head_sees_the_teams_conversations(
    head_north, anna_conversation, olga_conversation
):
    assert ids(client_for(head_north).get(f"{API}/conversations/")) == [anna_conversation.pk]


def test_the_admin_sees_every_conversation(director, anna_conversation, olga_conversation):
    found = ids(client_for(director).get(f"{API}/conversations/"))
    assert sorted(found) == sorted([anna_conversation.pk, olga_conversation.pk])


@pytest.mark.parametrize("role", ["marketer", "support", "security_officer"])
def test_roles_that_work_no_deals_see_no_conversations(role, request, anna_conversation):
    # As for deals in the API: an empty list, and 404 on the object.
    user = request.getfixturevalue(role)
    client = client_for(user)
    assert ids(client.get(f"{API}/conversations/")) == []
    assert client.get(f"{API}/conversations/{anna_conversation.pk}/").status_code == 404
    assert client.get(messages_url(anna_conversation)).status_code == 404


def test_the_anonymous_gets_401(anna_conversation):
    client = client_for()
    assert client.get(f"{API}/conversations/").status_code == 401
    assert client.get(f"{API}/conversations/{anna_conversation.pk}/").status_code == 401
    assert client.get(messages_url(anna_conversation)).status_code == 401
    assert client.post(messages_url(anna_conversation), {"text": "x"},
                       format="json").status_code == 401
    assert not Message.objects.exists()


def test_a_conversation_reads_with_its_fields_and_without_the_chat_id(
    anna, anna_conversation, telegram_channel, anna_deal
):
    due = timezone.now() + timedelta(minutes=15)
    inbound(anna_conversation)
    Conversation.objects.filter(pk=anna_conversation.pk).update(
        awaiting_reply=True, unread_count=1, first_response_due_at=due,
        last_inbound_at=timezone.now(),
    )
    anna_conversation.identity.is_unreachable = True
    anna_conversation.identity.unreachable_reason = "Forbidden: bot was blocked by the user"
    anna_conversation.identity.save()
    response = client_for(anna).get(f"{API}/conversations/")
    [listed] = response.json()["results"]
    detail = client_for(anna).get(f"{API}/conversations/{anna_conversation.pk}/").json()
    assert listed == detail
    assert set(detail) == {
        "id", "channel", "contact", "deal", "assignee", "status", "awaiting_reply",
        "unread_count", "first_response_due_at", "last_inbound_at", "last_outbound_at",
        "last_activity_at", "client_unreachable", "client_unreachable_reason",
    }
    assert detail["channel"] == {"id": telegram_channel.pk, "kind": "telegram",
                                 "name": "Telegram north"}
    assert detail["contact"] == {"id": anna_deal.contact_id, "name": "Пётр Смирнов"}
    assert detail["deal"] == anna_deal.pk
    assert detail["assignee"] == anna.pk
    assert detail["status"] == "open"
    assert detail["awaiting_reply"] is True
    assert detail["unread_count"] == 1
    assert detail["first_response_due_at"] is not None
    assert detail["last_outbound_at"] is None
    assert detail["client_unreachable"] is True
    assert detail["client_unreachable_reason"] == "Forbidden: bot was blocked by the user"
    # The client's Telegram chat id identifies them outside the CRM: never in the API.
    assert CLIENT_CHAT_ID not in response.content.decode()


def test_unanswered_conversations_come_first_then_the_latest(anna, telegram_channel, anna_deal):
    now = timezone.now()
    old_waiting, recent, older = (
        make_conversation(channel=telegram_channel, deal=anna_deal, chat_id=str(700 + i))
        for i in range(3)
    )
    Conversation.objects.filter(pk=old_waiting.pk).update(
        awaiting_reply=True, last_activity_at=now - timedelta(days=3))
    Conversation.objects.filter(pk=recent.pk).update(last_activity_at=now)
    Conversation.objects.filter(pk=older.pk).update(last_activity_at=now - timedelta(days=1))
    found = ids(client_for(anna).get(f"{API}/conversations/"))
    assert found == [old_waiting.pk, recent.pk, older.pk]


def test_conversations_are_filtered_by_assignee_awaiting_and_deal(
    anna, head_north, telegram_channel, anna_conversation, olga_deal
):
    other_deal = make_deal(anna, title="Вторая", contact=make_contact(anna, name="Второй"))
    other = make_conversation(channel=telegram_channel, deal=other_deal, chat_id="777")
    Conversation.objects.filter(pk=other.pk).update(awaiting_reply=True)
    as_anna, as_head = client_for(anna), client_for(head_north)
    url = f"{API}/conversations/"

    assert sorted(ids(as_anna.get(url, {"mine": 1}))) == sorted([anna_conversation.pk, other.pk])
    assert ids(as_head.get(url, {"mine": 1})) == []  # the team's, but assigned to anna
    assert ids(as_anna.get(url, {"awaiting": 1})) == [other.pk]
    assert ids(as_anna.get(url, {"awaiting": 0})) == [other.pk, anna_conversation.pk]
    assert ids(as_anna.get(url, {"deal": anna_conversation.deal_id})) == [anna_conversation.pk]
    assert ids(as_head.get(url, {"deal": other_deal.pk, "mine": 0})) == [other.pk]


def test_filtering_by_a_deal_the_user_cannot_see_is_an_empty_list(
    anna, olga_conversation
):
    # Exactly as for a deal id never used: nothing tells that the deal exists.
    response = client_for(anna).get(f"{API}/conversations/",
                                    {"deal": olga_conversation.deal_id})
    assert response.status_code == 200
    assert response.json()["count"] == 0
    never_used = client_for(anna).get(f"{API}/conversations/", {"deal": 10**9})
    assert never_used.json() == response.json()


def test_a_malformed_filter_is_a_400(anna, anna_conversation):
    response = client_for(anna).get(f"{API}/conversations/", {"deal": "abc", "mine": "maybe"})
    assert response.status_code == 400
    assert set(response.json()) == {"deal", "mine"}


def test_the_list_has_25_per_page_and_never_more_than_100(
    anna, anna_conversation, telegram_channel, anna_deal
):
    Conversation.objects.bulk_create([
        Conversation(channel=telegram_channel, identity=anna_conversation.identity,
                     contact=anna_deal.contact, deal=anna_deal, assignee=anna)
        for _ in range(130)
    ])
    client = client_for(anna)
    body = client.get(f"{API}/conversations/").json()
    assert body["count"] == 131
    assert len(body["results"]) == 25
    assert body["next"] is not None
    for asked in (100, 101, 10**9):
        body = client.get(f"{API}/conversations/", {"page_size": asked}).json()
        assert len(body["results"]) == 100, asked


def test_the_list_costs_the_same_queries_for_few_or_many(
    anna, anna_conversation, telegram_channel, anna_deal
):
    client = client_for(anna)
    client.get(f"{API}/conversations/")  # warm up (the token, the role)
    with CaptureQueriesContext(connection) as few:
        client.get(f"{API}/conversations/")
    Conversation.objects.bulk_create([
        Conversation(channel=telegram_channel, identity=anna_conversation.identity,
                     contact=anna_deal.contact, deal=anna_deal, assignee=anna)
        for _ in range(20)
    ])
    with CaptureQueriesContext(connection) as many:
        assert len(ids(client.get(f"{API}/conversations/"))) == 21
    assert len(many) == len(few)


# --- One conversation ------------------------------------------------------------------------


def test_the_detail_is_404_for_whoever_may_not_see_the_deal(
    ivan, olga, anna_conversation
):
    for user in (ivan, olga):
        client = client_for(user)
        assert client.get(f"{API}/conversations/{anna_conversation.pk}/").status_code == 404
        assert client.get(messages_url(anna_conversation)).status_code == 404
    assert client_for(olga).get(f"{API}/conversations/{10**9}/").status_code == 404
    assert client_for(olga).get(f"{API}/conversations/abc/").status_code == 404


def test_a_read_share_shows_the_conversation(anna, ivan, anna_deal, anna_conversation):
    sharing.deal_share(deal=anna_deal, user=ivan, access="read", by=anna)
    client = client_for(ivan)
    assert ids(client.get(f"{API}/conversations/")) == [anna_conversation.pk]
    assert client.get(f"{API}/conversations/{anna_conversation.pk}/").status_code == 200
    assert client.get(messages_url(anna_conversation)).status_code == 200


# --- Messages: the history -------------------------------------------------------------------


def test_messages_read_newest_last_with_their_fields(anna, anna_conversation):
    now = timezone.now()
    question = inbound(anna_conversation, "Сколько стоит?", at=now - timedelta(minutes=3))
    Attachment.objects.create(message=question, file_path="attachments/ab/secret.bin",
                              name="прайс.pdf", mime_type="application/pdf", size=2048,
                              kind="document", provider_file_id="BQACAgIAAxkB")
    answer = Message.objects.create(
        conversation=anna_conversation, channel=anna_conversation.channel,
        direction=Message.Direction.OUTBOUND, author=anna, text="Прайс во вложении",
        reply_to=question, status=Message.Status.SENT, external_id=f"{CLIENT_CHAT_ID}:900",
        created_at=now - timedelta(minutes=2), sent_at=now - timedelta(minutes=2),
    )
    note = Message.objects.create(
        conversation=anna_conversation, channel=anna_conversation.channel,
        direction=Message.Direction.NOTE, author=anna, text="Клиент торгуется", status="",
        created_at=now - timedelta(minutes=1),
    )
    response = client_for(anna).get(messages_url(anna_conversation))
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    first, second, third = body["results"]
    assert [m["id"] for m in body["results"]] == [question.pk, answer.pk, note.pk]
    assert set(first) == {
        "id", "direction", "text", "author", "is_automatic", "reply_to", "edited_at",
        "status", "error", "delivery_unknown", "created_at", "sent_at", "attachments",
    }
    assert first["direction"] == "in"
    assert first["author"] is None
    assert first["status"] == "received"
    assert first["attachments"] == [{
        "id": question.attachments.get().pk, "name": "прайс.pdf",
        "mime_type": "application/pdf", "size": 2048, "kind": "document",
    }]
    assert second["direction"] == "out"
    assert second["author"] == {"id": anna.pk, "name": str(anna)}
    assert second["reply_to"] == question.pk
    assert second["status"] == "sent"
    assert second["sent_at"] is not None
    assert second["is_automatic"] is False
    # Private notes are the team's: staff who see the deal see them, marked as notes.
    assert third["direction"] == "note"
    assert third["text"] == "Клиент торгуется"
    content = response.content.decode()
    for secret in (CLIENT_CHAT_ID, "secret.bin", "BQACAgIAAxkB"):
        assert secret not in content


def test_messages_page_upward_through_before(anna, anna_conversation):
    now = timezone.now()
    created = [
        inbound(anna_conversation, f"Сообщение {i}", at=now - timedelta(minutes=60 - i))
        for i in range(60)
    ]
    client = client_for(anna)
    page = client.get(messages_url(anna_conversation)).json()
    assert [m["id"] for m in page["results"]] == [m.pk for m in created[-25:]]
    seen = page["results"]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen = page["results"] + seen
    assert [m["id"] for m in seen] == [m.pk for m in created]

    older = client.get(messages_url(anna_conversation), {"before": created[10].pk}).json()
    assert [m["id"] for m in older["results"]] == [m.pk for m in created[:10]]
    assert older["next"] is None


def test_a_message_page_is_capped_at_100(anna, anna_conversation):
    now = timezone.now()
    Message.objects.bulk_create([
        Message(conversation=anna_conversation, channel=anna_conversation.channel,
                direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED,
                text=str(i), created_at=now - timedelta(seconds=i))
        for i in range(130)
    ])
    client = client_for(anna)
    assert len(client.get(messages_url(anna_conversation), {"page_size": 50})
               .json()["results"]) == 50
    for asked in (100, 101, 10**9):
        body = client.get(messages_url(anna_conversation), {"page_size": asked}).json()
        assert len(body["results"]) == 100, asked
        assert body["next"] is not None


def test_before_must_name_a_message_of_the_conversation(
    anna, anna_conversation, olga_conversation
):
    foreign = inbound(olga_conversation, "Чужое")
    client = client_for(anna)
    for before in (foreign.pk, 10**9, "abc"):
        response = client.get(messages_url(anna_conversation), {"before": before})
        assert response.status_code == 400, before
        assert list(response.json()) == ["before"]


def test_client_markup_comes_back_as_the_same_text(anna, anna_conversation):
    # JSON, not HTML: the text is returned verbatim; whoever renders it escapes it.
    inbound(anna_conversation, XSS)
    response = client_for(anna).get(messages_url(anna_conversation))
    assert response["Content-Type"] == "application/json"
    assert response.json()["results"][0]["text"] == XSS


# --- Messages: replying ----------------------------------------------------------------------


def test_a_reply_is_queued_and_then_sent_through_the_bot_api(
    anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
):
    question = inbound(anna_conversation, "Счёт пришлёте?")
    Conversation.objects.filter(pk=anna_conversation.pk).update(awaiting_reply=True,
                                                                unread_count=1)
    response = post(anna, anna_conversation, {"text": "Уже отправил", "reply_to": question.pk},
                    django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["direction"] == "out"
    assert body["status"] == "queued"  # the response leaves before the send task runs
    assert body["text"] == "Уже отправил"
    assert body["reply_to"] == question.pk
    assert body["author"] == {"id": anna.pk, "name": str(anna)}

    [call] = fake_bot_api.calls("sendMessage")
    assert call.body["chat_id"] == CLIENT_CHAT_ID
    assert call.body["text"] == "Уже отправил"
    message = Message.objects.get(pk=body["id"])
    assert message.status == Message.Status.SENT
    history = client_for(anna).get(messages_url(anna_conversation)).json()["results"]
    assert history[-1]["id"] == message.pk and history[-1]["status"] == "sent"
    conversation = client_for(anna).get(f"{API}/conversations/{anna_conversation.pk}/").json()
    assert conversation["awaiting_reply"] is False
    assert conversation["unread_count"] == 0


def test_a_private_note_is_never_sent_to_the_client(
    anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
):
    Conversation.objects.filter(pk=anna_conversation.pk).update(awaiting_reply=True)
    response = post(anna, anna_conversation, {"text": "Клиент просит скидку", "private": True},
                    django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    assert response.json()["direction"] == "note"
    assert response.json()["status"] == ""
    assert fake_bot_api.calls("sendMessage") == []
    assert fake_bot_api.requests == []
    note = Message.objects.get()
    assert note.direction == Message.Direction.NOTE
    assert anna_conversation.deal.timeline.filter(kind="message", source_id=note.pk).exists()
    anna_conversation.refresh_from_db()
    assert anna_conversation.awaiting_reply  # a note answers nobody


def test_client_markup_in_a_reply_is_kept_as_text(anna, anna_conversation):
    response = post(anna, anna_conversation, {"text": XSS})
    assert response.status_code == 201
    assert response.json()["text"] == XSS
    assert Message.objects.get().text == XSS


@pytest.mark.parametrize("body, field", [
    ({"text": ""}, "text"),
    ({"text": "   "}, "text"),
    ({}, "text"),
    ({"text": "x" * 4097}, "text"),
    ({"text": "x" * 20_001, "private": True}, "text"),
    ({"text": "Ок", "reply_to": "abc"}, "reply_to"),
    ({"text": "Ок", "private": "maybe"}, "private"),
])
def test_a_bad_message_is_a_400_on_its_field(anna, anna_conversation, body, field):
    response = post(anna, anna_conversation, body)
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert not Message.objects.exists()


def test_a_too_long_reply_says_the_limit(anna, anna_conversation):
    response = post(anna, anna_conversation, {"text": "x" * 4097})
    assert response.json() == {
        "text": ["A message holds at most 4096 characters; this one has 4097."]
    }
    # A note may be longer: it goes nowhere.
    assert post(anna, anna_conversation, {"text": "x" * 4097, "private": True}
                ).status_code == 201


def test_an_empty_reply_says_what_to_do(anna, anna_conversation):
    assert post(anna, anna_conversation, {"text": " "}).json() == {
        "text": ["Write the reply first."]
    }


def test_a_reply_to_a_message_of_another_chat_is_refused(
    anna, anna_conversation, telegram_channel, olga_conversation
):
    other_deal = make_deal(anna, title="Вторая", contact=make_contact(anna, name="Второй"))
    other_chat = make_conversation(channel=telegram_channel, deal=other_deal, chat_id="777")
    response = post(anna, anna_conversation,
                    {"text": "Ок", "reply_to": inbound(other_chat, "Там").pk})
    assert response.status_code == 400
    assert response.json() == {"reply_to": ["That message is from another chat."]}
    # A message she may not see reads exactly like one that does not exist.
    hidden = post(anna, anna_conversation,
                  {"text": "Ок", "reply_to": inbound(olga_conversation, "Чужое").pk})
    missing = post(anna, anna_conversation, {"text": "Ок", "reply_to": 10**9})
    assert hidden.status_code == missing.status_code == 400
    assert list(hidden.json()) == list(missing.json()) == ["reply_to"]
    assert hidden.json()["reply_to"][0].replace(
        str(Message.objects.get(text="Чужое").pk), "N"
    ) == missing.json()["reply_to"][0].replace(str(10**9), "N")
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


def test_a_read_share_may_not_reply_nor_write_notes(
    anna, ivan, anna_deal, anna_conversation, fake_bot_api
):
    sharing.deal_share(deal=anna_deal, user=ivan, access="read", by=anna)
    for body in ({"text": "Здравствуйте"}, {"text": "Заметка", "private": True}):
        response = post(ivan, anna_conversation, body)
        assert response.status_code == 403, body
        assert response.json() == {"detail": "This deal is shared with you for reading only."}
    assert not Message.objects.exists()


def test_an_edit_share_may_reply(anna, ivan, anna_deal, anna_conversation):
    sharing.deal_share(deal=anna_deal, user=ivan, access="edit", by=anna)
    assert post(ivan, anna_conversation, {"text": "Я коллега Анны"}).status_code == 201


def test_an_outsider_gets_404_whatever_the_body(olga, ivan, anna_conversation):
    for user in (olga, ivan):
        for body in ({"text": "Захват"}, {"text": "", "private": True}, {"reply_to": "x"}):
            assert post(user, anna_conversation, body).status_code == 404
    assert not Message.objects.exists()


def test_the_head_replies_in_a_teammates_chat(head_north, anna_conversation):
    response = post(head_north, anna_conversation, {"text": "Руководитель на связи"})
    assert response.status_code == 201
    assert response.json()["author"]["id"] == head_north.pk


# --- Retry -----------------------------------------------------------------------------------


def failed_reply(conversation, author) -> Message:
    return Message.objects.create(
        conversation=conversation, channel=conversation.channel,
        direction=Message.Direction.OUTBOUND, author=author, text="Не дошло",
        status=Message.Status.FAILED, error="Internal Server Error",
    )


def retry_url(conversation, message) -> str:
    return f"{API}/conversations/{conversation.pk}/messages/{message.pk}/retry/"


def test_a_failed_reply_is_sent_again(
    anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
):
    message = failed_reply(anna_conversation, anna)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(anna).post(retry_url(anna_conversation, message))
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert response.json()["error"] == ""
    [call] = fake_bot_api.calls("sendMessage")
    assert call.body["text"] == "Не дошло"
    message.refresh_from_db()
    assert message.status == Message.Status.SENT


def test_only_a_failed_reply_is_retried(anna, anna_conversation):
    message = inbound(anna_conversation)
    response = client_for(anna).post(retry_url(anna_conversation, message))
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["Only a message that failed to send can be retried."]
    }


def test_retry_names_a_message_of_the_conversation_only(
    anna, olga, anna_conversation, olga_conversation
):
    foreign = failed_reply(olga_conversation, olga)
    assert client_for(anna).post(retry_url(anna_conversation, foreign)).status_code == 404
    mine = failed_reply(anna_conversation, anna)
    assert client_for(olga).post(retry_url(anna_conversation, mine)).status_code == 404
    assert client_for(olga).post(retry_url(olga_conversation, mine)).status_code == 404
    assert set(Message.objects.values_list("status", flat=True)) == {"failed"}


def test_a_read_share_may_not_retry(anna, ivan, anna_deal, anna_conversation):
    sharing.deal_share(deal=anna_deal, user=ivan, access="read", by=anna)
    message = failed_reply(anna_conversation, anna)
    assert client_for(ivan).post(retry_url(anna_conversation, message)).status_code == 403
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED


# --- Limits and the schema -------------------------------------------------------------------


@pytest.fixture
def tight_limits(monkeypatch):
    monkeypatch.setattr(ListThrottle, "THROTTLE_RATES", {"list": "3/min"})


def test_lists_and_histories_spend_the_per_user_list_budget(
    tight_limits, anna, ivan, anna_conversation
):
    client = client_for(anna)
    assert client.get(f"{API}/conversations/").status_code == 200
    assert client.get(messages_url(anna_conversation)).status_code == 200
    assert client.get(f"{API}/deals/").status_code == 200
    for url in (f"{API}/conversations/", messages_url(anna_conversation)):
        response = client.get(url)
        assert response.status_code == 429, url
        assert int(response["Retry-After"]) > 0
    # One object is no bulk read, nor is a reply; another user has their own budget.
    assert client.get(f"{API}/conversations/{anna_conversation.pk}/").status_code == 200
    assert post(anna, anna_conversation, {"text": "Добрый день"}).status_code == 201
    assert client_for(ivan).get(f"{API}/conversations/").status_code == 200


def test_the_schema_documents_the_inbox_under_its_tag(db):
    schema = client_for().get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    expected = {
        "/api/v1/conversations/": {"get"},
        "/api/v1/conversations/{id}/": {"get"},
        "/api/v1/conversations/{id}/messages/": {"get", "post"},
        "/api/v1/conversations/{id}/messages/{message_id}/retry/": {"post"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
        for operation in paths[path].values():
            assert operation["tags"] == ["inbox"], path
    create = paths["/api/v1/conversations/{id}/messages/"]["post"]
    assert set(create["responses"]) == {"201", "400", "401", "403", "404"}
    message = schema["components"]["schemas"]["Message"]["properties"]
    assert "external_id" not in message
    assert "file_path" not in schema["components"]["schemas"]["Attachment"]["properties"]

