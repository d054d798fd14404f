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
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404

from crm.models import Company, Contact, ContactPoint, Deal, Pipeline, Stage, Task, TimelineEntry
from security import roles


def _role(user) -> str | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    return user.role


# --- Visibility ------------------------------------------------------------------------------


def deals_visible_to(user) -> QuerySet[Deal]:
    role = _role(user)
    deals = Deal.objects.all()
    if role == roles.ADMIN:
        return deals
    if role == roles.SALES_HEAD:
        return deals.filter(Q(team_id__in=user.headed_team_ids) | Q(owner=user))
    if role == roles.MANAGER:
        return deals.filter(owner=user)
    return deals.none()


def contacts_visible_to(user) -> QuerySet[Contact]:
    role = _role(user)
    contacts = Contact.objects.all()
    if role in (roles.ADMIN, roles.MARKETER, roles.SUPPORT):
        return contacts
    if role in (roles.SALES_HEAD, roles.MANAGER):
        deals = deals_visible_to(user).filter(contact=OuterRef("pk"))
        own = Q(owner=user)
        if role == roles.SALES_HEAD:
            own |= Q(team_id__in=user.headed_team_ids)
        return contacts.filter(own | Exists(deals))
    return contacts.none()


def companies_visible_to(user) -> QuerySet[Company]:
    role = _role(user)
    companies = Company.objects.all()
    if role in (roles.ADMIN, roles.MARKETER, roles.SUPPORT):
        return companies
    if role in (roles.SALES_HEAD, roles.MANAGER):
        deals = deals_visible_to(user).filter(company=OuterRef("pk"))
        contacts = contacts_visible_to(user).filter(company=OuterRef("pk"))
        own = Q(owner=user)
        if role == roles.SALES_HEAD:
            own |= Q(team_id__in=user.headed_team_ids)
        return companies.filter(own | Exists(deals) | Exists(contacts))
    return companies.none()


def tasks_visible_to(user) -> QuerySet[Task]:
    role = _role(user)
    tasks = Task.objects.all()
    if role == roles.ADMIN:
        return tasks
    if role in (roles.SALES_HEAD, roles.MANAGER):
        on_visible_deal = Q(deal__in=deals_visible_to(user))
        mine = Q(assignee=user)
        if role == roles.SALES_HEAD:
            mine |= Q(assignee__team_id__in=user.headed_team_ids)
        return tasks.filter(mine | on_visible_deal)
    return tasks.none()


def deal_get(*, user, pk) -> Deal:
    return get_object_or_404(
        deals_visible_to(user).select_related(
            "stage", "pipeline", "owner", "team", "contact", "company"
        ),
        pk=pk,
    )


def contact_get(*, user, pk) -> Contact:
    return get_object_or_404(
        contacts_visible_to(user).select_related("company", "owner", "team"), pk=pk
    )


def company_get(*, user, pk) -> Company:
    return get_object_or_404(companies_visible_to(user).select_related("owner", "team"), pk=pk)


def task_get(*, user, pk) -> Task:
    return get_object_or_404(tasks_visible_to(user), pk=pk)


def deal_can_edit(*, user, deal: Deal) -> bool:
    return user.has_perm("crm.change_deal") and deals_visible_to(user).filter(pk=deal.pk).exists()


def assignable_users(*, user):
    """Who `user` may give a task or a record to: themselves and their team (a head: the
    teams they lead; the admin: anyone active)."""
    from django.contrib.auth import get_user_model

    active = get_user_model().objects.filter(is_active=True)
    role = _role(user)
    if role == roles.ADMIN:
        return active
    if role is None:
        return active.none()
    team_ids = set(user.headed_team_ids) if role == roles.SALES_HEAD else set()
    if user.team_id:
        team_ids.add(user.team_id)
    return active.filter(Q(pk=user.pk) | Q(team_id__in=team_ids))


def stages_for(*, user) -> QuerySet[Stage]:
    """Stages of the pipelines the user's team works with (its own and the shared ones)."""
    return Stage.objects.filter(
        Q(pipeline__team__isnull=True) | Q(pipeline__team_id=getattr(user, "team_id", None))
    ).select_related("pipeline")


def user_can_see_owner_filter(user) -> bool:
    return _role(user) in (roles.SALES_HEAD, roles.ADMIN)


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


def deal_list(*, user, filters: DealFilters = DealFilters()) -> QuerySet[Deal]:
    deals = deals_visible_to(user).select_related("stage", "owner", "contact", "company")
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
    return deals.order_by(*DEAL_SORTS.get(filters.sort, DEAL_SORTS["activity"]))


def deal_page(*, user, filters: DealFilters, page: int | str | None):
    paginator = Paginator(deal_list(user=user, filters=filters), settings.UI_PAGE_SIZE)
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


def contact_points(*, contact: Contact, kind: str | None = None) -> QuerySet[ContactPoint]:
    points = contact.points.all()
    return points.filter(kind=kind) if kind else points


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


def _contacts_holding(kind: str, index: str):
    return ContactPoint.objects.filter(kind=kind, value_index=index).values("contact_id")


def contact_point_lookup(*, kind: str, value: str) -> QuerySet[ContactPoint]:
    """Every contact point holding this phone or e-mail, whoever's contact it is.

    Unscoped on purpose: for matching inbound calls and messages to contacts, which no user
    does. Anything a user asks goes through `contacts_by_point`.
    """
    index = contact_point_index(kind=kind, value=value)
    if index is None:
        return ContactPoint.objects.none()
    return ContactPoint.objects.filter(kind=kind, value_index=index).select_related("contact")


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


def deal_timeline(*, deal: Deal, before: int | None = None, limit: int = TIMELINE_PAGE):
    """The newest `limit` entries of a deal (older than entry id `before`), newest first.

    The caller has already fetched `deal` through `deal_get`, which applied visibility.
    """
    entries = TimelineEntry.objects.filter(deal=deal)
    if before:
        anchor = entries.filter(pk=before).values_list("occurred_at", flat=True).first()
        if anchor is not None:
            entries = entries.filter(
                Q(occurred_at__lt=anchor) | Q(occurred_at=anchor, pk__lt=before)
            )
    return list(
        entries.select_related("actor")
        .prefetch_related("source")
        .order_by("-occurred_at", "-id")[:limit]
    )


def contact_timeline(*, user, contact: Contact, limit: int = TIMELINE_PAGE):
    """The contact's own entries and those of the contact's deals that `user` may see (a
    marketer sees the contact, never its deals' notes)."""
    visible_deals = deals_visible_to(user)
    return list(
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

