"""The 584-FZ switch: with it on, Telegram and WhatsApp carry no files and no personal data;
the refusal says why, proposes the client's domestic channel, and is in the access log. The
detector finds every checked identifier however it is written (Hypothesis)."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from inbox import services
from inbox.models import ChannelIdentity, Message, MessengerPolicy
from security import personal_data
from security.models import AccessRecord
from tests.inbox.conftest import make_conversation

# --- The detector ------------------------------------------------------------------------------


def _luhn_complete(body: str) -> str:
    for last in "0123456789":
        if personal_data._luhn(body + last):
            return body + last
    raise AssertionError


def _inn10(body: str) -> str:
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    return body + str(sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11 % 10)


def _snils(body: str) -> str:
    total = sum(int(d) * (9 - i) for i, d in enumerate(body))
    while total > 101:
        total %= 101
    control = 0 if total in (100, 101) else total
    return f"{body[:3]}-{body[3:6]}-{body[6:]} {control:02d}"


digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
words = st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщэюя ,.!?", max_size=30)
phones = st.builds(lambda a, b, c, d, fmt: fmt.format(a, b, c, d),
                   st.from_regex(r"9\d\d", fullmatch=True), st.from_regex(r"\d{3}", fullmatch=True),
                   st.from_regex(r"\d\d", fullmatch=True), st.from_regex(r"\d\d", fullmatch=True),
                   st.sampled_from(["+7 {} {}-{}-{}", "8 ({}) {}-{}-{}", "+7{}{}{}{}",
                                    "8-{}-{}-{}-{}"]))
cards = st.from_regex(r"4\d{14}", fullmatch=True).map(_luhn_complete).map(
    lambda n: " ".join(n[i:i + 4] for i in range(0, 16, 4)))
inns = st.from_regex(r"[1-9]\d{8}", fullmatch=True).map(_inn10)
snilses = st.from_regex(r"\d{9}", fullmatch=True).map(_snils)
emails = st.from_regex(r"[a-z]{1,8}\.[a-z]{1,5}@[a-z]{2,8}\.ru", fullmatch=True)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(kind_and_value=st.one_of(phones.map(lambda v: ("phone", v)),
                                cards.map(lambda v: ("card", v)),
                                inns.map(lambda v: ("inn", v)),
                                snilses.map(lambda v: ("snils", v)),
                                emails.map(lambda v: ("email", v))),
       before=words, after=words)
def test_every_identifier_is_found_however_it_is_written(kind_and_value, before, after):
    kind, value = kind_and_value
    assert kind in personal_data.find(f"{before} {value} {after}")


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(text=words)
def test_words_alone_are_not_personal_data(text):
    assert personal_data.find(text) == []


@pytest.mark.parametrize("text, kinds", [
    ("паспорт 45 06 123456", ["passport"]),
    ("БИК 044525225, р/с 40702810900000012345", ["account"]),
    ("заказ № 1234567 на 15000 руб.", []),
    ("Доставим 12.12 к 10:30", []),
])
def test_documents_and_ordinary_numbers(text, kinds):
    assert personal_data.find(text) == kinds


# --- The switch --------------------------------------------------------------------------------


@pytest.fixture
def switched_on(db):
    MessengerPolicy.objects.update_or_create(pk=1, defaults={"restrict_foreign": True})


def reply(conversation, text):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.message_reply(conversation=conversation, by=conversation.assignee,
                                      text=text)


@pytest.mark.django_db
def test_switched_off_personal_data_goes_through_telegram(anna_conversation, fake_bot_api):
    reply(anna_conversation, "Мой телефон +7 916 123-45-67")
    assert fake_bot_api.calls("sendMessage")


@pytest.mark.django_db
def test_switched_on_telegram_refuses_personal_data_and_files(switched_on, anna_conversation,
                                                             fake_bot_api):
    with pytest.raises(ValidationError) as error:
        reply(anna_conversation, "Карта 4111 1111 1111 1111? Нет: паспорт 45 06 123456")
    assert "584" in str(error.value)
    for kind in ("passport", "card"):
        assert str(personal_data.KINDS[kind]) in str(error.value)
    with pytest.raises(ValidationError) as error:
        services.message_reply_file(conversation=anna_conversation, by=anna_conversation.assignee,
                                    upload=SimpleUploadedFile("a.pdf", b"%PDF", "application/pdf"))
    assert "file" in error.value.message_dict
    assert not Message.objects.filter(direction="out").exists()
    reply(anna_conversation, "Доставим в четверг")  # no personal data: it goes
    assert len(fake_bot_api.calls("sendMessage")) == 1


@pytest.mark.django_db
def test_the_refusal_proposes_the_clients_domestic_channel(switched_on, anna_conversation,
                                                           max_channel):
    ChannelIdentity.objects.create(channel=max_channel, external_id="123",
                                   contact=anna_conversation.contact)
    with pytest.raises(ValidationError) as error:
        reply(anna_conversation, "пишите на petr@example.ru")
    assert max_channel.name in str(error.value)


@pytest.mark.django_db
def test_a_domestic_channel_carries_what_it_needs(switched_on, max_channel, anna_deal,
                                                  fake_max_api):
    conversation = make_conversation(channel=max_channel, deal=anna_deal, chat_id="123")
    reply(conversation, "Мой телефон +7 916 123-45-67")
    assert fake_max_api.calls("messages")


@pytest.mark.django_db
def test_the_card_says_the_rule_and_the_refusal_is_logged(switched_on, anna_conversation):
    client = Client()
    client.force_login(anna_conversation.assignee)
    page = client.get(anna_conversation.deal.get_absolute_url()).content.decode()
    assert "data-foreign-rule" in page and 'name="file"' not in page
    url = reverse("conversation_reply", args=[anna_conversation.deal_id, anna_conversation.pk])
    response = client.post(url, {"text": "ИНН 7707083893"}, HTTP_ACCEPT="application/json",
                           HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 400 and "text" in response.json()["errors"]
    record = AccessRecord.objects.get(action=AccessRecord.Action.BLOCKED)
    assert record.detail["found"] == ["inn"] and record.user_id == anna_conversation.assignee_id
    assert record.detail["conversation"] == anna_conversation.pk


@pytest.mark.django_db
def test_campaigns_keep_to_the_rule_and_skip_whatsapp(switched_on, anna, telegram_channel,
                                                     whatsapp_channel):
    from consents.models import Purpose
    from consents.services import purpose_text_publish
    from inbox import campaigns

    purpose = Purpose.objects.create(code="news", title="Новости", is_advertising=True)
    purpose_text_publish(purpose=purpose, text="Согласен.")
    assert whatsapp_channel not in campaigns.channels_for_campaigns()
    with pytest.raises(ValidationError) as error:
        campaigns.campaign_create(by=anna, name="Акция", purpose=purpose,
                                  channel=telegram_channel, text="Звоните +7 916 123-45-67")
    assert "text" in error.value.message_dict
    campaigns.campaign_create(by=anna, name="Акция", purpose=purpose, channel=telegram_channel,
                              text="Скидка 10% до пятницы")
