"""@mentions and the personal live notices: who may be mentioned, what is refused and how,
what each notice carries and to whom it goes (service level, events captured before the
channel layer), and the same end to end through the websocket on the real Redis layer."""

from contextlib import contextmanager
from datetime import UTC, datetime
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from django.urls import reverse

from core import events
from crm import mentions, services, sharing
from crm.models import Mention, Note
from crm.selectors import deals_visible_to
from inbox import services as inbox_services
from inbox.models import Channel, Message
from inbox.providers.base import InboundMessage
from tests.crm.test_consumers import connect
from tests.factories import make_contact
from tests.inbox.conftest import make_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(django_capture_on_commit_callbacks):
    """The events of the test's writes, by group, as the channel layer would get them."""
    captured: list[tuple[str, dict]] = []
    with mock.patch.object(events, "_send_all", side_effect=captured.extend):
        yield captured


@pytest.fixture
def telegram_channel(north):
    # Nothing is sent to the client in these tests: no provider behind it.
    return Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Telegram north", team=north,
                                  credentials="123:abc", webhook_secret="s3cret-webhook-token",
                                  api_base_url="http://127.0.0.1:9")


@pytest.fixture
def anna_conversation(telegram_channel, anna_deal):
    return make_conversation(channel=telegram_channel, deal=anna_deal)


def notices(sent, user) -> list[dict]:
    return [event for group, event in sent
            if group == events.user_group(user.pk) and event["type"] == "notify"]


@contextmanager
def committing(capture):
    """Run the block as its own committed transaction. Earlier writes of the test left a
    batch of events waiting for a commit that never comes (the test runs inside one
    transaction): the block's events start a batch of their own."""
    events._current.batch = None
    with capture(execute=True):
        yield


def add_note(django_capture_on_commit_callbacks, **kwargs):
    with committing(django_capture_on_commit_callbacks):
        return services.note_add(**kwargs)


# --- Parsing --------------------------------------------------------------------------------


def test_it_reads_usernames_after_an_at_sign():
    assert mentions.mentioned_usernames("@Head_North, посмотри. И @ivan.") == ["head_north", "ivan"]
    assert mentions.mentioned_usernames("пишите на anna@example.ru или @@ @") == []
    assert mentions.mentioned_usernames("@ivan @IVAN") == ["ivan"]


# --- The rule: only colleagues who see the deal -------------------------------------------


def test_a_mention_of_someone_who_sees_the_deal_is_kept_and_notified(
    anna, head_north, anna_deal, sent, django_capture_on_commit_callbacks
):
    note = add_note(django_capture_on_commit_callbacks, by=anna, deal=anna_deal,
                    text="@head_north согласуй скидку")
    mention = Mention.objects.get()
    assert (mention.user, mention.author, mention.deal) == (head_north, anna, anna_deal)
    assert mention.entry.source == note
    [notice] = notices(sent, head_north)
    assert notice == {
        "type": "notify", "kind": "mention", "deal": anna_deal.pk, "entry": mention.entry_id,
        "url": f"/deals/{anna_deal.pk}/#entry-{mention.entry_id}",
        "title": anna_deal.title, "by": str(anna),
    }
    # Nothing of the note's text travels; the author hears nothing of their own note.
    assert "скидку" not in str(sent)
    assert notices(sent, anna) == []


def test_a_mention_of_someone_who_cannot_see_the_deal_is_refused_with_their_name(
    anna, ivan, olga, anna_deal, sent
):
    with pytest.raises(ValidationError) as refused:
        services.note_add(by=anna, deal=anna_deal, text="@ivan @olga глянь")
    message = refused.value.message_dict["text"][0]
    assert "@ivan (Ivan)" in message and "@olga (Olga)" in message
    assert "не видят эту сделку" in message and "сначала поделитесь сделкой" in message
    # Refused as a whole: no note, no mention, nobody told, nothing shared.
    assert not Note.objects.exists() and not Mention.objects.exists()
    assert notices(sent, ivan) == notices(sent, olga) == []
    assert not deals_visible_to(ivan).filter(pk=anna_deal.pk).exists()


def test_a_deactivated_colleague_cannot_be_mentioned(anna, head_north, anna_deal):
    head_north.is_active = False
    head_north.save()
    with pytest.raises(ValidationError, match="head_north"):
        services.note_add(by=anna, deal=anna_deal, text="@head_north")


def test_a_share_makes_a_colleague_mentionable(
    anna, ivan, head_north, anna_deal, sent, django_capture_on_commit_callbacks
):
    assert [u.username for u in mentions.mention_candidates(deal=anna_deal, by=anna)] == [
        "head_north"]
    sharing.deal_share(deal=anna_deal, user=ivan, access=sharing.READ, by=anna)
    assert [u.username for u in mentions.mention_candidates(deal=anna_deal, by=anna)] == [
        "head_north", "ivan"]
    add_note(django_capture_on_commit_callbacks, by=anna, deal=anna_deal, text="@ivan см.")
    assert [n["kind"] for n in notices(sent, ivan)] == ["mention"]


def test_the_card_asks_for_whom_to_offer_and_gets_who_sees_the_deal(anna, ivan, head_north,
                                                                      anna_deal):
    """The autocomplete's list is asked when "@" is typed, not put in every card; the card
    names its URL only where the user may write a note."""
    client = Client()
    client.force_login(anna)
    url = reverse("deal_mention_candidates", args=[anna_deal.pk])
    card = client.get(anna_deal.get_absolute_url()).content.decode()
    assert f'data-mention-candidates="{url}"' in card and "head_north" not in card
    assert client.get(url).json() == {
        "candidates": [{"username": "head_north", "name": str(head_north)}]}
    sharing.deal_share(deal=anna_deal, user=ivan, access=sharing.READ, by=anna)
    assert [c["username"] for c in client.get(url).json()["candidates"]] == [
        "head_north", "ivan"]
    reader = Client()
    reader.force_login(ivan)  # a read share: no note form, so no list offered
    assert "data-mention-candidates" not in reader.get(
        anna_deal.get_absolute_url()).content.decode()


def test_unknown_names_and_e_mail_addresses_are_only_text(anna, anna_deal):
    services.note_add(by=anna, deal=anna_deal, text="@home и petr@example.ru")
    assert Note.objects.count() == 1 and not Mention.objects.exists()


def test_a_private_note_in_a_conversation_mentions_the_same_way(
    anna, head_north, olga, anna_conversation, sent, django_capture_on_commit_callbacks
):
    with pytest.raises(ValidationError, match="@olga"):
        inbox_services.message_note(conversation=anna_conversation, by=anna, text="@olga")
    assert not Message.objects.filter(direction=Message.Direction.NOTE).exists()

    with committing(django_capture_on_commit_callbacks):
        inbox_services.message_note(conversation=anna_conversation, by=anna,
                                    text="@head_north клиент торгуется")
    [notice] = notices(sent, head_north)
    assert notice["kind"] == "mention"
    assert notice["url"] == f"/deals/{anna_conversation.deal_id}/#conversations"


def test_the_mentions_list_shows_what_the_user_still_sees(
    anna, ivan, head_north, anna_deal, django_capture_on_commit_callbacks
):
    sharing.deal_share(deal=anna_deal, user=ivan, access=sharing.READ, by=anna)
    add_note(django_capture_on_commit_callbacks, by=anna, deal=anna_deal,
             text="@ivan <b>смотри</b>")
    client = Client()
    client.force_login(ivan)
    page = client.get(reverse("mention_list"))
    assert page.status_code == 200
    assert "&lt;b&gt;смотри&lt;/b&gt;" in page.content.decode()
    assert anna_deal.title in page.content.decode()

    sharing.deal_unshare(deal=anna_deal, user=ivan, by=anna)
    page = client.get(reverse("mention_list"))
    assert anna_deal.title not in page.content.decode()


def test_the_note_form_shows_the_refusal(anna, ivan, anna_deal):
    client = Client()
    client.force_login(anna)
    response = client.post(reverse("deal_note_add", args=[anna_deal.pk]), {"text": "@ivan"},
                           HTTP_ACCEPT="application/json", HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 400
    assert "@ivan" in str(response.json()["errors"]["text"])


# --- A client wrote; a lead arrived ---------------------------------------------------------


def receive(channel, *, sender="555001", name="Пётр", text="Здравствуйте", n=1):
    inbounds = [InboundMessage(external_id=f"{sender}:{n}", sender_id=sender, sender_name=name,
                               text=text, sent_at=datetime.now(UTC))]
    with transaction.atomic():
        return inbox_services._messages_receive(channel=channel, inbounds=inbounds)


def test_a_clients_message_tells_the_assignee_with_the_unread_count(
    anna, head_north, anna_conversation, sent, django_capture_on_commit_callbacks
):
    with committing(django_capture_on_commit_callbacks):
        receive(anna_conversation.channel, text="Секретный вопрос, +7 916 000-00-00")
    deal = anna_conversation.deal
    [notice] = notices(sent, anna)
    assert notice == {
        "type": "notify", "kind": "message", "url": f"/deals/{deal.pk}/#conversations",
        "deal": deal.pk, "name": "Пётр", "unread": 1, "more": 0,
        "items": [{"deal": deal.pk, "conversation": anna_conversation.pk, "name": "Пётр",
                   "url": f"/deals/{deal.pk}/#conversations"}],
    }
    # The message itself never travels; the head is not disturbed by each message.
    assert "Секретный" not in str(sent) and "916" not in str(sent)
    assert notices(sent, head_north) == []


def test_the_deals_owner_hears_too_when_someone_else_has_the_conversation(
    anna, ivan, anna_conversation, sent, django_capture_on_commit_callbacks
):
    sharing.deal_share(deal=anna_conversation.deal, user=ivan, access=sharing.EDIT, by=anna)
    anna_conversation.assignee = ivan
    anna_conversation.save()
    with committing(django_capture_on_commit_callbacks):
        receive(anna_conversation.channel)
    assert notices(sent, ivan)[0]["unread"] == 1
    [owners] = notices(sent, anna)
    assert "unread" not in owners  # her badge counts her own conversations


def test_nobody_hears_of_a_deal_they_cannot_see(
    anna, olga, anna_conversation, sent, django_capture_on_commit_callbacks
):
    # Assigned by hand to someone of another team, without a share: not told.
    anna_conversation.assignee = olga
    anna_conversation.save()
    with committing(django_capture_on_commit_callbacks):
        receive(anna_conversation.channel)
    assert notices(sent, olga) == []
    assert [n["kind"] for n in notices(sent, anna)] == ["message"]


def test_a_new_client_becomes_a_lead_on_the_owners_lists_and_notice(
    anna, head_north, director, telegram_channel, sent, django_capture_on_commit_callbacks
):
    with committing(django_capture_on_commit_callbacks):
        [message] = receive(telegram_channel, sender="777", name="Новый Клиент")
    deal = message.conversation.deal
    for user in (anna, head_north, director):  # everyone whose list shows it refetches
        assert (events.user_group(user.pk), {"type": "deal.created", "deal": deal.pk}) in sent
    [notice] = notices(sent, anna)
    assert (notice["kind"], notice["name"], notice["unread"]) == ("message", "Новый Клиент", 1)


def test_a_deal_handed_to_a_manager_by_the_head_is_announced_as_a_lead(
    anna, head_north, sent, django_capture_on_commit_callbacks
):
    contact = make_contact(head_north, name="Клиент Главы")
    with committing(django_capture_on_commit_callbacks):
        deal = services.deal_create(by=head_north, owner=anna, contact=contact,
                                    title="Передано")
    [notice] = notices(sent, anna)
    assert notice == {"type": "notify", "kind": "lead", "url": f"/deals/{deal.pk}/",
                      "deal": deal.pk, "name": "Клиент Главы"}
    assert notices(sent, head_north) == []


# --- End to end through the websocket (real Redis) ----------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_mentioned_colleague_gets_the_notice_on_their_socket(anna, head_north,
                                                                     anna_deal, olga):
    head, connected = await connect(head_north)
    outsider, outsider_connected = await connect(olga)
    assert connected and outsider_connected
    await database_sync_to_async(services.note_add)(by=anna, deal=anna_deal,
                                                    text="@head_north нужна подпись")
    event = await head.receive_json_from(timeout=5)
    assert (event["type"], event["kind"], event["by"]) == ("notify", "mention", str(anna))
    assert await outsider.receive_nothing(timeout=0.5)
    await head.disconnect()
    await outsider.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_clients_message_reaches_the_assignees_socket(anna, anna_conversation):
    communicator, connected = await connect(anna)
    assert connected
    await database_sync_to_async(receive)(anna_conversation.channel)
    received = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
    notice = next(event for event in received if event["type"] == "notify")
    assert (notice["name"], notice["unread"]) == ("Пётр", 1)
    await communicator.disconnect()
