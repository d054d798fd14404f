"""The staff pages of data subjects' requests: the list by due date with the extend and
answer forms (`/consents/requests/`), and registering one from the contact card. Who may do
what is consents.selectors' rule, as in the API (consents/api/requests.py)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from consents import selectors, services
from consents.models import SubjectRequest
from crm.selectors import contacts_visible_to
from security.audit import access_log
from security.models import AccessRecord


class RegisterForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Request"), choices=SubjectRequest.Kind.choices)
    details = forms.CharField(label=gettext_lazy("What was asked"), required=False,
                              max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


class ExtendForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason the client is told"), max_length=2000)


class CloseForm(forms.Form):
    response = forms.CharField(label=gettext_lazy("Answer to the client"), max_length=10_000,
                               widget=forms.Textarea(attrs={"rows": 2}))
    refused = forms.BooleanField(label=gettext_lazy("Refused"), required=False)
    confirm_erasure = forms.BooleanField(
        label=gettext_lazy("Erase the client now: this cannot be undone"), required=False)


def _errors(request, error) -> None:
    for text in getattr(error, "messages", [str(error)]):
        messages.error(request, text)


def _back() -> str:
    return reverse("subject_request_list")


@login_required
@require_GET
def subject_request_list(request):
    if not selectors.can_use_subject_requests(request.user):
        raise PermissionDenied
    status = request.GET.get("status", "")
    if status not in SubjectRequest.Status.values:
        status = ""
    overdue = True if request.GET.get("overdue") == "1" else None
    found = list(selectors.subject_request_list(user=request.user, status=status,
                                                overdue=overdue)[:200])
    access_log.read(found, action=AccessRecord.Action.LIST)
    # The client's name only to whoever sees the contact (the security officer handles
    # requests by contact id: the console shows no client content).
    named = set(contacts_visible_to(request.user).filter(
        pk__in={r.contact_id for r in found}).values_list("pk", flat=True))
    rows = [{"request": r, "overdue": selectors.is_overdue(r), "named": r.contact_id in named,
             "open": r.status in services.OPEN_STATUSES,
             "may_answer": selectors.may_answer(user=request.user, request=r)} for r in found]
    return render(request, "consents/request_list.html", {
        "nav": "subject_requests", "rows": rows, "status": status, "overdue": overdue,
        "statuses": SubjectRequest.Status.choices, "extend_form": ExtendForm(),
        "close_form": CloseForm(),
    })


@login_required
@require_POST
def subject_request_extend(request, pk):
    found = selectors.subject_request_get(user=request.user, pk=pk)
    form = ExtendForm(request.POST)
    if not form.is_valid():
        _errors(request, ValidationError(form.errors["reason"]))
        return redirect(_back())
    try:
        services.subject_request_extend(request=found, by=request.user,
                                        reason=form.cleaned_data["reason"])
    except ValidationError as e:
        _errors(request, e)
    else:
        messages.success(request, _("Request #%(id)s extended to %(date)s.") % {
            "id": found.pk, "date": found.due_date.isoformat()})
    return redirect(_back())


@login_required
@require_POST
def subject_request_close(request, pk):
    found = selectors.subject_request_get(user=request.user, pk=pk)
    if not selectors.may_answer(user=request.user, request=found):
        raise PermissionDenied
    form = CloseForm(request.POST)
    if not form.is_valid():
        _errors(request, ValidationError(form.errors.get("response", [])))
        return redirect(_back())
    data = form.cleaned_data
    if (found.kind == SubjectRequest.Kind.ERASURE and not data["refused"]
            and not data["confirm_erasure"]):
        messages.error(request, _("Answering an erasure request erases the client at once: "
                                  "tick the confirmation."))
        return redirect(_back())
    try:
        services.subject_request_close(request=found, by=request.user,
                                       response=data["response"], refused=data["refused"])
    except ValidationError as e:
        _errors(request, e)
    else:
        messages.success(request, _("Request #%(id)s answered.") % {"id": found.pk})
    return redirect(_back())


@login_required
@require_POST
def contact_subject_request_add(request, pk):
    contact = selectors.subject_request_contact(user=request.user, pk=pk)
    form = RegisterForm(request.POST)
    if form.is_valid():
        created = services.subject_request_register(
            contact=contact, kind=form.cleaned_data["kind"],
            source=SubjectRequest.Source.STAFF, details=form.cleaned_data["details"],
            by=request.user)
        messages.success(request, _("Request #%(id)s registered, due %(date)s.") % {
            "id": created.pk, "date": created.due_date.isoformat()})
    else:
        messages.error(request, _("Choose the kind of request."))
    return redirect(contact.get_absolute_url())
