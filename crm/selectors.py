"""Every read of client data goes through here, scoped by the one visibility rule.

The rule (DESIGN.md, invariant 1): a manager sees what they own; a sales head sees their
team's (and their own); the admin sees everything; marketers and support see contacts and
companies but no deal content; the security officer sees no client content. Anything
outside the rule is answered with 404 by the callers (`*_get` raise Http404).
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import timeline
from crm.models import (
    Company,
    Contact,
    ContactPoint,
    Deal,
    DealUserObjectPermission,
    Pipeline,
    Stage,
    Task,
    TimelineEntry,
)
from security import roles


def active_role(user) -> str | None:
    """The role of a logged-in, active user; None for anyone else (who then sees nothing)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    return user.role


# --- Visibility ------------------------------------------------------------------------------
#
# Each rule is a union of index-friendly parts ("owned by me", "of team 7", "shared with me")
# rather than one WHERE with ORs: an OR across a subquery makes PostgreSQL read every row
# (measured at 1M deals: ~100 ms for `owner = me OR id IN (shared)` against ~6 ms for the
# union; see bench/visibility.py). `pk IN (part UNION ALL part ...)` stays a plain queryset,
# so callers filter, count and slice it as before.


def _union(parts: list[QuerySet]) -> QuerySet:
    parts = [part.order_by() for part in parts]
    return parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]


def live_deal_shares(*, user=None, codename: str | None = "view_deal"):
    """Unexpired rows of `crm.DealUserObjectPermission` (an explicit share) granting
    `crm.<codename>` (None: any); an expired row grants nothing even before the cleanup job
    deletes it."""
    shares = DealUserObjectPermission.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()),
        permission__content_type__app_label="crm",
    )
    if codename is not None:
        shares = shares.filter(permission__codename=codename)
    return shares.filter(user=user) if user is not None else shares


def _shared_with(user, codename: str = "view_deal") -> QuerySet[Deal]:
    # One filter() call: the three conditions apply to the same share row.
    return Deal.objects.filter(
        Q(user_shares__expires_at__isnull=True) | Q(user_shares__expires_at__gt=timezone.now()),
        user_shares__user=user,
        user_shares__permission__codename=codename,
        user_shares__permission__content_type__app_label="crm",
    )


def deal_visibility_parts(user, *, codename: str = "view_deal") -> list[QuerySet[Deal]] | None:
    """The deal rule as parts whose union is what `user` sees (None: every deal). Each part
    has its own index on (owner | team, -last_activity_at), so a list's page can take the
    top rows of each part (`deal_list_pages`). With codename="change_deal": what `user` may
    change (the shares part keeps edit shares only)."""
    role = active_role(user)
    if role == roles.ADMIN:
        return None
    if role not in (roles.SALES_HEAD, roles.MANAGER):
        return []
    parts = [Deal.objects.filter(owner=user)]
    if role == roles.SALES_HEAD:
        # One part per team: `team_id IN (1, 2)` could not walk one index in order.
        parts += [Deal.objects.filter(team_id=team_id) for team_id in user.headed_team_ids]
    parts.append(_shared_with(user, codename))
    return parts


def deal_is_visible(*, user, deal: Deal, codename: str = "view_deal") -> bool:
    """Whether deals_visible_to(user) holds `deal` (with codename="change_deal": what the
    user may change), answered from the row where it can be (the owner, the head's teams)
    and by one share lookup otherwise. The same rule as deal_visibility_parts:
    tests/crm/test_visibility_rule.py holds them to one answer."""
    role = active_role(user)
    if role == roles.ADMIN:
        return True
    if role not in (roles.SALES_HEAD, roles.MANAGER):
        return False
    if deal.owner_id == user.pk:
        return True
    if role == roles.SALES_HEAD and deal.team_id in user.headed_team_ids:
        return True
    return live_deal_shares(user=user, codename=codename).filter(
        content_object_id=deal.pk).exists()


def _visible(model, parts: list[QuerySet] | None) -> QuerySet:
    if parts is None:
        return model.objects.all()
    if not parts:
        return model.objects.none()
    return model.objects.filter(pk__in=_union([part.values("pk") for part in parts]))


def clients_worked_with(user, clients: set[int]) -> set[int]:
    """Which of `clients` (contact ids) `user` works with: an open deal they own or that is
    shared with them (a sales head: also their team's). An admin's "sees everything" is no
    reason (the foreign-cards rule, security.audit.rules)."""
    open_deals = Deal.objects.filter(status=Deal.Status.OPEN)
    if user.role == roles.ADMIN:
        return set(open_deals.filter(owner=user, contact_id__in=clients)
                   .values_list("contact_id", flat=True))
    if active_role(user) not in (roles.SALES_HEAD, roles.MANAGER):
        return set()  # deals_visible_to: none
    # Their own open deals answer for most cards (a manager opening their deal, every card
    # view asks): the whole rule, a union, only for the clients they leave.
    found = set(open_deals.filter(owner=user, contact_id__in=clients)
                .values_list("contact_id", flat=True))
    if rest := set(clients) - found:
        found |= set(deals_visible_to(user).filter(status=Deal.Status.OPEN, contact_id__in=rest)
                     .values_list("contact_id", flat=True))
    return found


def deals_visible_to(user) -> QuerySet[Deal]:
    """Manager: own deals plus live shares. Sales head: the teams they lead, their own and
    shares. Admin: all. Everyone else: none."""
    return _visible(Deal, deal_visibility_parts(user))


def deal_ids_visible_to(user) -> QuerySet:
    """The ids of deals_visible_to, for a subquery (`deal_id__in=`): the union itself, not
    the deals filtered by it, which made PostgreSQL look each one up again (a head's 5,000
    deals' conversations listed in 17 ms, 8 of them spent so). Every deal: None."""
    parts = deal_visibility_parts(user)
    if parts is None:
        return None
    if not parts:
        return Deal.objects.none().values("pk")
    return _union([part.values("pk") for part in parts])


def _team_parts(model, user) -> list[QuerySet]:
    parts = [model.objects.filter(owner=user)]
    if active_role(user) == roles.SALES_HEAD:
        parts += [model.objects.filter(team_id=team_id) for team_id in user.headed_team_ids]
    return parts


def _contact_ids(user, codename: str = "view_deal") -> list[QuerySet]:
    """Own (a head: the team's) contacts and the contacts of every deal the user sees (with
    codename="change_deal": of every deal the user may change)."""
    return [part.values("pk") for part in _team_parts(Contact, user)] + [
        part.exclude(contact=None).values("contact_id")
        for part in deal_visibility_parts(user, codename=codename)
    ]


def _company_ids(user, codename: str = "view_deal") -> list[QuerySet]:
    contacts = Contact.objects.filter(pk__in=_union(_contact_ids(user, codename)))
    return (
        [part.values("pk") for part in _team_parts(Company, user)]
        + [
            part.exclude(company=None).values("company_id")
            for part in deal_visibility_parts(user, codename=codename)
        ]
        + [contacts.exclude(company=None).values("company_id")]
    )


def contacts_visible_to(user) -> QuerySet[Contact]:
    role = active_role(user)
    # A card merged into another is in no list: its records are on the kept card.
    contacts = Contact.objects.filter(merged_into__isnull=True)
    if role in (roles.ADMIN, roles.MARKETER, roles.SUPPORT):
        return contacts
    if role in (roles.SALES_HEAD, roles.MANAGER):
        return contacts.filter(pk__in=_union(_contact_ids(user)))
    return contacts.none()


def companies_visible_to(user) -> QuerySet[Company]:
    role = active_role(user)
    companies = Company.objects.all()
    if role in (roles.ADMIN, roles.MARKETER, roles.SUPPORT):
        return companies
    if role in (roles.SALES_HEAD, roles.MANAGER):
        return companies.filter(pk__in=_union(_company_ids(user)))
    return companies.none()


def tasks_visible_to(user) -> QuerySet[Task]:
    """Tasks assigned to the user (a head: to the team) and tasks on deals the user sees."""
    role = active_role(user)
    tasks = Task.objects.all()
    if role == roles.ADMIN:
        return tasks
    if role in (roles.SALES_HEAD, roles.MANAGER):
        parts = [Task.objects.filter(assignee=user)]
        if role == roles.SALES_HEAD:
            parts.append(Task.objects.filter(assignee__team_id__in=user.headed_team_ids))
        parts.append(Task.objects.filter(deal__in=deals_visible_to(user)))
        return tasks.filter(pk__in=_union([part.values("pk") for part in parts]))
    return tasks.none()


# What every deal page shows of a deal besides its own row.
DEAL_SHOWN = ("stage", "pipeline", "owner", "contact", "company")


def deal_get(*, user, pk) -> Deal:
    # The deal by its id, then the rule asked of its row (deal_is_visible): the rule as a
    # union joined with the deal's relations took 5-8 ms a card to build and plan, the row
    # and the rule's answer 1-2 (bench/search.py's card of 10,000 messages).
    deal = get_object_or_404(Deal.objects.select_related(*DEAL_SHOWN), pk=pk)
    if not deal_is_visible(user=user, deal=deal):
        raise Http404("No Deal matches the given query.")
    return deal


def deal_get_to_change(*, user, pk) -> Deal:
    """The deal for an action that changes it: 404 if `user` does not see it, 403 if they see
    it but may not change it (a read share, a role without the right). The refusal comes
    before the form is read, so a bad body never tells a reader more than "not yours"."""
    deal = deal_get(user=user, pk=pk)
    if not deal_can_edit(user=user, deal=deal):
        raise PermissionDenied(_("You may look at this record but not change it."))
    return deal


def contact_get(*, user, pk) -> Contact:
    return get_object_or_404(
        contacts_visible_to(user).select_related("company", "owner", "team"), pk=pk
    )


def company_get(*, user, pk) -> Company:
    return get_object_or_404(companies_visible_to(user).select_related("owner", "team"), pk=pk)


def task_get(*, user, pk) -> Task:
    return get_object_or_404(tasks_visible_to(user), pk=pk)


def deal_can_edit(*, user, deal: Deal) -> bool:
    """Whether `user` may change `deal` (the caller has it from `deal_get`): its owner, the
    head of its team, the admin, or someone holding a live edit share."""
    if active_role(user) not in (roles.ADMIN, roles.SALES_HEAD, roles.MANAGER):
        return False
    return user.has_perm("crm.change_deal") and deal_is_visible(user=user, deal=deal,
                                                                 codename="change_deal")


def contact_can_edit(*, user, contact: Contact) -> bool:
    """Whether `user` may change a contact they see: not through a read share of its deal."""
    if not user.has_perm("crm.change_contact"):
        return False
    role = active_role(user)
    # What the row itself answers of contacts_editable_by (everything for the admin, their
    # own and their teams' for the others) needs no query: every deal card asks.
    if role == roles.ADMIN or contact.owner_id == user.pk:
        return role in (roles.ADMIN, roles.SALES_HEAD, roles.MANAGER)
    if role == roles.SALES_HEAD and contact.team_id in user.headed_team_ids:
        return True
    return contacts_editable_by(user).filter(pk=contact.pk).exists()


def company_can_edit(*, user, company: Company) -> bool:
    return user.has_perm("crm.change_company") and (
        companies_editable_by(user).filter(pk=company.pk).exists()
    )


def task_can_edit(*, user, task: Task) -> bool:
    """Whether `user` may change or complete a task they see: their own, their team's (a
    head), or one on a deal they may change (a read share of the deal does not do)."""
    role = active_role(user)
    if not user.has_perm("crm.change_task"):
        return False
    if role == roles.ADMIN or task.assignee_id == user.pk:
        return True
    if role == roles.SALES_HEAD and task.assignee.team_id in user.headed_team_ids:
        return True
    return task.deal_id is not None and deal_can_edit(user=user, deal=task.deal)


def assignable_users(*, user):
    """Who `user` may give a task or a record to: themselves and their team (a head: the
    teams they lead; the admin: anyone active)."""
    from django.contrib.auth import get_user_model

    active = get_user_model().objects.filter(is_active=True)
    role = active_role(user)
    if role == roles.ADMIN:
        return active
    if role is None:
        return active.none()
    team_ids = set(user.headed_team_ids) if role == roles.SALES_HEAD else set()
    if user.team_id:
        team_ids.add(user.team_id)
    return active.filter(Q(pk=user.pk) | Q(team_id__in=team_ids))


def owner_candidates(*, user):
    """Who may own a deal, contact or company that `user` hands over: active managers and
    sales heads among assignable_users (never a marketer or an account without a role)."""
    return assignable_users(user=user).filter(
        groups__name__in=[roles.MANAGER, roles.SALES_HEAD]
    ).distinct()


# What a user may link to a deal or task: only records they may change. A read share shows
# a client; it must not let anyone attach that client to their own deals (and so keep
# seeing them after the share ends).


def with_current(queryset: QuerySet, current) -> QuerySet:
    """`queryset`, plus the record a form already holds (which may stay as it is)."""
    if current is None:
        return queryset
    return queryset.model.objects.filter(Q(pk__in=queryset.values("pk")) | Q(pk=current.pk))


def deals_editable_by(user) -> QuerySet[Deal]:
    if active_role(user) == roles.ADMIN:
        return Deal.objects.all()
    if active_role(user) not in (roles.SALES_HEAD, roles.MANAGER):
        return Deal.objects.none()
    return _visible(Deal, deal_visibility_parts(user, codename="change_deal"))


def contacts_editable_by(user) -> QuerySet[Contact]:
    if active_role(user) == roles.ADMIN:
        return Contact.objects.all()
    if active_role(user) not in (roles.SALES_HEAD, roles.MANAGER):
        return Contact.objects.none()
    return Contact.objects.filter(pk__in=_union(_contact_ids(user, "change_deal")))


def companies_editable_by(user) -> QuerySet[Company]:
    if active_role(user) == roles.ADMIN:
        return Company.objects.all()
    if active_role(user) not in (roles.SALES_HEAD, roles.MANAGER):
        return Company.objects.none()
    return Company.objects.filter(pk__in=_union(_company_ids(user, "change_deal")))


def user_can_see_owner_filter(user) -> bool:
    return active_role(user) in (roles.SALES_HEAD, roles.ADMIN)


# --- Lists -----------------------------------------------------------------------------------

DEAL_SORTS = {
    "activity": ["-last_activity_at", "-id"],
    "amount": ["-amount", "-id"],
    "created": ["-created_at", "-id"],
    "close": ["expected_close", "-id"],
}


@dataclass(frozen=True)
class DealFilters:
    q: str = ""
    status: str = ""
    stage: int | None = None
    owner: int | None = None
    sort: str = "activity"


def _deal_filtered(deals: QuerySet[Deal], *, user, filters: DealFilters) -> QuerySet[Deal]:
    if filters.status:
        deals = deals.filter(status=filters.status)
    if filters.stage:
        deals = deals.filter(stage_id=filters.stage)
    if filters.owner and user_can_see_owner_filter(user):
        deals = deals.filter(owner_id=filters.owner)
    if filters.q:
        q = filters.q.strip()
        match = (
            Q(title__icontains=q) | Q(contact__name__icontains=q) | Q(company__name__icontains=q)
        )
        if point := _point_in_query(q):
            match |= Q(contact_id__in=_contacts_holding(*point))
        deals = deals.filter(match)
    return deals


def _deal_order(filters: DealFilters) -> list[str]:
    return DEAL_SORTS.get(filters.sort, DEAL_SORTS["activity"])


_DEAL_ROW_RELATED = ("stage", "owner", "contact", "company")


def deal_list(*, user, filters: DealFilters = DealFilters()) -> QuerySet[Deal]:
    deals = _deal_filtered(deals_visible_to(user), user=user, filters=filters)
    return deals.select_related(*_DEAL_ROW_RELATED).order_by(*_deal_order(filters))


class DealPages:
    """`deal_list` as a sequence that Django's and DRF's paginators page fast.

    Counting and iterating use the list's queryset. A slice [a:b] instead takes the top b
    rows of each visibility part (owned by me, of team 7, shared with me), each with the
    filters applied and walking its own (owner | team, -last_activity_at) index, and sorts
    and cuts their union: the first page of a head's 2,000 team deals reads ~50 index
    entries instead of all of them. Where the database cannot order and limit inside a
    UNION (SQLite, the embedded mode) a slice is the plain queryset's.
    """

    ordered = True

    def __init__(self, *, queryset: QuerySet[Deal], parts: list[QuerySet[Deal]] | None,
                 rows: QuerySet[Deal], order: list[str]):
        self.queryset = queryset
        self._parts, self._rows, self._order = parts, rows, order

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __iter__(self):
        return iter(self.queryset)

    def __getitem__(self, key):
        if not isinstance(key, slice):
            return self.queryset[key]
        if not (
            key.stop is not None and key.step is None and self._parts
            and connections[self.queryset.db].features.supports_slicing_ordering_in_compound
        ):
            return list(self.queryset[key])
        tops = [part.order_by(*self._order).values("pk")[: key.stop] for part in self._parts]
        ids = tops[0].union(*tops[1:], all=True) if len(tops) > 1 else tops[0]
        return list(self._rows.filter(pk__in=ids)[key])


def deal_list_pages(*, user, filters: DealFilters = DealFilters()) -> DealPages:
    """What a paginated deal list shows (the UI's list, the API's): see DealPages."""
    parts = deal_visibility_parts(user)
    order = _deal_order(filters)
    return DealPages(
        queryset=deal_list(user=user, filters=filters),
        parts=None if parts is None else [
            _deal_filtered(part, user=user, filters=filters) for part in parts
        ],
        rows=_deal_filtered(Deal.objects.all(), user=user, filters=filters)
        .select_related(*_DEAL_ROW_RELATED).order_by(*order),
        order=order,
    )


def deal_page(*, user, filters: DealFilters, page: int | str | None):
    paginator = Paginator(deal_list_pages(user=user, filters=filters), settings.UI_PAGE_SIZE)
    return paginator.get_page(page)


def deal_owner_choices(*, user):
    """Who a head may filter the list by: the owners of deals they can see."""
    from django.contrib.auth import get_user_model

    owner_ids = deals_visible_to(user).values("owner_id")
    return get_user_model().objects.filter(pk__in=owner_ids).order_by("first_name", "last_name")


def contact_list(*, user, q: str = "") -> QuerySet[Contact]:
    contacts = contacts_visible_to(user).select_related("company", "owner")
    if q:
        q = q.strip()
        match = Q(name__icontains=q) | Q(company__name__icontains=q)
        if point := _point_in_query(q):
            match |= Q(pk__in=_contacts_holding(*point))
        contacts = contacts.filter(match)
    return contacts


def company_list(*, user, q: str = "") -> QuerySet[Company]:
    companies = companies_visible_to(user)
    if q:
        companies = companies.filter(Q(name__icontains=q) | Q(inn=q))
    return companies


def task_list(*, user, done: bool | None = None, deal: Deal | None = None) -> QuerySet[Task]:
    tasks = tasks_visible_to(user).select_related("assignee", "deal", "contact")
    if done is not None:
        tasks = tasks.filter(done=done)
    if deal is not None:
        tasks = tasks.filter(deal=deal)
    return tasks


def my_open_tasks(*, user) -> QuerySet[Task]:
    return task_list(user=user, done=False).filter(assignee=user)


# --- The team's work (a sales head's review) -------------------------------------------------

# A won deal counts as worked in the CRM (the KPI the company moved off personal phones for)
# when a touch of the client is recorded here in the days before it was won.
WORKED_DAYS = 30
_TOUCH_CHUNK = 200


def deals_not_worked_in_crm(deals) -> set[int]:
    """The ids of the won deals among `deals` with no client touch (a message to or from the
    client, a call) recorded in the CRM in the WORKED_DAYS before they were won: flagged in
    the lists and the card, and left out of "worked in the CRM" in the exports."""
    from datetime import timedelta

    from core.holdings import declared

    windows = {deal.pk: (deal.closed_at - timedelta(days=WORKED_DAYS), deal.closed_at)
               for deal in deals if deal.status == Deal.Status.WON and deal.closed_at}
    touched: set[int] = set()
    ids = list(windows)
    for start in range(0, len(ids), _TOUCH_CHUNK):
        chunk = {pk: windows[pk] for pk in ids[start:start + _TOUCH_CHUNK]}
        for holdings in declared():
            if holdings.client_touches is not None:
                touched |= holdings.client_touches(chunk)
    return set(windows) - touched



def reviews_team(user) -> bool:
    """Whether `user` reviews a team's work: a sales head (their teams), the admin (all)."""
    return active_role(user) in (roles.SALES_HEAD, roles.ADMIN)


def team_members(*, user) -> QuerySet:
    """The people whose work `user` reviews: the members of the teams a head heads, everyone
    for the admin, nobody for anyone else."""
    from django.contrib.auth import get_user_model

    people = get_user_model().objects.select_related("team")
    role = active_role(user)
    if role == roles.ADMIN:
        return people.filter(team__isnull=False)
    if role == roles.SALES_HEAD:
        return people.filter(team_id__in=user.headed_team_ids)
    return people.none()


def team_open_tasks(*, user, assignee=None) -> QuerySet[Task]:
    """The open tasks of the people `user` reviews (of one of them), the overdue first, then
    by due date (those without one last)."""
    from django.db.models import F

    tasks = (Task.objects.filter(done=False, assignee__in=team_members(user=user))
             .select_related("assignee", "deal", "contact"))
    if assignee is not None:
        tasks = tasks.filter(assignee=assignee)
    return tasks.order_by(F("due_at").asc(nulls_last=True), "pk")


def team_task_counts(*, user) -> list:
    """Each person `user` reviews with their open and overdue task counts (one query): the
    active ones, and anyone else who still holds open tasks; the most overdue first."""
    now = timezone.now()
    members = team_members(user=user).annotate(
        open_tasks=Count("tasks", filter=Q(tasks__done=False)),
        overdue_tasks=Count("tasks", filter=Q(tasks__done=False, tasks__due_at__lt=now)),
    ).filter(Q(is_active=True) | Q(open_tasks__gt=0))
    return sorted(members, key=lambda m: (-m.overdue_tasks, -m.open_tasks,
                                          m.get_full_name() or m.username))


# --- Lookup by phone or e-mail ---------------------------------------------------------------
# The values are encrypted; an exact match goes through the blind index of the normalized
# value, so `8 (916) 123-45-67` finds `+79161234567`.

_PHONE_QUERY = re.compile(r"^\+?[\d\s().-]{7,}$")


def contact_point_index(*, kind: str, value: str) -> str | None:
    """The blind index of a phone or e-mail typed in any format; None if it is not one."""
    from crm.services import contact_point_normalize  # services import this module

    try:
        return ContactPoint.index_of(kind, contact_point_normalize(kind, value))
    except ValidationError:
        return None


def _point_in_query(q: str) -> tuple[str, str] | None:
    """(kind, index) when a search string is a whole e-mail or phone number."""
    if "@" in q:
        kind = ContactPoint.Kind.EMAIL
    elif _PHONE_QUERY.match(q):
        kind = ContactPoint.Kind.PHONE
    else:
        return None
    index = contact_point_index(kind=kind, value=q)
    return (kind, index) if index else None


def contacts_by_typed_point(*, user, text: str) -> QuerySet[Contact]:
    """The contacts `user` may see that hold the phone or e-mail `text` is, typed whole in
    any format (none when it is not one: the hidden digits of a number are never matched)."""
    point = _point_in_query(text.strip())
    if point is None:
        return Contact.objects.none()
    return contacts_visible_to(user).filter(pk__in=_contacts_holding(*point))


def _contacts_holding(kind: str, index: str):
    return ContactPoint.objects.filter(kind=kind, value_index=index).values("contact_id")


def contact_point_lookup(*, kind: str, value: str) -> QuerySet[ContactPoint]:
    """Every contact point holding this phone or e-mail, whoever's contact it is.

    Unscoped on purpose: for matching inbound calls and messages to contacts, which no user
    does. Anything a user asks goes through `contacts_by_point`. A card merged into another
    holds nothing any more (its records are the kept card's): its points are left out.
    """
    index = contact_point_index(kind=kind, value=value)
    if index is None:
        return ContactPoint.objects.none()
    return _live_points(kind, index).select_related("contact")


def _live_points(kind: str, index: str) -> QuerySet[ContactPoint]:
    return ContactPoint.objects.filter(kind=kind, value_index=index,
                                       contact__merged_into__isnull=True)


def point_holder(*, kind: str, index: str | None) -> Contact | None:
    """The client holding the phone or e-mail with this blind index (unscoped, as
    `contact_point_lookup`): the one with an open deal first, else the newest card."""
    if not index:
        return None
    holders = _live_points(kind, index).values("contact_id")
    with_deal = (Deal.objects.filter(contact__in=holders, status=Deal.Status.OPEN)
                 .order_by("-created_at", "-id").values_list("contact_id", flat=True).first())
    contacts = Contact.objects.select_related("owner")
    if with_deal is not None:
        return contacts.get(pk=with_deal)
    return contacts.filter(pk__in=holders).order_by("-created_at", "-id").first()


def contacts_by_point(*, user, kind: str, value: str) -> QuerySet[Contact]:
    """The contacts `user` may see that hold this phone or e-mail (typed in any format)."""
    index = contact_point_index(kind=kind, value=value)
    if index is None:
        return Contact.objects.none()
    return contacts_visible_to(user).filter(pk__in=_contacts_holding(kind, index))


def contacts_by_phone(*, user, phone: str) -> QuerySet[Contact]:
    return contacts_by_point(user=user, kind=ContactPoint.Kind.PHONE, value=phone)


def default_pipeline() -> Pipeline:
    pipeline = Pipeline.objects.filter(is_default=True).first() or Pipeline.objects.first()
    if pipeline is None:
        raise Pipeline.DoesNotExist("no pipeline is configured; run migrate")
    return pipeline


def pipeline_for(*, user) -> Pipeline:
    """The user's team pipeline, else the shared default."""
    team_id = getattr(user, "team_id", None)
    own = Pipeline.objects.filter(team_id=team_id).first() if team_id else None
    return own or default_pipeline()


def pipeline_stages(*, pipeline: Pipeline) -> QuerySet[Stage]:
    return pipeline.stages.all()


@dataclass(frozen=True)
class KanbanColumn:
    stage: Stage
    deals: list[Deal]  # the most recently active, at most settings.KANBAN_CARDS_PER_STAGE
    count: int  # all open deals at this stage
    totals: dict[str, Decimal]  # amount per currency of all of them


def kanban_columns(
    *, user, pipeline: Pipeline, filters: DealFilters = DealFilters(),
    per_stage: int | None = None,
) -> list[KanbanColumn]:
    """Open deals of the pipeline by stage, in stage order. Counts and sums cover every deal;
    the cards only the most active ones, so a head's board stays fast with thousands."""
    per_stage = per_stage or settings.KANBAN_CARDS_PER_STAGE
    deals = deal_list(user=user, filters=filters).filter(pipeline=pipeline, status="open")
    counts: dict[int, int] = {}
    totals: dict[int, dict[str, Decimal]] = {}
    for row in deals.order_by().values("stage_id", "currency").annotate(
        n=Count("id"), total=Sum("amount")
    ):
        counts[row["stage_id"]] = counts.get(row["stage_id"], 0) + row["n"]
        totals.setdefault(row["stage_id"], {})[row["currency"]] = row["total"]
    return [
        KanbanColumn(
            stage=stage,
            deals=list(deals.filter(stage=stage)[:per_stage]) if counts.get(stage.pk) else [],
            count=counts.get(stage.pk, 0),
            totals=dict(sorted(totals.get(stage.pk, {}).items())),
        )
        for stage in pipeline.stages.all()
    ]


# --- Timeline --------------------------------------------------------------------------------

TIMELINE_PAGE = 50


def deal_timeline(*, deal: Deal, before: int | None = None, limit: int = TIMELINE_PAGE,
                  exclude_kinds=()):
    """The newest `limit` entries of a deal (older than entry id `before`), newest first.

    The caller has already fetched `deal` through `deal_get`, which applied visibility.
    """
    entries = TimelineEntry.objects.filter(deal=deal)
    if exclude_kinds:
        entries = entries.exclude(kind__in=exclude_kinds)
    if before:
        anchor = entries.filter(pk=before).values_list("occurred_at", flat=True).first()
        if anchor is not None:
            entries = entries.filter(
                Q(occurred_at__lt=anchor) | Q(occurred_at=anchor, pk__lt=before)
            )
    return _with_sources(
        entries.select_related("actor")
        .prefetch_related("source")
        .order_by("-occurred_at", "-id")[:limit]
    )


def _with_sources(entries) -> list[TimelineEntry]:
    """A page of entries with what their sources' templates read loaded in a few queries
    (each kind says what: crm.timeline.register_kind's `prefetch`)."""
    entries = list(entries)
    timeline.prefetch_sources(entries)
    return entries


def contact_timeline(*, user, contact: Contact, limit: int = TIMELINE_PAGE):
    """The contact's own entries and those of the contact's deals that `user` may see (a
    marketer sees the contact, never its deals' notes)."""
    if not user.has_perm("crm.view_note"):
        # Marketing and support see a contact's details, never the team's notes and tasks.
        return []
    visible_deals = deals_visible_to(user)
    return _with_sources(
        TimelineEntry.objects.filter(
            Q(contact=contact, deal__isnull=True)
            | (Q(deal__in=visible_deals) & (Q(contact=contact) | Q(deal__contact=contact)))
        )
        .select_related("actor", "deal")
        .prefetch_related("source")
        .order_by("-occurred_at", "-id")[:limit]
    )


def timeline_entry_get(*, deal: Deal, pk) -> TimelineEntry:
    return get_object_or_404(
        TimelineEntry.objects.filter(deal=deal).select_related("actor").prefetch_related("source"),
        pk=pk,
    )


def timeline_entry_for(*, source, kind: str) -> TimelineEntry | None:
    """The entry a service wrote for `source` (a note, a task...), newest first."""
    from django.contrib.contenttypes.models import ContentType

    return (
        TimelineEntry.objects.filter(
            kind=kind, source_type=ContentType.objects.get_for_model(source), source_id=source.pk
        )
        .select_related("actor")
        .prefetch_related("source")
        .order_by("-occurred_at", "-id")
        .first()
    )


def deal_open_tasks(*, deal: Deal) -> QuerySet[Task]:
    return deal.tasks.filter(done=False).select_related("assignee").order_by("due_at", "id")

