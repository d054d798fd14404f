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
