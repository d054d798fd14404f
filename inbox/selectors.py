"""Every read of conversations and messages, scoped by the deal visibility rule.

A conversation is visible exactly when its deal is (crm.selectors.deals_visible_to): the
manager who owns the deal, the team's head, the admin, and explicit shares of the deal.
A conversation without a deal is visible to nobody but the admin... and in practice none
exists, because routing always attaches one.
"""

import time

from django.core.paginator import Page, Paginator
from django.db.models import F, Max, OuterRef, Q, QuerySet, Subquery, prefetch_related_objects
from django.shortcuts import get_object_or_404
from django.utils import timezone

from crm.selectors import deal_ids_visible_to, deal_visibility_parts
from inbox.models import (
    Attachment,
    CannedReply,
    Channel,
    Conversation,
    Message,
    MessageTemplate,
)

MESSAGE_PAGE = 50


def conversations_visible_to(user) -> QuerySet[Conversation]:
    """The conversations of the deals `user` sees (one who sees every deal: every
    conversation on a deal, without asking the deals)."""
    deal_ids = deal_ids_visible_to(user)
    if deal_ids is None:
        return Conversation.objects.filter(deal__isnull=False)
    return Conversation.objects.filter(deal_id__in=deal_ids)


def messages_visible_to(user) -> QuerySet[Message]:
    """The messages of the conversations `user` may see (everyone's, for who sees every
    deal: a search of 10M messages must not semi-join them with 1M deals)."""
    if deal_visibility_parts(user) is None:
        return Message.objects.filter(conversation__deal__isnull=False)
    return Message.objects.filter(conversation__in=conversations_visible_to(user))


def conversation_get(*, user, pk) -> Conversation:
    """The conversation, or Http404 when `user` may not see it."""
    return get_object_or_404(
        conversations_visible_to(user).select_related(
            "channel", "identity", "contact", "deal", "assignee"
        ),
        pk=pk,
    )


CONVERSATION_PAGE = 25


def conversations_waiting(*, assignee_ids) -> QuerySet[Conversation]:
    """The conversations of these people whose client waits for an answer now ("unanswered
    now" on the team page, and the list it opens)."""
    return Conversation.objects.filter(assignee_id__in=assignee_ids, awaiting_reply=True)


# The conversations list's narrowing to what a team page figure counts.
WAITING = ("unanswered", "overdue")


def conversation_page(*, user, mine: bool = True, page=None, assignee=None,
                      waiting: str = "", kind: str = "", now=None) -> Page:
    """The conversations list: unanswered first, then by last activity. `mine`: those
    assigned to `user`; otherwise every conversation `user` may see (a head: the team's).

    Each row carries the last message of the client or of a person (`last_text`,
    `last_direction`, `last_author`: an out-of-office reply or a campaign never hides the
    client's question) and, when the latest reply failed, that reply (`failed_reply`) for its
    mark and Retry."""
    conversations = conversations_visible_to(user)
    if mine:
        conversations = conversations.filter(assignee=user)
    if assignee is not None:
        conversations = conversations.filter(assignee=assignee)
    if waiting:  # as conversations_waiting counts them
        conversations = conversations.filter(awaiting_reply=True)
    if waiting == "overdue":
        conversations = conversations.filter(first_response_due_at__lt=now or timezone.now())
    if kind:
        conversations = conversations.filter(channel__kind=kind)
    last_message = (Message.objects.filter(conversation=OuterRef("pk"), is_automatic=False)
                    .exclude(direction=Message.Direction.NOTE)
                    .order_by("-created_at", "-id"))
    conversations = (
        conversations.select_related("channel", "identity", "contact", "deal", "assignee")
        .annotate(last_text=Subquery(last_message.values("text")[:1]),
                  last_direction=Subquery(last_message.values("direction")[:1]),
                  last_author_id=Subquery(last_message.values("author_id")[:1]),
                  failed_reply_id=Subquery(
                      last_message.filter(direction=Message.Direction.OUTBOUND,
                                          status=Message.Status.FAILED).values("pk")[:1]))
        .order_by("-awaiting_reply", "-last_activity_at", "-id")
    )
    result = Paginator(conversations, CONVERSATION_PAGE).get_page(page)
    rows = list(result.object_list)
    _attach_authors_and_failed_replies(rows)
    result.object_list = rows
    return result


def _attach_authors_and_failed_replies(rows: list[Conversation]) -> None:
    """Two queries for the page: the authors of the last replies, the failed replies."""
    from django.contrib.auth import get_user_model

    author_ids = {row.last_author_id for row in rows if row.last_author_id}
    authors = get_user_model().objects.in_bulk(author_ids) if author_ids else {}
    failed_ids = [row.failed_reply_id for row in rows
                  if row.last_reply_failed and row.failed_reply_id]
    failed = Message.objects.select_related("conversation").in_bulk(failed_ids)
    for row in rows:
        row.last_author = authors.get(row.last_author_id)
        row.failed_reply = failed.get(row.failed_reply_id) if row.last_reply_failed else None


def failed_reply(*, conversation: Conversation) -> Message | None:
    """The conversation's latest reply when it failed (the deal card's mark and Retry)."""
    if not conversation.last_reply_failed:
        return None
    return (Message.objects.filter(conversation=conversation,
                                   direction=Message.Direction.OUTBOUND, is_automatic=False,
                                   status=Message.Status.FAILED)
            .select_related("conversation").order_by("-created_at", "-id").first())


def unread_conversation_count(*, user) -> int:
    """How many of the conversations assigned to `user` have messages they have not read."""
    return Conversation.objects.filter(assignee=user, unread_count__gt=0).count()


def canned_replies_for(*, user) -> QuerySet[CannedReply]:
    """The canned replies of the user's team and those for every team."""
    return CannedReply.objects.filter(Q(team__isnull=True) | Q(team_id=user.team_id))


def canned_reply_get(*, user, pk) -> CannedReply:
    return get_object_or_404(canned_replies_for(user=user), pk=pk)


def client_channels(*, contact) -> list[dict]:
    """The client's identities on our channels (the caller fetched `contact` through a
    selector), the most recently active first: channel, name there, last activity,
    reachability."""
    rows = (contact.identities.select_related("channel")
            .annotate(last_activity=Max("conversations__last_activity_at"))
            .order_by(F("last_activity").desc(nulls_last=True), "-id"))
    return [{"channel": row.channel, "name": row.display_name, "last_activity": row.last_activity,
             "unreachable": row.is_unreachable} for row in rows]


def approved_templates(*, channel: Channel) -> QuerySet[MessageTemplate]:
    """The templates a reply outside the channel's window may use (not client data)."""
    return MessageTemplate.objects.filter(channel=channel, status="APPROVED")


def deal_conversations(*, deal) -> QuerySet[Conversation]:
    """The conversations of a deal the caller already fetched through `deal_get`, the one the
    client last wrote in first (its reply box is the card's first: the channel the client
    is reading), then the rest by their last activity."""
    return deal.conversations.select_related("channel", "identity", "assignee").order_by(
        F("last_inbound_at").desc(nulls_last=True), "-last_activity_at", "-id"
    )


def _as_shown(conversation: Conversation, messages: QuerySet[Message]) -> list[Message]:
    """`messages` of `conversation` with what the conversation panel shows of each. The
    conversation, its identity and its channel come from the conversation in hand, not from
    joins: planning the six-table join took PostgreSQL 3-4 ms on every deal card, forty times
    what reading the page took (bench/search.py's card of 10,000 messages)."""
    page = list(messages.select_related("author", "mail").prefetch_related("attachments"))
    if any(message.reply_to_id for message in page):  # a quote is rare: no join for it
        prefetch_related_objects(page, "reply_to")
    for message in page:
        message.conversation = conversation
        if message.channel_id == conversation.channel_id:
            message.channel = conversation.channel
    return page


def message_list(*, conversation: Conversation, before: int | None = None,
                 limit: int = MESSAGE_PAGE) -> list[Message]:
    """The newest `limit` messages older than message id `before`, oldest first (the order a
    conversation panel shows them); the caller fetched `conversation` through a selector."""
    messages = conversation.messages.all()
    if before:
        anchor = messages.filter(pk=before).values_list("created_at", flat=True).first()
        if anchor is not None:
            messages = messages.filter(
                Q(created_at__lt=anchor) | Q(created_at=anchor, pk__lt=before)
            )
    page = _as_shown(conversation, messages.order_by("-created_at", "-id")[:limit])
    page.reverse()
    return page


# A chat's first page: the panel shows about five messages at a time, so fifteen is three
# screens of scrolling back before the next page loads (inbox.js, at the top). Each message
# rendered costs the card 0.5 ms, and the card of a long history is the page opened most.
CHAT_PAGE = 15


def chat_page(*, conversation: Conversation,
              before: int | None = None) -> tuple[list[Message], bool]:
    """The conversation panel's page: the newest CHAT_PAGE messages older than `before`,
    oldest first, and whether older ones exist."""
    messages = message_list(conversation=conversation, before=before, limit=CHAT_PAGE + 1)
    return messages[-CHAT_PAGE:], len(messages) > CHAT_PAGE


CHAT_OLDER_AROUND = 5  # of a page opened at a message: how many older messages lead to it


def chat_page_at(*, conversation: Conversation, message_id: int
                 ) -> tuple[list[Message], bool, bool] | None:
    """The conversation panel's page opened at a message (a search hit): a few older ones,
    the message, then newer ones, oldest first; whether older and newer ones exist. None
    when the message is not this conversation's or is on the newest page anyway."""
    anchor = (conversation.messages.filter(pk=message_id)
              .values_list("created_at", flat=True).first())
    if anchor is None:
        return None
    newer = _as_shown(conversation, conversation.messages.filter(
        Q(created_at__gt=anchor) | Q(created_at=anchor, pk__gte=message_id))
        .order_by("created_at", "id")[:CHAT_PAGE - CHAT_OLDER_AROUND + 1])
    has_newer = len(newer) > CHAT_PAGE - CHAT_OLDER_AROUND
    if not has_newer:
        return None
    older = message_list(conversation=conversation, before=message_id,
                         limit=CHAT_OLDER_AROUND + 1)
    has_older = len(older) > CHAT_OLDER_AROUND
    return older[-CHAT_OLDER_AROUND:] + newer[:-1], has_older, True


def deal_message_get(*, deal, pk) -> Message:
    """A message of one of `deal`'s conversations (the caller fetched the deal through
    crm.selectors.deal_get, so visibility is already applied), else 404."""
    return get_object_or_404(
        Message.objects.filter(conversation__deal=deal).select_related("conversation"), pk=pk
    )


# Every webhook request reads its channel, so each process keeps the channels it has seen for
# a second: a change saved in this process drops them at once (inbox.apps connects
# `forget_webhook_channels` to Channel's saves), other processes see it within
# WEBHOOK_CHANNEL_SECONDS. Unknown ids are not kept (they would let anyone fill the memory).
WEBHOOK_CHANNEL_SECONDS = 1.0
_WEBHOOK_CHANNELS_MAX = 1000
_webhook_channels: dict[tuple[str, str], tuple[float, Channel]] = {}


def channel_for_webhook(*, kind: str, uuid) -> Channel:
    """The active channel a webhook URL names, or Http404 (the URL itself is no secret).
    Only what taking a delivery needs (the rest loads on access)."""
    key, now = (kind, str(uuid)), time.monotonic()
    kept = _webhook_channels.get(key)
    if kept is not None and kept[0] > now:
        return kept[1]
    channel = get_object_or_404(
        Channel.objects.only("id", "uuid", "kind", "webhook_secret", "handshake_secret",
                             "account_id", "is_active"),
        kind=kind, uuid=uuid, is_active=True)
    if len(_webhook_channels) >= _WEBHOOK_CHANNELS_MAX:
        _webhook_channels.clear()
    _webhook_channels[key] = (now + WEBHOOK_CHANNEL_SECONDS, channel)
    return channel


def forget_webhook_channels(**_signal) -> None:
    _webhook_channels.clear()


def deal_attachment_get(*, deal, pk) -> Attachment:
    """A file of a message in one of `deal`'s conversations (the caller fetched the deal
    through crm.selectors.deal_get), else 404."""
    return get_object_or_404(
        Attachment.objects.filter(message__conversation__deal=deal).select_related("message"),
        pk=pk,
    )


def next_unanswered(*, user, after_deal: int | None = None) -> Conversation | None:
    """The open conversation assigned to `user` whose client has waited longest for an
    answer, other than those of deal `after_deal` (the one on screen): the keyboard's "next
    unanswered"."""
    conversations = (conversations_visible_to(user)
                     .filter(assignee=user, awaiting_reply=True, status=Conversation.Status.OPEN))
    if after_deal is not None:
        conversations = conversations.exclude(deal_id=after_deal)
    # Awaiting a reply means the client wrote: last_inbound_at is set.
    return conversations.order_by("last_inbound_at", "id").first()
