"""The deals' pages: the list, the board, the deal card and its forms and actions."""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.forms import apply_service_errors
from crm import selectors, services, timeline
from crm.forms import (
    DealFilterForm,
    DealForm,
    DealMoveForm,
    DealStatusForm,
    NoteForm,
    TaskForm,
)
from crm.models import Deal
from crm.views.common import (
    TIMELINE_PAGE,
    currency_totals,
    deal_list_heading,
    entry_json,
    form_errors_json,
    form_page,
    int_or_none,
    listed,
    next_url,
    with_kinds,
)
from security import masking, roles
from security.audit import access_log
from security.audit.access_log import Action
from security.ratelimit import list_rate_limited
from security.requests import wants_json as _wants_json

# --- Start -----------------------------------------------------------------------------------


# Where each role's work is; after login (LOGIN_REDIRECT_URL) and on `/`. Managers, heads and
# the admin work with deals; the marketer and support see clients, not deals; the security
# officer sees no client data at all: their start is the console.
ROLE_START = {
    roles.SECURITY_OFFICER: "security_home",
    roles.MARKETER: "contact_list",
    roles.SUPPORT: "contact_list",
}


def start_url(user) -> str:
    return reverse(ROLE_START.get(user.role, "deal_list"))


@login_required
def home(request):
    return redirect(start_url(request.user))


class LoginView(auth_views.LoginView):
    """Django's, sending each role straight to its start when the login names no `next`."""

    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return start_url(self.request.user)


# --- Deals -----------------------------------------------------------------------------------


@login_required
@require_GET
@list_rate_limited
def deal_list(request):
    user = request.user
    form = DealFilterForm(request.GET, user=user, pipeline=selectors.pipeline_for(user=user))
    filters = form.filters()
    page = listed(selectors.deal_page(user=user, filters=filters, page=request.GET.get("page")),
                   filters.q)
    return render(request, "crm/deal_list.html", {
        "nav": "deals",
        "heading": deal_list_heading(user),
        "form": form,
        "page": page,
        "not_worked": selectors.deals_not_worked_in_crm(page.object_list),
        "show_owner": selectors.user_can_see_owner_filter(user),
        "my_tasks": selectors.my_open_tasks(user=user)[:5],
    })


@login_required
@require_GET
@list_rate_limited
def deal_board(request):
    user = request.user
    pipeline = selectors.pipeline_for(user=user)
    form = DealFilterForm(request.GET, user=user, pipeline=pipeline)
    filters = form.filters()
    columns = []
    for column in selectors.kanban_columns(user=user, pipeline=pipeline, filters=filters):
        access_log.read(column.deals, action=Action.SEARCH if filters.q else Action.LIST)
        shown = dict(currency_totals(column.deals))
        columns.append({
            "stage": column.stage,
            "deals": column.deals,
            "count": column.count,
            "totals": list(column.totals.items()),
            # Deals without a card, so the board's JS keeps counts and sums right on a move.
            "hidden_count": column.count - len(column.deals),
            "hidden_totals": json.dumps({
                currency: str(total - shown.get(currency, 0))
                for currency, total in column.totals.items()
                if total != shown.get(currency, 0)
            }),
        })
    return render(request, "crm/deal_board.html", {
        "nav": "board",
        "pipeline": pipeline,
        "form": form,
        "columns": columns,
        "stages": [column["stage"] for column in columns],
        "show_owner": selectors.user_can_see_owner_filter(user),
        "can_move": user.has_perm("crm.change_deal"),
    })


def _timeline_slice(deal, before: int | None):
    """A page of the card's feed: every kind but those with a panel of their own."""
    entries = selectors.deal_timeline(deal=deal, before=before, limit=TIMELINE_PAGE + 1,
                                      exclude_kinds=timeline.kinds_with_own_panel())
    older = len(entries) > TIMELINE_PAGE
    return with_kinds(entries[:TIMELINE_PAGE]), older


def _deal_card(request, deal: Deal, *, note_form=None, task_form=None, status_form=None):
    user = request.user
    access_log.read(deal, action=Action.VIEW)
    before = int_or_none(request.GET.get("before"))
    entries, older = _timeline_slice(deal, before)
    # A deal shared for reading shows no forms: everything on it is an edit.
    can_edit = selectors.deal_can_edit(user=user, deal=deal)
    return render(request, "crm/deal_detail.html", {
        "nav": "deals",
        "deal": deal,
        "can_edit": can_edit,
        "can_add_note": can_edit and user.has_perm("crm.add_note"),
        "can_add_task": can_edit and user.has_perm("crm.add_task"),
        "can_complete_task": can_edit and user.has_perm("crm.change_task"),
        "points": masking.present_points(user=user, contact=deal.contact)
        if deal.contact else [],
        "entries": entries,
        "older": older,
        "before": before,
        "feed_excludes": " ".join(timeline.kinds_with_own_panel()),
        "tasks": selectors.deal_open_tasks(deal=deal),
        "stages": selectors.pipeline_stages(pipeline=deal.pipeline),
        "note_form": note_form or NoteForm(),
        # The task form is folded (fetched from deal_task_add when unfolded): rendered here
        # only with its errors, or when asked for by a browser without scripts.
        "task_form": task_form or (TaskForm(user=user, deal=deal)
                                   if request.GET.get("unfold") == "task" else None),
        "status_form": status_form or DealStatusForm(initial={"status": deal.status}),
        "not_worked": deal.pk in selectors.deals_not_worked_in_crm([deal]),
    })


@login_required
@require_GET
def deal_detail(request, pk):
    return _deal_card(request, selectors.deal_get(user=request.user, pk=pk))


@login_required
@require_http_methods(["GET", "POST"])
def deal_create(request):
    user = request.user
    if not user.has_perm("crm.add_deal"):
        raise PermissionDenied(_("Your role does not allow this action."))
    pipeline = selectors.pipeline_for(user=user)
    initial = {"currency": settings.DEFAULT_CURRENCY}
    contact_id = int_or_none(request.GET.get("contact"))
    if contact_id:
        contact = selectors.contact_get(user=user, pk=contact_id)
        initial.update(contact=contact.pk, company=contact.company_id)
    company_id = int_or_none(request.GET.get("company"))
    if company_id:
        initial["company"] = selectors.company_get(user=user, pk=company_id).pk
    form = DealForm(request.POST or None, user=user, pipeline=pipeline, initial=initial)
    return form_page(request, form, save=lambda data: services.deal_create(by=user, **data),
                     done=_("Deal created."), template="crm/deal_form.html",
                     context={"nav": "deals", "deal": None})


@login_required
@require_http_methods(["GET", "POST"])
def deal_edit(request, pk):
    user = request.user
    deal = selectors.deal_get_to_change(user=user, pk=pk)
    form = DealForm(request.POST or None, user=user, pipeline=deal.pipeline, deal=deal)

    def save(data):
        services.deal_update(deal=deal, by=user, **data)
        return deal

    return form_page(request, form, save=save, done=_("Deal saved."),
                     template="crm/deal_form.html", context={"nav": "deals", "deal": deal},
                     shown=deal)


@login_required
@require_POST
def deal_move(request, pk):
    deal = selectors.deal_get_to_change(user=request.user, pk=pk)
    form = DealMoveForm(request.POST, deal=deal)
    if not form.is_valid():
        if _wants_json(request):
            return form_errors_json(form)
        return HttpResponseBadRequest(_("Unknown stage."))
    services.deal_move(deal=deal, stage=form.cleaned_data["stage"], by=request.user)
    if _wants_json(request):
        return JsonResponse({"deal": deal.pk, "stage": deal.stage_id})
    messages.success(
        request, _("“%(deal)s” moved to “%(stage)s”.") % {"deal": deal, "stage": deal.stage}
    )
    return redirect(next_url(request, reverse("deal_board")))


@login_required
@require_POST
def deal_status(request, pk):
    deal = selectors.deal_get_to_change(user=request.user, pk=pk)
    form = DealStatusForm(request.POST)
    if form.is_valid():
        try:
            services.deal_close(deal=deal, by=request.user, **form.cleaned_data)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            messages.success(request, _("Status saved."))
            return redirect(deal)
    return _deal_card(request, deal, status_form=form)


@login_required
@require_POST
def deal_note_add(request, pk):
    deal = selectors.deal_get_to_change(user=request.user, pk=pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            note = services.note_add(by=request.user, text=form.cleaned_data["text"], deal=deal)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            if _wants_json(request):
                entry = selectors.timeline_entry_for(kind="note", source=note)
                return entry_json(request, entry)
            messages.success(request, _("Note added."))
            return redirect(f"{deal.get_absolute_url()}#timeline")
    if _wants_json(request):
        return form_errors_json(form)
    return _deal_card(request, deal, note_form=form)


def open_tasks_html(request, deal) -> str:
    return render_to_string("crm/_deal_tasks.html", {
        "deal": deal,
        "tasks": selectors.deal_open_tasks(deal=deal),
        "can_complete_task": request.user.has_perm("crm.change_task"),
    }, request)


@login_required
@require_http_methods(["GET", "POST"])
def deal_task_add(request, pk):
    """GET: the card's folded task form alone; POST: add the task."""
    deal = selectors.deal_get_to_change(user=request.user, pk=pk)
    if request.method == "GET":
        if not request.user.has_perm("crm.add_task"):
            raise PermissionDenied(_("Your role does not allow this action."))
        return render(request, "crm/_deal_task_form.html", {
            "deal": deal, "task_form": TaskForm(user=request.user, deal=deal)})
    form = TaskForm(request.POST, user=request.user, deal=deal)
    if form.is_valid():
        try:
            task = services.task_create(by=request.user, deal=deal, **form.cleaned_data)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            if _wants_json(request):
                return entry_json(
                    request, selectors.timeline_entry_for(kind="task_created", source=task),
                    tasks_html=open_tasks_html(request, deal),
                )
            messages.success(request, _("Task added."))
            return redirect(f"{deal.get_absolute_url()}#tasks")
    if _wants_json(request):
        return form_errors_json(form)
    return _deal_card(request, deal, task_form=form)


@login_required
@require_GET
def deal_timeline(request, pk):
    """Older entries for "Show older" (JSON: rendered entries and the next page's URL)."""
    deal = selectors.deal_get(user=request.user, pk=pk)
    access_log.read(deal, action=Action.TIMELINE)
    entries, older = _timeline_slice(deal, int_or_none(request.GET.get("before")))
    html = render_to_string("crm/timeline/_entries.html", {"entries": entries}, request)
    next_url = None
    if older and entries:
        next_url = f"{reverse('deal_timeline', args=[deal.pk])}?before={entries[-1].pk}"
    return JsonResponse({"html": html, "older": next_url})


@login_required
@require_GET
def deal_timeline_entry(request, pk, entry_id):
    """One rendered entry; live.js fetches it when the websocket announces a new one."""
    deal = selectors.deal_get(user=request.user, pk=pk)
    entry = selectors.timeline_entry_get(deal=deal, pk=entry_id)
    access_log.read(deal, action=Action.TIMELINE, detail={"entry": entry.pk})
    with_kinds([entry])
    return render(request, "crm/timeline/_entry.html", {"entry": entry})
