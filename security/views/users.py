"""The admin's user pages: the list of accounts, offboarding (preview, confirm, report,
cancel) and reinstating a suspended account. Offboarding is the admin's; the list and
reinstating are also the security officer's. Anyone else gets 404 on the object routes and
403 on the list."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from security import accounts, offboarding
from security.audit import access_log
from security.forms import OffboardForm
from security.models import AccessRecord, User

USERS_PER_PAGE = 50


def _may_see_users(user) -> bool:
    return user.is_active and user.role in accounts.REINSTATING_ROLES


def _report_rows(report: dict, *, named: bool = False) -> list[dict]:
    """The report's kinds in the order the apps hand over, with their labels; `named`: each
    row's objects by name (`names`), and the page records that it showed those clients."""
    moved = report.get("moved", {})
    rows = [{"kind": kind, "label": label, **moved.get(kind, {"count": 0, "ids": []})}
            for kind, label in offboarding.kind_labels().items()]
    # A kind of an app since removed still shows, by its name.
    rows += [{"kind": kind, "label": kind, **value} for kind, value in moved.items()
             if kind not in offboarding.kind_labels()]
    if named:
        by_kind = offboarding.moved_named(moved)
        for row in rows:
            row["names"] = by_kind.get(row["kind"])
        access_log.read([n.instance for found in by_kind.values() for n in found
                         if n.instance is not None], action=AccessRecord.Action.LIST)
    return rows


@login_required
@require_GET
def user_list(request):
    if not _may_see_users(request.user):
        raise PermissionDenied
    page = Paginator(accounts.user_list(), USERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "security/user_list.html", {
        "page": page, "nav": "users",
        "can_offboard": offboarding.can_offboard(request.user),
    })


@login_required
def user_offboard(request, pk):
    if not offboarding.can_offboard(request.user):
        raise Http404("no such user")
    leaver = get_object_or_404(User, pk=pk)
    form = OffboardForm(request.POST or None, leaver=leaver)
    confirming = False
    if request.method == "POST" and form.is_valid():
        successor, at = form.cleaned_data["successor"], form.at_value()
        try:
            if "confirm" in request.POST:
                done = offboarding.offboard_user(leaver, successor, by=request.user, at=at)
                if done.status == done.Status.DONE:
                    messages.success(request, _("%(user)s has been offboarded.") % {
                        "user": leaver})
                else:
                    messages.success(request, _("The offboarding of %(user)s is scheduled.")
                                     % {"user": leaver})
                return redirect("offboarding_detail", pk=done.pk)
            offboarding.offboarding_check(leaver, successor, by=request.user, at=at)
            confirming = True
        except ValidationError as e:
            form.add_service_errors(e)
    successor = form.cleaned_data.get("successor") if confirming else None
    return render(request, "security/user_offboard.html", {
        "leaver": leaver, "form": form, "confirming": confirming, "nav": "users",
        "other_team": offboarding.successor_in_another_team(leaver, successor),
        "preview": _report_rows({"moved": offboarding.offboarding_preview(user=leaver)}),
        "scheduled": offboarding.scheduled_offboarding(user=leaver),
        "suspension": accounts.suspension_open(leaver),
    })


@login_required
@require_GET
def offboarding_detail(request, pk):
    done = offboarding.offboarding_get(by=request.user, pk=pk)
    report = dict(done.report)
    if done.status == done.Status.SCHEDULED:
        # What would move if it ran now (the report holds what was there when scheduled).
        report["moved"] = offboarding.offboarding_preview(user=done.user)
    return render(request, "security/offboarding_detail.html", {
        "offboarding": done, "rows": _report_rows(report, named=True), "nav": "users",
        "other_team": offboarding.successor_in_another_team(done.user, done.successor),
        "closed_by_it": offboarding.offboarded(done.user) == done,
        "can_reinstate": offboarding.can_offboard(request.user),
    })


@login_required
@require_POST
def offboarding_cancel(request, pk):
    done = offboarding.offboarding_get(by=request.user, pk=pk)
    try:
        offboarding.offboarding_cancel(done, by=request.user)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        messages.success(request, _("The offboarding of %(user)s is cancelled.") % {
            "user": done.user})
    return redirect("offboarding_detail", pk=done.pk)


@login_required
@require_POST
def user_reinstate(request, pk):
    if not _may_see_users(request.user):
        raise Http404("no such user")
    user = get_object_or_404(User, pk=pk)
    try:
        if offboarding.offboarded(user) is not None:
            if not offboarding.can_offboard(request.user):
                raise Http404("no such user")
            offboarding.offboarded_reinstate(user, by=request.user)
        else:
            accounts.user_reinstate(user, by=request.user)
    except ValidationError as e:
        messages.error(request, " ".join(e.messages))
    else:
        messages.success(request, _("%(user)s can log in again.") % {"user": user})
    return redirect("user_list")

