"""Connecting a channel to its provider: setWebhook with the channel's secret token."""

import pytest

from inbox import services
from inbox.providers.base import ProviderError

WEBHOOK = "https://crm.example.ru/hooks/telegram/abc/"


@pytest.mark.django_db
def test_set_webhook_sends_the_url_and_the_channels_secret(telegram_channel, fake_bot_api):
    services.channel_connect_webhook(channel=telegram_channel, webhook_url=WEBHOOK)
    [call] = fake_bot_api.calls("setWebhook")
    assert call.body == {"url": WEBHOOK, "secret_token": "s3cret-webhook-token"}


@pytest.mark.django_db
def test_a_channel_without_a_secret_gets_one_first(telegram_channel, fake_bot_api):
    telegram_channel.webhook_secret = ""
    telegram_channel.save()
    services.channel_connect_webhook(channel=telegram_channel, webhook_url=WEBHOOK)
    telegram_channel.refresh_from_db()
    secret = telegram_channel.webhook_secret
    assert len(secret) >= 32
    assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    assert fake_bot_api.calls("setWebhook")[0].body["secret_token"] == secret


@pytest.mark.django_db
def test_the_providers_refusal_comes_back_with_its_reason(telegram_channel, fake_bot_api):
    fake_bot_api.fail_next("400", method="setWebhook")
    with pytest.raises(ProviderError) as error:
        services.channel_connect_webhook(channel=telegram_channel, webhook_url=WEBHOOK)
    assert error.value.permanent
    assert error.value.message


def admin_client(director):
    from django.test import Client

    client = Client()
    client.force_login(director)
    return client


@pytest.mark.django_db
def test_the_admin_connects_a_telegram_channel_from_its_settings(director, telegram_channel,
                                                                 fake_bot_api):
    from django.urls import reverse

    client = admin_client(director)
    page = client.get(reverse("admin:inbox_channel_change", args=[telegram_channel.pk]))
    url = f"http://testserver/hooks/telegram/{telegram_channel.uuid}/"
    assert url in page.content.decode()
    assert "s3cret-webhook-token" not in page.content.decode()  # secrets are write-only
    response = client.post(reverse("admin:inbox_channel_changelist"), {
        "action": "connect_webhook", "_selected_action": [telegram_channel.pk],
    }, follow=True)
    assert response.status_code == 200
    [call] = fake_bot_api.calls("setWebhook")
    assert call.body == {"url": url, "secret_token": "s3cret-webhook-token"}

    fake_bot_api.fail_next("400", method="setWebhook")
    response = client.post(reverse("admin:inbox_channel_changelist"), {
        "action": "connect_webhook", "_selected_action": [telegram_channel.pk],
    }, follow=True)
    assert "Bad Request" in response.content.decode()


@pytest.mark.django_db
def test_the_admin_refuses_business_hours_it_cannot_read(director, north):
    from django.urls import reverse

    from inbox.models import Channel

    response = admin_client(director).post(reverse("admin:inbox_channel_add"), {
        "name": "Бот", "kind": "telegram", "team": north.pk, "is_active": "on",
        "business_hours": '{"mon": [["18:00", "09:00"]]}', "time_zone": "Europe/Moscow",
        "first_response_minutes": "15",
    })
    assert response.status_code == 200
    assert "должен заканчиваться позже" in response.content.decode()
    assert not Channel.objects.exists()


@pytest.mark.django_db
def test_managers_cannot_reach_the_channel_settings(anna, telegram_channel):
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(anna)
    response = client.get(reverse("admin:inbox_channel_change", args=[telegram_channel.pk]))
    assert response.status_code in (302, 404)
