"""Personal live notices: a client wrote, a lead arrived, a colleague mentioned you.

Each notice goes to the group of one user (`core.events.user_group`), after commit, and only
to users who see the record it is about: choosing the recipients is made here and in the
callers' one place each (inbox.notifications for messages, crm.mentions for mentions). A
notice carries what its toast shows and nothing more: the client's name as the deal card
shows it to that user (names are not masked; phones and e-mails never travel), the deal's
link, and for the assignee the number of conversations they have unread (the menu's badge).
The page's script (static/js/notify.js) shows it; everything in it is put in as text.
"""

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import reverse

from core import events
from crm.models import Deal
from crm.selectors import deals_visible_to
from security import roles

MESSAGE = "message"
LEAD = "lead"
MENTION = "mention"


def deal_url(deal_id: int, anchor: str = "") -> str:
    return reverse("deal_detail", args=[deal_id]) + (f"#{anchor}" if anchor else "")


def notify(*, user_id: int, kind: str, url: str, **fields) -> None:
    """One notice to one user, sent when the transaction commits."""
    events.send_after_commit(events.user_group(user_id),
                             {"type": "notify", "kind": kind, "url": url, **fields})


def users_seeing(deals: dict[int, int], users) -> dict[int, set[int]]:
    """For each of `users`, which of `deals` (id -> owner id) they see, by the one visibility
    rule. An owner sees their own deals (the rule's first part, for every role that works
    with deals): asked of the database are only the others', a query per user, so a batch of
    messages to their owners costs nothing per person."""
    seen = {}
    for user in users:
        owned = {deal_id for deal_id, owner_id in deals.items() if owner_id == user.pk}
        if user.role not in (roles.MANAGER, roles.SALES_HEAD, roles.ADMIN):
            owned = set()
        others = set(deals) - owned
        if others:
            owned |= set(deals_visible_to(user).filter(pk__in=others)
                         .values_list("pk", flat=True))
        seen[user.pk] = owned
    return seen


def deal_list_watchers(deal: Deal) -> list[int]:
    """Who has this deal on their deals list and board: its owner, the heads of its team and
    the admins (the shares' holders find it in their list when they look)."""
    condition = Q(pk=deal.owner_id) | Q(groups__name=roles.ADMIN) | Q(is_superuser=True)
    if deal.team_id is not None:
        condition |= Q(headed_teams=deal.team_id)
    return list(get_user_model().objects.filter(condition, is_active=True)
                .values_list("pk", flat=True).distinct())


def deal_created(*, deal: Deal, by) -> None:
    """A new deal: the lists and boards showing it refetch themselves (ids only), and an owner
    handed a lead by someone else hears of it with the client's name. Leads from a client's
    first message are announced by that message (inbox.notifications)."""
    for user_id in deal_list_watchers(deal):
        events.send_after_commit(events.user_group(user_id),
                                 {"type": "deal.created", "deal": deal.pk})
    if by is not None and by.pk != deal.owner_id:
        name = deal.contact.name if deal.contact_id else ""
        notify(user_id=deal.owner_id, kind=LEAD, url=deal_url(deal.pk), deal=deal.pk,
               name=name or deal.title)
