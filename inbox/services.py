"""Every write to channels, conversations and messages.

Two sections: Inbound (a webhook delivery stored, then processed into messages on a deal's
timeline) and Outbound (replies from the deal card). Keyword-only, atomic; realtime events
go out after commit (crm.services.timeline_add and crm.events do that).
"""

import json
import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from crm import events as crm_events
from crm import services as crm_services
from crm.models import Contact, Deal
from inbox.models import (
    Attachment,
    Channel,
    ChannelIdentity,
    Conversation,
    InboundEvent,
    Message,
)
from inbox.providers.base import ClientUnreachable, InboundMessage, provider_for
from security import roles

logger = logging.getLogger("inbox")

# =============================================================================================
# Inbound
# =============================================================================================


class NoManagerError(Exception):
    """The channel's team has nobody who could take a new client."""


@transaction.atomic
def event_receive(*, channel: Channel, provider_event_id: str, event_type: str,
                  payload: str) -> tuple[InboundEvent, bool]:
    """Store one webhook delivery as received; a repeated delivery changes nothing.

    Returns (event, created). Processing is queued once this transaction commits, so the
    stored row is there before the provider hears 200 (invariant 6).
    """
    from config.celery import delay_on_commit
    from inbox.tasks import process_event

    event, created = InboundEvent.objects.get_or_create(
        channel=channel, provider_event_id=provider_event_id,
        defaults={"event_type": event_type, "payload": payload},
    )
    if created:
        delay_on_commit(process_event, event.pk)
    return event, created


def event_process(*, event: InboundEvent) -> InboundEvent:
    """Turn a stored delivery into messages (or an unreachable mark). Safe to run twice and
    concurrently: the event row is locked, and a processed event is left alone."""
    with transaction.atomic():
        event = (InboundEvent.objects.select_for_update().select_related("channel")
                 .get(pk=event.pk))
        if event.status in (InboundEvent.Status.PROCESSED, InboundEvent.Status.IGNORED):
            return event
        provider = provider_for(event.channel)
        normalized = provider.parse(json.loads(event.payload))
        for item in normalized:
            if isinstance(item, InboundMessage):
                _message_receive(channel=event.channel, inbound=item)
            elif isinstance(item, ClientUnreachable):
                _identity_unreachable(channel=event.channel, sender_id=item.sender_id,
                                      reason=item.reason)
        event.status = (InboundEvent.Status.PROCESSED if normalized
                        else InboundEvent.Status.IGNORED)
        event.error = ""
        event.attempts += 1
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "error", "attempts", "processed_at"])
    return event


def event_fail(*, event: InboundEvent, error: str) -> None:
    """Record a failed attempt (the processing transaction has been rolled back)."""
    InboundEvent.objects.filter(pk=event.pk).update(
        status=InboundEvent.Status.FAILED, error=error[:5000], attempts=F("attempts") + 1,
    )


def event_retry(*, event: InboundEvent) -> None:
    """Queue a failed (or stuck) event again; the admin's retry action calls this."""
    from config.celery import delay_on_commit
    from inbox.tasks import process_event

    with transaction.atomic():
        InboundEvent.objects.filter(pk=event.pk).exclude(
            status__in=[InboundEvent.Status.PROCESSED, InboundEvent.Status.IGNORED]
        ).update(status=InboundEvent.Status.RECEIVED)
        delay_on_commit(process_event, event.pk)


SWEEP_AFTER_SECONDS = 60
MAX_AUTOMATIC_ATTEMPTS = 5


def events_sweep(*, now=None) -> int:
    """Queue every event still waiting a minute after it arrived (the broker or a worker was
    down), and failed ones again until they have had MAX_AUTOMATIC_ATTEMPTS tries (a
    failure past that waits for someone to press retry in the admin)."""
    from config.celery import delay_on_commit
    from inbox.tasks import process_event

    cutoff = (now or timezone.now()) - timedelta(seconds=SWEEP_AFTER_SECONDS)
    ids = list(
        InboundEvent.objects.filter(
            Q(status=InboundEvent.Status.RECEIVED)
            | Q(status=InboundEvent.Status.FAILED, attempts__lt=MAX_AUTOMATIC_ATTEMPTS),
            received_at__lt=cutoff,
        ).order_by("received_at").values_list("pk", flat=True)[:1000]
    )
    with transaction.atomic():
        for pk in ids:
            delay_on_commit(process_event, pk)
    return len(ids)


# --- Routing: identity -> contact -> deal -> conversation ------------------------------------


def _identity_find(channel: Channel, sender_id: str) -> ChannelIdentity | None:
    return (ChannelIdentity.objects.select_related("contact")
            .filter(channel=channel,
                    external_id_index=ChannelIdentity.index_of(channel, sender_id))
            .first())


def _manager_for(channel: Channel):
    """Round-robin: the team's active manager with the fewest deals that came from this
    channel (ties: the longest-standing account). Deterministic, and fair after restarts."""
    managers = (
        get_user_model().objects.filter(team=channel.team, is_active=True,
                                        groups__name=roles.MANAGER)
        .annotate(from_channel=Count("deals", distinct=True,
                                     filter=Q(deals__conversations__channel=channel)))
        .order_by("from_channel", "id")
    )
    manager = managers.first()
    if manager is None:
        head = channel.team.head
        if head is not None and head.is_active:
            return head
        raise NoManagerError(f"team {channel.team} has no active manager for new clients")
    return manager


def _owner_for(contact: Contact, channel: Channel):
    owner = contact.owner
    if owner is not None and owner.is_active and owner.has_perm("crm.add_deal"):
        return owner
    return _manager_for(channel)


def _identity_for(channel: Channel, inbound: InboundMessage) -> ChannelIdentity:
    identity = _identity_find(channel, inbound.sender_id)
    if identity is not None:
        return identity
    # A new client. Lock the channel so two first messages of one client processed at once
    # make one contact, and round-robin counts every earlier choice.
    Channel.objects.select_for_update().filter(pk=channel.pk).first()
    identity = _identity_find(channel, inbound.sender_id)
    if identity is not None:
        return identity
    owner = _manager_for(channel)
    contact = crm_services.contact_create(
        by=owner, owner=owner, name=inbound.sender_name[:200],
        source=Contact.Source.TELEGRAM if channel.kind == Channel.Kind.TELEGRAM
        else Contact.Source.WEBSITE,
    )
    return ChannelIdentity.objects.create(
        channel=channel, external_id=inbound.sender_id, contact=contact,
        display_name=inbound.sender_name[:200],
    )


def _open_deal_for(contact: Contact, channel: Channel) -> Deal:
    deal = (Deal.objects.filter(contact=contact, status=Deal.Status.OPEN)
            .select_related("owner").order_by("-created_at", "-id").first())
    if deal is not None:
        return deal
    owner = _owner_for(contact, channel)
    return crm_services.deal_create(by=owner, owner=owner, contact=contact,
                                    title=f"{channel.name}: {contact.name}"[:200])


def _conversation_for(identity: ChannelIdentity, deal: Deal, *, at) -> Conversation:
    conversation = (identity.conversations.select_for_update()
                    .filter(status=Conversation.Status.OPEN)
                    .order_by("-created_at", "-id").first())
    if conversation is None:
        return Conversation.objects.create(
            channel=identity.channel, identity=identity, contact=identity.contact, deal=deal,
            assignee=deal.owner, last_activity_at=at,
        )
    if conversation.deal_id != deal.pk:
        # The deal it was attached to was closed: the client's new messages go to the open one.
        conversation.deal, conversation.assignee = deal, deal.owner
        conversation.save(update_fields=["deal", "assignee"])
    return conversation


def _message_receive(*, channel: Channel, inbound: InboundMessage) -> Message | None:
    existing = Message.objects.filter(channel=channel, external_id=inbound.external_id).first()
    if existing is not None:
        if inbound.edited:
            return _message_edit(message=existing, inbound=inbound)
        return None  # a duplicate: already stored
    identity = _identity_for(channel, inbound)
    if inbound.sender_name and identity.display_name != inbound.sender_name[:200]:
        identity.display_name = inbound.sender_name[:200]
        identity.save(update_fields=["display_name", "external_id_index"])
    deal = _open_deal_for(identity.contact, channel)
    conversation = _conversation_for(identity, deal, at=inbound.sent_at)
    reply_to = (Message.objects.filter(channel=channel,
                                       external_id=inbound.reply_to_external_id).first()
                if inbound.reply_to_external_id else None)
    try:
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation, channel=channel,
                direction=Message.Direction.INBOUND, status=Message.Status.RECEIVED,
                external_id=inbound.external_id, text=inbound.text[:20_000],
                reply_to=reply_to, created_at=inbound.sent_at,
                # An edit of a message we never saw: keep it, marked as edited.
                edited_at=inbound.sent_at if inbound.edited else None,
            )
    except IntegrityError:
        return None  # the same message stored by a concurrent delivery
    Attachment.objects.bulk_create([
        Attachment(message=message, kind=a.kind, provider_file_id=a.file_id[:300],
                   name=a.name[:255], mime_type=a.mime_type[:100], size=a.size)
        for a in inbound.attachments
    ])
    Conversation.objects.filter(pk=conversation.pk).update(
        unread_count=F("unread_count") + 1,
        last_inbound_at=Greatest(F("last_inbound_at"), inbound.sent_at)
        if conversation.last_inbound_at else inbound.sent_at,
        last_activity_at=Greatest(F("last_activity_at"), inbound.sent_at),
    )
    crm_services.timeline_add(kind="message", deal=deal, contact=identity.contact,
                              source=message, occurred_at=inbound.sent_at)
    return message


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


def _identity_unreachable(*, channel: Channel, sender_id: str, reason: str) -> None:
    identity = _identity_find(channel, sender_id)
    if identity is None:
        return  # someone who never wrote to us blocked the bot: nothing to mark
    identity.is_unreachable = True
    identity.unreachable_reason = reason[:300]
    identity.save(update_fields=["is_unreachable", "unreachable_reason", "external_id_index"])


# =============================================================================================
# Outbound
# =============================================================================================
