"""Campaigns: only clients with a current consent and a reachable chat get the message, the
others are listed with the reason, and a withdrawal stops a send still in the queue (the
local fake Bot API receives nothing for that chat)."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from consents import services as consent_services
from consents.models import ConsentEvent, Purpose
from inbox import campaigns
from inbox.models import Campaign, CampaignRecipient, ChannelIdentity, Message
from security.audit import containment
from tests.factories import make_contact, make_user
from tests.inbox.conftest import make_conversation

pytestmark = pytest.mark.django_db

Reason = CampaignRecipient.Reason
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def newsletter(db):
    purpose = Purpose.objects.create(code="newsletter", title="Рассылка новостей и акций",
                                     is_advertising=True)
    consent_services.purpose_text_publish(purpose=purpose, text="Согласен получать новости.")
    return purpose


def grant(contact, purpose, by):
    return consent_services.consent_record(
        contact=contact, purpose=purpose, kind=ConsentEvent.Kind.GRANTED,
        source=ConsentEvent.Source.MANAGER, evidence={"note": "сказал по телефону"}, by=by)


def withdraw(contact, purpose, by):
    return consent_services.consent_record(
        contact=contact, purpose=purpose, kind=ConsentEvent.Kind.WITHDRAWN,
        source=ConsentEvent.Source.MANAGER, evidence={"note": "попросил не писать"}, by=by)


def chat(channel, contact, chat_id, **fields):
    return ChannelIdentity.objects.create(channel=channel, external_id=chat_id, contact=contact,
                                          **fields)


def chat_ids_sent(fake_bot_api) -> list[str]:
    return [str(call.body["chat_id"]) for call in fake_bot_api.calls("sendMessage")]


@pytest.fixture
def audience(anna, anna_deal, telegram_channel, newsletter):
    """Anna's clients: one who consents, one who withdrew, one never asked, one who consents
    but has no Telegram chat, one who consents but blocked the bot."""
    make_conversation(channel=telegram_channel, deal=anna_deal, chat_id="1001")
    consenting = anna_deal.contact
    grant(consenting, newsletter, anna)
    withdrew = make_contact(anna, name="Отозвал Согласие")
    chat(telegram_channel, withdrew, "1002")
    grant(withdrew, newsletter, anna)
    withdraw(withdrew, newsletter, anna)
    never = make_contact(anna, name="Никогда Не Спрашивали")
    chat(telegram_channel, never, "1003")
    no_chat = make_contact(anna, name="Без Телеграма")
    grant(no_chat, newsletter, anna)
    blocked = make_contact(anna, name="Заблокировал Бота")
    chat(telegram_channel, blocked, "1005", is_unreachable=True,
         unreachable_reason="bot was blocked")
    grant(blocked, newsletter, anna)
    return {"consenting": consenting, "withdrew": withdrew, "never": never,
            "no_chat": no_chat, "blocked": blocked}


def make_campaign(by, channel, purpose, **fields):
    return campaigns.campaign_create(by=by, name=fields.pop("name", "Весенняя акция"),
                                     purpose=purpose, channel=channel,
                                     text=fields.pop("text", "Скидка 10% до конца месяца"),
                                     **fields)


def send(campaign, by, capture):
    with capture(execute=True):
        return campaigns.campaign_send(campaign=campaign, by=by)


def test_it_sends_only_to_consenting_reachable_clients_and_says_why_not_to_the_rest(
    anna, audience, telegram_channel, newsletter, fake_bot_api,
    django_capture_on_commit_callbacks,
):
    campaign = make_campaign(anna, telegram_channel, newsletter)
    send(campaign, anna, django_capture_on_commit_callbacks)

    assert chat_ids_sent(fake_bot_api) == ["1001"]
    outcome = {r.contact_id: (r.status, r.reason) for r in campaign.recipients.all()}
    assert outcome == {
        audience["consenting"].pk: ("sent", ""),
        audience["withdrew"].pk: ("excluded", Reason.WITHDRAWN),
        audience["never"].pk: ("excluded", Reason.NO_CONSENT),
        audience["no_chat"].pk: ("excluded", Reason.NO_IDENTITY),
        audience["blocked"].pk: ("excluded", Reason.UNREACHABLE),
    }
    message = campaign.recipients.get(contact=audience["consenting"]).message
    assert message.is_automatic and message.consent_purpose == newsletter
    assert message.status == Message.Status.SENT
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE


def test_the_campaign_page_lists_exclusions_with_the_reason(
    anna, audience, telegram_channel, newsletter, fake_bot_api,
    django_capture_on_commit_callbacks,
):
    campaign = make_campaign(anna, telegram_channel, newsletter)
    send(campaign, anna, django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(anna)
    page = client.get(reverse("campaign_detail", args=[campaign.pk])).content.decode()
    assert "Отозвал Согласие" in page and "Согласие отозвано" in page
    assert "Никогда Не Спрашивали" in page and "Согласия не давал" in page
    assert "Нет в этом канале" in page
    assert "Недоступен в этом канале" in page


def test_a_queued_send_stops_after_a_withdrawal(
    anna, audience, telegram_channel, newsletter, fake_bot_api,
    django_capture_on_commit_callbacks,
):
    campaign = make_campaign(anna, telegram_channel, newsletter)
    with django_capture_on_commit_callbacks(execute=False):
        campaigns.campaign_send(campaign=campaign, by=anna)
    # The dispatch ran; its sends wait in the queue (their callbacks are not run yet).
    with django_capture_on_commit_callbacks(execute=False) as queued_sends:
        campaigns.campaign_dispatch(campaign_id=campaign.pk)
    assert len(queued_sends) == 1
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(audience["consenting"], newsletter, anna)

    recipient = campaign.recipients.get(contact=audience["consenting"])
    assert (recipient.status, recipient.reason) == ("cancelled", Reason.WITHDRAWN)
    assert recipient.message.status == Message.Status.FAILED
    assert "согласие отозвано" in recipient.message.error.lower()
    for callback in queued_sends:  # the worker gets to the queued send now
        callback()
    assert fake_bot_api.calls("sendMessage") == []
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE


def test_the_send_itself_asks_for_consent_again_right_before_the_provider_call(
    anna, audience, telegram_channel, newsletter, fake_bot_api,
    django_capture_on_commit_callbacks,
):
    """Even if the withdrawal's signal never reached the campaign (a lost event), the send
    checks consents.selectors.may_contact and does not go."""
    campaign = make_campaign(anna, telegram_channel, newsletter)
    with django_capture_on_commit_callbacks(execute=False):
        campaigns.campaign_send(campaign=campaign, by=anna)
    with django_capture_on_commit_callbacks(execute=False) as queued_sends:
        campaigns.campaign_dispatch(campaign_id=campaign.pk)
    with django_capture_on_commit_callbacks(execute=False):  # the signal is never sent
        withdraw(audience["consenting"], newsletter, anna)
    for callback in queued_sends:
        callback()

    assert fake_bot_api.calls("sendMessage") == []
    recipient = campaign.recipients.get(contact=audience["consenting"])
    assert recipient.message.status == Message.Status.FAILED
    assert "согласие отозвано" in recipient.message.error.lower()
    assert (recipient.status, recipient.reason) == ("cancelled", Reason.WITHDRAWN)


def test_no_campaign_starts_while_automation_is_paused(
    anna, audience, telegram_channel, newsletter, security_officer, fake_bot_api,
):
    containment.pause_automation(by=security_officer, reason="инцидент")
    campaign = make_campaign(anna, telegram_channel, newsletter)
    with pytest.raises(ValidationError):
        campaigns.campaign_send(campaign=campaign, by=anna)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_queued_campaign_messages_fail_when_automation_is_paused_meanwhile(
    anna, audience, telegram_channel, newsletter, security_officer, fake_bot_api,
    django_capture_on_commit_callbacks,
):
    campaign = make_campaign(anna, telegram_channel, newsletter)
    with django_capture_on_commit_callbacks(execute=False):
        campaigns.campaign_send(campaign=campaign, by=anna)
    with django_capture_on_commit_callbacks(execute=False) as queued_sends:
        campaigns.campaign_dispatch(campaign_id=campaign.pk)
    containment.pause_automation(by=security_officer, reason="инцидент")
    for callback in queued_sends:
        callback()
    assert fake_bot_api.calls("sendMessage") == []
    recipient = campaign.recipients.get(contact=audience["consenting"])
    assert (recipient.status, recipient.reason) == ("failed", Reason.PAUSED)


def test_cancelling_stops_the_queued_messages(
    anna, audience, telegram_channel, newsletter, fake_bot_api,
    django_capture_on_commit_callbacks,
):
    campaign = make_campaign(anna, telegram_channel, newsletter)
    with django_capture_on_commit_callbacks(execute=False):
        campaigns.campaign_send(campaign=campaign, by=anna)
    with django_capture_on_commit_callbacks(execute=False) as queued_sends:
        campaigns.campaign_dispatch(campaign_id=campaign.pk)
    campaigns.campaign_cancel(campaign=campaign, by=anna)
    for callback in queued_sends:
        callback()
    assert fake_bot_api.calls("sendMessage") == []
    recipient = campaign.recipients.get(contact=audience["consenting"])
    assert (recipient.status, recipient.reason) == ("cancelled", Reason.CAMPAIGN_CANCELLED)


def test_the_segment_is_the_authors_visible_clients_with_the_tag(
    anna, olga, audience, telegram_channel, newsletter, fake_bot_api,
    django_capture_on_commit_callbacks,
):
    from crm.models import Tag

    vip = Tag.objects.create(name="vip")
    audience["consenting"].tags.add(vip)
    olgas = make_contact(olga, name="Клиент Ольги")
    olgas.tags.add(vip)
    grant(olgas, newsletter, olga)
    chat(telegram_channel, olgas, "2001")
    campaign = make_campaign(anna, telegram_channel, newsletter, tag=vip)
    send(campaign, anna, django_capture_on_commit_callbacks)
    assert list(campaign.recipients.values_list("contact_id", flat=True)) == [
        audience["consenting"].pk]
    assert chat_ids_sent(fake_bot_api) == ["1001"]


def test_a_marketer_campaign_reaches_only_consenting_clients(
    marketer, audience, telegram_channel, newsletter, fake_bot_api,
    django_capture_on_commit_callbacks,
):
    campaign = make_campaign(marketer, telegram_channel, newsletter)
    send(campaign, marketer, django_capture_on_commit_callbacks)
    assert chat_ids_sent(fake_bot_api) == ["1001"]


class TestPages:
    def test_a_manager_creates_a_draft_and_sends_it(
        self, anna, audience, telegram_channel, newsletter, fake_bot_api,
        django_capture_on_commit_callbacks,
    ):
        client = Client()
        client.force_login(anna)
        response = client.post(reverse("campaign_create"), {
            "name": XSS, "purpose": newsletter.pk, "channel": telegram_channel.pk,
            "text": "Новости"})
        campaign = Campaign.objects.get()
        assert response.status_code == 302
        page = client.get(reverse("campaign_detail", args=[campaign.pk])).content.decode()
        assert XSS not in page and "&lt;img src=x" in page
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("campaign_send", args=[campaign.pk]))
        assert response.status_code == 302
        assert chat_ids_sent(fake_bot_api) == ["1001"]
        assert XSS not in client.get(reverse("campaign_list")).content.decode()

    def test_another_team_gets_404_and_roles_without_campaigns_403(
        self, anna, audience, telegram_channel, newsletter, south, security_officer,
    ):
        campaign = make_campaign(anna, telegram_channel, newsletter)
        outsider = Client()
        outsider.force_login(make_user("stranger", "manager", south))
        assert outsider.get(reverse("campaign_detail", args=[campaign.pk])).status_code == 404
        assert outsider.post(reverse("campaign_send", args=[campaign.pk])).status_code == 404
        officer = Client()
        officer.force_login(security_officer)
        assert officer.get(reverse("campaign_list")).status_code == 403
        assert officer.get(reverse("campaign_detail", args=[campaign.pk])).status_code == 404

    def test_the_head_sees_the_teams_campaigns(
        self, anna, head_north, audience, telegram_channel, newsletter,
    ):
        campaign = make_campaign(anna, telegram_channel, newsletter)
        client = Client()
        client.force_login(head_north)
        assert client.get(reverse("campaign_detail", args=[campaign.pk])).status_code == 200
