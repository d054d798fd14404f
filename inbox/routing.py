"""Routing an inbound message, the same for every channel: the sender's identity on the
channel -> their contact -> their open deal -> the conversation on it.

A new sender becomes a contact with a lead deal for the channel's team, owned by the manager
with the fewest leads from that channel; a known one lands in their open deal (a new lead when
their deals are all closed). A channel that gives the sender's phone number (WhatsApp) or
e-mail address finds the client by it first: one who called, or wrote from another channel
that gave it, keeps their card and their open deal.

E-mail threads come first (`threads_for`): a reply in a thread goes to the open conversation
the thread is in, whoever of the client's company sends it.
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
    contact = _point_holder(ContactPoint.Kind.PHONE, inbound.phone) or _point_holder(
        ContactPoint.Kind.EMAIL, inbound.email)
    if contact is None:
        owner = _manager_for(channel)
        contact = crm_services.contact_create(
            by=owner, owner=owner, name=name,
            phones=_valid_points(ContactPoint.Kind.PHONE, inbound.phone),
            emails=_valid_points(ContactPoint.Kind.EMAIL, inbound.email),
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
    Channel.Kind.EMAIL: Contact.Source.EMAIL,
}


def _point_holder(kind: str, value: str) -> Contact | None:
    """The client already known by this phone or e-mail (from a call, another channel, the
    card), when the channel gives one."""
    if not value:
        return None
    return crm_selectors.point_holder(
        kind=kind, index=crm_selectors.contact_point_index(kind=kind, value=value))


def _valid_points(kind: str, value: str) -> list[str]:
    """The number or address as a contact point, when it is one (a made-up one is left out
    rather than refusing the client's message)."""
    if not value or crm_selectors.contact_point_index(kind=kind, value=value) is None:
        return []
    return [value]


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


def threads_for(channel: Channel, inbounds: list[InboundMessage]) -> dict[str, Conversation]:
    """E-mail: the open conversation each reply belongs to, by the reply's external id. Tried
    in order: the messages it answers (In-Reply-To, then References, nearest first), the
    conversation whose token its reply-to address carries, then the same sender's
    conversation with the same subject. A thread whose conversation is closed, or whose deal
    is no longer open, is left to the sender's usual routing. The conversations are locked,
    in id order as everywhere."""
    from inbox.models import MailDetails, Message
    from inbox.providers.mail.threading import conversation_of_token

    threaded = [inbound for inbound in inbounds
                if inbound.answers or inbound.thread_token or inbound.subject_key]
    if not threaded:
        return {}
    keys = {key for inbound in threaded for key in inbound.answers}
    by_message = dict(Message.objects.filter(channel=channel, external_id__in=keys)
                      .values_list("external_id", "conversation_id")) if keys else {}
    by_token = {inbound.thread_token: conversation_of_token(inbound.thread_token)
                for inbound in threaded if inbound.thread_token}
    by_subject: dict[tuple[str, str], int] = {}
    subjects = {inbound.subject_key for inbound in threaded if inbound.subject_key}
    if subjects:
        senders = {ChannelIdentity.index_of(channel, inbound.sender_id): inbound.sender_id
                   for inbound in threaded}
        for subject, index, conversation_id in (
                MailDetails.objects.filter(
                    subject_key__in=subjects, message__channel=channel,
                    message__conversation__identity__external_id_index__in=list(senders),
                    message__conversation__status=Conversation.Status.OPEN)
                .order_by("message__created_at")
                .values_list("subject_key", "message__conversation__identity__external_id_index",
                             "message__conversation_id")):
            by_subject[(subject, senders[index])] = conversation_id
    candidates = {inbound.external_id: [
        *(by_message.get(key) for key in inbound.answers),
        by_token.get(inbound.thread_token),
        by_subject.get((inbound.subject_key, inbound.sender_id)),
    ] for inbound in threaded}
    wanted = {pk for found in candidates.values() for pk in found if pk}
    if not wanted:
        return {}
    open_ones = {conversation.pk: conversation for conversation in (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("deal__owner", "identity__contact")
        .filter(pk__in=wanted, channel=channel, status=Conversation.Status.OPEN,
                deal__status=Deal.Status.OPEN)
        .order_by("id"))}
    threads: dict[str, Conversation] = {}
    for external_id, found in candidates.items():
        conversation = next((open_ones[pk] for pk in found if pk in open_ones), None)
        if conversation is not None:
            threads[external_id] = conversation
    return threads
