"""The inbox's part of the demo (core.holdings: demo): a channel of each messenger (Telegram,
WhatsApp, MAX, VK) whose webhook `manage.py simulate_inbound` plays, a mailbox in a folder on
this machine that it mails into (no mail server or network needed), a website chat whose
widget the demo site `/demo/site/` shows, and canned replies."""

import uuid

from crm.demo import demo_token, demo_url, site_origins
from crm.management import demo_data as data
from inbox.models import CannedReply, Channel, Mailbox, MessageTemplate
from security.models import Team

DEMO_TELEGRAM = {"name": "Telegram-бот", "team": "north"}
DEMO_WEBSITE = {"name": "Чат на сайте", "team": "north"}
# A Maildir under MAILDIR_ROOT: what it "sends" is filed in its Sent folder.
DEMO_MAILBOX = {"name": "Почта отдела продаж", "team": "north",
                "address": "sales@company.example"}
# The other messengers, with the settings their providers check (the secrets are derived per
# installation, like Telegram's). No demo credential reaches a real provider: replies in the
# demo fail with the provider's refusal, which is what a misconfigured channel shows.
DEMO_MESSENGERS = [
    {"kind": "whatsapp", "name": "WhatsApp Business", "team": "north",
     "account_id": "106540352242922", "business_account_id": "102290129340398",
     "credentials": "EAAG-DEMO-not-a-real-token"},
    {"kind": "max", "name": "MAX-бот", "team": "south", "account_id": "",
     "business_account_id": "", "credentials": "DEMO-not-a-real-max-token"},
    {"kind": "vk", "name": "Сообщество VK", "team": "south", "account_id": "229876543",
     "business_account_id": "", "credentials": "vk1.a.DEMO-not-a-real-token"},
]


def demo_channel_uuid(kind: str) -> uuid.UUID:
    return uuid.UUID(hex=demo_token(f"{kind}-channel-uuid")[:32], version=4)


def demo_secret(kind: str) -> str:
    """The webhook secret (WhatsApp: the app secret) of the demo channel of `kind`."""
    return demo_token(f"{kind}-webhook-secret")[:32]


def demo_handshake(kind: str) -> str:
    """WhatsApp's verify token, VK's confirmation code."""
    return demo_token(f"{kind}-handshake")[:12 if kind == "vk" else 32]


def _describe_messenger(channel: dict) -> dict:
    kind = channel["kind"]
    described = {"kind": kind, "name": channel["name"],
                 "webhook_url": f"{demo_url()}hooks/{kind}/{demo_channel_uuid(kind)}/"}
    if kind == "whatsapp":
        described |= {"app_secret": demo_secret(kind), "verify_token": demo_handshake(kind),
                      "phone_number_id": channel["account_id"]}
    elif kind == "vk":
        described |= {"secret": demo_secret(kind), "confirmation_code": demo_handshake(kind),
                      "group_id": int(channel["account_id"])}
    else:
        described |= {"secret": demo_secret(kind)}
    return described


def demo_website_key() -> str:
    return demo_token("website-public-key")[:32]


def describe() -> dict:
    return {"channels": [{
        "kind": "telegram",
        "name": DEMO_TELEGRAM["name"],
        "webhook_url": f"{demo_url()}hooks/telegram/{demo_channel_uuid('telegram')}/",
        "secret": demo_secret("telegram"),
    }, {
        # The widget's endpoint; no shared secret (the browser's Origin is checked instead).
        "kind": "website",
        "name": DEMO_WEBSITE["name"],
        "webhook_url": f"{demo_url()}widget/{demo_website_key()}/messages/",
        "secret": "",
        "public_key": demo_website_key(),
        "script_url": f"{demo_url()}widget/{demo_website_key()}.js",
        "site_url": f"{demo_url()}demo/site/",
    }, *map(_describe_messenger, DEMO_MESSENGERS), {
        # A folder on this machine: `simulate_inbound --channel <name>` mails into it.
        "kind": "email", "name": DEMO_MAILBOX["name"], "address": DEMO_MAILBOX["address"],
    }]}


def seed(builder) -> dict[str, int]:
    Channel.objects.get_or_create(
        name=DEMO_TELEGRAM["name"],
        defaults={
            "uuid": demo_channel_uuid("telegram"), "kind": "telegram",
            "team": Team.objects.get(name=DEMO_TELEGRAM["team"]),
            "webhook_secret": demo_secret("telegram"),
            "credentials": "123456789:DEMO-not-a-real-bot-token",
        },
    )
    for channel in DEMO_MESSENGERS:
        kind = channel["kind"]
        Channel.objects.get_or_create(name=channel["name"], defaults={
            "uuid": demo_channel_uuid(kind), "kind": kind,
            "team": Team.objects.get(name=channel["team"]),
            "webhook_secret": demo_secret(kind),
            "handshake_secret": demo_handshake(kind) if kind in ("whatsapp", "vk") else "",
            "account_id": channel["account_id"],
            "business_account_id": channel["business_account_id"],
            "credentials": channel["credentials"],
        })
    whatsapp = Channel.objects.get(kind="whatsapp", name=DEMO_MESSENGERS[0]["name"])
    if not whatsapp.templates.exists():
        # What the hourly sync would bring from the account (the demo's reaches no Meta).
        MessageTemplate.objects.bulk_create(
            MessageTemplate(channel=whatsapp, name=name, language="ru", category=category,
                            status="APPROVED", body=body, parameters=body.count("{{"))
            for name, category, body in data.WHATSAPP_TEMPLATES)
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
    mail, _created = Channel.objects.get_or_create(name=DEMO_MAILBOX["name"], defaults={
        "uuid": demo_channel_uuid("email"), "kind": "email",
        "team": Team.objects.get(name=DEMO_MAILBOX["team"]),
    })
    Mailbox.objects.get_or_create(channel=mail, defaults={
        "server": Mailbox.Server.LOCAL, "address": DEMO_MAILBOX["address"],
        "folder": "INBOX", "sent_folder": "Sent",
    })
    if not CannedReply.objects.exists():
        teams = {team.name: team for team in Team.objects.all()}
        CannedReply.objects.bulk_create(
            CannedReply(team=teams.get(team), title=title, text=text)
            for team, title, text in data.CANNED_REPLIES
            if team is None or team in teams
        )
    return {}
