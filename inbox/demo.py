"""The inbox's part of the demo (core.holdings: demo): a Telegram channel whose webhook
`manage.py simulate_inbound` plays, a website chat whose widget the demo site `/demo/site/`
shows, and canned replies."""

import uuid

from crm.demo import demo_token, demo_url, site_origins
from crm.management import demo_data as data
from inbox.models import CannedReply, Channel
from security.models import Team

DEMO_TELEGRAM = {"name": "Telegram-бот", "team": "north"}
DEMO_WEBSITE = {"name": "Чат на сайте", "team": "north"}


def demo_telegram_uuid() -> uuid.UUID:
    return uuid.UUID(hex=demo_token("telegram-channel-uuid")[:32], version=4)


def demo_telegram_secret() -> str:
    return demo_token("telegram-webhook-secret")[:32]


def demo_website_key() -> str:
    return demo_token("website-public-key")[:32]


def describe() -> dict:
    return {"channels": [{
        "kind": "telegram",
        "name": DEMO_TELEGRAM["name"],
        "webhook_url": f"{demo_url()}hooks/telegram/{demo_telegram_uuid()}/",
        "secret": demo_telegram_secret(),
    }, {
        # The widget's endpoint; no shared secret (the browser's Origin is checked instead).
        "kind": "website",
        "name": DEMO_WEBSITE["name"],
        "webhook_url": f"{demo_url()}widget/{demo_website_key()}/messages/",
        "secret": "",
        "public_key": demo_website_key(),
        "script_url": f"{demo_url()}widget/{demo_website_key()}.js",
        "site_url": f"{demo_url()}demo/site/",
    }]}


def seed(builder) -> dict[str, int]:
    Channel.objects.get_or_create(
        name=DEMO_TELEGRAM["name"],
        defaults={
            "uuid": demo_telegram_uuid(), "kind": "telegram",
            "team": Team.objects.get(name=DEMO_TELEGRAM["team"]),
            "webhook_secret": demo_telegram_secret(),
            "credentials": "123456789:DEMO-not-a-real-bot-token",
        },
    )
    Channel.objects.get_or_create(
        name=DEMO_WEBSITE["name"],
        defaults={
            "kind": "website", "team": Team.objects.get(name=DEMO_WEBSITE["team"]),
            "public_key": demo_website_key(),
            "allowed_origins": "\n".join(site_origins()),
            # Outside these hours a visitor gets the reply below, once per evening.
            "business_hours": {day: [["09:00", "19:00"]]
                               for day in ("mon", "tue", "wed", "thu", "fri")},
            "time_zone": "Europe/Moscow",
            "out_of_office_reply": data.OUT_OF_OFFICE_REPLY,
        },
    )
    if not CannedReply.objects.exists():
        teams = {team.name: team for team in Team.objects.all()}
        CannedReply.objects.bulk_create(
            CannedReply(team=teams.get(team), title=title, text=text)
            for team, title, text in data.CANNED_REPLIES
            if team is None or team in teams
        )
    return {}
