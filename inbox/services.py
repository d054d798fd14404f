"""Every write to channels, conversations and messages.

Two sections: Inbound (a webhook delivery stored, then processed into messages on a deal's
timeline) and Outbound (replies from the deal card). Keyword-only, atomic; realtime events
go out after commit (crm.services.timeline_add and core.events do that).
"""

import copy
import json
import logging
import re
import secrets
import time
from datetime import timedelta

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone
from django.utils.translation import gettext as _

from consents import selectors as consent_selectors
from core import deliveries, marks
from core import events as crm_events
from core.hours import BusinessHours
from core.sql import update_from_values
from core.tasks import delay_now, delay_on_commit
from crm import mentions as crm_mentions
from crm import rollups as crm_rollups
from crm import selectors as crm_selectors
from crm import services as crm_services
from inbox import notifications as inbox_notifications
from inbox import policy, routing
from inbox import rollups as inbox_rollups
from inbox import selectors as inbox_selectors
from inbox.models import (
    Attachment,
    Channel,
    ChannelIdentity,
    Conversation,
    InboundEvent,
    MailDetails,
    Message,
    MessageTemplate,
)
from inbox.providers.base import (
    ClientReachable,
    ClientUnreachable,
    DeliveryStatus,
    InboundMessage,
    MailThread,
    ProviderError,
    Unsubscribed,
    obj,
    objs,
    provider_for,
    text,
)
from security.audit import containment

logger = logging.getLogger("inbox")

# =============================================================================================
# Inbound
# =============================================================================================


def event_receive(*, channel: Channel, provider_event_id: str, event_type: str,
                  payload: str) -> bool:
    """Store one webhook delivery as received; a repeated delivery changes nothing. True when
    it was new.

    One statement (INSERT ... ON CONFLICT DO NOTHING), committed before the provider hears
    200 (invariant 6); then a drain is queued unless one is already waiting.
    """
    table = connection.ops.quote_name(InboundEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (channel_id, provider_event_id, event_type, payload, status,"
            " error, attempts, received_at) VALUES (%s, %s, %s, %s, %s, '', 0, %s)"
            " ON CONFLICT (channel_id, provider_event_id) DO NOTHING RETURNING id",
            [channel.pk, provider_event_id, event_type, payload,
             InboundEvent.Status.RECEIVED, timezone.now()],
        )
        created = cursor.fetchone() is not None
    if created:
        events_drain_soon()
    return created


def delivery_store(channel: Channel, received) -> bool:
    """core.webhooks' store for the inbox's channels."""
    return event_receive(channel=channel, provider_event_id=received.event_id,
                         event_type=received.event_type, payload=received.payload)


# A drain at work holds a mark, so webhooks leave their events to it instead of queueing more
# drains; it lets go once it has found nothing for DRAIN_LINGER seconds, then looks once more
# (an event stored just before it let go was left to it). A mark whose drain died expires.
DRAIN_MARK = "inbox:drain"
DRAIN_MARK_SECONDS = 10
# Events per transaction; the pause between batches smaller than that lets events gather
# (fewer, larger transactions under load, at most this much added delay): a batch costs about
# 9 ms of worker and database CPU whatever its size, plus about 0.6 ms per event: at 300
# events/s a 10 ms pause made batches of ~6 and 20 ms of ~8, 0.3 ms less per event. After
# DRAIN_SECONDS a drain hands over to a fresh task, so a backlog does not hold one worker
# process forever.
DRAIN_BATCH = 50
DRAIN_PAUSE = 0.02
DRAIN_LINGER = 0.5
DRAIN_SECONDS = 30


def events_drain_soon() -> None:
    """Queue a drain after commit, unless one is at work or queued."""
    from inbox.tasks import drain_events

    try:
        if not marks.add(DRAIN_MARK, DRAIN_MARK_SECONDS):
            return
    except Exception as e:  # Redis down: the event is stored, the sweeper queues it
        logger.warning("drain not queued: %r", e)
        return

    def queue():
        try:
            delay_now(drain_events)
        except Exception as e:
            # The broker is down: the next webhook tries again, the sweeper in any case.
            logger.warning("drain not queued: %r", e)
            try:
                marks.drop(DRAIN_MARK)
            except Exception:
                pass

    transaction.on_commit(queue)


def events_drain(*, batch: int = DRAIN_BATCH, seconds: float = DRAIN_SECONDS,
                 linger: float = DRAIN_LINGER, pause: float = DRAIN_PAUSE) -> int:
    """Process the received events, oldest first, `batch` per transaction, until none has
    come for `linger` seconds (or `seconds` have passed: then another drain is queued). Drains
    may run side by side on several worker processes: each takes the events no other one
    holds. Returns how many it processed. Without a worker (linger 0, pause 0) it runs inside
    the webhook's request and returns as soon as nothing is left."""
    started = time.monotonic()
    idle_since = None
    done = 0
    while True:
        marks.hold(DRAIN_MARK, DRAIN_MARK_SECONDS)
        count = _events_process_batch(batch)
        done += count
        now = time.monotonic()
        if count:
            idle_since = None
        elif idle_since is None:
            idle_since = now
        if now - started > seconds:
            marks.drop(DRAIN_MARK)
            events_drain_soon()
            return done
        if idle_since is not None and now - idle_since >= linger:
            marks.drop(DRAIN_MARK)
            if not InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).exists():
                return done
            idle_since = None
            continue
        if count < batch and pause:
            time.sleep(pause)


def _events_process_batch(limit: int) -> int:
    """Up to `limit` received events in one transaction. When anything fails (a bad event, a
    deadlock with another drain), the batch is rolled back and each event is processed on its
    own, so the bad one is recorded as failed and the others go through."""
    ids: list[int] = []
    try:
        with transaction.atomic():
            events = list(
                InboundEvent.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("channel").filter(status=InboundEvent.Status.RECEIVED)
                .order_by("id")[:limit]
            )
            ids = [event.pk for event in events]
            parsed = [(event, provider_for(event.channel).parse(json.loads(event.payload)))
                      for event in events]
            # One order of row locks for every drain (by chat, then arrival), so two drains
            # running side by side do not deadlock on the conversations and deals they share.
            parsed.sort(key=lambda pair: (pair[0].channel_id, _sender(pair[1]), pair[0].pk))
            _events_apply(parsed)
            now = timezone.now()
            for status, pks in (
                (InboundEvent.Status.PROCESSED, [e.pk for e, n in parsed if n]),
                (InboundEvent.Status.IGNORED, [e.pk for e, n in parsed if not n]),
            ):
                if pks:
                    InboundEvent.objects.filter(pk__in=pks).update(
                        status=status, error="", attempts=F("attempts") + 1, processed_at=now)
    except Exception:
        if not ids:
            raise
        logger.warning("a batch of %s events failed; processing them one by one", len(ids),
                       exc_info=True)
        for pk in ids:
            deliveries.process(InboundEvent, pk, event_process)
    return len(ids)


def _sender(normalized: list) -> str:
    return next((item.sender_id for item in normalized if hasattr(item, "sender_id")), "")


class StatusBeforeSend(Exception):
    """A delivery status names a message we do not have while a send of the channel is at
    the provider: most likely that send, whose answer is not stored yet. The event fails
    and the sweeper processes it again a little later."""


def _events_apply(events: list[tuple[InboundEvent, list]]) -> None:
    """Apply the normalized contents of stored events, in order: the messages of each channel
    together (a few statements for the lot), then the echoes of our own messages, the
    reachability marks and the delivery statuses."""
    by_channel: dict[int, tuple[Channel, list[InboundMessage]]] = {}
    rest: list[tuple[Channel, object]] = []
    for event, normalized in events:
        for item in normalized:
            if isinstance(item, InboundMessage) and not item.from_us:
                by_channel.setdefault(event.channel_id, (event.channel, []))[1].append(item)
            else:
                rest.append((event.channel, item))
    if by_channel:
        _messages_receive_all(list(by_channel.values()))
    for channel, item in rest:
        if isinstance(item, InboundMessage):
            _echo_receive(channel=channel, echo=item)
        elif isinstance(item, ClientUnreachable):
            _identity_unreachable(channel=channel, sender_id=item.sender_id, reason=item.reason)
        elif isinstance(item, ClientReachable):
            _identity_reachable(channel=channel, sender_id=item.sender_id)
        elif isinstance(item, DeliveryStatus):
            _status_apply(channel=channel, status=item)
        elif isinstance(item, Unsubscribed):
            from inbox import unsubscribe

            unsubscribe.apply(value=item.token, evidence=item.evidence)


def event_process(*, event: InboundEvent) -> InboundEvent:
    """Turn one stored delivery into messages (or an unreachable mark): the sweeper's and the
    admin's retry path. Safe to run twice and concurrently: the event row is locked, and a
    processed event is left alone."""
    with transaction.atomic():
        # Lock the event only: a lock on the joined channel row would hold up every webhook
        # of the channel (their inserts take a key-share lock on it) while this runs.
        event = (InboundEvent.objects.select_for_update(of=("self",)).select_related("channel")
                 .get(pk=event.pk))
        if event.status in (InboundEvent.Status.PROCESSED, InboundEvent.Status.IGNORED):
            return event
        normalized = provider_for(event.channel).parse(json.loads(event.payload))
        _events_apply([(event, normalized)])
        event.status = (InboundEvent.Status.PROCESSED if normalized
                        else InboundEvent.Status.IGNORED)
        event.error = ""
        event.attempts += 1
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "error", "attempts", "processed_at"])
    return event


def event_retry(*, event: InboundEvent) -> None:
    from inbox.tasks import process_event

    deliveries.retry(InboundEvent, event.pk, process_event)


def events_sweep(*, now=None) -> int:
    from inbox.tasks import process_event

    return deliveries.sweep(InboundEvent, process_event, now=now)


# --- Channel set-up ---------------------------------------------------------------------------


def channel_connect_webhook(*, channel: Channel, webhook_url: str) -> str:
    """Point the provider at our webhook (Telegram: setWebhook with the channel's secret
    token; WhatsApp: the business account's callback override; MAX: a subscription; VK: a
    callback server), making the secret first if the channel has none and the provider
    takes ours. Returns what the provider now does; raises ProviderError with the
    provider's reason (an HTTPS URL it can reach...). Each step's settings are saved (and
    committed, where the caller has no transaction) before the provider is called: VK asks
    the URL for its confirmation code while it is being added."""
    provider = provider_for(channel)
    if not channel.webhook_secret and provider.makes_webhook_secret:
        # Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and -; VK 50 at most.
        channel.webhook_secret = secrets.token_urlsafe(36)
        channel.save(update_fields=["webhook_secret"])
    settings_first = provider.webhook_settings()
    if settings_first:
        for name, value in settings_first.items():
            setattr(channel, name, value)
        channel.save(update_fields=list(settings_first))
    done = provider.setup_webhook(webhook_url)
    logger.info("channel %s: webhook set to %s", channel.pk, webhook_url)
    return done


def _messages_receive(*, channel: Channel, inbounds: list[InboundMessage]) -> list[Message]:
    """Store inbound messages of one channel (edits and repeats included), in arrival order."""
    return _messages_receive_all([(channel, inbounds)])


def _messages_receive_all(groups: list[tuple[Channel, list[InboundMessage]]]) -> list[Message]:
    """Store the inbound messages of a drain's batch, channel by channel in the order given.

    However many there are, the routing (identities, deals, conversations) and the inserts
    take a few statements per channel, and the conversations' counts, the timeline and the
    live events a few for the whole batch, whatever its mix of messengers: a drain processes
    events in batches, and a statement per message was most of what an update cost. The deals
    and conversations are written once each, in id order, as every writer locks them. A first
    message of a new client makes their contact, lead deal and conversation one at a time.
    """
    channels = {channel.pk: channel for channel, _inbounds in groups}
    messages: list[Message] = []
    edits: list[tuple[dict[str, Message], list[InboundMessage]]] = []
    for channel, inbounds in groups:
        fresh, late_edits = _fresh_and_edits(channel, inbounds)
        if not fresh:
            continue
        # E-mail replies go to their thread's conversation; the rest by their sender.
        threads = routing.threads_for(channel, list(fresh.values()))
        unthreaded = [inbound for key, inbound in fresh.items() if key not in threads]
        by_sender = routing.conversations_for(channel, unthreaded) if unthreaded else {}
        conversations = {key: threads.get(key) or by_sender[inbound.sender_id]
                         for key, inbound in fresh.items()}
        stored = _messages_store(channel, fresh, conversations)
        _attachments_store(stored, fresh)
        _mail_details_store(stored, fresh)
        messages += stored
        edits.append(({message.external_id: message for message in stored}, late_edits))
    if not messages:
        return []
    touched = _touched(messages)
    # An auto-reply or a bounce is on the timeline, but nobody is waiting for an answer to it.
    _conversations_received(channels, [
        (conversation, awaiting) for conversation, arrived in touched
        if (awaiting := [m for m in arrived if not m.is_automatic])])
    _rollups_received(channels, messages)
    crm_services.timeline_add_many(kind="message", items=[
        (message.conversation.deal, message.conversation.identity.contact, message,
         message.created_at)
        for message in messages
    ])
    _after_arrival(channels, touched)
    for stored, late_edits in edits:
        for inbound in late_edits:
            if inbound.external_id in stored:
                _message_edit(message=stored[inbound.external_id], inbound=inbound)
    return messages


def _fresh_and_edits(channel: Channel, inbounds: list[InboundMessage]
                     ) -> tuple[dict[str, InboundMessage], list[InboundMessage]]:
    """The messages not stored yet, by external id in arrival order, and the edits of those
    (applied once they are stored). Edits of messages stored earlier are applied here;
    repeats are dropped."""
    known = {m.external_id: m for m in Message.objects.filter(
        channel=channel, external_id__in={inbound.external_id for inbound in inbounds})}
    fresh: dict[str, InboundMessage] = {}
    late_edits: list[InboundMessage] = []
    for inbound in inbounds:
        existing = known.get(inbound.external_id)
        if existing is not None:
            if inbound.edited:
                _message_edit(message=existing, inbound=inbound)
        elif inbound.external_id in fresh:
            if inbound.edited:
                late_edits.append(inbound)  # edited before we stored it: apply after
        else:
            fresh[inbound.external_id] = inbound
    return fresh, late_edits


def _messages_store(channel: Channel, fresh: dict[str, InboundMessage],
                    conversations: dict[str, Conversation]) -> list[Message]:
    """Insert the messages in one statement (`conversations`: each one's, by external id),
    each pointing at the message it replies to."""
    replied = {inbound.reply_to_external_id for inbound in fresh.values()
               if inbound.reply_to_external_id}
    reply_to = ({m.external_id: m for m in Message.objects.filter(
        channel=channel, external_id__in=replied)} if replied else {})
    messages = _messages_insert([
        Message(
            conversation=conversations[inbound.external_id], channel=channel,
            direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED,
            is_automatic=inbound.automatic,
            external_id=inbound.external_id, text=inbound.text[:20_000],
            reply_to=reply_to.get(inbound.reply_to_external_id), created_at=inbound.sent_at,
            owner_id=_owner_of(conversations[inbound.external_id]),
            # An edit of a message we never saw: keep it, marked as edited.
            edited_at=inbound.sent_at if inbound.edited else None,
        )
        for inbound in fresh.values()
    ])
    stored = {message.external_id: message for message in messages}
    for message in messages:
        # A reply to a message of this same batch: its target has an id only now.
        target = stored.get(fresh[message.external_id].reply_to_external_id)
        if message.reply_to_id is None and target is not None:
            message.reply_to = target
            Message.objects.filter(pk=message.pk).update(reply_to=target)
    return messages


def _owner_of(conversation: Conversation) -> int | None:
    """Whom a client's message counts for: the deal's owner (the deal is loaded by the
    routing), else the conversation's assignee."""
    return conversation.deal.owner_id if conversation.deal_id else conversation.assignee_id


def _attachments_store(messages: list[Message], fresh: dict[str, InboundMessage]) -> None:
    """The files' rows now; their content is fetched by a worker after commit."""
    from inbox import tasks

    Attachment.objects.bulk_create([
        Attachment(message=message, kind=a.kind, provider_file_id=a.file_id[:2000],
                   name=a.name[:255], mime_type=a.mime_type[:100], size=a.size)
        for message in messages for a in fresh[message.external_id].attachments
    ])
    for message in messages:
        if fresh[message.external_id].attachments:
            delay_on_commit(tasks.fetch_attachments, message.pk)


def _mail_details_store(messages: list[Message], fresh: dict[str, InboundMessage]) -> None:
    """An e-mail's envelope, HTML and quoted history beside its message."""
    from inbox.providers.mail.threading import subject_key

    MailDetails.objects.bulk_create([
        MailDetails(message=message, subject_key=subject_key(mail.get("subject", "")),
                    **mail)
        for message in messages if (mail := fresh[message.external_id].mail) is not None
    ])


def _touched(messages: list[Message]) -> list[tuple[Conversation, list[Message]]]:
    """Each conversation with the messages that arrived in it, in conversation id order: the
    order their rows are locked in everywhere."""
    arrived_in: dict[int, list[Message]] = {}
    for message in messages:
        arrived_in.setdefault(message.conversation_id, []).append(message)
    return [(arrived[0].conversation, arrived) for _pk, arrived in sorted(arrived_in.items())]


def _rollups_received(channels: dict[int, Channel], messages: list[Message]) -> None:
    """The batch's clients' messages, and the conversations they started (those with no
    message before the batch), added to the figures."""
    kinds = {pk: channel.kind for pk, channel in channels.items()}
    facts = [fact for message in messages
             if (fact := inbox_rollups.inbound_fact(message, kinds[message.channel_id]))]
    # Which conversations had a message before the batch. One the client wrote in before
    # says so itself (its last_inbound_at as the routing loaded it, before this batch's
    # counts): no query for the usual case. The others (new, opened by the company, or of
    # automatic mail only) are asked: a message stored before the batch has a smaller id (a
    # channel's share of the batch is one insert), one probe of each one's index.
    older = {m.conversation_id for m in messages if m.conversation.last_inbound_at is not None}
    unknown = {message.conversation_id for message in messages} - older
    if unknown:
        first_of_batch = min(message.pk for message in messages)
        older |= set(Conversation.objects.filter(pk__in=unknown).filter(Exists(
            Message.objects.filter(conversation=OuterRef("pk"), pk__lt=first_of_batch)
            .exclude(direction=Message.Direction.NOTE))).values_list("pk", flat=True))
    first: dict[int, Message] = {}
    for message in messages:
        known = first.get(message.conversation_id)
        if message.conversation_id not in older and (
                known is None or (message.created_at, message.pk) < (known.created_at, known.pk)):
            first[message.conversation_id] = message
    facts += [fact for message in first.values()
              if (fact := inbox_rollups.started_fact(message, kinds[message.channel_id]))]
    crm_rollups.record(facts)


def _after_arrival(channels: dict[int, Channel], touched) -> None:
    """The out-of-office reply where the channel is closed, and one live event per owner,
    whatever the number of their conversations in the batch (the conversation lists refetch
    themselves on it)."""
    by_owner: dict[int, list[Conversation]] = {}
    for conversation, arrived in touched:
        # Never an automatic answer to a machine's mail (an auto-reply to an auto-reply
        # loops for ever).
        if not conversation.identity.is_unreachable and not all(
                message.is_automatic for message in arrived):
            _out_of_office_reply(conversation=conversation,
                                 channel=channels[conversation.channel_id],
                                 at=arrived[-1].created_at)
        by_owner.setdefault(conversation.deal.owner_id, []).append(conversation)
    for owner_id, owned in by_owner.items():
        crm_events.send_after_commit(crm_events.user_group(owner_id), {
            "type": "conversation.updated", "conversations": [c.pk for c in owned],
            "deals": [c.deal_id for c in owned],
        })
    crm_events.wallboard_changed(conversation.deal.team_id for conversation, _a in touched)
    inbox_notifications.messages_arrived([conversation for conversation, _arrived in touched])


def _messages_insert(messages: list[Message]) -> list[Message]:
    """Insert them in one statement; when one was stored meanwhile by a concurrent delivery,
    one by one, leaving out the ones already there."""
    try:
        with transaction.atomic():
            return Message.objects.bulk_create(messages)
    except IntegrityError:
        pass
    inserted = []
    for message in messages:
        try:
            with transaction.atomic():
                message.save(force_insert=True)
        except IntegrityError:
            continue
        inserted.append(message)
    return inserted


def _conversations_received(channels: dict[int, Channel],
                            touched: list[tuple[Conversation, list[Message]]]) -> None:
    """Count the messages that arrived in each conversation: unread, awaiting a reply, the
    last activity, and the first-response clock started at the first unanswered one (working
    time of the conversation's channel; the rows are locked, so what they hold is current)."""
    hours = {pk: _hours(channel) for pk, channel in channels.items()}
    rows = [
        (conversation.pk, len(arrived), max(m.created_at for m in arrived),
         min(m.created_at for m in arrived),
         None if conversation.first_response_due_at is not None else
         hours[conversation.channel_id].add_working_minutes(
             min(m.created_at for m in arrived),
             channels[conversation.channel_id].first_response_minutes))
        for conversation, arrived in touched
    ]
    if not rows:
        return
    if connection.vendor == "postgresql":
        _conversations_received_at_once(rows)
        return
    for pk, count, last, first, due in rows:  # the embedded SQLite: a few chats at a time
        updates = {
            "unread_count": F("unread_count") + count,
            "last_inbound_at": Greatest(Coalesce(F("last_inbound_at"), last), last),
            "last_activity_at": Greatest(F("last_activity_at"), last),
            "awaiting_reply": True,
            "waiting_since": Least(Coalesce(F("waiting_since"), first), first),
        }
        if due is not None:
            updates["first_response_due_at"] = due
        Conversation.objects.filter(pk=pk).update(**updates)


def _conversations_received_at_once(rows: list[tuple]) -> None:
    """PostgreSQL: the same for every row in one statement."""
    update_from_values(
        Conversation, alias="c", rows=rows,
        columns=[("id", ""), ("n", ""), ("last", "timestamptz"), ("first", "timestamptz"),
                 ("due", "timestamptz")],
        set_sql="unread_count = c.unread_count + v.n,"
        # GREATEST and LEAST skip NULLs in PostgreSQL: a first message sets last_inbound_at.
        " last_inbound_at = GREATEST(c.last_inbound_at, v.last),"
        " last_activity_at = GREATEST(c.last_activity_at, v.last),"
        " awaiting_reply = true,"
        " waiting_since = LEAST(c.waiting_since, v.first),"
        " first_response_due_at = COALESCE(c.first_response_due_at, v.due)",
    )


def _hours(channel: Channel) -> BusinessHours:
    try:
        return BusinessHours.of(channel)
    except ValidationError:
        # Saved before validation existed, or edited in the database: treat as always open
        # rather than lose the message.
        logger.warning("channel %s has invalid business hours; treated as always open", channel)
        return BusinessHours.parse({}, "UTC")


# A delivery replayed long after the client wrote (a backlog after an outage) gets no
# automatic reply: the client is not sitting there waiting for one any more.
OUT_OF_OFFICE_MAX_AGE = timedelta(hours=1)


def _out_of_office_reply(*, conversation: Conversation, channel: Channel, at) -> None:
    """Outside business hours the client hears the channel's out-of-office reply, once per
    conversation per closed period (the conversation row is locked by the caller)."""
    text = channel.out_of_office_reply.strip()[:provider_for(channel).text_limit]
    if not text or timezone.now() - at > OUT_OF_OFFICE_MAX_AGE:
        return
    if containment.automation_paused():
        return
    closed_since = _hours(channel).closed_since(at)
    if closed_since is None:
        return
    sent_for = conversation.out_of_office_sent_for
    if sent_for is not None and sent_for >= closed_since:
        return
    Conversation.objects.filter(pk=conversation.pk).update(out_of_office_sent_for=closed_since)
    conversation.out_of_office_sent_for = closed_since
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation, channel=channel, direction=Message.Direction.OUTBOUND,
        text=text, status=Message.Status.QUEUED, is_automatic=True, created_at=now,
    )
    crm_services.timeline_add(kind="message", deal=conversation.deal, source=message,
                              occurred_at=now)
    queue_send(message)


def _message_edit(*, message: Message, inbound: InboundMessage) -> Message:
    if message.text == inbound.text[:20_000] and message.edited_at is not None:
        return message
    message.text = inbound.text[:20_000]
    message.edited_at = inbound.sent_at
    message.save(update_fields=["text", "edited_at"])
    deal_id = message.conversation.deal_id
    if deal_id is not None:
        crm_events.send_after_commit(
            crm_events.deal_group(deal_id),
            {"type": "message.edited", "deal": deal_id, "message": message.pk},
        )
    return message


def _identity_reachable(*, channel: Channel, sender_id: str) -> None:
    """The client allowed messages again (VK's message_allow, MAX's bot_started)."""
    identity = routing.identity_find(channel, sender_id)
    if identity is not None and identity.is_unreachable:
        identity.is_unreachable = False
        identity.unreachable_reason = ""
        identity.save(update_fields=["is_unreachable", "unreachable_reason",
                                     "external_id_index"])


# A status only moves forward (Meta may deliver "read" before "delivered"); "failed" ends a
# message that was not read.
_STATUS_RANK = {Message.Status.QUEUED: 0, Message.Status.SENT: 1, Message.Status.DELIVERED: 2,
                Message.Status.READ: 3}


def _status_apply(*, channel: Channel, status: DeliveryStatus) -> None:
    """What became of a message we sent (WhatsApp's statuses), shown live in the card."""
    message = (Message.objects.select_for_update(of=("self",)).select_related("conversation")
               .filter(channel=channel, external_id=status.external_id,
                       direction=Message.Direction.OUTBOUND).first())
    if message is None:
        if Message.objects.filter(channel=channel, status=Message.Status.QUEUED,
                                  sending_since__isnull=False).exists():
            raise StatusBeforeSend(status.external_id)
        return  # sent from elsewhere (the provider's own app), or long forgotten
    if status.status == Message.Status.FAILED:
        if message.status in (Message.Status.SENT, Message.Status.DELIVERED):
            message_fail(message, status.error or _("The provider could not deliver the "
                                                    "message."))
        return
    if _STATUS_RANK.get(message.status, 9) >= _STATUS_RANK[status.status]:
        return
    message.status = status.status
    message.save(update_fields=["status"])
    _message_status_changed(message)


def _echo_receive(*, channel: Channel, echo: InboundMessage) -> None:
    """A message the company sent the client from the provider's own interface (a VK
    community admin answering in VK): shown in the conversation as ours, sent, with no
    author. An echo of a message this CRM sent is already here."""
    if Message.objects.filter(channel=channel, external_id=echo.external_id).exists():
        return
    identity = routing.identity_find(channel, echo.sender_id)
    if identity is None:
        return  # a client who never wrote to us: no conversation to put it in
    if echo.our_id and Message.objects.filter(
            channel=channel, direction=Message.Direction.OUTBOUND, sent_at__isnull=True,
            status=Message.Status.QUEUED, conversation__identity=identity).exists():
        # Ours, its send's answer not stored yet: that send records it.
        return
    conversation = (Conversation.objects.select_for_update(of=("self",))
                    .filter(identity=identity).select_related("deal")
                    .order_by("-created_at", "-id").first())
    if conversation is None or conversation.deal is None:
        return
    message = Message.objects.create(
        conversation=conversation, channel=channel, direction=Message.Direction.OUTBOUND,
        status=Message.Status.SENT, external_id=echo.external_id, text=echo.text[:20_000],
        created_at=echo.sent_at, sent_at=echo.sent_at,
    )
    crm_services.timeline_add(kind="message", deal=conversation.deal, source=message,
                              occurred_at=echo.sent_at)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_activity_at=Greatest(F("last_activity_at"), echo.sent_at))
    _reply_settled(message)  # a reply that was sent, as one from the card


def _identity_unreachable(*, channel: Channel, sender_id: str, reason: str) -> None:
    identity = routing.identity_find(channel, sender_id)
    if identity is None:
        return  # someone who never wrote to us blocked the bot: nothing to mark
    identity.is_unreachable = True
    identity.unreachable_reason = reason[:300]
    identity.save(update_fields=["is_unreachable", "unreachable_reason", "external_id_index"])


# =============================================================================================
# Outbound
# =============================================================================================
# Reply in the deal card -> Message(queued) -> the `inbox.send_message` task -> message_send
# -> sent, or failed with the provider's reason (and a retry). Each status change is pushed
# to the deal's group after commit.

# The most a messenger takes (MAX: 4000, its provider's text_limit); a mail takes more (its
# provider's text_limit).
REPLY_TEXT_LIMIT = 4096
# Telegram takes about one message a second per chat; faster sends get 429s.
CHAT_SEND_INTERVAL = 1


class ChatBusy(Exception):
    """A message went to this chat less than CHAT_SEND_INTERVAL ago: try again in `wait` s."""

    def __init__(self, wait: float):
        super().__init__(f"chat busy for {wait} s")
        self.wait = wait


def _message_status_changed(message: Message) -> None:
    deal_id = message.conversation.deal_id
    if deal_id is None:
        return
    crm_events.send_after_commit(crm_events.deal_group(deal_id), {
        "type": "message.status", "deal": deal_id, "message": message.pk,
        "status": message.status,
    })


def _is_reply(message: Message) -> bool:
    """Typed by someone in the conversation (not an out-of-office reply, not a campaign)."""
    return message.direction == Message.Direction.OUTBOUND and not message.is_automatic


def _last_reply_failed(conversation_id: int) -> bool:
    """The latest reply that is not on its way any more failed (a retry under way or a
    newer reply sent clears the mark)."""
    status = (Message.objects.filter(conversation_id=conversation_id,
                                     direction=Message.Direction.OUTBOUND, is_automatic=False)
              .exclude(status=Message.Status.QUEUED)
              .order_by("-created_at", "-id").values_list("status", flat=True).first())
    return status == Message.Status.FAILED


def _reply_settled(message: Message) -> None:
    """A reply was sent or failed (the message row is locked by the caller). Sent: the
    conversation is answered, unless the client wrote again after the reply was typed.
    Failed: the client got nothing, so the conversation awaits a reply again (its
    first-response clock, if one runs, keeps running) and is marked. The lists refetch."""
    conversation = message.conversation
    changed = {"last_reply_failed": _last_reply_failed(conversation.pk)}
    failed = message.status == Message.Status.FAILED
    waited = message.answered_wait_since
    if failed:
        changed["awaiting_reply"] = True
        if waited is not None:  # it had answered the client: their wait goes on
            changed["waiting_since"] = Least(Coalesce(F("waiting_since"), waited), waited)
    else:
        sent_at = message.sent_at or timezone.now()
        changed["last_outbound_at"] = Greatest(Coalesce(F("last_outbound_at"), sent_at),
                                               sent_at)
    Conversation.objects.filter(pk=conversation.pk).update(**changed)
    if not failed:
        # The row is locked by the update above: what it says holds until the commit.
        answered = (Conversation.objects.filter(pk=conversation.pk)
                    .exclude(last_inbound_at__gt=message.created_at))
        waited = answered.values_list("waiting_since", flat=True).first()
        answered.update(awaiting_reply=False, first_response_due_at=None, waiting_since=None)
    _rollups_reply(message, waited=waited)
    _conversation_updated(conversation)


def _rollups_reply(message: Message, *, waited) -> None:
    """A reply that reached the client counts for whoever sent it (the deal's owner for one
    sent from the messenger's own app), with the client's wait it ended; one the provider
    later reports failed is taken back, and the wait it had ended goes on."""
    channel = message.channel
    if message.status == Message.Status.FAILED:
        if message.sent_at is None or message.owner_id is None:
            return  # never counted
        counted = copy.copy(message)
        counted.status = Message.Status.SENT
        undo = [inbox_rollups.outbound_fact(counted, channel.kind)]
        if waited is not None:
            undo.append(inbox_rollups.response_fact(counted, channel, waited))
        Message.objects.filter(pk=message.pk).update(answered_wait_since=None)
        message.answered_wait_since = None
        crm_rollups.record((), undo=[fact for fact in undo if fact])
        return
    deal = message.conversation.deal
    message.owner_id = message.author_id or (deal.owner_id if deal else None)
    message.answered_wait_since = waited
    Message.objects.filter(pk=message.pk).update(owner_id=message.owner_id,
                                                 answered_wait_since=waited)
    facts = [inbox_rollups.outbound_fact(message, channel.kind)]
    if waited is not None:
        facts.append(inbox_rollups.response_fact(message, channel, waited))
    crm_rollups.record([fact for fact in facts if fact])


def _conversation_updated(conversation: Conversation) -> None:
    """The conversation lists of the deal's owner refetch themselves (the same recipients as
    a client's new message)."""
    if conversation.deal_id is None:
        return
    owner_id = conversation.deal.owner_id
    crm_events.send_after_commit(crm_events.user_group(owner_id), {
        "type": "conversation.updated", "conversations": [conversation.pk],
        "deals": [conversation.deal_id],
    })
    crm_events.wallboard_changed([conversation.deal.team_id])


def _conversation_for_reply(*, conversation: Conversation, by) -> Conversation:
    """The conversation, fetched again through the visibility rule (Http404 for outsiders);
    a deal shared for reading only allows no replies."""
    conversation = inbox_selectors.conversation_get(user=by, pk=conversation.pk)
    if not crm_selectors.deal_can_edit(user=by, deal=conversation.deal):
        raise PermissionDenied(_("This deal is shared with you for reading only."))
    return conversation


def queue_send(message: Message) -> None:
    """Send a queued message once the transaction commits (the `inbox.send_message` task).
    Due now: if the broker cannot take the task, the outbound sweeper queues it again."""
    from inbox import tasks

    Message.objects.filter(pk=message.pk).update(send_due_at=timezone.now())
    delay_on_commit(tasks.send_message, message.pk, message.attempts)


# A queued send whose task is this late and has no attempt under way was lost (the broker was
# down when it was queued, or lost it): queued again (a second task of a send that was only
# slow is harmless: message_send leaves the message to the first; a wait for its retry or its
# chat's turn moves the due time, so it is not taken for lost). An attempt at the provider
# for longer than its call can last was cut off (a worker killed): the message says so instead
# of waiting an hour for the broker to hand it out again. A text's call lasts 15 s at most
# (the Bot API client's 5 s to connect and 10 s to read the answer; a fresh connection per
# call, nothing to wait for), a file's 60 s more for its upload. Should an attempt outlive
# its limit after all, the message reads "interrupted" until the call ends and says "sent".
SEND_LOST_AFTER = timedelta(seconds=10)
TEXT_CUT_OFF_AFTER = timedelta(seconds=30)
SEND_CUT_OFF_AFTER = timedelta(seconds=90)


def _cut_off(message: Message, now) -> bool:
    """Its attempt began longer ago than its provider call can last: a worker died in it."""
    if message.sending_since is None or message.sending_since >= now - TEXT_CUT_OFF_AFTER:
        return False
    return (message.sending_since < now - SEND_CUT_OFF_AFTER
            or not message.attachments.exists())


def _interrupted_reason() -> str:
    return _("The send was interrupted: the client may or may not have received this "
             "message. Check the chat before retrying.")


def sends_sweep(*, now=None) -> dict[str, int]:
    """Re-queue lost sends and fail the interrupted ones (periodic, inbox.sweep_sends)."""
    now = now or timezone.now()
    queued = Message.objects.filter(status=Message.Status.QUEUED)
    candidates = list(queued.filter(sending_since__lt=now - TEXT_CUT_OFF_AFTER)
                      .values_list("pk", flat=True)[:1000])
    cut_off = 0
    for pk in candidates:
        with transaction.atomic():
            message = (Message.objects.select_for_update(of=("self",))
                       .select_related("conversation").filter(pk=pk).first())
            if message is not None and message.status == Message.Status.QUEUED \
                    and _cut_off(message, now):
                message_fail(message, _interrupted_reason(), delivery_unknown=True)
                cut_off += 1
    lost = list(queued.filter(sending_since__isnull=True,
                              send_due_at__lt=now - SEND_LOST_AFTER)[:1000])
    with transaction.atomic():
        for message in lost:
            queue_send(message)
    return {"interrupted": cut_off, "requeued": len(lost)}


def reply_window_closes_at(conversation: Conversation):
    """When free-form replies stop reaching the client (WhatsApp: 24 hours after their last
    message), or None on channels without such a window."""
    window = provider_for(conversation.channel).reply_window
    if window is None:
        return None
    if conversation.last_inbound_at is None:
        return timezone.now() - timedelta(seconds=1)  # they never wrote: closed
    return conversation.last_inbound_at + window


def _check_reply_window(conversation: Conversation) -> None:
    closes_at = reply_window_closes_at(conversation)
    if closes_at is not None and closes_at <= timezone.now():
        raise ValidationError({"text": _(
            "More than 24 hours have passed since the client last wrote: WhatsApp delivers "
            "only an approved template now. Pick one, or wait until the client writes.")})


def _clean_text(text: str, *, limit: int, empty: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": empty})
    if len(text) > limit:
        raise ValidationError({"text": _(
            "A message holds at most %(limit)d characters; this one has %(count)d."
        ) % {"limit": limit, "count": len(text)}})
    return text


@transaction.atomic
def message_reply(*, conversation: Conversation, by, text: str,
                  reply_to: Message | None = None, sealed_text: str = "") -> Message:
    """A reply from `by`, queued for sending. With `sealed_text`, that is what the client
    gets and `text` is what the conversation shows (a privacy link: "privacy link sent")."""
    conversation = _conversation_for_reply(conversation=conversation, by=by)
    limit = provider_for(conversation.channel).text_limit
    text = _clean_text(text, limit=limit, empty=_("Write the reply first."))
    if sealed_text:
        sealed_text = _clean_text(sealed_text, limit=limit, empty="")
    _check_reply_window(conversation)
    policy.check(conversation=conversation, by=by, text=f"{text}\n{sealed_text}")
    if reply_to is not None and reply_to.conversation_id != conversation.pk:
        raise ValidationError({"reply_to": _("That message is from another chat.")})
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation, channel_id=conversation.channel_id,
        direction=Message.Direction.OUTBOUND, author=by, text=text, reply_to=reply_to,
        sealed_text=sealed_text, status=Message.Status.QUEUED, created_at=now,
    )
    _reply_queued(conversation=conversation, message=message, by=by, at=now)
    return message


def _reply_queued(*, conversation: Conversation, message: Message, by, at) -> None:
    """A reply is on its way: nothing is unread any more, the message is on the deal's
    timeline, and its send is queued. The conversation stays awaiting a reply (first in the
    lists, its first-response clock running) until the provider has taken it:
    `_reply_settled`."""
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=at,
                                                           unread_count=0)
    crm_services.timeline_add(kind="message", deal=conversation.deal, source=message,
                              actor=by, occurred_at=at)
    queue_send(message)


# --- Message templates (WhatsApp outside the 24-hour window) -----------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*(\d{1,2})\s*\}\}")
# What Meta takes in one parameter of a template's body: a line of text.
TEMPLATE_PARAMETER_LIMIT = 1024


def templates_sync(*, channel: Channel) -> dict[str, int]:
    """The channel's templates as the provider lists them now (WhatsApp: the business
    account's); those gone from the account go here too. Raises ProviderError."""
    listed = provider_for(channel).templates()
    kept = []
    with transaction.atomic():
        for item in listed:
            name, language = text(item.get("name"))[:512], text(item.get("language"))[:20]
            if not name or not language:
                continue
            body = next((text(c.get("text")) for c in objs(item.get("components"))
                         if text(c.get("type")).upper() == "BODY"), "")
            template, _created = MessageTemplate.objects.update_or_create(
                channel=channel, name=name, language=language, defaults={
                    "category": text(item.get("category"))[:30],
                    "status": text(item.get("status"))[:30].upper(), "body": body[:4096],
                    "parameters": max(map(int, _PLACEHOLDER.findall(body)), default=0),
                    "synced_at": timezone.now()})
            kept.append(template.pk)
        removed, _by_model = MessageTemplate.objects.filter(channel=channel).exclude(
            pk__in=kept).delete()
    return {"templates": len(kept), "removed": removed}


def template_render(template: MessageTemplate, parameters: list[str]) -> str:
    """The text the client reads: the body with its placeholders filled in."""
    def value(match):
        number = int(match.group(1))
        return parameters[number - 1] if 0 < number <= len(parameters) else match.group(0)
    return _PLACEHOLDER.sub(value, template.body)


@transaction.atomic
def message_reply_template(*, conversation: Conversation, by, template_id: int,
                           parameters: list[str]) -> Message:
    """An approved template, its fields filled in, queued for sending: what reaches a
    WhatsApp client outside the 24-hour window."""
    conversation = _conversation_for_reply(conversation=conversation, by=by)
    template = MessageTemplate.objects.filter(channel=conversation.channel, pk=template_id,
                                              status="APPROVED").first()
    if template is None:
        raise ValidationError({"template": _("Choose an approved template of this channel.")})
    values = [str(value).strip() for value in parameters][:template.parameters]
    if len(values) < template.parameters or not all(values):
        raise ValidationError({"parameters": _("Fill in every field of the template.")})
    for value in values:
        if len(value) > TEMPLATE_PARAMETER_LIMIT or "\n" in value or "\t" in value:
            raise ValidationError({"parameters": _(
                "A field of a template holds one line of at most %(limit)d characters."
            ) % {"limit": TEMPLATE_PARAMETER_LIMIT}})
    text = template_render(template, values)[:REPLY_TEXT_LIMIT]
    policy.check(conversation=conversation, by=by, text=text)
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation, channel_id=conversation.channel_id,
        direction=Message.Direction.OUTBOUND, author=by, text=text,
        template={"name": template.name, "language": template.language, "parameters": values},
        status=Message.Status.QUEUED, created_at=now,
    )
    _reply_queued(conversation=conversation, message=message, by=by, at=now)
    return message


NOTE_TEXT_LIMIT = 20_000


@transaction.atomic
def message_note(*, conversation: Conversation, by, text: str) -> Message:
    """A private note inside the conversation: on the deal's timeline for the team, never
    sent to the client, and no answer to them (the conversation stays unanswered)."""
    conversation = _conversation_for_reply(conversation=conversation, by=by)
    text = _clean_text(text, limit=NOTE_TEXT_LIMIT, empty=_("Write the note first."))
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation, channel_id=conversation.channel_id,
        direction=Message.Direction.NOTE, author=by, text=text, status="", created_at=now,
    )
    entry = crm_services.timeline_add(kind="message", deal=conversation.deal, source=message,
                                      actor=by, occurred_at=now)
    crm_mentions.mentions_record(by=by, entry=entry, text=text)
    return message


def conversation_mark_read(*, conversation: Conversation, by) -> bool:
    """The assignee has seen the conversation: its unread count goes to zero. Others looking
    (the head, a colleague it is shared with) do not change what the assignee has to read."""
    if conversation.assignee_id != by.pk or not conversation.unread_count:
        return False
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=0)
    conversation.unread_count = 0
    return True


@transaction.atomic
def message_retry(*, message: Message, by, confirmed: bool = False) -> Message:
    """Send a failed reply again. One whose send was cut off may have reached the client:
    only with `confirmed` (the manager checked the chat)."""
    conversation = _conversation_for_reply(conversation=message.conversation, by=by)
    message = Message.objects.select_for_update().get(pk=message.pk, conversation=conversation)
    if message.direction != Message.Direction.OUTBOUND or \
            message.status != Message.Status.FAILED:
        raise ValidationError(_("Only a message that failed to send can be retried."))
    if message.delivery_unknown and not confirmed:
        raise ValidationError({"confirm": _(
            "This message may have reached the client already. Check the chat, then confirm "
            "that it should be sent again.")})
    message.status = Message.Status.QUEUED
    message.error = ""
    message.delivery_unknown = False
    message.save(update_fields=["status", "error", "delivery_unknown"])
    message.conversation = conversation
    _message_status_changed(message)
    if _is_reply(message):
        # On its way again: no longer marked failed (it still awaits being sent).
        Conversation.objects.filter(pk=conversation.pk).update(
            last_reply_failed=_last_reply_failed(conversation.pk))
        _conversation_updated(conversation)
    queue_send(message)
    return message


def message_fail(message: Message, reason: str, *, recipient_status: str = "failed",
                 recipient_reason: str = "send_failed", delivery_unknown: bool = False) -> None:
    """The message (locked by the caller) fails with `reason`; a campaign's recipient takes
    `recipient_status` and `recipient_reason` (inbox.campaigns). `delivery_unknown`: the send
    was cut off at the provider, the client may have it."""
    message.status = Message.Status.FAILED
    message.error = reason[:500]
    message.sending_since = None
    message.delivery_unknown = delivery_unknown
    message.save(update_fields=["status", "error", "sending_since", "delivery_unknown"])
    _message_status_changed(message)
    if _is_reply(message):
        _reply_settled(message)
    if message.consent_purpose_id is not None:
        from inbox import campaigns

        campaigns.recipient_settled(message=message, status=recipient_status,
                                    reason=recipient_reason)


def _chat_wait(message: Message) -> float:
    """0 when this chat may take the message now (the slot is then reserved), else seconds to
    wait. A chat takes one message per CHAT_SEND_INTERVAL, in the order they were written: a
    message waits behind the older ones still queued in its conversation, about as long as
    they need. So twenty replies queued at once (after a broker outage) go out in order, each
    task waking near its turn, instead of all of them retrying every second and the first to
    wake winning (out of order, and thousands of task runs: make faults). An older message
    whose attempt has begun does not hold the chat: it is at the provider already, or its
    worker died in it and only the sweeper will say so, SEND_CUT_OFF_AFTER later."""
    ahead = Message.objects.filter(
        conversation_id=message.conversation_id, direction=Message.Direction.OUTBOUND,
        status=Message.Status.QUEUED, sending_since__isnull=True, pk__lt=message.pk).count()
    if ahead:
        return CHAT_SEND_INTERVAL * ahead
    per_second = provider_for(message.channel).channel_rate
    if per_second and not _channel_slot(message.channel_id, per_second):
        return 1  # the number's share of this second is taken (WhatsApp: 80)
    key = f"inbox:chat-send:{message.channel_id}:{message.conversation.identity_id}"
    return 0 if cache.add(key, 1, timeout=CHAT_SEND_INTERVAL) else CHAT_SEND_INTERVAL


def _channel_slot(channel_id: int, per_second: int) -> bool:
    """One of the channel's `per_second` sends of the current second, if one is left."""
    key = f"inbox:channel-send:{channel_id}:{int(time.time())}"
    cache.add(key, 0, timeout=2)
    try:
        return cache.incr(key) <= per_second
    except ValueError:  # expired between the two calls: a new second
        return True


def message_send(*, message: Message, attempt: int | None = None) -> Message:
    """Send one queued message (called by the task). Only a queued message is sent; the
    attempt is committed before the provider is called, so a task delivered again after a
    crash in mid-send (`attempt` no longer matches) fails the message visibly instead of
    sending it twice. Raises ProviderError when retrying may help, ChatBusy when too soon."""
    with transaction.atomic():
        message = (Message.objects.select_for_update(of=("self",))
                   .select_related("conversation__identity", "channel", "reply_to",
                                   "consent_purpose")
                   .get(pk=message.pk))
        if message.status != Message.Status.QUEUED:
            return message
        if attempt is not None and message.attempts != attempt:
            # Another task of this message got here first (the sweeper queues a lost send
            # again, the broker may hand a task out twice). Its attempt is under way, or it
            # ended and a retry is scheduled: leave the message to it. Only an attempt begun
            # longer ago than any provider call lasts was cut off.
            if _cut_off(message, timezone.now()):
                message_fail(message, _interrupted_reason(), delivery_unknown=True)
            return message
        if message.is_automatic and containment.automation_paused():
            # Paused during an incident: a queued automatic message does not go either.
            message_fail(message, _("Not sent: automated messages are paused by the "
                                     "security officer."), recipient_reason="paused")
            return message
        if message.consent_purpose_id is not None and not consent_selectors.may_contact(
                contact_id=message.conversation.contact_id, purpose=message.consent_purpose):
            # Invariant 5: asked again right before the provider call, so a consent withdrawn
            # while the message waited in the queue stops it.
            from inbox import campaigns

            message_fail(message, campaigns.consent_withdrawn_error(message.consent_purpose),
                          recipient_status="cancelled", recipient_reason="withdrawn")
            return message
        identity = message.conversation.identity
        if identity.is_unreachable:
            message_fail(message, _("Not sent: the client cannot be reached here "
                                     "(%(reason)s).") % {
                "reason": identity.unreachable_reason or _("blocked the bot")})
            return message
        wait = _chat_wait(message)
        if wait:
            raise ChatBusy(wait)
        message.attempts += 1
        message.sending_since = timezone.now()
        message.save(update_fields=["attempts", "sending_since"])

    reply_to = message.reply_to.external_id if message.reply_to else ""
    attachment = message.attachments.first()
    provider = provider_for(message.channel)
    thread = _mail_thread(message) if provider.threaded else None
    threading = {"thread": thread} if thread is not None else {}
    try:
        if attachment is not None:
            from inbox import attachments

            result = attachments.send(provider=provider, attachment=attachment,
                                      to=identity.external_id, caption=message.text,
                                      idempotency_key=str(message.pk), **threading)
        elif message.template:
            template = obj(message.template)
            result = provider_for(message.channel).send_template(
                to=identity.external_id, name=text(template.get("name")),
                language=text(template.get("language")),
                parameters=[text(v) for v in template.get("parameters") or []])
        else:
            result = provider.send_text(
                to=identity.external_id, text=message.sealed_text or message.text,
                reply_to_external_id=reply_to, idempotency_key=str(message.pk), **threading,
            )
    except ProviderError as exc:
        if not exc.permanent:
            # Kept for the task: when the retries run out this is the reason shown.
            Message.objects.filter(pk=message.pk).update(error=exc.message[:500],
                                                         sending_since=None)
            raise
        with transaction.atomic():
            message_fail(message, exc.message)
            if exc.client_unreachable:
                ChannelIdentity.objects.filter(pk=identity.pk).update(
                    is_unreachable=True, unreachable_reason=exc.message[:300])
        return message

    with transaction.atomic():
        message.status = Message.Status.SENT
        message.external_id = result.external_id
        message.sent_at = timezone.now()
        message.error = ""
        message.sending_since = None
        # Known now, even if the sweeper took this attempt for cut off meanwhile.
        message.delivery_unknown = False
        # Sent: the sealed text has done its work and is not kept (a retry of a failed one
        # still needs it).
        message.sealed_text = ""
        message.save(update_fields=["status", "external_id", "sent_at", "error",
                                    "sending_since", "delivery_unknown", "sealed_text"])
        if thread is not None:
            _mail_details_sent(message, thread, to=identity.external_id)
        _message_status_changed(message)
        if _is_reply(message):
            _reply_settled(message)
        if message.consent_purpose_id is not None:
            from inbox import campaigns

            campaigns.recipient_settled(message=message, status="sent")
    return message


def _mail_thread(message: Message) -> MailThread:
    """What an e-mail reply continues: the conversation's latest mail before it (its
    subject, ids and text, quoted under the reply) and the conversation's reply-to token."""
    from inbox.providers.mail import threading as mail_threading

    token = mail_threading.reply_token(message.conversation_id)
    recipient = getattr(message, "campaign_recipient", None)
    if recipient is not None:
        # A campaign's mail: its own subject, no thread to continue, a way to unsubscribe.
        from inbox import unsubscribe

        return MailThread(subject=recipient.campaign.name, reply_token=token,
                          unsubscribe=unsubscribe.header(
                              message.channel.mailbox.address, recipient.contact_id,
                              recipient.campaign.purpose_id))
    last = (MailDetails.objects.select_related("message")
            .filter(message__conversation_id=message.conversation_id,
                    message__created_at__lte=message.created_at)
            .exclude(message_id=message.pk).order_by("-message__created_at", "-message_id")
            .first())
    if last is None:
        return MailThread(subject="", reply_token=token)
    references = tuple(last.references.split()) + (last.mail_id,)
    written = timezone.localtime(last.message.created_at).strftime("%d.%m.%Y %H:%M")
    quoted_text = "\n".join(f"> {line}" if line else ">"
                            for line in last.message.text.splitlines())
    attribution = _("On %(date)s, %(sender)s wrote:") % {"date": written,
                                                          "sender": last.sender}
    return MailThread(subject=mail_threading.reply_subject(last.subject),
                      in_reply_to=last.mail_id, references=references[-20:],
                      quoted=f"{attribution}\n{quoted_text}", reply_token=token)


def _mail_details_sent(message: Message, thread: MailThread, *, to: str) -> None:
    """Our mail's envelope, as the next reply (ours or the client's) threads on it."""
    MailDetails.objects.update_or_create(message=message, defaults={
        "mail_id": message.external_id, "in_reply_to": thread.in_reply_to,
        "references": " ".join(thread.references),
        "subject": thread.subject or message.channel.name,
        "subject_key": "", "sender": message.channel.mailbox.address,
        "recipients": json.dumps({"to": [to], "cc": []}), "quoted": thread.quoted,
    })


def message_send_gave_up(*, message: Message, reason: str = "") -> Message:
    """The task ran out of retries: the message fails with the provider's last error."""
    with transaction.atomic():
        message = (Message.objects.select_for_update(of=("self",))
                   .select_related("conversation").get(pk=message.pk))
        if message.status == Message.Status.QUEUED:
            message_fail(message, reason or message.error or _(
                "The provider kept refusing the message."))
    return message


# A file from the deal card: the same path as a text reply, with the file stored encrypted
# on the message (inbox/attachments.py) and sent by the same task.

REPLY_CAPTION_LIMIT = 1024  # Telegram's caption limit


@transaction.atomic
def message_reply_file(*, conversation: Conversation, by, upload, caption: str = "") -> Message:
    """Send `upload` (a Django UploadedFile) to the client, `caption` under it."""
    from inbox import attachments

    conversation = _conversation_for_reply(conversation=conversation, by=by)
    if not provider_for(conversation.channel).sends_files:
        raise ValidationError({"file": _("Files cannot be sent to this channel; send a text.")})
    _check_reply_window(conversation)
    policy.check(conversation=conversation, by=by, text=caption, has_file=True)
    caption = (caption or "").strip()
    if len(caption) > REPLY_CAPTION_LIMIT:
        raise ValidationError({"text": _(
            "A file's caption holds at most %(limit)d characters; this one has %(count)d."
        ) % {"limit": REPLY_CAPTION_LIMIT, "count": len(caption)}})
    data = attachments.read_upload(upload)
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation, channel_id=conversation.channel_id,
        direction=Message.Direction.OUTBOUND, author=by, text=caption,
        status=Message.Status.QUEUED, created_at=now,
    )
    attachment = attachments.attach(message=message, data=data, name=upload.name,
                                    mime_type=upload.content_type)
    # A rollback after this point must not leave the encrypted file behind.
    try:
        _reply_queued(conversation=conversation, message=message, by=by, at=now)
    except BaseException:
        attachments.delete_file(attachment.file_path)
        raise
    return message


# --- Offboarding -----------------------------------------------------------------------------


@transaction.atomic
def conversations_hand_over(handover) -> dict[str, list[int]]:
    """Offboarding (security.offboarding): the conversations assigned to the leaver go to the
    successor, unread counts included; their messages stay where they are."""
    conversations = list(Conversation.objects.filter(assignee=handover.user).order_by("pk"))
    ids = [c.pk for c in conversations]
    if handover.dry_run:
        return {"conversations": ids}
    Conversation.objects.filter(pk__in=ids).update(assignee=handover.successor)
    handover.audit([(c, {"assignee": [handover.user.pk, handover.successor.pk]})
                    for c in conversations])
    for deal_id in {c.deal_id for c in conversations if c.deal_id}:
        crm_events.deal_changed(deal_id=deal_id)
    return {"conversations": ids}
