"""WhatsApp Business Cloud API: the handshake, signed deliveries, every message type, the
statuses of our messages, sending through the Graph API (the local fake), the client known by
their phone, and the 24-hour window."""

import copy
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact, Deal
from inbox import services
from inbox.models import Attachment, Conversation, InboundEvent, Message
from inbox.providers.base import DeliveryStatus, ProviderError, provider_for
from tests.factories import make_contact, make_deal
from tests.inbox.conftest import WHATSAPP_VERIFY_TOKEN
from tests.inbox.messengers import deliver, fixture

CLIENT = "79161234567"  # the fixtures' wa_id


def wa(name: str) -> dict:
    return fixture("whatsapp", name)


def first_message(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]["messages"][0]


def handshake(channel, **query):
    return Client().get(reverse("webhook", args=["whatsapp", channel.uuid]), query)


@pytest.mark.django_db
class TestWebhook:
    def test_the_verification_handshake_answers_the_challenge(self, whatsapp_channel):
        response = handshake(whatsapp_channel, **{
            "hub.mode": "subscribe", "hub.verify_token": WHATSAPP_VERIFY_TOKEN,
            "hub.challenge": "1158201444"})
        assert response.status_code == 200
        assert response.content == b"1158201444"
        assert response["Content-Type"].startswith("text/plain")

    @pytest.mark.parametrize("query", [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": WHATSAPP_VERIFY_TOKEN,
         "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": WHATSAPP_VERIFY_TOKEN},
        {},
    ])
    def test_a_wrong_handshake_is_refused(self, whatsapp_channel, query):
        assert handshake(whatsapp_channel, **query).status_code == 403

    def test_a_channel_without_a_verify_token_answers_no_handshake(self, whatsapp_channel):
        whatsapp_channel.handshake_secret = ""
        whatsapp_channel.save()
        assert handshake(whatsapp_channel, **{"hub.mode": "subscribe", "hub.verify_token": "",
                                              "hub.challenge": "1"}).status_code == 403

    @pytest.mark.parametrize("headers", [
        {}, {"HTTP_X_HUB_SIGNATURE_256": "sha256=" + "0" * 64},
        {"HTTP_X_HUB_SIGNATURE_256": "0" * 64}, {"HTTP_X_HUB_SIGNATURE_256": "sha256="},
    ])
    def test_a_missing_or_wrong_signature_stores_nothing(self, whatsapp_channel, headers):
        assert deliver(whatsapp_channel, wa("message_text"), headers=headers).status_code == 403
        assert not InboundEvent.objects.exists()

    def test_a_body_signed_with_another_secret_or_altered_stores_nothing(self,
                                                                         whatsapp_channel):
        assert deliver(whatsapp_channel, wa("message_text"),
                       secret="another-app").status_code == 403
        from tests.inbox.messengers import signed_headers

        body = b'{"object": "whatsapp_business_account", "entry": []}'
        headers = signed_headers(whatsapp_channel, body)
        assert deliver(whatsapp_channel, raw=body + b" ", headers=headers).status_code == 403
        assert not InboundEvent.objects.exists()

    def test_the_same_delivery_three_times_is_one_message(self, whatsapp_channel):
        for _ in range(3):
            assert deliver(whatsapp_channel, wa("message_text")).status_code == 200
        assert InboundEvent.objects.count() == 1
        message = Message.objects.get()
        assert message.external_id == first_message(wa("message_text"))["id"]
        assert message.text == first_message(wa("message_text"))["text"]["body"]

    def test_a_message_repeated_in_another_batch_is_stored_once(self, whatsapp_channel):
        deliver(whatsapp_channel, wa("message_text"))
        batch = wa("two_messages_one_delivery")
        batch["entry"][0]["changes"][0]["value"]["messages"].append(
            first_message(wa("message_text")))
        deliver(whatsapp_channel, batch)
        assert Message.objects.count() == 3

    @pytest.mark.parametrize("raw", [b"{not json", b"[]", b'{"object": "x"}',
                                     b'{"entry": {"id": 1}}'])
    def test_malformed_deliveries_are_refused(self, whatsapp_channel, raw):
        assert deliver(whatsapp_channel, raw=raw).status_code == 400
        assert not InboundEvent.objects.exists()

    def test_a_delivery_for_another_number_of_the_app_is_kept_and_ignored(self,
                                                                          whatsapp_channel):
        payload = wa("message_text")
        payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "1"
        assert deliver(whatsapp_channel, payload).status_code == 200
        assert InboundEvent.objects.get().status == InboundEvent.Status.IGNORED
        assert not Message.objects.exists()


@pytest.mark.django_db
class TestMessageTypes:
    def parse(self, channel, name):
        return provider_for(channel).parse(wa(name))

    def test_a_text_becomes_a_message_from_the_clients_number(self, whatsapp_channel):
        [message] = self.parse(whatsapp_channel, "message_text")
        assert message.sender_id == CLIENT and message.phone == f"+{CLIENT}"
        assert message.sender_name == "Пётр Сидоров"

    @pytest.mark.parametrize("name, kind", [
        ("message_image", "image"), ("message_document", "document"),
        ("message_audio_voice", "voice"), ("message_video", "video"),
        ("message_sticker", "sticker"),
    ])
    def test_media_become_attachments_fetched_by_id(self, whatsapp_channel, name, kind):
        [message] = self.parse(whatsapp_channel, name)
        [attachment] = message.attachments
        media = first_message(wa(name))[first_message(wa(name))["type"]]
        assert attachment.kind == kind and attachment.file_id == media["id"]
        assert message.text == media.get("caption", "")

    def test_a_document_keeps_its_name(self, whatsapp_channel):
        [message] = self.parse(whatsapp_channel, "message_document")
        assert message.attachments[0].name == "Договор.pdf"

    @pytest.mark.parametrize("name", [
        "message_location", "message_contacts", "message_interactive_button_reply",
        "message_interactive_list_reply", "message_button", "message_reaction",
        "message_unsupported",
    ])
    def test_other_types_read_as_text(self, whatsapp_channel, name):
        [message] = self.parse(whatsapp_channel, name)
        assert message.text.strip()

    def test_a_reply_and_a_reaction_point_at_the_message_they_answer(self, whatsapp_channel):
        [reply] = self.parse(whatsapp_channel, "message_reply_context")
        [reaction] = self.parse(whatsapp_channel, "message_reaction")
        assert reply.reply_to_external_id == "wamid.OUTBOUND1"
        assert reaction.reply_to_external_id == "wamid.OUTBOUND1"

    def test_a_reaction_taken_back_is_nothing(self, whatsapp_channel):
        payload = wa("message_reaction")
        first_message(payload)["reaction"]["emoji"] = ""
        assert provider_for(whatsapp_channel).parse(payload) == []

    @pytest.mark.parametrize("name, status", [("status_sent", "sent"),
                                              ("status_delivered", "delivered"),
                                              ("status_read", "read"),
                                              ("status_failed", "failed")])
    def test_statuses(self, whatsapp_channel, name, status):
        [event] = self.parse(whatsapp_channel, name)
        assert isinstance(event, DeliveryStatus)
        assert event.status == status and event.external_id.startswith("wamid.OUTBOUND")
        assert bool(event.error) == (status == "failed")

    def test_every_message_and_status_of_one_delivery(self, whatsapp_channel):
        assert len(self.parse(whatsapp_channel, "two_messages_one_delivery")) == 2
        kinds = {type(e).__name__ for e in self.parse(whatsapp_channel, "status_and_message")}
        assert kinds == {"DeliveryStatus", "InboundMessage"}

    def test_a_clients_file_is_fetched_with_the_token_and_stored(self, whatsapp_channel,
                                                                fake_graph_api):
        payload = wa("message_document")
        media_id = first_message(payload)["document"]["id"]
        fake_graph_api.add_file(b"%PDF-1.4 contract", mime_type="application/pdf",
                                media_id=media_id)
        deliver(whatsapp_channel, payload)
        attachment = Attachment.objects.get()
        assert attachment.file_path and attachment.size == len(b"%PDF-1.4 contract")
        assert attachment.fetch_error == ""
        assert fake_graph_api.calls("media_get") and fake_graph_api.calls("download")

    def test_a_file_over_the_limit_is_refused_before_download(self, whatsapp_channel,
                                                              fake_graph_api, settings):
        settings.INBOX_MAX_ATTACHMENT_BYTES = 10
        payload = wa("message_document")
        fake_graph_api.add_file(b"x" * 100, media_id=first_message(payload)["document"]["id"])
        deliver(whatsapp_channel, payload)
        attachment = Attachment.objects.get()
        assert not attachment.file_path and attachment.fetch_error
        assert not fake_graph_api.calls("download")


def now(payload: dict) -> dict:
    """The payload's messages written just now (the fixtures' are older than a day, outside
    the reply window)."""
    for message in payload["entry"][0]["changes"][0]["value"].get("messages", []):
        message["timestamp"] = str(int(timezone.now().timestamp()))
    return payload


@pytest.fixture
def wa_conversation(whatsapp_channel):
    deliver(whatsapp_channel, now(wa("message_text")))
    return Conversation.objects.get()


def reply(conversation, user, text="Добрый день!"):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.message_reply(conversation=conversation, by=user, text=text)


@pytest.mark.django_db
class TestSending:
    def test_a_reply_goes_to_the_graph_api_and_gets_its_wamid(self, wa_conversation,
                                                              fake_graph_api):
        message = reply(wa_conversation, wa_conversation.assignee)
        message.refresh_from_db()
        [call] = fake_graph_api.calls("messages")
        assert call.body["to"] == CLIENT and call.body["text"]["body"] == "Добрый день!"
        assert call.body["messaging_product"] == "whatsapp"
        assert message.status == Message.Status.SENT
        assert message.external_id.startswith("wamid.")

    def test_a_file_is_uploaded_then_sent_by_its_media_id(self, wa_conversation,
                                                          fake_graph_api):
        from django.core.files.uploadedfile import SimpleUploadedFile

        with TestCase.captureOnCommitCallbacks(execute=True):
            services.message_reply_file(
                conversation=wa_conversation, by=wa_conversation.assignee,
                upload=SimpleUploadedFile("счёт.pdf", b"%PDF-1.4 x", "application/pdf"),
                caption="Счёт")
        [upload] = fake_graph_api.calls("media")
        [send] = fake_graph_api.calls("messages")
        assert upload.files["file"][1] == b"%PDF-1.4 x"
        assert send.body["type"] == "document"
        assert send.body["document"]["filename"] == "счёт.pdf"
        assert send.body["document"]["caption"] == "Счёт"
        assert Message.objects.get(direction="out").status == Message.Status.SENT

    @pytest.mark.parametrize("mode, permanent, unreachable", [
        ("rate", False, False), ("500", False, False), ("window", True, False),
        ("undeliverable", True, True), ("auth", True, False),
    ])
    def test_graph_errors_are_classified(self, whatsapp_channel, fake_graph_api, mode,
                                         permanent, unreachable):
        fake_graph_api.fail_next(mode)
        with pytest.raises(ProviderError) as error:
            provider_for(whatsapp_channel).send_text(to=CLIENT, text="x")
        assert error.value.permanent is permanent
        assert error.value.client_unreachable is unreachable
        assert error.value.message

    def test_the_rate_limit_is_retried_and_the_message_goes_once(self, wa_conversation,
                                                                fake_graph_api):
        fake_graph_api.fail_next("rate")
        message = reply(wa_conversation, wa_conversation.assignee)
        message.refresh_from_db()
        assert message.status == Message.Status.SENT
        assert len([c for c in fake_graph_api.calls("messages") if c.status == 200]) == 1


def status_for(payload: dict, wamid: str) -> dict:
    payload = copy.deepcopy(payload)
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = wamid
    return payload


@pytest.mark.django_db
class TestStatuses:
    @pytest.fixture
    def sent(self, wa_conversation):
        message = reply(wa_conversation, wa_conversation.assignee)
        message.refresh_from_db()
        return message

    def test_delivered_then_read_reach_the_message(self, whatsapp_channel, sent):
        deliver(whatsapp_channel, status_for(wa("status_delivered"), sent.external_id))
        sent.refresh_from_db()
        assert sent.status == Message.Status.DELIVERED
        deliver(whatsapp_channel, status_for(wa("status_read"), sent.external_id))
        sent.refresh_from_db()
        assert sent.status == Message.Status.READ

    def test_a_status_never_goes_back(self, whatsapp_channel, sent):
        for name in ("status_read", "status_delivered", "status_sent", "status_delivered"):
            deliver(whatsapp_channel, status_for(wa(name), sent.external_id))
        sent.refresh_from_db()
        assert sent.status == Message.Status.READ
        assert InboundEvent.objects.filter(event_type="statuses").count() == 3

    def test_failed_marks_the_reply_failed_and_the_conversation_unanswered(
            self, whatsapp_channel, sent, wa_conversation):
        deliver(whatsapp_channel, status_for(wa("status_failed"), sent.external_id))
        sent.refresh_from_db()
        wa_conversation.refresh_from_db()
        assert sent.status == Message.Status.FAILED and "131047" in sent.error
        assert wa_conversation.awaiting_reply and wa_conversation.last_reply_failed

    def test_a_status_is_pushed_live_to_the_deal(self, whatsapp_channel, sent):
        from unittest import mock

        with mock.patch("core.events.send_after_commit") as push:
            deliver(whatsapp_channel, status_for(wa("status_delivered"), sent.external_id))
        pushed = [c.args[1] for c in push.call_args_list]
        assert {"type": "message.status", "deal": sent.conversation.deal_id,
                "message": sent.pk, "status": "delivered"} in pushed

    def test_a_status_of_a_message_not_ours_is_ignored(self, whatsapp_channel):
        assert deliver(whatsapp_channel, wa("status_delivered")).status_code == 200
        assert InboundEvent.objects.get().status == InboundEvent.Status.PROCESSED

    def test_a_status_before_its_sends_answer_is_processed_again_later(self, whatsapp_channel,
                                                                       wa_conversation):
        Message.objects.create(conversation=wa_conversation, channel=whatsapp_channel,
                               direction="out", text="x", status=Message.Status.QUEUED,
                               sending_since=timezone.now())
        deliver(whatsapp_channel, wa("status_delivered"))
        event = InboundEvent.objects.get(event_type="statuses")
        assert event.status == InboundEvent.Status.FAILED  # the sweeper tries it again


@pytest.mark.django_db
class TestOneClient:
    def test_a_number_known_from_a_call_lands_on_that_contact_and_deal(self, whatsapp_channel,
                                                                       ivan):
        contact = make_contact(ivan, name="Пётр из звонка", phones=["8 (916) 123-45-67"])
        deal = make_deal(ivan, contact=contact)
        deliver(whatsapp_channel, wa("message_text"))
        conversation = Conversation.objects.get()
        assert conversation.contact == contact and conversation.deal == deal
        assert Deal.objects.count() == 1 and Contact.objects.count() == 1

    def test_a_new_number_becomes_a_contact_with_that_phone(self, whatsapp_channel):
        deliver(whatsapp_channel, wa("message_text"))
        contact = Contact.objects.get()
        assert contact.source == Contact.Source.WHATSAPP
        assert [p.value for p in contact.points.all()] == [f"+{CLIENT}"]
        assert contact.points.get().client_used_at is not None


@pytest.mark.django_db
class TestReplyWindow:
    def test_within_24_hours_a_free_form_reply_is_taken(self, wa_conversation):
        assert services.reply_window_closes_at(wa_conversation) > timezone.now()

    def test_after_24_hours_only_a_template_can_be_sent(self, wa_conversation):
        Conversation.objects.filter(pk=wa_conversation.pk).update(
            last_inbound_at=timezone.now() - timedelta(hours=24, minutes=1))
        wa_conversation.refresh_from_db()
        with pytest.raises(ValidationError) as error:
            services.message_reply(conversation=wa_conversation, by=wa_conversation.assignee,
                                   text="Здравствуйте")
        assert "24" in str(error.value)
        assert not Message.objects.filter(direction="out").exists()

    def test_other_channels_have_no_window(self, anna_conversation):
        assert services.reply_window_closes_at(anna_conversation) is None


@pytest.mark.django_db
def test_connecting_subscribes_the_business_account_with_our_url(whatsapp_channel,
                                                                 fake_graph_api):
    url = f"https://crm.example.ru/hooks/whatsapp/{whatsapp_channel.uuid}/"
    done = services.channel_connect_webhook(channel=whatsapp_channel, webhook_url=url)
    [call] = fake_graph_api.calls("subscribed_apps")
    assert call.body["override_callback_uri"] == url
    assert call.body["verify_token"] == WHATSAPP_VERIFY_TOKEN
    assert url in done
    whatsapp_channel.refresh_from_db()
    assert whatsapp_channel.webhook_secret == "wa-app-secret-0123456789"  # Meta's, untouched


# --- Templates: synced from the account, sent past the window ---------------------------------


@pytest.fixture
def closed(wa_conversation, whatsapp_channel):
    """The client last wrote 25 hours ago; the account's templates are synced."""
    Conversation.objects.filter(pk=wa_conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=25))
    wa_conversation.refresh_from_db()
    services.templates_sync(channel=whatsapp_channel)
    return wa_conversation


@pytest.mark.django_db
class TestTemplates:
    def test_sync_keeps_the_accounts_templates_with_their_fields(self, whatsapp_channel,
                                                                fake_graph_api):
        from inbox.models import MessageTemplate

        MessageTemplate.objects.create(channel=whatsapp_channel, name="gone", language="ru",
                                       status="APPROVED")
        assert services.templates_sync(channel=whatsapp_channel) == {"templates": 3,
                                                                      "removed": 1}
        by_name = {t.name: t for t in MessageTemplate.objects.all()}
        assert set(by_name) == {"order_update", "come_back", "spring_sale"}
        assert by_name["order_update"].parameters == 2
        assert by_name["spring_sale"].status == "REJECTED"
        [call] = fake_graph_api.calls("message_templates")
        assert call.status == 200

    def test_a_template_is_sent_with_its_fields_and_shown_as_the_client_reads_it(
            self, closed, fake_graph_api):
        from inbox.models import MessageTemplate

        template = MessageTemplate.objects.get(name="order_update")
        with TestCase.captureOnCommitCallbacks(execute=True):
            message = services.message_reply_template(
                conversation=closed, by=closed.assignee, template_id=template.pk,
                parameters=["Пётр", "№ 1024"])
        message.refresh_from_db()
        [call] = fake_graph_api.calls("messages")
        assert call.body["type"] == "template"
        assert call.body["template"]["name"] == "order_update"
        assert [p["text"] for p in call.body["template"]["components"][0]["parameters"]] == [
            "Пётр", "№ 1024"]
        assert message.status == Message.Status.SENT
        assert "Пётр" in message.text and "№ 1024" in message.text and "{{" not in message.text

    @pytest.mark.parametrize("parameters", [[], ["Пётр"], ["Пётр", " "], ["Пётр", "a\nb"],
                                            ["Пётр", "x" * 1025]])
    def test_every_field_must_be_one_filled_line(self, closed, parameters):
        from inbox.models import MessageTemplate

        template = MessageTemplate.objects.get(name="order_update")
        with pytest.raises(ValidationError):
            services.message_reply_template(conversation=closed, by=closed.assignee,
                                            template_id=template.pk, parameters=parameters)
        assert not Message.objects.filter(direction="out").exists()

    def test_a_rejected_or_foreign_template_is_refused(self, closed, north, fake_graph_api):
        from inbox.models import Channel, MessageTemplate

        rejected = MessageTemplate.objects.get(name="spring_sale")
        other = Channel.objects.create(kind="whatsapp", name="other", team=north)
        foreign = MessageTemplate.objects.create(channel=other, name="x", language="ru",
                                                 status="APPROVED")
        for template in (rejected, foreign):
            with pytest.raises(ValidationError):
                services.message_reply_template(conversation=closed, by=closed.assignee,
                                                template_id=template.pk, parameters=["a", "b"])

    def test_the_card_offers_the_templates_instead_of_the_text_box(self, closed):
        client = Client()
        client.force_login(closed.assignee)
        page = client.get(closed.deal.get_absolute_url()).content.decode()
        assert 'data-template-composer' in page and 'name="template"' in page
        assert 'data-reply-window="closed"' in page
        assert f'id="reply-{closed.pk}"' not in page  # no free-form box
        assert "order_update" in page and "spring_sale" not in page

    def test_within_the_window_the_card_says_how_long_free_text_reaches_the_client(
            self, wa_conversation):
        client = Client()
        client.force_login(wa_conversation.assignee)
        page = client.get(wa_conversation.deal.get_absolute_url()).content.decode()
        assert 'data-reply-window="open"' in page and f'id="reply-{wa_conversation.pk}"' in page

    def test_the_reply_view_sends_a_template(self, closed, fake_graph_api):
        from inbox.models import MessageTemplate

        client = Client()
        client.force_login(closed.assignee)
        template = MessageTemplate.objects.get(name="order_update")
        url = reverse("conversation_reply", args=[closed.deal_id, closed.pk])
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = client.post(url, {"template": template.pk,
                                         "parameter": ["Пётр", "№ 7"]},
                                   HTTP_ACCEPT="application/json",
                                   HTTP_X_REQUESTED_WITH="fetch")
        assert response.status_code == 200
        assert fake_graph_api.calls("messages")[0].body["type"] == "template"
        response = client.post(url, {"template": template.pk, "parameter": ["Пётр"]},
                               HTTP_ACCEPT="application/json", HTTP_X_REQUESTED_WITH="fetch")
        assert response.status_code == 400 and "parameters" in response.json()["errors"]


@pytest.mark.django_db
def test_a_number_takes_80_messages_a_second_and_the_81st_waits(wa_conversation):
    from unittest import mock

    from inbox.services import ChatBusy

    message = Message.objects.create(conversation=wa_conversation,
                                     channel=wa_conversation.channel, direction="out",
                                     text="x", status=Message.Status.QUEUED)
    with mock.patch("inbox.services.time.time", return_value=1_900_000_000.5):
        for _ in range(80):
            assert services._channel_slot(wa_conversation.channel_id, 80)
        with pytest.raises(ChatBusy):
            services.message_send(message=message)
    with mock.patch("inbox.services.time.time", return_value=1_900_000_001.5):
        assert services._channel_slot(wa_conversation.channel_id, 80)  # the next second
