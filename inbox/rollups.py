"""What messages add to the sales head's figures (crm/rollups.py explains the facts).

- inbound: a client's message (not a machine's: an auto-reply, a bounce), for the message's
  owner (the deal's owner when it came), on the day it came;
- conversations_started: a conversation whose first message is the client's;
- outbound: a reply that reached the client (sent, delivered or read), for its owner;
- responses: a client's wait, from their first message since the last reply that reached
  them to the next reply that does, in working minutes of the channel's business hours,
  within the channel's first-response time or not, for whoever answered.

The services record these as they happen (the drain's batches, a reply's send); `facts`
finds them again in the raw rows for a rebuild and a drill-down, walking each conversation.
"""

from datetime import datetime

from django.core.exceptions import ValidationError

from core.hours import BusinessHours
from crm.rollups import Fact, response_counts
from inbox.models import Channel, Message

REACHED = (Message.Status.SENT, Message.Status.DELIVERED, Message.Status.READ)


def hours_of(channel: Channel) -> BusinessHours:
    try:
        return BusinessHours.of(channel)
    except ValidationError:  # saved before validation existed: always open, as the SLA does
        return BusinessHours.parse({}, "UTC")


def _source(message) -> tuple[str, int]:
    return ("inbox.message", message.pk)


def inbound_fact(message: Message, kind: str) -> Fact | None:
    if message.direction != Message.Direction.INBOUND or message.is_automatic:
        return None
    return Fact(message.owner_id, message.created_at, kind, {"inbound": 1},
                source=_source(message))


def started_fact(message: Message, kind: str) -> Fact | None:
    """`message` being the first of its conversation."""
    if message.direction != Message.Direction.INBOUND or message.is_automatic:
        return None
    return Fact(message.owner_id, message.created_at, kind, {"conversations_started": 1},
                source=("inbox.conversation", message.conversation_id))


def outbound_fact(message: Message, kind: str) -> Fact | None:
    if (message.direction != Message.Direction.OUTBOUND or message.is_automatic
            or message.status not in REACHED or message.sent_at is None):
        return None
    return Fact(message.owner_id, message.sent_at, kind, {"outbound": 1},
                source=_source(message))


def response_fact(message: Message, channel: Channel, waited_since: datetime) -> Fact:
    minutes = hours_of(channel).working_minutes(waited_since, message.sent_at)
    return Fact(message.owner_id, message.sent_at, channel.kind,
                response_counts(minutes, channel.first_response_minutes),
                source=("inbox.conversation", message.conversation_id))


# --- From the raw rows -----------------------------------------------------------------------


_FIELDS = ("pk", "conversation_id", "channel_id", "direction", "is_automatic", "status",
           "created_at", "sent_at", "owner_id")


def facts(*, start: datetime, end: datetime, user_ids=None) -> list[Fact]:
    """Every fact of the messages of [start, end) (of `user_ids`' messages, if given)."""
    channels = {channel.pk: channel for channel in Channel.objects.all()}
    kinds = {pk: channel.kind for pk, channel in channels.items()}
    messages = Message.objects.exclude(direction=Message.Direction.NOTE)
    in_period = (messages.filter(created_at__gte=start, created_at__lt=end)
                 | messages.filter(sent_at__gte=start, sent_at__lt=end))
    if user_ids is not None:
        in_period = in_period.filter(owner_id__in=user_ids)
    found: list[Fact] = []
    conversation_ids = set()
    for message in in_period.only(*_FIELDS).iterator(chunk_size=5000):
        conversation_ids.add(message.conversation_id)
        for fact in (inbound_fact(message, kinds[message.channel_id]),
                     outbound_fact(message, kinds[message.channel_id])):
            if fact is not None and start <= fact.at < end:
                found.append(fact)
    # The first message of each conversation, and each one's waits: walked in full, as a
    # wait that ends in the period may have begun before it.
    ids = sorted(conversation_ids)
    for offset in range(0, len(ids), 2000):
        chunk = ids[offset:offset + 2000]
        rows = messages.filter(conversation_id__in=chunk).only(*_FIELDS).order_by(
            "conversation_id", "created_at", "id")
        by_conversation: dict[int, list[Message]] = {}
        for message in rows:
            by_conversation.setdefault(message.conversation_id, []).append(message)
        for conversation_messages in by_conversation.values():
            first = conversation_messages[0]
            started = started_fact(first, kinds[first.channel_id])
            if started is not None:
                found.append(started)
            found += _responses(conversation_messages, channels)
    found = [fact for fact in found if start <= fact.at < end]
    if user_ids is not None:
        found = [fact for fact in found if fact.user_id in user_ids]
    return found


def _responses(conversation_messages: list[Message], channels: dict) -> list[Fact]:
    """A conversation's first responses: its client messages and the replies that reached
    the client, in the order they happened. A reply answers the wait unless the client
    wrote again between its typing and its sending (then the wait goes on)."""
    events = []
    for message in conversation_messages:
        if message.direction == Message.Direction.INBOUND and not message.is_automatic:
            events.append((message.created_at, message.pk, message))
        elif outbound_fact(message, "") is not None:
            events.append((message.sent_at, message.pk, message))
    events.sort(key=lambda event: (event[0], event[1]))
    found = []
    waiting_since = None
    last_inbound = None
    for _at, _pk, message in events:
        if message.direction == Message.Direction.INBOUND:
            waiting_since = waiting_since or message.created_at
            last_inbound = max(last_inbound or message.created_at, message.created_at)
            continue
        if waiting_since is None or (last_inbound and last_inbound > message.created_at):
            continue
        found.append(response_fact(message, channels[message.channel_id], waiting_since))
        waiting_since = None
    return found
