"""Inbox fixtures: the local fake Bot API, a Telegram channel aimed at it, and a conversation
of anna's client on anna's deal."""

import pytest

from inbox.models import Channel, ChannelIdentity, Conversation
from tests.inbox.fake_bot_api import FakeBotApi

CLIENT_CHAT_ID = "555001"


@pytest.fixture
def fake_bot_api():
    fake = FakeBotApi().start()
    yield fake
    fake.stop()


@pytest.fixture
def telegram_channel(north, fake_bot_api):
    return Channel.objects.create(
        kind=Channel.Kind.TELEGRAM, name="Telegram north", team=north,
        credentials=fake_bot_api.token, webhook_secret="s3cret-webhook-token",
        api_base_url=fake_bot_api.base_url,
    )


def make_conversation(*, channel, deal, chat_id=CLIENT_CHAT_ID, name="Пётр"):
    identity = ChannelIdentity.objects.create(
        channel=channel, external_id=chat_id, contact=deal.contact, display_name=name,
    )
    return Conversation.objects.create(
        channel=channel, identity=identity, contact=deal.contact, deal=deal,
        assignee=deal.owner,
    )


@pytest.fixture
def anna_conversation(telegram_channel, anna_deal):
    return make_conversation(channel=telegram_channel, deal=anna_deal)


@pytest.fixture
def olga_conversation(telegram_channel, olga_deal):
    return make_conversation(channel=telegram_channel, deal=olga_deal, chat_id="555002",
                             name="Ирина")


# --- WhatsApp, MAX and VK: each channel aimed at its local fake -------------------------------

WHATSAPP_NUMBER_ID = "106540352242922"  # the fixtures' metadata.phone_number_id
WHATSAPP_APP_SECRET = "wa-app-secret-0123456789"
WHATSAPP_VERIFY_TOKEN = "wa-verify-token"
MAX_SECRET = "max-webhook-secret_0123"
VK_GROUP_ID = "229876543"  # the fixtures' group_id
VK_SECRET = "vk-callback-secret"  # the fixtures' secret
VK_CONFIRMATION = "a1b2c3d4"


@pytest.fixture
def fake_graph_api():
    from tests.inbox.fake_graph_api import FakeGraphApi

    fake = FakeGraphApi().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_max_api():
    from tests.inbox.fake_max_api import FakeMaxApi

    fake = FakeMaxApi().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_vk_api():
    from tests.inbox.fake_vk_api import FakeVkApi

    fake = FakeVkApi().start()
    yield fake
    fake.stop()


@pytest.fixture
def whatsapp_channel(north, anna, ivan, fake_graph_api):
    return Channel.objects.create(
        kind=Channel.Kind.WHATSAPP, name="WhatsApp north", team=north,
        credentials=fake_graph_api.token, webhook_secret=WHATSAPP_APP_SECRET,
        handshake_secret=WHATSAPP_VERIFY_TOKEN, account_id=WHATSAPP_NUMBER_ID,
        business_account_id="102290129340398", api_base_url=fake_graph_api.base_url,
    )


@pytest.fixture
def max_channel(north, anna, ivan, fake_max_api):
    return Channel.objects.create(
        kind=Channel.Kind.MAX, name="MAX north", team=north, credentials=fake_max_api.token,
        webhook_secret=MAX_SECRET, api_base_url=fake_max_api.base_url,
    )


@pytest.fixture
def vk_channel(north, anna, ivan, fake_vk_api):
    return Channel.objects.create(
        kind=Channel.Kind.VK, name="VK north", team=north, credentials=fake_vk_api.token,
        webhook_secret=VK_SECRET, handshake_secret=VK_CONFIRMATION, account_id=VK_GROUP_ID,
        api_base_url=fake_vk_api.base_url,
    )

