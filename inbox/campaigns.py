"""Campaigns: one message to a segment of clients through a messenger channel or a mailbox, for
one purpose of processing (DESIGN invariant 5: consent is checked at send time). By e-mail a
campaign also reaches the clients known only by the address on their card, and every mail
carries a List-Unsubscribe (inbox/unsubscribe.py).

- `campaign_create` writes a draft; `campaign_send` queues it (status queued) and the
  `inbox.campaign_dispatch` task sorts the segment: a client with a current consent to the
  purpose (consents.selectors) and a reachable identity on the channel gets a queued automatic
  Message (`consent_purpose` set); everyone else is recorded as excluded with the reason.
- Every campaign message asks `consents.selectors.may_contact` once more right before the
  provider call (inbox.services.message_send), and a withdrawal cancels the contact's queued
  campaign messages at once (`consent_withdrawn`, connected in inbox/apps.py).
- While the security officer pauses automated messages no campaign starts, and the messages
  already queued fail with that reason (message_send).

Who: managers, sales heads and the admin, on the contacts they see; marketers too (they see
every contact, masked, and a campaign reaches only consenting ones). A campaign is seen by its
author, the heads of its team and the admin; to anyone else it is a 404.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _

from consents.models import ConsentState, Purpose
from crm import selectors as crm_selectors
from crm import services as crm_services
from crm.models import ContactPoint, Deal, Tag
from inbox import policy
from inbox.models import (
    Campaign,
    CampaignRecipient,
    Channel,
    ChannelIdentity,
    Conversation,
    Message,
)
from security import personal_data, roles
from security.audit import containment

CAMPAIGN_ROLES = (roles.MANAGER, roles.SALES_HEAD, roles.ADMIN, roles.MARKETER)
TEXT_LIMIT = 4096  # the smallest channel's (Telegram)

Reason = CampaignRecipient.Reason
RecipientStatus = CampaignRecipient.Status


# --- Reads ------------------------------------------------------------------------------------


def may_use_campaigns(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active
                and user.role in CAMPAIGN_ROLES)


def campaigns_visible_to(user) -> QuerySet[Campaign]:
    if not may_use_campaigns(user):
        return Campaign.objects.none()
    if user.role == roles.ADMIN:
        return Campaign.objects.all()
    rule = Q(created_by=user)
    if user.role == roles.SALES_HEAD:
        rule |= Q(team_id__in=list(user.headed_team_ids))
    return Campaign.objects.filter(rule)


def campaign_get(*, user, pk) -> Campaign:
    return get_object_or_404(
        campaigns_visible_to(user).select_related("purpose", "channel", "tag", "created_by"),
        pk=pk)


def campaign_list(*, user) -> QuerySet[Campaign]:
    return campaigns_visible_to(user).select_related("purpose", "channel", "created_by")


def campaign_counts(*, campaign: Campaign) -> dict[str, int]:
    counts = dict(campaign.recipients.values_list("status").annotate(n=Count("id")))
    return {status: counts.get(status, 0) for status in RecipientStatus.values}


def campaign_recipients(*, campaign: Campaign) -> QuerySet[CampaignRecipient]:
    return campaign.recipients.select_related("contact", "message").order_by("status", "id")


def channels_for_campaigns() -> QuerySet[Channel]:
    """Messenger channels a campaign can go through (a website chat reaches only visitors
    with the page open: no campaigns there; WhatsApp takes free text only within 24 hours of
    a client's message, and a campaign is free text)."""
    return Channel.objects.filter(is_active=True).exclude(
        kind__in=[Channel.Kind.WEBSITE, Channel.Kind.WHATSAPP])


def purposes_for_campaigns() -> QuerySet[Purpose]:
    return Purpose.objects.filter(is_active=True)


def segment(*, campaign: Campaign):
    """The contacts the campaign is addressed to: its author's visible contacts (with the
    tag, when one is given)."""
    contacts = crm_selectors.contacts_visible_to(campaign.created_by)
    if campaign.tag_id:
        contacts = contacts.filter(tags=campaign.tag_id)
    return contacts.order_by("pk")


# --- Writes -----------------------------------------------------------------------------------


def _require(user) -> None:
    if not may_use_campaigns(user):
        raise PermissionDenied(_("Your role does not allow this action."))


@transaction.atomic
def campaign_create(*, by, name: str, purpose: Purpose, channel: Channel, text: str,
                    tag: Tag | None = None) -> Campaign:
    _require(by)
    name, text = (name or "").strip(), (text or "").strip()
    errors = {}
    if not name:
        errors["name"] = _("Name the campaign.")
    if not text:
        errors["text"] = _("Write the message first.")
    elif len(text) > TEXT_LIMIT:
        errors["text"] = _("A message holds at most %(limit)d characters; this one has "
                           "%(count)d.") % {"limit": TEXT_LIMIT, "count": len(text)}
    if not purpose.is_active:
        errors["purpose"] = _("This purpose is no longer in use.")
    if not channels_for_campaigns().filter(pk=channel.pk).exists():
        errors["channel"] = _("Campaigns go through an active messenger channel.")
    elif text and policy.restricted(channel) and personal_data.find(text):
        errors["text"] = _("%(channel)s is a foreign messenger: by the company's rule "
                           "(584-FZ) a campaign through it carries no personal data.") % {
            "channel": channel.get_kind_display()}
    if errors:
        raise ValidationError(errors)
    return Campaign.objects.create(name=name[:200], purpose=purpose, channel=channel, text=text,
                                   tag=tag, created_by=by, team=by.team)


@transaction.atomic
def campaign_send(*, campaign: Campaign, by) -> Campaign:
    """Queue a draft for sending (the caller has it from `campaign_get`)."""
    _require(by)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT:
        raise ValidationError(_("This campaign was already sent."))
    if containment.automation_paused():
        raise ValidationError(_("Automated messages are paused by the security officer: "
                                "the campaign cannot start now."))
    campaign.status, campaign.sent_by, campaign.sent_at = (
        Campaign.Status.QUEUED, by, timezone.now())
    campaign.save(update_fields=["status", "sent_by", "sent_at"])
    from core.tasks import delay_on_commit
    from inbox import tasks

    delay_on_commit(tasks.campaign_dispatch, campaign.pk)
    return campaign


def _identities_from_points(*, channel: Channel, contact_ids: list[int]) -> None:
    """On a channel that reaches a client by a contact point (e-mail: their address), the
    clients in the segment who never wrote there get an identity made of the point on their
    card (the primary one first), so the campaign reaches them as one who wrote would be.
    An address another client already holds on the channel is left to that client."""
    from inbox.providers.base import provider_for

    kind = provider_for(channel).contact_point_kind
    if not kind:
        return
    known = set(ChannelIdentity.objects.filter(channel=channel, contact_id__in=contact_ids)
                .values_list("contact_id", flat=True))
    points: dict[int, str] = {}
    for point in (ContactPoint.objects.filter(contact_id__in=set(contact_ids) - known,
                                              kind=kind)
                  .order_by("contact_id", "-is_primary", "pk")):
        points.setdefault(point.contact_id, point.value)
    for contact_id, value in points.items():
        index = ChannelIdentity.index_of(channel, value.lower())
        if not ChannelIdentity.objects.filter(channel=channel,
                                              external_id_index=index).exists():
            ChannelIdentity.objects.create(channel=channel, external_id=value.lower(),
                                           contact_id=contact_id)


def _reasons(*, campaign: Campaign, contact_ids: list[int]) -> dict[int, str]:
    """Why each contact may not be sent to (none: they may), in a few queries."""
    reasons: dict[int, str] = {}
    if campaign.purpose.needs_consent:
        states = dict(ConsentState.objects.filter(
            purpose=campaign.purpose, contact_id__in=contact_ids,
        ).values_list("contact_id", "granted"))
        for contact_id in contact_ids:
            if contact_id not in states:
                reasons[contact_id] = Reason.NO_CONSENT
            elif not states[contact_id]:
                reasons[contact_id] = Reason.WITHDRAWN
    reachable: dict[int, bool] = {}
    for contact_id, unreachable in ChannelIdentity.objects.filter(
            channel=campaign.channel, contact_id__in=contact_ids,
    ).values_list("contact_id", "is_unreachable"):
        reachable[contact_id] = reachable.get(contact_id, False) or not unreachable
    for contact_id in contact_ids:
        if contact_id in reasons:
            continue
        if contact_id not in reachable:
            reasons[contact_id] = Reason.NO_IDENTITY
        elif not reachable[contact_id]:
            reasons[contact_id] = Reason.UNREACHABLE
    return reasons


def _conversation_of(identity: ChannelIdentity) -> Conversation:
    """The identity's latest conversation; a new one on the client's open deal if none."""
    conversation = identity.conversations.order_by("-created_at", "-id").first()
    if conversation is not None:
        return conversation
    deal = (Deal.objects.filter(contact_id=identity.contact_id, status=Deal.Status.OPEN)
            .order_by("-created_at", "-id").first())
    return Conversation.objects.create(
        channel=identity.channel, identity=identity, contact_id=identity.contact_id, deal=deal,
        assignee=deal.owner if deal else None)


DISPATCH_CHUNK = 500


def campaign_dispatch(*, campaign_id: int) -> Campaign | None:
    """Sort the segment of a queued campaign into queued messages and exclusions (the task).
    Safe to run twice: a contact already recorded is skipped."""
    from inbox import services

    with transaction.atomic():
        campaign = (Campaign.objects.select_for_update().select_related("purpose", "channel")
                    .filter(pk=campaign_id).first())
        if campaign is None or campaign.status != Campaign.Status.QUEUED:
            return campaign
        done = set(campaign.recipients.values_list("contact_id", flat=True))
        contact_ids = [pk for pk in segment(campaign=campaign).values_list("pk", flat=True)
                       if pk not in done]
        now = timezone.now()
        for start in range(0, len(contact_ids), DISPATCH_CHUNK):
            chunk = contact_ids[start:start + DISPATCH_CHUNK]
            _identities_from_points(channel=campaign.channel, contact_ids=chunk)
            reasons = _reasons(campaign=campaign, contact_ids=chunk)
            CampaignRecipient.objects.bulk_create([
                CampaignRecipient(campaign=campaign, contact_id=pk,
                                  status=RecipientStatus.EXCLUDED, reason=reasons[pk])
                for pk in chunk if pk in reasons
            ])
            identities = {}
            for identity in (ChannelIdentity.objects.select_related("channel")
                             .filter(channel=campaign.channel, is_unreachable=False,
                                     contact_id__in=[pk for pk in chunk if pk not in reasons])
                             .order_by("-created_at", "-id")):
                identities.setdefault(identity.contact_id, identity)
            for contact_id, identity in identities.items():
                conversation = _conversation_of(identity)
                message = Message.objects.create(
                    conversation=conversation, channel=campaign.channel,
                    direction=Message.Direction.OUTBOUND, text=campaign.text,
                    status=Message.Status.QUEUED, is_automatic=True,
                    consent_purpose=campaign.purpose, author=campaign.sent_by, created_at=now)
                CampaignRecipient.objects.create(campaign=campaign, contact_id=contact_id,
                                                 status=RecipientStatus.QUEUED, message=message)
                crm_services.timeline_add(kind="message", deal=conversation.deal,
                                          contact=conversation.contact, source=message,
                                          occurred_at=now)
                services.queue_send(message)
        campaign.status = Campaign.Status.SENDING
        campaign.save(update_fields=["status"])
        _maybe_done(campaign)
    return campaign


def _maybe_done(campaign: Campaign) -> None:
    if campaign.status == Campaign.Status.SENDING and not campaign.recipients.filter(
            status=RecipientStatus.QUEUED).exists():
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.DONE)
        campaign.status = Campaign.Status.DONE


def recipient_settled(*, message: Message, status: str, reason: str = "") -> None:
    """A campaign message was sent or failed (inbox.services): its recipient says so, and
    the campaign is done once nobody is left queued. Inside the caller's transaction."""
    recipient = (CampaignRecipient.objects.select_related("campaign")
                 .filter(message=message, status=RecipientStatus.QUEUED).first())
    if recipient is None:
        return
    recipient.status, recipient.reason = status, reason
    recipient.save(update_fields=["status", "reason"])
    _maybe_done(recipient.campaign)


def _cancel_queued(recipients: QuerySet[CampaignRecipient], *, reason: str,
                   error: str) -> int:
    """Fail the queued messages of `recipients` (never sent: message_send sends only a queued
    message, and the row lock waits for a send in progress) and cancel them."""
    from inbox import services

    cancelled = 0
    for recipient in recipients.filter(status=RecipientStatus.QUEUED).select_related(
            "campaign").order_by("pk"):
        message = (Message.objects.select_for_update(of=("self",)).select_related("conversation")
                   .filter(pk=recipient.message_id).first())
        if message is not None and message.status == Message.Status.QUEUED:
            services.message_fail(message, error, recipient_status=RecipientStatus.CANCELLED,
                                  recipient_reason=reason)
        else:
            recipient.status, recipient.reason = RecipientStatus.CANCELLED, reason
            recipient.save(update_fields=["status", "reason"])
            _maybe_done(recipient.campaign)
        cancelled += 1
    return cancelled


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, by) -> Campaign:
    """Stop a campaign: a draft is never sent, the messages still queued are not either."""
    _require(by)
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status in (Campaign.Status.DONE, Campaign.Status.CANCELLED):
        raise ValidationError(_("This campaign is over."))
    _cancel_queued(campaign.recipients.all(), reason=Reason.CAMPAIGN_CANCELLED,
                   error=_("Not sent: the campaign was cancelled."))
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.CANCELLED)
    campaign.status = Campaign.Status.CANCELLED
    return campaign


def on_consent_withdrawn(sender, *, contact_id: int, purpose: Purpose, **kwargs) -> None:
    """`consents.services.consent_withdrawn` (after commit): the contact's campaign messages
    still queued for that purpose are cancelled now, not at their turn."""
    with transaction.atomic():
        _cancel_queued(
            CampaignRecipient.objects.filter(contact_id=contact_id, campaign__purpose=purpose),
            reason=Reason.WITHDRAWN, error=consent_withdrawn_error(purpose))


def consent_withdrawn_error(purpose: Purpose) -> str:
    return _("Not sent: consent withdrawn (%(purpose)s).") % {"purpose": purpose.title}
