"""Every write to channels, conversations and messages.

Two sections: Inbound (a webhook delivery stored, then processed into messages on a deal's
timeline) and Outbound (replies from the deal card). Keyword-only, atomic; realtime events
go out after commit (crm.services.timeline_add and crm.events do that).
"""

import json
import logging
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from config import deliveries
from config.celery import delay_on_commit
from consents import selectors as consent_selectors
from crm import events as crm_events
from crm import selectors as crm_selectors
from crm import services as crm_services
from crm.hours import BusinessHours
from crm.models import Contact, Deal
from inbox import selectors as inbox_selectors
from inbox.models import (
    Attachment,
    Channel,
    ChannelIdentity,
    Conversation,
    InboundEvent,
    Message,
)
from inbox.providers.base import ClientUnreachable, InboundMessage, ProviderError, provider_for
from security import containment, roles

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
        # Lock the event only: a lock on the joined channel row would hold up every webhook
        # of the channel (their inserts take a key-share lock on it) while this runs.
        event = (InboundEvent.objects.select_for_update(of=("self",)).select_related("channel")
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


def event_retry(*, event: InboundEvent) -> None:
    from inbox.tasks import process_event

    deliveries.retry(InboundEvent, event.pk, process_event)


def events_sweep(*, now=None) -> int:
    from inbox.tasks import process_event

    return deliveries.sweep(InboundEvent, process_event, now=now)


# --- Channel set-up ---------------------------------------------------------------------------


def channel_connect_webhook(*, channel: Channel, webhook_url: str) -> None:
    """Point the provider at our webhook (Telegram: setWebhook with the channel's secret
    token), making the secret first if the channel has none. Raises ProviderError with the
    provider's reason (Telegram wants an HTTPS URL it can reach...)."""
    if not channel.webhook_secret:
        # Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and -.
        channel.webhook_secret = secrets.token_urlsafe(48)
        channel.save(update_fields=["webhook_secret"])
    provider_for(channel).setup_webhook(webhook_url)
    logger.info("channel %s: webhook set to %s", channel.pk, webhook_url)


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
    # NO KEY UPDATE: serializes new clients without blocking the webhooks' event inserts.
    Channel.objects.select_for_update(no_key=True).filter(pk=channel.pk).first()
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
    if inbound.attachments:
        from inbox import tasks

        delay_on_commit(tasks.fetch_attachments, message.pk)  # the files, after commit
    updates = {
        "unread_count": F("unread_count") + 1,
        "last_inbound_at": Greatest(F("last_inbound_at"), inbound.sent_at)
        if conversation.last_inbound_at else inbound.sent_at,
        "last_activity_at": Greatest(F("last_activity_at"), inbound.sent_at),
        "awaiting_reply": True,
    }
    if conversation.first_response_due_at is None:
        # The clock starts at the first unanswered message and runs in working time only.
        updates["first_response_due_at"] = _hours(channel).add_working_minutes(
            inbound.sent_at, channel.first_response_minutes)
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    crm_services.timeline_add(kind="message", deal=deal, contact=identity.contact,
                              source=message, occurred_at=inbound.sent_at)
    if not identity.is_unreachable:
        _out_of_office_reply(conversation=conversation, channel=channel, at=inbound.sent_at)
    crm_events.send_after_commit(crm_events.user_group(deal.owner_id), {
        "type": "conversation.updated", "conversation": conversation.pk, "deal": deal.pk,
    })
    return message


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
    text = channel.out_of_office_reply.strip()[:REPLY_TEXT_LIMIT]
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
    _queue_send(message)


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
# Reply in the deal card -> Message(queued) -> the `inbox.send_message` task -> message_send
# -> sent, or failed with the provider's reason (and a retry). Each status change is pushed
# to the deal's group after commit.

REPLY_TEXT_LIMIT = 4096  # Telegram's limit, the smallest of our channels'
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


def _conversation_for_reply(*, conversation: Conversation, by) -> Conversation:
    """The conversation, fetched again through the visibility rule (Http404 for outsiders);
    a deal shared for reading only allows no replies."""
    conversation = inbox_selectors.conversation_get(user=by, pk=conversation.pk)
    if not crm_selectors.deal_can_edit(user=by, deal=conversation.deal):
        raise PermissionDenied(_("This deal is shared with you for reading only."))
    return conversation


def queue_send(message: Message) -> None:
    """Send a queued message once the transaction commits (the `inbox.send_message` task)."""
    from inbox import tasks

    delay_on_commit(tasks.send_message, message.pk, message.attempts)


_queue_send = queue_send


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
                  reply_to: Message | None = None) -> Message:
    conversation = _conversation_for_reply(conversation=conversation, by=by)
    text = _clean_text(text, limit=REPLY_TEXT_LIMIT, empty=_("Write the reply first."))
    if reply_to is not None and reply_to.conversation_id != conversation.pk:
        raise ValidationError({"reply_to": _("That message is from another chat.")})
    now = timezone.now()
    message = Message.objects.create(
        conversation=conversation, channel_id=conversation.channel_id,
        direction=Message.Direction.OUTBOUND, author=by, text=text, reply_to=reply_to,
        status=Message.Status.QUEUED, created_at=now,
    )
    _reply_queued(conversation=conversation, message=message, by=by, at=now)
    return message


def _reply_queued(*, conversation: Conversation, message: Message, by, at) -> None:
    """A reply is on its way: the conversation is answered (nothing unread or due any more,
    and the lists stop putting it first), the message is on the deal's timeline, and its
    send is queued."""
    Conversation.objects.filter(pk=conversation.pk).update(
        last_outbound_at=at, last_activity_at=at, unread_count=0, awaiting_reply=False,
        first_response_due_at=None,
    )
    crm_services.timeline_add(kind="message", deal=conversation.deal, source=message,
                              actor=by, occurred_at=at)
    _queue_send(message)


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
    crm_services.timeline_add(kind="message", deal=conversation.deal, source=message,
                              actor=by, occurred_at=now)
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
def message_retry(*, message: Message, by) -> Message:
    conversation = _conversation_for_reply(conversation=message.conversation, by=by)
    message = Message.objects.select_for_update().get(pk=message.pk, conversation=conversation)
    if message.direction != Message.Direction.OUTBOUND or \
            message.status != Message.Status.FAILED:
        raise ValidationError(_("Only a message that failed to send can be retried."))
    message.status = Message.Status.QUEUED
    message.error = ""
    message.save(update_fields=["status", "error"])
    message.conversation = conversation
    _message_status_changed(message)
    _queue_send(message)
    return message


def message_fail(message: Message, reason: str, *, recipient_status: str = "failed",
                 recipient_reason: str = "send_failed") -> None:
    """The message (locked by the caller) fails with `reason`; a campaign's recipient takes
    `recipient_status` and `recipient_reason` (inbox.campaigns)."""
    message.status = Message.Status.FAILED
    message.error = reason[:500]
    message.save(update_fields=["status", "error"])
    _message_status_changed(message)
    if message.consent_purpose_id is not None:
        from inbox import campaigns

        campaigns.recipient_settled(message=message, status=recipient_status,
                                    reason=recipient_reason)


_message_fail = message_fail


def _chat_wait(message: Message) -> float:
    """0 when this chat may take a message now (and reserve the slot), else seconds to wait."""
    key = f"inbox:chat-send:{message.channel_id}:{message.conversation.identity_id}"
    return 0 if cache.add(key, 1, timeout=CHAT_SEND_INTERVAL) else CHAT_SEND_INTERVAL


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
            _message_fail(message, _(
                "The send was interrupted: the client may or may not have received this "
                "message. Check the chat before retrying."))
            return message
        if message.is_automatic and containment.automation_paused():
            # Paused during an incident: a queued automatic message does not go either.
            _message_fail(message, _("Not sent: automated messages are paused by the "
                                     "security officer."), recipient_reason="paused")
            return message
        if message.consent_purpose_id is not None and not consent_selectors.may_contact(
                contact_id=message.conversation.contact_id, purpose=message.consent_purpose):
            # Invariant 5: asked again right before the provider call, so a consent withdrawn
            # while the message waited in the queue stops it.
            from inbox import campaigns

            _message_fail(message, campaigns.consent_withdrawn_error(message.consent_purpose),
                          recipient_status="cancelled", recipient_reason="withdrawn")
            return message
        identity = message.conversation.identity
        if identity.is_unreachable:
            _message_fail(message, _("Not sent: the client cannot be reached here "
                                     "(%(reason)s).") % {
                "reason": identity.unreachable_reason or _("blocked the bot")})
            return message
        wait = _chat_wait(message)
        if wait:
            raise ChatBusy(wait)
        message.attempts += 1
        message.save(update_fields=["attempts"])

    reply_to = message.reply_to.external_id if message.reply_to else ""
    attachment = message.attachments.first()
    try:
        if attachment is not None:
            from inbox import attachments

            result = attachments.send(provider=provider_for(message.channel),
                                      attachment=attachment, to=identity.external_id,
                                      caption=message.text)
        else:
            result = provider_for(message.channel).send_text(
                to=identity.external_id, text=message.text, reply_to_external_id=reply_to,
            )
    except ProviderError as exc:
        if not exc.permanent:
            # Kept for the task: when the retries run out this is the reason shown.
            Message.objects.filter(pk=message.pk).update(error=exc.message[:500])
            raise
        with transaction.atomic():
            _message_fail(message, exc.message)
            if getattr(exc, "client_unreachable", False):
                ChannelIdentity.objects.filter(pk=identity.pk).update(
                    is_unreachable=True, unreachable_reason=exc.message[:300])
        return message

    with transaction.atomic():
        message.status = Message.Status.SENT
        message.external_id = result.external_id
        message.sent_at = timezone.now()
        message.error = ""
        message.save(update_fields=["status", "external_id", "sent_at", "error"])
        _message_status_changed(message)
        if message.consent_purpose_id is not None:
            from inbox import campaigns

            campaigns.recipient_settled(message=message, status="sent")
    return message


def message_send_gave_up(*, message: Message, reason: str = "") -> Message:
    """The task ran out of retries: the message fails with the provider's last error."""
    with transaction.atomic():
        message = (Message.objects.select_for_update(of=("self",))
                   .select_related("conversation").get(pk=message.pk))
        if message.status == Message.Status.QUEUED:
            _message_fail(message, reason or message.error or _(
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
