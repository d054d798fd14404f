"""MAX and VK: their webhook checks (a secret header; a secret inside the body and VK's
confirmation), every update type of the fixtures, repeats, sending through the local fakes
(MAX's uploads flow, VK's random_id), and a client stopping or allowing messages."""

import copy

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase

from inbox import services
from inbox.models import Attachment, ChannelIdentity, Conversation, InboundEvent, Message
from inbox.providers.base import (
    ClientReachable,
    ClientUnreachable,
    InboundMessage,
    ProviderError,
    provider_for,
)
from tests.inbox.conftest import VK_CONFIRMATION, VK_SECRET
from tests.inbox.messengers import deliver, fixture, reply_from_card

MAX_CHAT = "123456789"  # the fixtures' dialog
VK_PEER = "712345678"


# --- MAX ---------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestMaxWebhook:
    @pytest.mark.parametrize("headers", [{}, {"HTTP_X_MAX_BOT_API_SECRET": ""},
                                         {"HTTP_X_MAX_BOT_API_SECRET": "wrong"}])
    def test_a_missing_or_wrong_secret_stores_nothing(self, max_channel, headers):
        response = deliver(max_channel, fixture("max", "message_created_text"), headers=headers)
        assert response.status_code == 403
        assert not InboundEvent.objects.exists()

    def test_the_same_update_three_times_is_one_message(self, max_channel):
        for _ in range(3):
            assert deliver(max_channel, fixture("max", "message_created_text")).status_code == 200
        message = Message.objects.get()
        body = fixture("max", "message_created_text")["message"]["body"]
        assert (message.external_id, message.text) == (body["mid"], body["text"])
        assert message.conversation.identity.external_id == MAX_CHAT

    def test_an_edit_changes_the_message(self, max_channel):
        deliver(max_channel, fixture("max", "message_created_text"))
        deliver(max_channel, fixture("max", "message_edited"))
        message = Message.objects.get()
        assert message.text == fixture("max", "message_edited")["message"]["body"]["text"]
        assert message.edited_at is not None

    @pytest.mark.parametrize("name", ["message_created_group_chat", "unknown_update"])
    def test_group_chats_and_unknown_updates_are_kept_and_ignored(self, max_channel, name):
        assert deliver(max_channel, fixture("max", name)).status_code == 200
        assert InboundEvent.objects.get().status == InboundEvent.Status.IGNORED
        assert not Message.objects.exists()

    @pytest.mark.parametrize("name, kind", [
        ("message_created_image", "photo"), ("message_created_file", "document"),
        ("message_created_audio", "audio"), ("message_created_video", "video"),
    ])
    def test_attachments_are_fetched_by_their_url(self, max_channel, name, kind):
        [message] = provider_for(max_channel).parse(fixture("max", name))
        [attachment] = message.attachments
        assert attachment.kind == kind and attachment.file_id.startswith("http")

    def test_a_clients_file_is_downloaded_and_stored(self, max_channel, fake_max_api):
        url = fake_max_api.add_file(b"%PDF-1.4 max")
        payload = fixture("max", "message_created_file")
        payload["message"]["body"]["attachments"][0]["payload"]["url"] = url
        deliver(max_channel, payload)
        attachment = Attachment.objects.get()
        assert attachment.file_path and attachment.size == len(b"%PDF-1.4 max")

    @pytest.mark.parametrize("name", ["message_created_location", "message_created_contact",
                                      "message_callback", "message_created_reply"])
    def test_other_messages_read_as_text(self, max_channel, name):
        [message] = provider_for(max_channel).parse(fixture("max", name))
        assert isinstance(message, InboundMessage) and message.text.strip()

    def test_stopping_and_starting_the_bot(self, max_channel):
        deliver(max_channel, fixture("max", "message_created_text"))
        identity = ChannelIdentity.objects.get()
        [stopped] = provider_for(max_channel).parse(fixture("max", "bot_stopped"))
        assert isinstance(stopped, ClientUnreachable) and stopped.sender_id == MAX_CHAT
        deliver(max_channel, fixture("max", "bot_stopped"))
        identity.refresh_from_db()
        assert identity.is_unreachable
        [started] = provider_for(max_channel).parse(fixture("max", "bot_started"))
        assert isinstance(started, ClientReachable)
        deliver(max_channel, fixture("max", "bot_started"))
        identity.refresh_from_db()
        assert not identity.is_unreachable


@pytest.mark.django_db
class TestMaxSending:
    @pytest.fixture
    def conversation(self, max_channel):
        deliver(max_channel, fixture("max", "message_created_text"))
        return Conversation.objects.get()

    def test_a_reply_goes_to_the_chat(self, conversation, fake_max_api):
        message = reply_from_card(conversation)
        [call] = fake_max_api.calls("messages")
        assert call.body["chat_id"] == MAX_CHAT and call.body["text"] == "Добрый день!"
        assert call.token == fake_max_api.token
        assert message.status == Message.Status.SENT and message.external_id.startswith("mid.")

    def test_a_file_goes_through_the_uploads_flow(self, conversation, fake_max_api):
        with TestCase.captureOnCommitCallbacks(execute=True):
            services.message_reply_file(
                conversation=conversation, by=conversation.assignee,
                upload=SimpleUploadedFile("счёт.pdf", b"%PDF-1.4 y", "application/pdf"))
        assert fake_max_api.calls("uploads") and fake_max_api.calls("upload")
        [send] = fake_max_api.calls("messages")
        assert send.body["attachments"][0]["type"] == "file"
        assert Message.objects.get(direction="out").status == Message.Status.SENT

    @pytest.mark.parametrize("mode, permanent, unreachable", [
        ("429", False, False), ("500", False, False), ("403", True, True),
        ("404", True, False),
    ])
    def test_errors_are_classified(self, max_channel, fake_max_api, mode, permanent,
                                   unreachable):
        fake_max_api.fail_next(mode)
        with pytest.raises(ProviderError) as error:
            provider_for(max_channel).send_text(to=MAX_CHAT, text="x")
        assert (error.value.permanent, error.value.client_unreachable) == (permanent,
                                                                           unreachable)

    def test_an_attachment_not_ready_yet_is_retried(self, conversation, fake_max_api):
        fake_max_api.fail_next("not_ready")
        with TestCase.captureOnCommitCallbacks(execute=True):
            services.message_reply_file(
                conversation=conversation, by=conversation.assignee,
                upload=SimpleUploadedFile("a.pdf", b"%PDF-1.4 z", "application/pdf"))
        assert Message.objects.get(direction="out").status == Message.Status.SENT

    def test_a_text_over_maxs_limit_is_refused_before_sending(self, conversation):
        from django.core.exceptions import ValidationError

        with pytest.raises(ValidationError):
            services.message_reply(conversation=conversation, by=conversation.assignee,
                                   text="я" * 4001)

    def test_connecting_subscribes_with_our_secret(self, max_channel, fake_max_api):
        url = f"https://crm.example.ru/hooks/max/{max_channel.uuid}/"
        services.channel_connect_webhook(channel=max_channel, webhook_url=url)
        [call] = fake_max_api.calls("subscriptions")
        assert call.body["url"] == url and call.body["secret"] == max_channel.webhook_secret
        assert "message_created" in call.body["update_types"]


# --- VK ----------------------------------------------------------------------------------------


def vk(name: str) -> dict:
    return fixture("vk", name)


@pytest.mark.django_db
class TestVkWebhook:
    def test_the_confirmation_is_answered_with_the_code_and_not_stored(self, vk_channel):
        response = deliver(vk_channel, vk("confirmation"))
        assert response.status_code == 200
        assert response.content.decode() == VK_CONFIRMATION
        assert not InboundEvent.objects.exists()

    def test_a_confirmation_for_another_community_is_refused(self, vk_channel):
        payload = vk("confirmation")
        payload["group_id"] = 1
        assert deliver(vk_channel, payload).status_code == 403

    def test_every_event_is_answered_ok(self, vk_channel):
        response = deliver(vk_channel, vk("message_new_text"))
        assert response.status_code == 200 and response.content == b"ok"
        assert deliver(vk_channel, vk("message_typing_state")).content == b"ok"

    @pytest.mark.parametrize("secret", [None, "", "wrong", VK_SECRET + "x", 5])
    def test_a_missing_or_wrong_secret_stores_nothing(self, vk_channel, secret):
        payload = vk("message_new_text")
        if secret is None:
            del payload["secret"]
        else:
            payload["secret"] = secret
        assert deliver(vk_channel, payload).status_code == 403
        assert not InboundEvent.objects.exists()

    def test_the_same_event_three_times_is_one_message(self, vk_channel):
        for _ in range(3):
            deliver(vk_channel, vk("message_new_text"))
        assert InboundEvent.objects.count() == 1
        message = Message.objects.get()
        assert message.text == vk("message_new_text")["object"]["message"]["text"]
        assert message.conversation.identity.external_id == VK_PEER

    def test_an_edit_changes_the_message(self, vk_channel):
        deliver(vk_channel, vk("message_new_text"))
        deliver(vk_channel, vk("message_edit"))
        assert Message.objects.get().edited_at is not None

    @pytest.mark.parametrize("name", ["message_new_chat", "message_typing_state"])
    def test_group_chats_and_unknown_events_are_kept_and_ignored(self, vk_channel, name):
        deliver(vk_channel, vk(name))
        assert InboundEvent.objects.get().status == InboundEvent.Status.IGNORED
        assert not Message.objects.exists()

    @pytest.mark.parametrize("name, kind", [("message_new_photo", "photo"),
                                            ("message_new_doc", "document"),
                                            ("message_new_audio_message", "voice"),
                                            ("message_new_sticker", "sticker")])
    def test_attachments(self, vk_channel, name, kind):
        [message] = provider_for(vk_channel).parse(vk(name))
        assert [a.kind for a in message.attachments] == [kind]

    def test_a_location_and_a_reply(self, vk_channel):
        [geo] = provider_for(vk_channel).parse(vk("message_new_geo"))
        [answer] = provider_for(vk_channel).parse(vk("message_new_reply"))
        assert geo.text.strip()
        assert answer.reply_to_external_id == "77"

    def test_a_reply_sent_from_vk_itself_shows_as_ours(self, vk_channel):
        deliver(vk_channel, vk("message_new_text"))
        deliver(vk_channel, vk("message_reply"))
        echo = Message.objects.get(direction=Message.Direction.OUTBOUND)
        assert echo.status == Message.Status.SENT and echo.author is None
        assert not Conversation.objects.get().awaiting_reply

    def test_deny_and_allow(self, vk_channel):
        deliver(vk_channel, vk("message_new_text"))
        deliver(vk_channel, vk("message_deny"))
        identity = ChannelIdentity.objects.get()
        assert identity.is_unreachable
        deliver(vk_channel, vk("message_allow"))
        identity.refresh_from_db()
        assert not identity.is_unreachable


@pytest.mark.django_db
class TestVkSending:
    @pytest.fixture
    def conversation(self, vk_channel):
        deliver(vk_channel, vk("message_new_text"))
        return Conversation.objects.get()

    def test_a_reply_carries_a_random_id_and_the_echo_is_not_a_second_message(
            self, vk_channel, conversation, fake_vk_api):
        message = reply_from_card(conversation)
        [call] = fake_vk_api.calls("messages.send")
        assert call.body["peer_id"] == VK_PEER and call.body["message"] == "Добрый день!"
        assert int(call.body["random_id"]) > 0
        assert message.status == Message.Status.SENT
        # VK tells the community about its own message: the echo of ours is not stored again.
        echo = copy.deepcopy(vk("message_reply"))
        echo["object"]["id"] = int(message.external_id)
        echo["object"]["random_id"] = int(call.body["random_id"])
        echo["event_id"] = "e" * 40
        deliver(vk_channel, echo)
        assert Message.objects.filter(direction=Message.Direction.OUTBOUND).count() == 1

    def test_a_retry_reuses_the_random_id_so_vk_sends_once(self, conversation, fake_vk_api):
        fake_vk_api.fail_next("6")
        message = reply_from_card(conversation)
        calls = fake_vk_api.calls("messages.send")
        assert len(calls) == 2 and calls[0].body["random_id"] == calls[1].body["random_id"]
        assert message.status == Message.Status.SENT
        assert len(fake_vk_api.delivered) == 1

    @pytest.mark.parametrize("mode, permanent, unreachable", [
        ("6", False, False), ("9", False, False), ("10", False, False), ("901", True, True),
        ("7", True, False),
    ])
    def test_errors_are_classified(self, vk_channel, fake_vk_api, mode, permanent,
                                   unreachable):
        fake_vk_api.fail_next(mode)
        with pytest.raises(ProviderError) as error:
            provider_for(vk_channel).send_text(to=VK_PEER, text="x", idempotency_key="1")
        assert (error.value.permanent, error.value.client_unreachable) == (permanent,
                                                                           unreachable)

    def test_a_file_is_uploaded_saved_and_attached(self, conversation, fake_vk_api):
        with TestCase.captureOnCommitCallbacks(execute=True):
            services.message_reply_file(
                conversation=conversation, by=conversation.assignee,
                upload=SimpleUploadedFile("счёт.pdf", b"%PDF-1.4 v", "application/pdf"))
        [send] = fake_vk_api.calls("messages.send")
        assert send.body["attachment"].startswith("doc")
        assert Message.objects.get(direction="out").status == Message.Status.SENT

    def test_connecting_saves_the_code_then_adds_the_server(self, vk_channel, fake_vk_api):
        vk_channel.handshake_secret = ""
        vk_channel.save()
        url = f"https://crm.example.ru/hooks/vk/{vk_channel.uuid}/"
        services.channel_connect_webhook(channel=vk_channel, webhook_url=url)
        vk_channel.refresh_from_db()
        assert vk_channel.handshake_secret == fake_vk_api.confirmation_code
        [added] = fake_vk_api.calls("groups.addCallbackServer")
        assert added.body["url"] == url and added.body["secret_key"] == VK_SECRET
        [configured] = fake_vk_api.calls("groups.setCallbackSettings")
        assert configured.body["message_new"] == "1"


# --- The demo channels and simulate_inbound ----------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the command's request commits, as in real use
def test_simulate_inbound_plays_each_messenger_against_its_demo_channel(north, south, anna,
                                                                        ivan, olga):
    import io
    import random
    from urllib.parse import urlparse

    from django.core.management import call_command
    from django.urls import reverse
    from django.utils import timezone

    from crm.demo import DemoBuilder
    from inbox import demo
    from inbox.models import Channel

    demo.seed(DemoBuilder(random.Random(1), timezone.now()))
    described = {c["kind"]: c for c in demo.describe()["channels"]}
    holds = {"whatsapp": ("app_secret", "verify_token"), "max": ("secret",),
             "vk": ("secret", "confirmation_code")}
    for kind, keys in holds.items():
        entry = described[kind]
        channel = Channel.objects.get(name=entry["name"], kind=kind)
        assert urlparse(entry["webhook_url"]).path == reverse("webhook",
                                                              args=[kind, channel.uuid])
        assert entry[keys[0]] == channel.webhook_secret
        if len(keys) > 1:
            assert entry[keys[1]] == channel.handshake_secret
        for text in ("Добрый день!", "<b>ещё</b>"):
            out = io.StringIO()
            call_command("simulate_inbound", "--channel", channel.name, "--from",
                         "Анна Клиентова", "--text", text, stdout=out)
            assert "HTTP 200" in out.getvalue() and "processed" in out.getvalue()
        conversation = Conversation.objects.get(channel=channel)
        assert [m.text for m in conversation.messages.all()] == ["Добрый день!", "<b>ещё</b>"]


@pytest.mark.django_db
def test_a_batch_of_several_messengers_is_one_round(max_channel, vk_channel, whatsapp_channel):
    """A drain's batch mixing messengers stores every message, counts each conversation once
    and tells the owner once, whatever the mix."""
    from unittest import mock

    deliver(max_channel, fixture("max", "message_created_text"), on_commit=False)
    deliver(vk_channel, vk("message_new_text"), on_commit=False)
    deliver(whatsapp_channel, fixture("whatsapp", "message_text"), on_commit=False)
    assert InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).count() == 3
    with mock.patch("core.events.send_after_commit") as push, \
            TestCase.captureOnCommitCallbacks(execute=True):
        assert services._events_process_batch(50) == 3
    assert Message.objects.count() == 3
    assert set(Conversation.objects.values_list("unread_count", "awaiting_reply")) == {(1, True)}
    updates = [c.args[1] for c in push.call_args_list
               if c.args[1].get("type") == "conversation.updated"]
    assert len(updates) == 1 and len(updates[0]["conversations"]) == 3


@pytest.mark.django_db
def test_the_card_puts_first_the_channel_the_client_last_wrote_in(anna, anna_deal,
                                                                  max_channel, vk_channel):
    from datetime import timedelta

    from django.utils import timezone

    from inbox import selectors
    from tests.inbox.conftest import make_conversation

    older = make_conversation(channel=max_channel, deal=anna_deal, chat_id="1")
    newer = make_conversation(channel=vk_channel, deal=anna_deal, chat_id="2")
    now = timezone.now()
    # The manager answered in MAX last; the client last wrote in VK.
    Conversation.objects.filter(pk=older.pk).update(last_inbound_at=now - timedelta(hours=2),
                                                    last_activity_at=now)
    Conversation.objects.filter(pk=newer.pk).update(last_inbound_at=now - timedelta(hours=1),
                                                    last_activity_at=now - timedelta(hours=1))
    assert list(selectors.deal_conversations(deal=anna_deal)) == [newer, older]
