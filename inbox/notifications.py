"""The personal notice of a client's message (crm.notifications has the others).

A batch of inbound messages tells, after commit, the conversation's assignee (with their
number of unread conversations: the menu's badge) and the deal's owner where that is someone
else, each only about deals they see. One notice per person per batch, naming at most
MAX_ITEMS clients: a backlog replayed after an outage must not bury the page in toasts.
"""

from django.contrib.auth import get_user_model
from django.db.models import Count

from crm import notifications
from inbox.models import Conversation

MAX_ITEMS = 5


def client_name(conversation: Conversation) -> str:
    """The name the conversation lists show: the client's name on the channel, else the
    contact's."""
    return conversation.identity.display_name or conversation.identity.contact.name


def unread_counts(user_ids: set[int]) -> dict[int, int]:
    """selectors.unread_conversation_count of several users in one query."""
    if not user_ids:
        return {}
    return dict(Conversation.objects.filter(assignee__in=user_ids, unread_count__gt=0)
                .values("assignee").annotate(n=Count("id")).values_list("assignee", "n"))


def messages_arrived(conversations: list[Conversation]) -> None:
    """Tell the people working these conversations that their clients wrote."""
    recipients: dict[int, list[Conversation]] = {}
    assignees: set[int] = set()
    for conversation in conversations:
        if conversation.deal_id is None:
            continue
        if conversation.assignee_id is not None:
            assignees.add(conversation.assignee_id)
        for user_id in {conversation.assignee_id, conversation.deal.owner_id} - {None}:
            recipients.setdefault(user_id, []).append(conversation)
    if not recipients:
        return
    users = (get_user_model().objects.filter(pk__in=recipients, is_active=True)
             .prefetch_related("groups"))
    seen = notifications.users_seeing(
        {c.deal_id: c.deal.owner_id for c in conversations if c.deal_id}, users)
    unread = unread_counts(assignees & set(seen))
    for user_id, deal_ids in seen.items():
        items = [{"deal": c.deal_id, "conversation": c.pk, "name": client_name(c),
                  "url": notifications.deal_url(c.deal_id, "conversations")}
                 for c in recipients[user_id] if c.deal_id in deal_ids]
        if not items:
            continue
        extra = {}
        if user_id in assignees:
            extra["unread"] = unread.get(user_id, 0)
        notifications.notify(user_id=user_id, kind=notifications.MESSAGE, url=items[0]["url"],
                             deal=items[0]["deal"], name=items[0]["name"],
                             items=items[:MAX_ITEMS], more=max(0, len(items) - MAX_ITEMS),
                             **extra)
