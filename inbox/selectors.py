"""Every read of conversations and messages, scoped by the deal visibility rule.

A conversation is visible exactly when its deal is (crm.selectors.deals_visible_to): the
manager who owns the deal, the team's head, the admin, and explicit shares of the deal.
A conversation without a deal is visible to nobody but the admin... and in practice none
exists, because routing always attaches one.
"""

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from crm.selectors import deals_visible_to
from inbox.models import Channel, Conversation, Message

MESSAGE_PAGE = 50


def conversations_visible_to(user) -> QuerySet[Conversation]:
    return Conversation.objects.filter(deal__in=deals_visible_to(user).values("pk"))


def conversation_get(*, user, pk) -> Conversation:
    """The conversation, or Http404 when `user` may not see it."""
    return get_object_or_404(
        conversations_visible_to(user).select_related(
            "channel", "identity", "contact", "deal", "assignee"
        ),
        pk=pk,
    )


def deal_conversations(*, deal) -> QuerySet[Conversation]:
    """The conversations of a deal the caller already fetched through `deal_get`."""
    return deal.conversations.select_related("channel", "identity", "assignee").order_by(
        "-last_activity_at", "-id"
    )


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
    page = list(
        messages.select_related("author", "channel")
        .prefetch_related("attachments")
        .order_by("-created_at", "-id")[:limit]
    )
    page.reverse()
    return page


def deal_message_get(*, deal, pk) -> Message:
    """A message of one of `deal`'s conversations (the caller fetched the deal through
    crm.selectors.deal_get, so visibility is already applied), else 404."""
    return get_object_or_404(
        Message.objects.filter(conversation__deal=deal).select_related("conversation"), pk=pk
    )


def channel_for_webhook(*, kind: str, uuid) -> Channel:
    """The active channel a webhook URL names, or Http404 (the URL itself is no secret)."""
    return get_object_or_404(Channel, kind=kind, uuid=uuid, is_active=True)
