"""Every write to CRM data goes through here: keyword-only, typed, atomic.

Services trust their caller for visibility (the object came from a selector) and check the
role's permission to act; domain errors are `django.core.exceptions.ValidationError` (bad
input, shown next to the field) or `PermissionDenied`.
"""

import copy
from decimal import Decimal

import phonenumbers
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core import events
from core.sql import update_from_values
from crm import mentions, notifications, rollups
from crm.models import (
    Company,
    Contact,
    ContactPoint,
    Deal,
    Note,
    Stage,
    Tag,
    Task,
    TimelineEntry,
)
from crm.selectors import (
    assignable_users,
    companies_editable_by,
    company_can_edit,
    contact_can_edit,
    contacts_editable_by,
    deal_can_edit,
    deals_editable_by,
    live_deal_shares,
    owner_candidates,
    pipeline_for,
    task_can_edit,
)
from security import roles
from security.audit import change_log

# --- Contact points --------------------------------------------------------------------------
# `value` is encrypted at rest and cannot be filtered on: dedupe and replace go by the blind
# index `value_index` (ContactPoint.index_of), which the model keeps on save.


def phone_normalize(raw: str, *, region: str | None = None) -> str:
    """Return the number in E.164 (`+79161234567`) or raise ValidationError."""
    try:
        number = phonenumbers.parse(raw, region or settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            _("“%(value)s” is not a phone number."), params={"value": raw}
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(_("“%(value)s” is not a valid phone number."), params={"value": raw})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_normalize(raw: str) -> str:
    value = raw.strip()
    validate_email(value)
    local, _at, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def contact_point_normalize(kind: str, value: str) -> str:
    """The value as it is stored and indexed (E.164 phone, e-mail), or ValidationError."""
    if kind == ContactPoint.Kind.PHONE:
        return phone_normalize(value)
    if kind == ContactPoint.Kind.EMAIL:
        return email_normalize(value)
    raise ValidationError(_("Unknown contact point kind."))


def _provenance(from_client: bool) -> dict:
    """A new point's origin (ContactPoint.client_used_at / staff_set_at)."""
    return {"client_used_at" if from_client else "staff_set_at": timezone.now()}


@transaction.atomic
def contact_point_add(
    *, contact: Contact, kind: str, value: str, label: str = "", is_primary: bool = False,
    from_client: bool = False,
) -> ContactPoint:
    """Add a phone or an address (an existing one is returned as it is). `from_client`: the
    client gave it to us themselves (a website form), not a member of staff."""
    normalized = contact_point_normalize(kind, value)
    index = ContactPoint.index_of(kind, normalized)
    existing = contact.points.filter(kind=kind, value_index=index).first()
    if existing:
        return existing
    if not contact.points.filter(kind=kind).exists():
        is_primary = True
    elif is_primary:
        demoted = contact.points.filter(kind=kind, is_primary=True)
        ids = list(demoted.values_list("pk", flat=True))
        demoted.update(is_primary=False)
        # auditlog does not see a queryset's update: each demoted point gets its entry.
        change_log.bulk_changed(ContactPoint, ids, changes={"is_primary": [True, False]})
    return ContactPoint.objects.create(
        contact=contact, kind=kind, value=normalized, label=label, is_primary=is_primary,
        **_provenance(from_client),
    )


@transaction.atomic
def contact_points_replace(*, contact: Contact, kind: str, values: list[str],
                           from_client: bool = False) -> None:
    """Make the contact's points of one kind exactly `values` (first one primary)."""
    wanted: dict[str, str] = {}  # blind index -> normalized value, in the given order
    errors = []
    for value in values:
        if not value.strip():
            continue
        try:
            point = contact_point_normalize(kind, value)
        except ValidationError as e:
            errors.extend(e.messages)
            continue
        wanted.setdefault(ContactPoint.index_of(kind, point), point)
    if errors:
        field = "phones" if kind == ContactPoint.Kind.PHONE else "emails"
        raise ValidationError({field: errors})
    contact.points.filter(kind=kind).exclude(value_index__in=list(wanted)).delete()
    existing = {p.value_index: p for p in contact.points.filter(kind=kind)}
    for position, (index, value) in enumerate(wanted.items()):
        point = existing.get(index)
        if point is None:
            ContactPoint.objects.create(
                contact=contact, kind=kind, value=value, is_primary=position == 0,
                **_provenance(from_client),
            )
        elif point.value != value:
            point.value, point.is_primary = value, position == 0
            for name, at in _provenance(from_client).items():
                setattr(point, name, at)
            point.save(update_fields=["value", "is_primary", "client_used_at",
                                      "staff_set_at"])
        elif point.is_primary != (position == 0):
            point.is_primary = position == 0
            point.save(update_fields=["is_primary"])


# --- Companies and contacts ------------------------------------------------------------------


def _require(user, perm: str) -> None:
    if not user.has_perm(perm):
        raise PermissionDenied(_("Your role does not allow this action."))


_EDIT_RULES = {
    Deal: ("deal", deal_can_edit),
    Contact: ("contact", contact_can_edit),
    Company: ("company", company_can_edit),
    Task: ("task", task_can_edit),
}


def _refuse_read_only(by, obj) -> None:
    """Refuse a change to a record the user may not change: one seen through a read share
    (a deal, its client, company or tasks), or not theirs at all."""
    name, can_edit = _EDIT_RULES[type(obj)]
    if not can_edit(user=by, **{name: obj}):
        raise PermissionDenied(_("You may look at this record but not change it."))


def _check_links(by, **linked) -> None:
    """Only records the user may change can be linked to a deal or a task: linking a client
    seen through a read share would keep them visible after the share ends."""
    editable = {"contact": contacts_editable_by, "company": companies_editable_by,
                "deal": deals_editable_by}
    for field, obj in linked.items():
        if obj is not None and not editable[field](by).filter(pk=obj.pk).exists():
            raise ValidationError({field: _("You cannot link this record.")})


def _check_owner(by, owner) -> None:
    """Giving a record to someone else is a reassignment: heads and admins only, and only to
    an active manager or sales head of a team they lead (the admin: anyone's)."""
    if owner.pk == by.pk:
        return
    _require(by, "crm.reassign_deal")
    if not owner_candidates(user=by).filter(pk=owner.pk).exists():
        raise ValidationError({"owner": _("This person cannot own records you hand over.")})


@transaction.atomic
def company_create(*, by, name: str, **fields) -> Company:
    _require(by, "crm.add_company")
    owner = fields.pop("owner", None) or by
    _check_owner(by, owner)
    company = Company(name=name, owner=owner, team=owner.team, **fields)
    company.full_clean()
    company.save()
    return company


@transaction.atomic
def company_update(*, company: Company, by, **fields) -> Company:
    _require(by, "crm.change_company")
    _refuse_read_only(by, company)
    owner = fields.pop("owner", None)
    if owner is not None and owner.pk != company.owner_id:
        _check_owner(by, owner)
        company.owner, company.team = owner, owner.team
    for name, value in fields.items():
        setattr(company, name, value)
    company.full_clean()
    company.save()
    return company


def _tags_set(contact: Contact, tags: list[str] | None) -> None:
    if tags is None:
        return
    objs = [Tag.objects.get_or_create(name=t.strip()[:50])[0] for t in tags if t.strip()]
    contact.tags.set(objs)


@transaction.atomic
def contact_create(
    *,
    by,
    name: str,
    phones: list[str] = (),
    emails: list[str] = (),
    tags: list[str] | None = None,
    owner=None,
    points_from_client: bool = False,
    **fields,
) -> Contact:
    """A new contact. `points_from_client`: the phones and e-mails came from the client
    (the number a call came from), not typed in by `by`."""
    _require(by, "crm.add_contact")
    owner = owner or by
    _check_owner(by, owner)
    contact = Contact(name=name, owner=owner, team=owner.team, **fields)
    contact.full_clean()
    contact.save()
    for kind, values in ((ContactPoint.Kind.PHONE, phones), (ContactPoint.Kind.EMAIL, emails)):
        contact_points_replace(contact=contact, kind=kind, values=list(values),
                               from_client=points_from_client)
    _tags_set(contact, tags)
    return contact


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    by,
    add_phones: list[str] = (),
    add_emails: list[str] = (),
    remove_point_ids: list[int] = (),
    tags: list[str] | None = None,
    owner=None,
    **fields,
) -> Contact:
    """Change a contact. Phones and e-mails are added and removed one by one, never replaced
    as a list: most users only ever see them masked, so they cannot send the full list back."""
    _require(by, "crm.change_contact")
    _refuse_read_only(by, contact)
    if owner is not None and owner.pk != contact.owner_id:
        _check_owner(by, owner)
        contact.owner, contact.team = owner, owner.team
    for name, value in fields.items():
        setattr(contact, name, value)
    contact.full_clean()
    contact.save()
    contact_points_change(
        contact=contact, add_phones=add_phones, add_emails=add_emails,
        remove_point_ids=remove_point_ids,
    )
    _tags_set(contact, tags)
    return contact


def contact_points_change(
    *, contact: Contact, add_phones=(), add_emails=(), remove_point_ids=()
) -> None:
    """Remove points by id and add new values; a removed primary passes to the next one."""
    errors: dict[str, list[str]] = {}
    for field, kind, values in (("phones", ContactPoint.Kind.PHONE, add_phones),
                                ("emails", ContactPoint.Kind.EMAIL, add_emails)):
        for value in values:
            if not value.strip():
                continue
            try:
                contact_point_normalize(kind, value)
            except ValidationError as e:
                errors.setdefault(field, []).extend(e.messages)
    if errors:
        raise ValidationError(errors)
    if remove_point_ids:
        contact.points.filter(pk__in=list(remove_point_ids)).delete()
        for kind in ContactPoint.Kind.values:
            points = contact.points.filter(kind=kind)
            if points.exists() and not points.filter(is_primary=True).exists():
                promoted = points.order_by("id").first().pk
                points.filter(pk=promoted).update(is_primary=True)
                change_log.bulk_changed(ContactPoint, [promoted],
                                        changes={"is_primary": [False, True]})
    for kind, values in ((ContactPoint.Kind.PHONE, add_phones),
                         (ContactPoint.Kind.EMAIL, add_emails)):
        for value in values:
            if value.strip():
                contact_point_add(contact=contact, kind=kind, value=value)


# --- Timeline --------------------------------------------------------------------------------


def timeline_add(
    *,
    kind: str,
    deal: Deal | None = None,
    contact: Contact | None = None,
    actor=None,
    source=None,
    occurred_at=None,
    payload: dict | None = None,
) -> TimelineEntry:
    """Add one entry to the feed of a deal (and its contact) and tell open deal cards.

    Other apps call this for their messages and calls; crm/ knows nothing of them.
    """
    return timeline_add_many(kind=kind, items=[(deal, contact, source, occurred_at)],
                             actor=actor, payload=payload)[0]


def timeline_add_many(*, kind: str, items, actor=None,
                      payload: dict | None = None) -> list[TimelineEntry]:
    """Add entries of one kind, `items` being (deal, contact, source, occurred_at) each, in
    one insert, and move each deal's last activity once (deals in id order, the order every
    writer locks them in)."""
    entries = []
    for deal, contact, source, occurred_at in items:
        if deal is None and contact is None:
            raise ValueError("a timeline entry needs a deal or a contact")
        entries.append(TimelineEntry(
            deal=deal,
            contact=contact if contact is not None else (deal.contact if deal else None),
            kind=kind,
            actor=actor if getattr(actor, "pk", None) else None,
            source_type=ContentType.objects.get_for_model(source) if source is not None else None,
            source_id=source.pk if source is not None else None,
            occurred_at=occurred_at or timezone.now(),
            payload=payload or {},
        ))
    entries = TimelineEntry.objects.bulk_create(entries)
    latest: dict = {}
    for entry in entries:
        if entry.deal_id is not None:
            latest[entry.deal_id] = max(latest.get(entry.deal_id, entry.occurred_at),
                                        entry.occurred_at)
    if latest:
        _deals_active_at(latest)
    for entry in entries:
        if entry.deal_id is not None:
            events.timeline_entry_added(deal_id=entry.deal_id, entry_id=entry.pk, kind=kind)
    return entries


def _deals_active_at(latest: dict) -> None:
    """Move each deal's last activity to its time in `latest` (deal id -> time), unless it
    is later already."""
    if connection.vendor == "postgresql" and len(latest) > 1:
        # A batch of inbound messages: one statement for all its deals.
        update_from_values(Deal, alias="d", columns=[("id", ""), ("at", "timestamptz")],
                           rows=sorted(latest.items()), set_sql="last_activity_at = v.at",
                           where="d.last_activity_at < v.at")
        return
    for deal_id, at in sorted(latest.items()):
        Deal.objects.filter(pk=deal_id, last_activity_at__lt=at).update(last_activity_at=at)


# --- Deals -----------------------------------------------------------------------------------


def _check_stage(deal: Deal, stage: Stage) -> None:
    if stage.pipeline_id != deal.pipeline_id:
        raise ValidationError({"stage": _("This stage belongs to another pipeline.")})


@transaction.atomic
def deal_create(
    *,
    by,
    title: str,
    owner=None,
    stage: Stage | None = None,
    amount: Decimal | int | str = Decimal("0"),
    currency: str = "",
    contact: Contact | None = None,
    company: Company | None = None,
    next_step: str = "",
    expected_close=None,
) -> Deal:
    _require(by, "crm.add_deal")
    owner = owner or by
    _check_owner(by, owner)
    _check_links(by, contact=contact, company=company)
    if stage is not None and stage.pipeline.team_id not in (None, owner.team_id):
        raise ValidationError({"stage": _("This stage belongs to another team's pipeline.")})
    pipeline = stage.pipeline if stage else pipeline_for(user=owner)
    stage = stage or pipeline.stages.first()
    if company is None and contact is not None:
        company = contact.company
    deal = Deal(
        title=title,
        owner=owner,
        team=owner.team,
        pipeline=pipeline,
        stage=stage,
        amount=Decimal(amount or 0),
        currency=currency or settings.DEFAULT_CURRENCY,
        contact=contact,
        company=company,
        next_step=next_step,
        expected_close=expected_close,
    )
    deal.stage_since = deal.created_at
    deal.full_clean()
    with rollups.StagesChange(deal):
        deal.save()
        timeline_add(kind="deal_created", deal=deal, actor=by, payload={"stage": stage.name})
    rollups.deal_changed(None, deal)
    notifications.deal_created(deal=deal, by=by)
    return deal


_EDITABLE_DEAL_FIELDS = {
    "title", "amount", "currency", "contact", "company", "next_step", "expected_close",
}


@transaction.atomic
def deal_update(*, deal: Deal, by, stage: Stage | None = None, owner=None, **fields) -> Deal:
    _require(by, "crm.change_deal")
    _refuse_read_only(by, deal)
    unknown = set(fields) - _EDITABLE_DEAL_FIELDS
    if unknown:
        raise ValueError(f"deal_update cannot change {sorted(unknown)}")
    _check_links(by, **{
        name: fields[name] for name in ("contact", "company")
        if name in fields and getattr(fields[name], "pk", None)
        != getattr(getattr(deal, name), "pk", None)
    })
    before = copy.copy(deal)
    for name, value in fields.items():
        setattr(deal, name, value)
    deal.full_clean()
    deal.save()
    if (before.amount, before.currency) != (deal.amount, deal.currency):
        rollups.deal_changed(before, deal)
    if stage is not None and stage.pk != deal.stage_id:
        deal_move(deal=deal, stage=stage, by=by)
    if owner is not None and owner.pk != deal.owner_id:
        deal_reassign(deal=deal, to_user=owner, by=by)
    events.deal_changed(deal_id=deal.pk)
    return deal


@transaction.atomic
def deal_move(*, deal: Deal, stage: Stage, by) -> Deal:
    _require(by, "crm.change_deal")
    _refuse_read_only(by, deal)
    _check_stage(deal, stage)
    if stage.pk == deal.stage_id:
        return deal
    old = deal.stage
    with rollups.StagesChange(deal):
        deal.stage = stage
        deal.stage_since = timezone.now()
        deal.save(update_fields=["stage", "stage_since", "updated_at"])
        timeline_add(
            kind="stage_changed", deal=deal, actor=by,
            payload={"from": old.name, "to": stage.name, "from_id": old.pk, "to_id": stage.pk},
        )
    events.deal_changed(deal_id=deal.pk)
    return deal


@transaction.atomic
def deal_close(*, deal: Deal, by, status: str, loss_reason: str = "") -> Deal:
    """Mark a deal won or lost (a loss needs its reason), or reopen it with status open."""
    _require(by, "crm.change_deal")
    _refuse_read_only(by, deal)
    if status not in Deal.Status.values:
        raise ValidationError({"status": _("Unknown status.")})
    loss_reason = loss_reason.strip()
    if status == Deal.Status.LOST and not loss_reason:
        raise ValidationError({"loss_reason": _("Say why the deal was lost.")})
    if status == deal.status and loss_reason == deal.loss_reason:
        return deal
    old = deal.status
    before = copy.copy(deal)
    with rollups.StagesChange(deal):
        deal.status = status
        deal.loss_reason = loss_reason if status == Deal.Status.LOST else ""
        deal.closed_at = timezone.now() if status != Deal.Status.OPEN else None
        fields = ["status", "loss_reason", "closed_at", "updated_at"]
        if status == Deal.Status.OPEN and old != Deal.Status.OPEN:
            deal.stage_since = timezone.now()  # reopened: back in its stage from now
            fields.append("stage_since")
        deal.save(update_fields=fields)
        timeline_add(
            kind="status_changed", deal=deal, actor=by,
            payload={"from": old, "to": status, "loss_reason": deal.loss_reason},
        )
    rollups.deal_changed(before, deal)
    events.deal_changed(deal_id=deal.pk)
    return deal


@transaction.atomic
def deal_reassign(*, deal: Deal, to_user, by) -> Deal:
    _require(by, "crm.reassign_deal")
    # An edit share does not let its holder hand the deal over to someone else.
    if live_deal_shares(user=by).filter(content_object_id=deal.pk).exists() and not (
        by.role == roles.ADMIN or deal.owner_id == by.pk or deal.team_id in by.headed_team_ids
    ):
        raise PermissionDenied(_("Your role does not allow this action."))
    if not to_user.is_active:
        raise ValidationError({"owner": _("An inactive user cannot own deals.")})
    _check_owner(by, to_user)
    old_owner_id = deal.owner_id
    deal.owner = to_user
    deal.team = to_user.team
    deal.save(update_fields=["owner", "team", "updated_at"])
    timeline_add(
        kind="owner_changed", deal=deal, actor=by,
        payload={"from": old_owner_id, "to": to_user.pk, "to_name": str(to_user)},
    )
    # The former owner and their sales head may have lost it: the sockets following the
    # deal check it again.
    events.deal_access_changed(deal_id=deal.pk)
    return deal


# --- Notes and tasks -------------------------------------------------------------------------


@transaction.atomic
def note_add(*, by, text: str, deal: Deal | None = None, contact: Contact | None = None) -> Note:
    _require(by, "crm.add_note")
    if deal is not None:
        _refuse_read_only(by, deal)
    elif contact is not None:
        _refuse_read_only(by, contact)
    text = text.strip()
    if not text:
        raise ValidationError({"text": _("The note is empty.")})
    note = Note(deal=deal, contact=contact, author=by, text=text)
    note.full_clean()
    note.save()
    entry = timeline_add(kind="note", deal=deal, contact=contact, actor=by, source=note)
    mentions.mentions_record(by=by, entry=entry, text=text)
    return note


@transaction.atomic
def task_create(
    *,
    by,
    title: str,
    assignee=None,
    due_at=None,
    deal: Deal | None = None,
    contact: Contact | None = None,
    overdue_ok: bool = False,
) -> Task:
    """`overdue_ok`: a task the system makes for something past (a missed call's call-back,
    processed late) may be overdue at birth; a date a person typed in the past is refused."""
    _require(by, "crm.add_task")
    if not overdue_ok:
        _refuse_past_due(due_at)
    if deal is not None:
        _refuse_read_only(by, deal)
    elif contact is not None:
        _refuse_read_only(by, contact)
    title = title.strip()
    if not title:
        raise ValidationError({"title": _("Say what needs to be done.")})
    assignee = assignee or (deal.owner if deal else by)
    _check_assignee(by, assignee)
    task = Task(
        title=title, assignee=assignee, created_by=by, due_at=due_at, deal=deal,
        contact=contact or (deal.contact if deal else None),
    )
    task.full_clean()
    task.save()
    if deal is not None or task.contact is not None:
        timeline_add(kind="task_created", deal=deal, contact=task.contact, actor=by, source=task)
    if deal is not None:
        # Open deal cards refresh their open tasks (a missed call's call-back task, a
        # colleague's task) without a reload.
        events.deal_changed(deal_id=deal.pk)
    return task


def _refuse_past_due(due_at) -> None:
    # A due date in the past on a new task is almost always a typo (last year, the wrong
    # month); a serious CRM says so instead of filing an overdue task. The form picks
    # minutes, so the current minute still counts as now.
    if due_at is None:
        return
    if due_at < timezone.now().replace(second=0, microsecond=0):
        raise ValidationError({"due_at": _("The due date is in the past: check the day, "
                                           "month and year.")})


def _check_assignee(by, assignee) -> None:
    if not assignable_users(user=by).filter(pk=assignee.pk).exists():
        raise ValidationError({"assignee": _("You cannot give tasks to this person.")})


_EDITABLE_TASK_FIELDS = {"title", "assignee", "due_at", "deal", "contact"}


@transaction.atomic
def task_update(*, task: Task, by, **fields) -> Task:
    _require(by, "crm.change_task")
    _refuse_read_only(by, task)
    unknown = set(fields) - _EDITABLE_TASK_FIELDS
    if unknown:
        raise ValueError(f"task_update cannot change {sorted(unknown)}")
    if "title" in fields:
        fields["title"] = fields["title"].strip()
    if "due_at" in fields and fields["due_at"] != task.due_at:
        _refuse_past_due(fields["due_at"])  # an overdue task keeps its date when edited
    if "assignee" in fields and fields["assignee"].pk != task.assignee_id:
        _check_assignee(by, fields["assignee"])
    _check_links(by, **{
        name: fields[name] for name in ("deal", "contact")
        if name in fields and getattr(fields[name], "pk", None)
        != getattr(getattr(task, name), "pk", None)
    })
    for name, value in fields.items():
        setattr(task, name, value)
    task.full_clean()
    task.save()
    return task


@transaction.atomic
def task_complete(*, task: Task, by) -> Task:
    _require(by, "crm.change_task")
    _refuse_read_only(by, task)
    if task.done:
        return task
    task.done = True
    task.done_at = timezone.now()
    task.save(update_fields=["done", "done_at", "updated_at"])
    rollups.record(rollups.task_facts([task]))
    if task.deal_id or task.contact_id:
        timeline_add(
            kind="task_done", deal=task.deal, contact=task.contact, actor=by, source=task
        )
    return task


# --- Offboarding -----------------------------------------------------------------------------


def _handover_note_text(*, leaver, successor) -> str:
    # A note is stored text: written in the company's language, whoever's request it is.
    with translation.override(settings.LANGUAGE_CODE):
        return _(
            "Handed over from %(leaver)s to %(successor)s: %(leaver)s has left the company. "
            "The deal's whole history stays here: messages, calls, notes and tasks."
        ) % {"leaver": leaver, "successor": successor}


@transaction.atomic
def user_hand_over(handover) -> dict[str, list[int]]:
    """Offboarding (security.offboarding): the leaver's deals, contacts and companies (with
    the successor's team, as a reassignment gives) and their open tasks go to the successor.
    Each moved deal gets an owner-change entry and a handover note on its timeline. Done
    tasks keep their assignee: they are history."""
    user, successor = handover.user, handover.successor
    deals = list(Deal.objects.filter(owner=user).select_related("contact").order_by("pk"))
    contacts = list(Contact.objects.filter(owner=user).order_by("pk"))
    companies = list(Company.objects.filter(owner=user).order_by("pk"))
    tasks = list(Task.objects.filter(assignee=user, done=False).order_by("pk"))
    moved = {"deals": [d.pk for d in deals], "contacts": [c.pk for c in contacts],
             "companies": [c.pk for c in companies], "tasks": [t.pk for t in tasks]}
    if handover.dry_run:
        return moved

    team_id = successor.team_id
    now = timezone.now()
    for model, rows in ((Deal, deals), (Contact, contacts), (Company, companies)):
        model.objects.filter(pk__in=[row.pk for row in rows]).update(
            owner=successor, team_id=team_id, updated_at=now
        )
        handover.audit([(row, {"owner": [user.pk, successor.pk], "team": [row.team_id, team_id]})
                        for row in rows])
    Task.objects.filter(pk__in=moved["tasks"]).update(assignee=successor, updated_at=now)
    handover.audit([(task, {"assignee": [user.pk, successor.pk]}) for task in tasks])

    text = _handover_note_text(leaver=user, successor=successor)
    offboarding_id = handover.offboarding.pk if handover.offboarding else None
    for deal in deals:
        deal.owner, deal.team_id = successor, team_id
        timeline_add(
            kind="owner_changed", deal=deal, actor=handover.by,
            payload={"from": user.pk, "to": successor.pk, "to_name": str(successor),
                     "offboarding": offboarding_id},
        )
        note = Note.objects.create(deal=deal, author=handover.by, text=text)
        timeline_add(kind="note", deal=deal, actor=handover.by, source=note)
        events.deal_changed(deal_id=deal.pk)
        events.deal_access_changed(deal_id=deal.pk)  # the leaver's sales head may lose it
    for deal_id in {task.deal_id for task in tasks if task.deal_id} - set(moved["deals"]):
        events.deal_changed(deal_id=deal_id)  # the card's open tasks show the new assignee
    return moved
