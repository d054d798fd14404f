"""Working a conversation: business hours and the out-of-office reply, the first-response
clock, private notes, canned replies, replying to a message, read marks and the
"My conversations" list."""

import time
from datetime import datetime
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from inbox import services
from inbox.models import CannedReply, Conversation, Message
from tests.factories import client_for
from tests.inbox.test_telegram_inbound import post, text_update

XSS = "<img src=x onerror=alert(1)>"
WEEKDAYS = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
OUT_OF_OFFICE = "Мы ответим в рабочее время: пн–пт с 9 до 18."


def moscow(day, hour, minute=0):
    """November 2026: the 23rd is a Monday, the 28th a Saturday."""
    return datetime(2026, 11, day, hour, minute, tzinfo=ZoneInfo("Europe/Moscow"))


@pytest.fixture
def office_channel(telegram_channel):
    telegram_channel.business_hours = WEEKDAYS
    telegram_channel.out_of_office_reply = OUT_OF_OFFICE
    telegram_channel.save()
    return telegram_channel


def write_at(channel, when, update_id, text="Здравствуйте"):
    """The client writes at `when` (and the server's clock says it is `when` too)."""
    update = text_update(update_id, text)
    update["message"]["date"] = int(when.timestamp())
    with mock.patch("django.utils.timezone.now", return_value=when):
        response = post(channel, update, secret=channel.webhook_secret)
    assert response.status_code == 200


def sent_texts(fake_bot_api):
    return [call.body["text"] for call in fake_bot_api.calls("sendMessage")]


@pytest.mark.django_db
class TestOutOfOffice:
    def test_once_per_closed_period(self, office_channel, fake_bot_api, anna):
        write_at(office_channel, moscow(28, 12), 1)  # Saturday
        write_at(office_channel, moscow(28, 12, 5), 2, "Алло?")
        assert sent_texts(fake_bot_api) == [OUT_OF_OFFICE]
        automatic = Message.objects.get(is_automatic=True)
        assert automatic.direction == Message.Direction.OUTBOUND
        assert automatic.author is None
        assert automatic.status == Message.Status.SENT

        write_at(office_channel, moscow(30, 10), 3)  # Monday, open: nobody auto-answers
        assert sent_texts(fake_bot_api) == [OUT_OF_OFFICE]
        write_at(office_channel, moscow(30, 19), 4)  # Monday evening: a new closed period
        assert sent_texts(fake_bot_api) == [OUT_OF_OFFICE, OUT_OF_OFFICE]

    def test_not_during_business_hours_nor_without_a_reply_text(self, office_channel,
                                                                 fake_bot_api, anna):
        write_at(office_channel, moscow(24, 11), 1)
        office_channel.out_of_office_reply = ""
        office_channel.save()
        write_at(office_channel, moscow(24, 20), 2)
        assert sent_texts(fake_bot_api) == []

    def test_a_late_backlog_gets_no_automatic_reply(self, office_channel, fake_bot_api, anna):
        update = text_update(1, "Написано давно")
        update["message"]["date"] = int(moscow(28, 12).timestamp())
        with mock.patch("django.utils.timezone.now", return_value=moscow(28, 15)):
            post(office_channel, update, secret=office_channel.webhook_secret)
        assert sent_texts(fake_bot_api) == []

    def test_the_automatic_reply_does_not_count_as_an_answer(self, office_channel,
                                                             fake_bot_api, anna):
        write_at(office_channel, moscow(28, 12), 1)
        conversation = Conversation.objects.get()
        assert conversation.awaiting_reply
        # Written on Saturday: the first answer is due 15 working minutes into Monday.
        assert conversation.first_response_due_at == moscow(30, 9, 15)


@pytest.mark.django_db
class TestFirstResponse:
    def test_the_clock_starts_at_the_first_unanswered_message_and_a_reply_stops_it(
        self, telegram_channel, fake_bot_api, anna, django_capture_on_commit_callbacks
    ):
        write_at(telegram_channel, moscow(24, 11), 1)
        write_at(telegram_channel, moscow(24, 11, 10), 2, "Ещё вопрос")
        conversation = Conversation.objects.get()
        assert conversation.awaiting_reply and conversation.unread_count == 2
        assert conversation.first_response_due_at == moscow(24, 11, 15)

        with django_capture_on_commit_callbacks(execute=True):
            services.message_reply(conversation=conversation, by=conversation.assignee,
                                   text="Отвечаю")
        conversation.refresh_from_db()
        assert not conversation.awaiting_reply
        assert conversation.first_response_due_at is None
        assert conversation.unread_count == 0

        write_at(telegram_channel, moscow(24, 12), 3, "Спасибо, а сроки?")
        conversation.refresh_from_db()
        assert conversation.first_response_due_at == moscow(24, 12, 15)


@pytest.mark.django_db
class TestComposer:
    def url(self, conversation):
        return reverse("conversation_reply", args=[conversation.deal_id, conversation.pk])

    def test_a_private_note_stays_inside(self, anna, anna_conversation, fake_bot_api,
                                         django_capture_on_commit_callbacks):
        Conversation.objects.filter(pk=anna_conversation.pk).update(awaiting_reply=True)
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(anna).post(self.url(anna_conversation),
                                             {"text": XSS, "private": "1"})
        assert response.status_code == 302
        note = Message.objects.get()
        assert note.direction == Message.Direction.NOTE
        assert note.author == anna
        assert fake_bot_api.requests == []
        anna_conversation.refresh_from_db()
        assert anna_conversation.awaiting_reply  # a note answers nobody
        page = client_for(anna).get(anna_conversation.deal.get_absolute_url())
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.content.decode()
        assert XSS not in page.content.decode()

    def test_a_canned_reply_is_sent_when_no_text_is_typed(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks, south
    ):
        canned = CannedReply.objects.create(team=anna.team, title="Цены",
                                            text="Прайс-лист во вложении.")
        foreign = CannedReply.objects.create(team=south, title="Чужой", text="Не наш")
        page = client_for(anna).get(anna_conversation.deal.get_absolute_url()).content.decode()
        assert "Цены" in page and "Чужой" not in page
        with django_capture_on_commit_callbacks(execute=True):
            client_for(anna).post(self.url(anna_conversation), {"text": "", "canned": canned.pk})
        assert sent_texts(fake_bot_api) == ["Прайс-лист во вложении."]
        response = client_for(anna).post(self.url(anna_conversation),
                                         {"text": "", "canned": foreign.pk})
        assert response.status_code == 404

    def test_a_reply_to_a_client_message_quotes_it_in_telegram(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        question = Message.objects.create(
            conversation=anna_conversation, channel=anna_conversation.channel,
            direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED,
            external_id="555001:42", text="Сколько стоит?",
        )
        with django_capture_on_commit_callbacks(execute=True):
            client_for(anna).post(self.url(anna_conversation),
                                  {"text": "10 000 ₽", "reply_to": question.pk})
        [call] = fake_bot_api.calls("sendMessage")
        assert call.body["reply_parameters"]["message_id"] == 42
        assert Message.objects.get(text="10 000 ₽").reply_to == question

    def test_a_reply_to_a_message_of_another_deal_is_not_found(
        self, anna, anna_conversation, olga_conversation, fake_bot_api
    ):
        foreign = Message.objects.create(
            conversation=olga_conversation, channel=olga_conversation.channel,
            direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED,
            external_id="555002:7", text="Олин клиент",
        )
        response = client_for(anna).post(self.url(anna_conversation),
                                         {"text": "Привет", "reply_to": foreign.pk})
        assert response.status_code == 404
        assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()

    def test_an_empty_note_is_a_clear_error(self, anna, anna_conversation):
        response = client_for(anna).post(self.url(anna_conversation),
                                         {"text": "  ", "private": "1"},
                                         HTTP_ACCEPT="application/json")
        assert response.status_code == 400
        assert response.json()["errors"]["text"]


@pytest.mark.django_db
class TestReadMarks:
    def url(self, conversation):
        return reverse("conversation_read", args=[conversation.deal_id, conversation.pk])

    def test_only_the_assignee_reading_clears_the_count(self, anna, head_north,
                                                        anna_conversation):
        Conversation.objects.filter(pk=anna_conversation.pk).update(unread_count=3)
        assert client_for(head_north).post(self.url(anna_conversation)).status_code == 302
        anna_conversation.refresh_from_db()
        assert anna_conversation.unread_count == 3
        response = client_for(anna).post(self.url(anna_conversation),
                                         HTTP_ACCEPT="application/json")
        assert response.json() == {"unread": 0, "unread_conversations": 0}
        anna_conversation.refresh_from_db()
        assert anna_conversation.unread_count == 0

    def test_an_outsider_gets_404(self, ivan, anna_conversation):
        Conversation.objects.filter(pk=anna_conversation.pk).update(unread_count=3)
        assert client_for(ivan).post(self.url(anna_conversation)).status_code == 404
        anna_conversation.refresh_from_db()
        assert anna_conversation.unread_count == 3


@pytest.mark.django_db
class TestConversationList:
    url = reverse("conversation_list")

    def test_mine_unanswered_first_with_the_unread_badge(self, anna, anna_conversation,
                                                         telegram_channel, anna_deal):
        from tests.inbox.conftest import make_conversation

        answered = make_conversation(channel=telegram_channel, deal=anna_deal,
                                     chat_id="555777", name="Отвеченный")
        Conversation.objects.filter(pk=answered.pk).update(last_activity_at=moscow(24, 12))
        Conversation.objects.filter(pk=anna_conversation.pk).update(
            awaiting_reply=True, unread_count=2, last_activity_at=moscow(24, 10))
        Message.objects.create(conversation=anna_conversation, channel=telegram_channel,
                               direction=Message.Direction.INBOUND, text=XSS,
                               status=Message.Status.RECEIVED, external_id="555001:1")
        page = client_for(anna).get(self.url).content.decode()
        assert page.index("Пётр") < page.index("Отвеченный")
        assert "&lt;img src=x onerror=alert(1)&gt;" in page and XSS not in page
        assert 'data-unread-badge>1<' in page  # the nav: one conversation with unread

    def test_each_sees_only_their_own_or_their_teams(self, anna, ivan, head_north,
                                                     anna_conversation, olga_conversation):
        assert "Пётр" not in client_for(ivan).get(self.url).content.decode()
        olga_page = client_for(anna).get(self.url).content.decode()
        assert "Ирина" not in olga_page
        head_mine = client_for(head_north).get(self.url).content.decode()
        assert "Пётр" not in head_mine
        head_all = client_for(head_north).get(self.url, {"scope": "all"}).content.decode()
        assert "Пётр" in head_all
        assert "Ирина" not in head_all  # olga is in the south team
        ivan_all = client_for(ivan).get(self.url, {"scope": "all"}).content.decode()
        assert "Пётр" not in ivan_all and "Ирина" not in ivan_all

    def test_roles_without_deals_and_anonymous(self, marketer):
        assert client_for(marketer).get(self.url).status_code == 404
        response = Client().get(self.url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_time_is_real():  # the patched clock above must not leak
    assert abs(time.time() - datetime.now().timestamp()) < 5


@pytest.mark.django_db
def test_the_deal_card_reads_a_page_of_messages_in_constant_queries(
    anna, anna_conversation
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm import services as crm_services

    def add_messages(count):
        for i in range(count):
            message = Message.objects.create(
                conversation=anna_conversation, channel=anna_conversation.channel,
                direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED,
                external_id=f"555001:{Message.objects.count() + 1}", text=f"Сообщение {i}",
            )
            crm_services.timeline_add(kind="message", deal=anna_conversation.deal,
                                      source=message)

    client = client_for(anna)
    url = anna_conversation.deal.get_absolute_url()
    add_messages(3)
    client.get(url)  # warm the per-process caches (content types, policies)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    add_messages(30)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries][-40:]


@pytest.mark.django_db
class TestChatPanel:
    def add(self, conversation, count):
        return [Message.objects.create(
            conversation=conversation, channel=conversation.channel,
            direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED,
            external_id=f"555001:{i}", text=f"Сообщение №{i}",
        ) for i in range(count)]

    def test_the_card_shows_the_newest_page_and_loads_older_ones_upward(self, anna,
                                                                        anna_conversation):
        from inbox.selectors import CHAT_PAGE

        messages = self.add(anna_conversation, CHAT_PAGE + 5)
        client = client_for(anna)
        page = client.get(anna_conversation.deal.get_absolute_url()).content.decode()
        assert f"Сообщение №{CHAT_PAGE + 4}<" in page and "Сообщение №4<" not in page
        # Oldest first within the page, like a chat.
        assert page.index(f"Сообщение №{CHAT_PAGE}<") < page.index(f"Сообщение №{CHAT_PAGE + 4}<")
        first_shown = messages[5]
        assert f"?before={first_shown.pk}" in page

        url = reverse("conversation_messages", args=[anna_conversation.deal_id,
                                                     anna_conversation.pk])
        older = client.get(url, {"before": first_shown.pk}, HTTP_ACCEPT="application/json").json()
        assert older["older"] is None
        html = older["html"]
        assert [f"Сообщение №{i}<" in html for i in range(5)] == [True] * 5
        assert "Сообщение №5<" not in html
        newest = client.get(url, HTTP_ACCEPT="application/json").json()
        assert f"Сообщение №{CHAT_PAGE + 4}<" in newest["html"]
        assert newest["older"].endswith(f"?before={first_shown.pk}")
        # Without JavaScript the link opens a page of its own.
        assert "Сообщение №0" in client.get(url, {"before": first_shown.pk}).content.decode()

    def test_messages_are_not_repeated_in_the_cards_feed(self, anna, anna_conversation):
        from crm import services as crm_services

        [message] = self.add(anna_conversation, 1)
        crm_services.timeline_add(kind="message", deal=anna_conversation.deal, source=message)
        page = client_for(anna).get(anna_conversation.deal.get_absolute_url()).content.decode()
        assert page.count("Сообщение №0<") == 1
        # The API's timeline is the whole feed.
        token_client = client_for(anna)
        timeline = token_client.get(f"/api/v1/deals/{anna_conversation.deal_id}/timeline/").json()
        assert "message" in [entry["kind"] for entry in timeline["results"]]

    def test_a_bad_cursor_is_not_found(self, anna, anna_conversation):
        url = reverse("conversation_messages", args=[anna_conversation.deal_id,
                                                     anna_conversation.pk])
        assert client_for(anna).get(url, {"before": "x"}).status_code == 404


@pytest.mark.django_db
def test_no_file_is_offered_or_taken_where_the_channel_cannot_send_one(anna, north, anna_deal):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from inbox.models import Channel
    from tests.inbox.conftest import make_conversation

    site = Channel.objects.create(kind=Channel.Kind.WEBSITE, name="Сайт", team=north,
                                  public_key="k" * 32, allowed_origins="https://shop.example")
    conversation = make_conversation(channel=site, deal=anna_deal, chat_id="visitor-hash")
    client = client_for(anna)
    page = client.get(anna_deal.get_absolute_url()).content.decode()
    assert 'name="file"' not in page
    response = client.post(
        reverse("conversation_reply", args=[anna_deal.pk, conversation.pk]),
        {"text": "", "file": SimpleUploadedFile("offer.pdf", b"%PDF-1.7")},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert response.json()["errors"]["file"]
    assert not Message.objects.exists()
