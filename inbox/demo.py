"""The inbox's part of the demo (core.holdings: demo): a channel of each messenger (Telegram,
WhatsApp, MAX, VK) whose webhook `manage.py simulate_inbound` plays, a mailbox in a folder on
this machine that it mails into (no mail server or network needed), a website chat whose
widget the demo site `/demo/site/` shows, and canned replies."""

import math
import uuid
from datetime import timedelta

from django.contrib.contenttypes.models import ContentType

from core.hours import BusinessHours
from crm.demo import demo_token, demo_url, site_origins
from crm.management import demo_data as data
from crm.models import Deal, TimelineEntry
from inbox.models import (
    CannedReply,
    Channel,
    ChannelIdentity,
    Conversation,
    Mailbox,
    Message,
    MessageTemplate,
)
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
    return {"past conversations": _history(builder)}


# The share of open deals whose client waits for an answer now (some past the SLA).
WAITING_NOW = 0.15


def _history(builder) -> int:
    """Each demo deal's conversation in a messenger of its team, over the deal's life: the
    client writes, the manager answers after a wait that is mostly minutes, now and then
    hours (in the channel's working time); a few open deals' clients wait for an answer now.
    Written as the drain and a send would write them (owners, waits), then counted by the
    rollups' rebuild (reports' part of the demo)."""
    rng = builder.rng
    channels: dict[int, list[Channel]] = {}
    for channel in Channel.objects.exclude(kind=Channel.Kind.EMAIL).order_by("pk"):
        channels.setdefault(channel.team_id, []).append(channel)
    deals = [deal for deal in Deal.objects.filter(pk__in=[d.pk for d in builder.deals])
             .select_related("contact").order_by("pk") if deal.contact_id]
    message_type = ContentType.objects.get_for_model(Message)
    conversations, plans = [], []
    for deal in deals:
        choices = channels.get(deal.team_id)
        if not choices:
            continue
        channel = rng.choice(choices)
        identity = ChannelIdentity(channel=channel, contact=deal.contact,
                                   external_id=f"demo-history-{deal.pk}",
                                   display_name=deal.contact.name, created_at=deal.created_at)
        identity.save()
        conversations.append(Conversation(
            channel=channel, identity=identity, contact=deal.contact, deal=deal,
            assignee_id=deal.owner_id, created_at=deal.created_at,
            last_activity_at=deal.created_at))
        plans.append((deal, channel))
    Conversation.objects.bulk_create(conversations)
    messages, updates = [], []
    for conversation, (deal, channel) in zip(conversations, plans, strict=True):
        hours = BusinessHours.of(channel)
        end = deal.closed_at or builder.now - timedelta(hours=1)
        waiting = (deal.status == Deal.Status.OPEN and rng.random() < WAITING_NOW)
        exchanges = rng.randint(2, 6)
        at = deal.created_at
        for turn in range(exchanges):
            at = builder.office_hours(at + (end - at) * rng.uniform(0.05, 0.35)) \
                if turn else deal.created_at
            at = min(at, end)
            line = rng.randrange(len(data.CLIENT_MESSAGES))
            messages.append(Message(
                conversation=conversation, channel=channel, direction="in", status="received",
                text=data.CLIENT_MESSAGES[line], created_at=at, owner_id=deal.owner_id,
                external_id=f"demo-history-{deal.pk}-{turn}"))
            last = turn == exchanges - 1
            if last and waiting:
                # Written minutes ago (some past the first-response time), an hour or two.
                at = builder.now - timedelta(minutes=rng.choice([4, 9, 25, 50, 110]))
                messages[-1].created_at = at
                conversation.waiting_since = conversation.last_inbound_at = at
                conversation.awaiting_reply = True
                conversation.first_response_due_at = hours.add_working_minutes(
                    at, channel.first_response_minutes)
                conversation.last_activity_at = at
                break
            # Mostly minutes, now and then hours of working time.
            wait = max(1, round(math.exp(rng.gauss(math.log(7), 1.1))))
            sent = min(hours.add_working_minutes(at, wait), builder.now - timedelta(minutes=1))
            messages.append(Message(
                conversation=conversation, channel=channel, direction="out", status="read",
                text=data.MANAGER_REPLIES[line], author_id=deal.owner_id, owner_id=deal.owner_id,
                created_at=sent, sent_at=sent, answered_wait_since=at,
                external_id=f"demo-history-{deal.pk}-{turn}-reply"))
            conversation.last_inbound_at, conversation.last_outbound_at = at, sent
            conversation.last_activity_at = sent
        updates.append(conversation)
    Message.objects.bulk_create(messages, batch_size=500)
    Conversation.objects.bulk_update(updates, [
        "waiting_since", "awaiting_reply", "first_response_due_at", "last_inbound_at",
        "last_outbound_at", "last_activity_at"], batch_size=500)
    TimelineEntry.objects.bulk_create([
        TimelineEntry(deal_id=message.conversation.deal_id,
                      contact_id=message.conversation.contact_id, kind="message",
                      occurred_at=message.created_at, source_type=message_type,
                      source_id=message.pk)
        for message in messages], batch_size=500)
    return len(conversations)

