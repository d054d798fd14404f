"""Routing an inbound message, the same for every channel: the sender's identity on the
channel -> their contact -> their open deal -> the conversation on it.

A new sender becomes a contact with a lead deal for the channel's team, owned by the manager
with the fewest leads from that channel; a known one lands in their open deal (a new lead when
their deals are all closed). A channel that gives the sender's phone number (WhatsApp) finds
the client by it first: one who called, or wrote from another channel that gave the number,
keeps their card and their open deal.
"""

from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from crm import selectors as crm_selectors
from crm import services as crm_services
from crm.models import Contact, ContactPoint, Deal
from inbox.models import Channel, ChannelIdentity, Conversation
from inbox.providers.base import InboundMessage, provider_for
from security import roles


class NoManagerError(Exception):
    """The channel's team has nobody who could take a new client."""


def conversations_for(channel: Channel, inbounds: list[InboundMessage]
                      ) -> dict[str, Conversation]:
    """The conversation each sender's messages go to, by sender id: their identity (a new
    client gets a contact), its open deal (a new lead deal when there is none), its open
    conversation attached to that deal (or a new one). A few queries for every sender at
    once; the sender's latest name is kept (a message without one keeps the known name)."""
    identities = _identities_find(channel, {inbound.sender_id for inbound in inbounds})
    for inbound in inbounds:
        identity = identities.get(inbound.sender_id)
        if identity is None:
            identity = identities[inbound.sender_id] = _identity_for(channel, inbound)
        name = inbound.sender_name[:200]
        if name and identity.display_name != name:
            identity.display_name = name
            identity.save(update_fields=["display_name", "external_id_index"])
    deals = _open_deals_of([identity.contact for identity in identities.values()])
    for identity in identities.values():
        if identity.contact_id not in deals:
            deals[identity.contact_id] = _lead_create(identity.contact, channel)
    open_conversations = _open_conversations_of(list(identities.values()))
    conversations: dict[str, Conversation] = {}
    for inbound in inbounds:
        if inbound.sender_id not in conversations:
            identity = identities[inbound.sender_id]
            conversations[inbound.sender_id] = _conversation_for(
                open_conversations.get(identity.pk), identity, deals[identity.contact_id],
                at=inbound.sent_at)
    return conversations


def identity_find(channel: Channel, sender_id: str) -> ChannelIdentity | None:
    return _identities_find(channel, [sender_id]).get(sender_id)


def _identities_find(channel: Channel, sender_ids) -> dict[str, ChannelIdentity]:
    """The known identities among `sender_ids`, by sender id (one query)."""
    index = {ChannelIdentity.index_of(channel, sender_id): sender_id for sender_id in sender_ids}
    return {index[identity.external_id_index]: identity
            for identity in ChannelIdentity.objects.select_related("contact")
            .filter(channel=channel, external_id_index__in=list(index))}


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
    identity = identity_find(channel, inbound.sender_id)
    if identity is not None:
        return identity
    # A new client. Lock the channel so two first messages of one client processed at once
    # make one contact, and round-robin counts every earlier choice.
    # NO KEY UPDATE: serializes new clients without blocking the webhooks' event inserts.
    Channel.objects.select_for_update(no_key=True).filter(pk=channel.pk).first()
    identity = identity_find(channel, inbound.sender_id)
    if identity is not None:
        return identity
    name = inbound.sender_name[:200] or provider_for(channel).anonymous_name()
    contact = crm_selectors.phone_holder(index=crm_selectors.contact_point_index(
        kind=ContactPoint.Kind.PHONE, value=inbound.phone)) if inbound.phone else None
    if contact is None:
        owner = _manager_for(channel)
        contact = crm_services.contact_create(
            by=owner, owner=owner, name=name, phones=_valid_phones(inbound.phone),
            points_from_client=True, source=_SOURCE.get(channel.kind, Contact.Source.WEBSITE),
        )
    return ChannelIdentity.objects.create(
        channel=channel, external_id=inbound.sender_id, contact=contact,
        display_name=name,
    )


_SOURCE = {
    Channel.Kind.TELEGRAM: Contact.Source.TELEGRAM,
    Channel.Kind.WHATSAPP: Contact.Source.WHATSAPP,
    Channel.Kind.MAX: Contact.Source.MAX,
    Channel.Kind.VK: Contact.Source.VK,
}


def _valid_phones(phone: str) -> list[str]:
    """The number as a contact point, when it is one (a made-up one is left out rather than
    refusing the client's message)."""
    if not phone or crm_selectors.contact_point_index(kind=ContactPoint.Kind.PHONE,
                                                      value=phone) is None:
        return []
    return [phone]


def _open_deals_of(contacts) -> dict[int, Deal]:
    """The newest open deal of each contact that has one (one query)."""
    deals: dict[int, Deal] = {}
    for deal in (Deal.objects.filter(contact__in=contacts, status=Deal.Status.OPEN)
                 .select_related("owner").order_by("-created_at", "-id")):
        deals.setdefault(deal.contact_id, deal)
    return deals


def _lead_create(contact: Contact, channel: Channel) -> Deal:
    """A new lead deal for a client who has no open one (a first message, or their deals are
    all closed)."""
    owner = _owner_for(contact, channel)
    return crm_services.deal_create(by=owner, owner=owner, contact=contact,
                                    title=f"{channel.name}: {contact.name}"[:200])


def _open_conversations_of(identities) -> dict[int, Conversation]:
    """The newest open conversation of each identity that has one, locked (one query; rows
    locked in id order, the same in every transaction, so concurrent drains do not
    deadlock)."""
    conversations: dict[int, Conversation] = {}
    for conversation in (Conversation.objects.select_for_update()
                         .filter(identity__in=identities, status=Conversation.Status.OPEN)
                         .order_by("id")):
        newest = conversations.get(conversation.identity_id)
        if newest is None or (conversation.created_at, conversation.pk) > (newest.created_at,
                                                                          newest.pk):
            conversations[conversation.identity_id] = conversation
    return conversations


def _conversation_for(conversation: Conversation | None, identity: ChannelIdentity, deal: Deal,
                      *, at) -> Conversation:
    """The identity's open conversation (or a new one), attached to `deal`."""
    if conversation is None:
        return Conversation.objects.create(
            channel_id=identity.channel_id, identity=identity, contact=identity.contact, deal=deal,
            assignee=deal.owner, last_activity_at=at,
        )
    if conversation.deal_id != deal.pk:
        # The deal it was attached to was closed: the client's new messages go to the open one.
        conversation.deal, conversation.assignee = deal, deal.owner
        conversation.save(update_fields=["deal", "assignee"])
    conversation.deal, conversation.identity = deal, identity  # known: no query to read them
    return conversation
