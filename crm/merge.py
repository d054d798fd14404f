"""Two cards of one client made one: what the duplicate card holds moves to the kept one.

A client who called, then wrote in WhatsApp from another number, then in Telegram, may have
several cards; a manager who can edit both merges them. Everything moves, app by app, as
each declares in core.holdings (`merge_models`, `merge`): deals, tasks, notes and the
timeline, phones and e-mails the kept card does not have, tags, messenger identities and
conversations, calls, consents (copied into the kept card's ledger: the ledger is never
rewritten), privacy requests. The duplicate leaves every list (`Contact.merged_into`); the
merge is in both cards' change history; for 30 days it can be undone, which moves back what
is still where the merge put it.
"""

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import events as crm_events
from core import holdings
from crm import selectors
from crm.models import Contact, ContactMerge, ContactPoint
from security.audit import change_log

UNDO_WITHIN = timedelta(days=30)
# The kept card's own moves (crm's part of the registry's).
_CRM_MODELS = ("crm.deal", "crm.task", "crm.note", "crm.timelineentry")


def _check(by, kept: Contact, duplicate: Contact) -> None:
    if kept.pk == duplicate.pk:
        raise ValidationError(_("A card cannot be merged with itself."))
    if kept.merged_into_id or duplicate.merged_into_id:
        raise ValidationError(_("One of these cards was merged into another already."))
    for contact in (kept, duplicate):
        if not selectors.contact_can_edit(user=by, contact=contact):
            raise PermissionDenied(_("You may merge only cards you can change."))


def preview(*, kept: Contact, duplicate: Contact) -> dict[str, int]:
    """What a merge would move, by model ("crm.deal": 2), for the confirmation page."""
    from django.apps import apps

    counts = {}
    for label in (*_CRM_MODELS, *(m for h in holdings.declared() for m in h.merge_models)):
        count = apps.get_model(label).objects.filter(contact=duplicate).count()
        if count:
            counts[label] = count
    points = _points_to_move(kept, duplicate).count()
    if points:
        counts["crm.contactpoint"] = points
    return counts


def _points_to_move(kept: Contact, duplicate: Contact):
    """The duplicate's phones and e-mails the kept card does not have."""
    have = set(kept.points.values_list("kind", "value_index"))
    return duplicate.points.exclude(pk__in=[
        p.pk for p in duplicate.points.all() if (p.kind, p.value_index) in have])


def _crm_merge(merge: holdings.Merge) -> dict[str, list]:
    kept, duplicate = merge.kept, merge.duplicate
    moved = {label: holdings.move_contact_rows(label, merge) for label in _CRM_MODELS}
    points = list(_points_to_move(kept, duplicate))
    primary_kinds = set(kept.points.filter(is_primary=True).values_list("kind", flat=True))
    demoted = [p.pk for p in points if p.is_primary and p.kind in primary_kinds]
    ContactPoint.objects.filter(pk__in=[p.pk for p in points]).update(contact=kept)
    ContactPoint.objects.filter(pk__in=demoted).update(is_primary=False)
    moved["crm.contactpoint"] = [p.pk for p in points]
    moved["crm.contactpoint:demoted"] = demoted
    new_tags = list(duplicate.tags.exclude(pk__in=kept.tags.all()).values_list("pk", flat=True))
    kept.tags.add(*new_tags)
    moved["crm.tag:added"] = new_tags
    if kept.company_id is None and duplicate.company_id is not None:
        Contact.objects.filter(pk=kept.pk).update(company=duplicate.company_id)
        moved["crm.contact:company"] = [duplicate.company_id]
    return moved


def _crm_unmerge(merge: holdings.Merge, moved: dict) -> None:
    kept, duplicate = merge.kept, merge.duplicate
    for label in _CRM_MODELS:
        holdings.move_contact_rows_back(label, moved.get(label, []), merge)
    ContactPoint.objects.filter(pk__in=moved.get("crm.contactpoint", []), contact=kept) \
        .update(contact=duplicate)
    ContactPoint.objects.filter(pk__in=moved.get("crm.contactpoint:demoted", [])) \
        .update(is_primary=True)
    kept.tags.remove(*moved.get("crm.tag:added", []))
    if moved.get("crm.contact:company"):
        Contact.objects.filter(pk=kept.pk, company=moved["crm.contact:company"][0]) \
            .update(company=None)


def _locked(*contacts: Contact) -> list[Contact]:
    """The cards fetched again and locked, in id order (two merges never deadlock)."""
    rows = {c.pk: c for c in Contact.objects.select_for_update().filter(
        pk__in=[c.pk for c in contacts]).order_by("pk")}
    return [rows[c.pk] for c in contacts]


def _deals_changed(deal_ids) -> None:
    for deal_id in deal_ids:
        crm_events.deal_changed(deal_id=deal_id)


@transaction.atomic
def contacts_merge(*, by, kept: Contact, duplicate: Contact) -> ContactMerge:
    """Move everything of `duplicate` to `kept` (both cards `by` can change)."""
    kept, duplicate = _locked(kept, duplicate)
    _check(by, kept, duplicate)
    merge = holdings.Merge(kept=kept, duplicate=duplicate, by=by)
    moved = _crm_merge(merge)
    for declared in holdings.declared():
        for label in declared.merge_models:
            moved[label] = holdings.move_contact_rows(label, merge)
        if declared.merge is not None:
            moved.update(declared.merge(merge))
    moved = {label: ids for label, ids in moved.items() if ids}
    Contact.objects.filter(pk=duplicate.pk).update(merged_into=kept)
    record = ContactMerge.objects.create(kept=kept, duplicate=duplicate, by=by, moved=moved)
    change_log.record([
        (kept, {"merged_from": [None, f"{duplicate.name} (#{duplicate.pk})"]}),
        (duplicate, {"merged_into": [None, f"{kept.name} (#{kept.pk})"]}),
    ], actor=by, additional_data={"contact_merge": record.pk})
    _deals_changed(moved.get("crm.deal", []))
    return record


def merge_can_undo(*, merge: ContactMerge, now=None) -> bool:
    return merge.undone_at is None and (now or timezone.now()) - merge.at < UNDO_WITHIN


@transaction.atomic
def contacts_merge_undo(*, by, merge: ContactMerge) -> ContactMerge:
    """Within 30 days: what the merge moved and is still on the kept card goes back, and the
    duplicate card is back in the lists."""
    merge = ContactMerge.objects.select_for_update().get(pk=merge.pk)
    kept, duplicate = _locked(merge.kept, merge.duplicate)
    if not merge_can_undo(merge=merge):
        raise ValidationError(_("This merge can no longer be undone (30 days have passed, or "
                                "it was undone already)."))
    if not selectors.contact_can_edit(user=by, contact=kept):
        raise PermissionDenied(_("You may merge only cards you can change."))
    state = holdings.Merge(kept=kept, duplicate=duplicate, by=by)
    _crm_unmerge(state, merge.moved)
    for declared in holdings.declared():
        for label in declared.merge_models:
            holdings.move_contact_rows_back(label, merge.moved.get(label, []), state)
        if declared.unmerge is not None:
            declared.unmerge(state, merge.moved)
    Contact.objects.filter(pk=duplicate.pk).update(merged_into=None)
    merge.undone_at, merge.undone_by = timezone.now(), by
    merge.save(update_fields=["undone_at", "undone_by"])
    change_log.record([
        (kept, {"merged_from": [f"{duplicate.name} (#{duplicate.pk})", None]}),
        (duplicate, {"merged_into": [f"{kept.name} (#{kept.pk})", None]}),
    ], actor=by, additional_data={"contact_merge": merge.pk, "undone": True})
    _deals_changed(merge.moved.get("crm.deal", []))
    return merge


def duplicates_of(*, user, contact: Contact, limit: int = 10):
    """Cards `user` can change that look like the same client: a phone or an e-mail in
    common, or the same name."""
    indexes = list(contact.points.values_list("value_index", flat=True))
    same_point = ContactPoint.objects.filter(value_index__in=indexes).values("contact_id")
    candidates = (selectors.contacts_editable_by(user)
                  .filter(merged_into__isnull=True).exclude(pk=contact.pk))
    return list((candidates.filter(pk__in=same_point)
                 | candidates.filter(name__iexact=contact.name)).distinct()
                .order_by("-created_at")[:limit])


def merges_into(*, contact: Contact):
    """The merges that made this card, newest first (the card offers their undo)."""
    return ContactMerge.objects.filter(kept=contact).select_related("duplicate", "by")
