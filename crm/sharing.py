"""Explicit sharing of a deal with a colleague: for reading or for editing, for good or until
a moment in the future.

A share is django-guardian's direct foreign-key permission, `DealUserObjectPermission`: a
read share is one row granting `crm.view_deal`, an edit share a second row granting
`crm.change_deal`; both rows carry who granted the share, when, and when it expires. So
`ObjectPermissionChecker(user).has_perm("crm.view_deal", deal)` recognises a share, and the
visibility rule (`crm.selectors.deals_visible_to`) reads the same rows, expiry included: an
expired row grants nothing from the moment it expires, and `shares_delete_expired` (a
periodic job) only clears it away.

Who may share: the deal's owner, the head of its team and the admin. With whom: an active
manager or sales head other than themselves and the owner.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core import events
from crm import timeline
from crm.models import Deal, DealUserObjectPermission
from crm.selectors import live_deal_shares
from crm.services import timeline_add
from security import roles

READ, EDIT = "read", "edit"
ACCESS_LABELS = {READ: gettext_lazy("Read"), EDIT: gettext_lazy("Read and edit")}
_CODENAMES = {READ: ("view_deal",), EDIT: ("view_deal", "change_deal")}
SHAREABLE_ROLES = (roles.MANAGER, roles.SALES_HEAD)


@dataclass(frozen=True)
class DealShare:
    deal_id: int
    user: object
    access: str
    expires_at: datetime | None
    granted_by: object | None
    granted_at: datetime

    @property
    def access_label(self) -> str:
        return str(ACCESS_LABELS[self.access])


# --- Selectors -------------------------------------------------------------------------------


def deal_shares(*, deal: Deal) -> list[DealShare]:
    """The deal's live shares, one per colleague, by name."""
    # Most deals are shared with nobody: one look at the index answers every card of them,
    # where the query below (its joins planned for a deal without a row) took 2 ms.
    if not DealUserObjectPermission.objects.filter(content_object_id=deal.pk).exists():
        return []
    rows = (
        live_deal_shares(codename=None)
        .filter(content_object_id=deal.pk)
        .select_related("user", "granted_by", "permission")
        .order_by("user__first_name", "user__last_name", "user_id")
    )
    by_user: dict[int, list] = {}
    for row in rows:
        by_user.setdefault(row.user_id, []).append(row)
    shares = []
    for user_rows in by_user.values():
        codenames = {row.permission.codename for row in user_rows}
        if "view_deal" not in codenames:
            continue  # a stray change row without the view row grants nothing
        row = next(row for row in user_rows if row.permission.codename == "view_deal")
        shares.append(DealShare(
            deal_id=deal.pk, user=row.user,
            access=EDIT if "change_deal" in codenames else READ,
            expires_at=row.expires_at, granted_by=row.granted_by, granted_at=row.granted_at,
        ))
    return shares


def deal_share_get(*, deal: Deal, user_id) -> DealShare:
    for share in deal_shares(deal=deal):
        if share.user.pk == user_id:
            return share
    raise Http404("no such share")


def deal_can_share(*, user, deal: Deal) -> bool:
    """The owner, the head of the deal's team and the admin; a share is not passed on."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    role = user.role
    if role == roles.ADMIN:
        return True
    if role not in SHAREABLE_ROLES:
        return False
    if deal.owner_id == user.pk:
        return True
    return role == roles.SALES_HEAD and deal.team_id in user.headed_team_ids


def share_candidates(*, deal: Deal, by) -> QuerySet:
    """Colleagues `by` may share `deal` with: active managers and sales heads (one role per
    user: anyone also holding a wider role is left out), not `by`, not the owner."""
    others = [role for role in roles.ROLES if role not in SHAREABLE_ROLES]
    membership = get_user_model().groups.through.objects
    # Roles as subqueries, not joins: no DISTINCT over every user to sort (9 ms at 10,000).
    return (
        get_user_model().objects.filter(
            is_active=True, is_superuser=False,
            pk__in=membership.filter(group__name__in=SHAREABLE_ROLES).values("user_id"),
        )
        .exclude(pk__in=membership.filter(group__name__in=others).values("user_id"))
        .exclude(pk__in=[by.pk, deal.owner_id])
        .select_related("team")
        .order_by("first_name", "last_name", "pk")
    )


def share_candidates_search(candidates: QuerySet, q: str) -> QuerySet:
    q = q.strip()
    if not q:
        return candidates
    return candidates.filter(
        Q(first_name__icontains=q) | Q(last_name__icontains=q) | Q(username__icontains=q)
        | Q(team__name__icontains=q)
    )


# --- Services --------------------------------------------------------------------------------


def _check_share(*, deal: Deal, user, access: str, expires_at, by) -> None:
    errors: dict[str, str] = {}
    if access not in _CODENAMES:
        errors["access"] = _("Choose read or edit access.")
    if user.pk == by.pk:
        errors["user"] = _("You cannot share a deal with yourself.")
    elif user.pk == deal.owner_id:
        errors["user"] = _("The owner already has the deal.")
    elif not user.is_active or user.is_superuser or user.role not in SHAREABLE_ROLES:
        errors["user"] = _("Deals can only be shared with active managers and sales heads.")
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            errors["expires_at"] = _("Give the expiry with its time zone.")
        elif expires_at <= timezone.now():
            errors["expires_at"] = _("The expiry must be in the future.")
    if errors:
        raise ValidationError(errors)


def _notify_access_changed(*, deal_id: int, user_id: int) -> None:
    # The colleague's open sockets re-check the deal and leave its group if it is gone.
    events.deal_access_changed(deal_id=deal_id, user_id=user_id)


@transaction.atomic
def deal_share(*, deal: Deal, user, access: str, expires_at: datetime | None = None,
               by) -> DealShare:
    """Share `deal` with `user` (read or edit, until `expires_at` or for good); sharing again
    replaces the access and the expiry."""
    if not deal_can_share(user=by, deal=deal):
        raise PermissionDenied(_("Only the owner, their sales head or the admin share a deal."))
    _check_share(deal=deal, user=user, access=access, expires_at=expires_at, by=by)
    now = timezone.now()
    perms = {
        p.codename: p
        for p in Permission.objects.filter(
            content_type__app_label="crm", codename__in=_CODENAMES[EDIT]
        )
    }
    wanted = _CODENAMES[access]
    rows = DealUserObjectPermission.objects.filter(content_object=deal, user=user)
    rows.exclude(permission__codename__in=wanted).delete()
    for codename in wanted:
        DealUserObjectPermission.objects.update_or_create(
            content_object=deal, user=user, permission=perms[codename],
            defaults={"granted_by": by, "granted_at": now, "expires_at": expires_at},
        )
    timeline_add(
        kind="deal_shared", deal=deal, actor=by,
        payload={
            "user": user.pk, "user_name": str(user), "access": access,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    _notify_access_changed(deal_id=deal.pk, user_id=user.pk)
    return DealShare(deal_id=deal.pk, user=user, access=access, expires_at=expires_at,
                     granted_by=by, granted_at=now)


@transaction.atomic
def deal_unshare(*, deal: Deal, user, by) -> bool:
    """Revoke `user`'s share of `deal`; False when there was none."""
    if not deal_can_share(user=by, deal=deal):
        raise PermissionDenied(_("Only the owner, their sales head or the admin revoke a share."))
    deleted, _rows = DealUserObjectPermission.objects.filter(
        content_object=deal, user=user
    ).delete()
    if not deleted:
        return False
    _notify_access_changed(deal_id=deal.pk, user_id=user.pk)
    timeline_add(
        kind="deal_unshared", deal=deal, actor=by,
        payload={"user": user.pk, "user_name": str(user)},
    )
    return True


@transaction.atomic
def shares_delete_expired(*, now: datetime | None = None) -> int:
    """Delete the shares that have expired (they already grant nothing); returns how many
    colleagues lost a share."""
    expired = DealUserObjectPermission.objects.filter(expires_at__lte=now or timezone.now())
    pairs = set(expired.values_list("content_object_id", "user_id"))
    expired.delete()
    for deal_id, user_id in pairs:
        _notify_access_changed(deal_id=deal_id, user_id=user_id)
    return len(pairs)


# --- Timeline --------------------------------------------------------------------------------


def register_timeline_kinds() -> None:
    timeline.register_kind("deal_shared", label=gettext_lazy("Deal shared"),
                           template="crm/timeline/deal_shared.html",
                           serialize=timeline.payload_data)
    timeline.register_kind("deal_unshared", label=gettext_lazy("Share revoked"),
                           template="crm/timeline/deal_unshared.html",
                           serialize=timeline.payload_data)


# --- Offboarding -----------------------------------------------------------------------------


@transaction.atomic
def shares_hand_over(handover) -> dict[str, list[int]]:
    """Offboarding (security.offboarding, after crm moved the deals): every share the leaver
    holds is revoked (nothing passes to the successor: a share was given to a person). Each
    deal's timeline says so; django-auditlog records each deleted row."""
    user = handover.user
    deal_ids = sorted(set(
        DealUserObjectPermission.objects.filter(user=user).values_list("content_object_id",
                                                                       flat=True)
    ))
    if handover.dry_run:
        return {"shares": deal_ids}
    # A queryset delete sends each row's post_delete: django-auditlog records every one.
    DealUserObjectPermission.objects.filter(user=user).delete()
    for deal in Deal.objects.filter(pk__in=deal_ids).select_related("contact"):
        timeline_add(kind="deal_unshared", deal=deal, actor=handover.by,
                     payload={"user": user.pk, "user_name": str(user)})
        _notify_access_changed(deal_id=deal.pk, user_id=user.pk)
    return {"shares": deal_ids}
