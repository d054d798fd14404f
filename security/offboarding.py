"""Offboarding: on an employee's last day, everything they own goes to a successor and their
access ends, in one transaction, now or at a time set in advance.

Each app hands over its own records through the registry of what apps hold
(core.holdings), so security/ never imports inbox/ or telephony/: an app declares
`Holdings(handover=fn, handover_kinds={"deals": _("Deals"), ...})`, and `fn(handover)` moves
what the leaver owns of those kinds to `handover.successor` (or, with `handover.dry_run`,
only lists it) and returns `{kind: [ids]}`. Apps run in the order of INSTALLED_APPS (crm
first: the deals move before security/ revokes the leaver's shares).

The handed-over records keep all their history (timeline, messages, calls: nothing is copied
or deleted). A moved deal, contact or company takes the successor's team, as a reassignment
does (crm.services.deal_reassign): visibility follows owner and team, so the successor and
their sales head see it at once, and the leaver's former head stops seeing it when the
successor is in another team.

Moves are bulk updates, which django-auditlog does not see: `Handover.audit` writes one
change-log entry per moved object, with the offboarding's id.

Who: admins only (`by`), or the operator at the command line (`by=None`). The successor must
be an active manager, sales head or admin, not the leaver, and not leaving themselves.
"""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.holdings import declared
from security import accounts, roles
from security.models import Offboarding, User

SUCCESSOR_ROLES = (roles.MANAGER, roles.SALES_HEAD, roles.ADMIN)


# --- The registry ----------------------------------------------------------------------------


@dataclass
class Handover:
    user: User
    successor: User | None
    by: User | None
    dry_run: bool
    offboarding: Offboarding | None = None

    def audit(self, changes: list[tuple[object, dict[str, list]]]) -> None:
        """One change-log entry per moved object (security.audit.change_log.record, sealed like
        every entry): `changes` is [(obj, {"field": [old, new]})]."""
        if self.dry_run or not changes:
            return
        from security.audit import change_log

        change_log.record(changes, actor=self.by, additional_data=(
            {"offboarding": self.offboarding.pk} if self.offboarding else None))


def _handovers():
    return [h for h in declared() if h.handover]


def kind_labels() -> dict[str, str]:
    """Every kind any app hands over, in the order they run, with its label."""
    labels: dict[str, str] = {}
    for holdings in _handovers():
        labels.update({kind: str(label) for kind, label in holdings.handover_kinds.items()})
    return labels


def _run_handovers(handover: Handover) -> dict[str, dict]:
    moved: dict[str, dict] = {}
    for holdings in _handovers():
        result = holdings.handover(handover)
        for kind in holdings.handover_kinds:
            ids = sorted(result.get(kind, []))
            moved[kind] = {"count": len(ids), "ids": ids}
    return moved


# --- Checks ----------------------------------------------------------------------------------


def can_offboard(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active
                and user.role == roles.ADMIN)


def _check_by(by) -> None:
    if by is not None and not can_offboard(by):
        raise PermissionDenied(_("Only the administrator offboards employees."))


def successor_candidates(*, user) -> QuerySet[User]:
    """Who may take over `user`'s records: active managers, sales heads and admins (by
    group, or superusers), not `user`, not anyone with an offboarding scheduled."""
    return (
        User.objects.filter(is_active=True)
        .filter(Q(groups__name__in=SUCCESSOR_ROLES) | Q(is_superuser=True))
        .exclude(pk=user.pk)
        .exclude(offboardings__status=Offboarding.Status.SCHEDULED)
        .distinct()
        .select_related("team")
        .order_by("first_name", "last_name", "username")
    )


def _check(*, user, successor, at: datetime | None, now: datetime, by,
           scheduling: bool) -> None:
    errors: dict[str, str] = {}
    if by is not None and by.pk == user.pk:
        errors["user"] = _("You cannot offboard yourself.")
    elif offboarded(user) is not None:  # one reinstated since may leave again
        errors["user"] = _("This employee has already been offboarded.")
    elif scheduling and user.offboardings.filter(status=Offboarding.Status.SCHEDULED).exists():
        errors["user"] = _("An offboarding of this employee is already scheduled; cancel it "
                           "first.")
    if successor is None:
        errors["successor"] = _("Choose who takes over.")
    elif successor.pk == user.pk:
        errors["successor"] = _("The successor cannot be the employee who leaves.")
    elif not successor.is_active:
        errors["successor"] = _("The successor's account is not active.")
    elif successor.role not in SUCCESSOR_ROLES:
        errors["successor"] = _("The successor must be a manager, a sales head or an "
                                "administrator: other roles cannot own deals.")
    elif successor.offboardings.filter(status=Offboarding.Status.SCHEDULED).exists():
        errors["successor"] = _("The successor is leaving too (their offboarding is "
                                "scheduled).")
    if at is not None:
        if timezone.is_naive(at):
            errors["at"] = _("Give the time with its time zone.")
        elif at <= now:
            errors["at"] = _("The time must be in the future; leave it empty to offboard now.")
    if errors:
        raise ValidationError(errors)


def offboarding_check(user, successor, *, by, at: datetime | None = None) -> None:
    """The checks `offboard_user` makes, without changing anything (a form's confirm step)."""
    _check_by(by)
    _check(user=user, successor=successor, at=at, now=timezone.now(), by=by,
           scheduling=at is not None)


# --- Selectors -------------------------------------------------------------------------------


def offboarding_preview(*, user) -> dict[str, dict]:
    """What would move now: {kind: {"count", "ids"}} (nothing is changed)."""
    return _run_handovers(Handover(user=user, successor=None, by=None, dry_run=True))


def offboarding_get(*, by, pk) -> Offboarding:
    """An offboarding, for an admin; 404 for anyone else."""
    from django.http import Http404

    if not can_offboard(by):
        raise Http404("no such offboarding")
    try:
        return Offboarding.objects.select_related("user", "successor", "by").get(pk=pk)
    except Offboarding.DoesNotExist:
        raise Http404("no such offboarding") from None


def scheduled_offboarding(*, user) -> Offboarding | None:
    return user.offboardings.filter(status=Offboarding.Status.SCHEDULED).first()


def moved_named(moved: dict[str, dict]) -> dict[str, list]:
    """A report's ids by name: {kind: [security.names.Named]}, in the report's order; the
    kinds whose app declares no model (`handover_models`) stay ids."""
    from security import names

    models = {kind: label for holdings in _handovers()
              for kind, label in holdings.handover_models.items()}
    refs = [(models[kind], pk) for kind, value in moved.items() if kind in models
            for pk in value.get("ids", [])]
    named = names.objects_named(refs)
    return {kind: [named[(models[kind], pk)] for pk in value.get("ids", [])]
            for kind, value in moved.items() if kind in models}


def successor_in_another_team(leaver, successor) -> bool:
    """The moved deals, contacts and companies take the successor's team: the leaver's head
    stops seeing them. The admin is told before confirming."""
    return successor is not None and successor.team_id != leaver.team_id


def offboarded(user) -> Offboarding | None:
    """The offboarding that closed `user`'s account, while it is closed."""
    if user.is_active:
        return None
    return user.offboardings.filter(status=Offboarding.Status.DONE).order_by("-done_at").first()


# --- Services --------------------------------------------------------------------------------


def offboard_user(user, successor, *, by, at: datetime | None = None) -> Offboarding:
    """Offboard `user` to `successor` now, or schedule it for `at` (their last day).

    Now: hand over everything, cut the user off and store the report, all in one
    transaction (a failure changes nothing). Scheduled: checked now and again when it runs
    (`offboardings_run_due`), cancellable until then (`offboarding_cancel`)."""
    _check_by(by)
    if at is not None:
        return _schedule(user, successor, by=by, at=at)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        _check(user=user, successor=successor, at=None, now=timezone.now(), by=by,
               scheduling=False)
        # Someone already scheduled to leave, offboarded now: that offboarding runs now, with
        # the successor and the admin given now.
        offboarding = (user.offboardings.select_for_update()
                       .filter(status=Offboarding.Status.SCHEDULED).first()
                       or Offboarding(user=user, status=Offboarding.Status.SCHEDULED))
        offboarding.successor, offboarding.by = successor, by
        offboarding.save()
        return _execute(offboarding)


@transaction.atomic
def _schedule(user, successor, *, by, at: datetime) -> Offboarding:
    user = User.objects.select_for_update().get(pk=user.pk)
    _check(user=user, successor=successor, at=at, now=timezone.now(), by=by, scheduling=True)
    return Offboarding.objects.create(
        user=user, successor=successor, by=by, scheduled_for=at,
        status=Offboarding.Status.SCHEDULED,
        report={"moved": offboarding_preview(user=user)},
    )


def _execute(offboarding: Offboarding) -> Offboarding:
    """Within the caller's transaction: hand over, cut off, store the report."""
    user, successor = offboarding.user, offboarding.successor
    handover = Handover(user=user, successor=successor, by=offboarding.by, dry_run=False,
                        offboarding=offboarding)
    # Cut off first: the leaver's sockets get `session.ended` before the handover's deal
    # events (all leave together after commit), so their open page fetches nothing more.
    ended = accounts.user_cut_off(user, reason="offboarded")
    moved = _run_handovers(handover)
    offboarding.status = Offboarding.Status.DONE
    offboarding.done_at = timezone.now()
    offboarding.error = ""
    offboarding.report = {"moved": moved, **ended}
    offboarding.save()
    return offboarding


@transaction.atomic
def offboarded_reinstate(user, *, by) -> Offboarding:
    """The admin opens an offboarded employee's account again (they came back, or it was the
    wrong person). What was handed over stays with the successor; they log in anew, with no
    deals until some are given. The change log records who did it (the user's is_active), and
    the offboarding's report says when and by whom."""
    from auditlog.context import set_actor

    _check_by(by)
    if by is None:
        raise PermissionDenied(_("Only the administrator offboards employees."))
    user = User.objects.select_for_update().get(pk=user.pk)
    done = offboarded(user)
    if done is None:
        raise ValidationError(_("This account is not closed by an offboarding."))
    suspension = accounts.suspension_open(user)
    if suspension is not None:
        suspension.lifted_at, suspension.lifted_by = timezone.now(), by
        suspension.save(update_fields=["lifted_at", "lifted_by"])
    with set_actor(by):
        user.is_active = True
        user.save(update_fields=["is_active"])
    done.report = {**done.report, "reinstated_at": timezone.now().isoformat(),
                   "reinstated_by": by.pk, "reinstated_by_name": str(by)}
    done.save(update_fields=["report"])
    return done


@transaction.atomic
def offboarding_cancel(offboarding: Offboarding, *, by) -> Offboarding:
    _check_by(by)
    offboarding = Offboarding.objects.select_for_update().get(pk=offboarding.pk)
    if offboarding.status != Offboarding.Status.SCHEDULED:
        raise ValidationError(_("Only a scheduled offboarding can be cancelled."))
    offboarding.status = Offboarding.Status.CANCELLED
    offboarding.cancelled_at = timezone.now()
    offboarding.cancelled_by = by
    offboarding.save(update_fields=["status", "cancelled_at", "cancelled_by"])
    return offboarding


def offboardings_run_due(*, now: datetime | None = None) -> list[Offboarding]:
    """Run every scheduled offboarding whose time has come (the periodic job). Each runs in
    its own transaction; one that can no longer be done (the successor left meanwhile) is
    marked failed with the reason and changes nothing."""
    import logging

    now = now or timezone.now()
    done = []
    due = list(Offboarding.objects.filter(
        status=Offboarding.Status.SCHEDULED, scheduled_for__lte=now
    ).order_by("scheduled_for", "pk").values_list("pk", flat=True))
    for pk in due:
        try:
            with transaction.atomic():
                # skip_locked: a second scheduler (or an admin's "now") is already on it.
                offboarding = (Offboarding.objects
                               .select_for_update(skip_locked=True, of=("self",))
                               .select_related("user", "successor", "by")
                               .filter(pk=pk, status=Offboarding.Status.SCHEDULED).first())
                if offboarding is None:
                    continue
                _check(user=offboarding.user, successor=offboarding.successor, at=None,
                       now=now, by=None, scheduling=False)
                done.append(_execute(offboarding))
        except ValidationError as e:
            Offboarding.objects.filter(pk=pk, status=Offboarding.Status.SCHEDULED).update(
                status=Offboarding.Status.FAILED, error=" ".join(e.messages)[:500]
            )
            logging.getLogger("security").warning("scheduled offboarding %s failed: %s", pk,
                                                  " ".join(e.messages))
    return done
