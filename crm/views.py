"""The HTML UI: thin views that parse a form, call a selector or a service, and render.

Client data is read only through `crm.selectors` (an object the user may not see is a 404)
and written only through `crm.services`. State changes are POST-only. Forms posted by
`static/js/live.js` ask for JSON (`Accept: application/json`) and get the rendered timeline
entry back, so the deal card updates without a reload; without JavaScript the same views
answer with a redirect.
"""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import selectors, services, timeline
from crm.forms import (
    CompanyForm,
    ContactForm,
    DealFilterForm,
    DealForm,
    DealMoveForm,
    DealStatusForm,
    NoteForm,
    TaskForm,
    apply_service_errors,
)
from crm.models import Deal
from security import access_log, masking, roles
from security.access_log import Action
from security.ratelimit import list_rate_limited
from security.requests import wants_json as _wants_json

TIMELINE_PAGE = selectors.TIMELINE_PAGE
# Cards show this many related rows; the lists behind them have the rest.
RELATED_LIMIT = 50


# --- Presentation helpers --------------------------------------------------------------------


def _next_url(request, default: str) -> str:
    url = request.POST.get("next") or request.GET.get("next")
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _with_kinds(entries):
    """Attach each entry's registered kind (label and template) for `_entry.html`."""
    for entry in entries:
        entry.kind_info = timeline.kind_for(entry.kind)
    return entries


def _entry_html(request, entry, **extra) -> str:
    _with_kinds([entry])
    return render_to_string("crm/timeline/_entry.html", {"entry": entry, **extra}, request)


def _entry_json(request, entry, **extra) -> JsonResponse:
    if entry is None:  # written, but not among the newest: the page catches up on reload
        return JsonResponse({"entry": None, "html": "", **extra})
    return JsonResponse({"entry": entry.pk, "html": _entry_html(request, entry), **extra})


def _form_errors_json(form) -> JsonResponse:
    return JsonResponse({"errors": form.errors.get_json_data()}, status=400)


def _page(request, queryset):
    return Paginator(queryset, settings.UI_PAGE_SIZE).get_page(request.GET.get("page"))


def _listed(page, q: str = ""):
    """The rows a list page shows are reads: searched for, or just listed."""
    access_log.read(page.object_list, action=Action.SEARCH if q else Action.LIST)
    return page


def _deal_list_heading(user) -> str:
    if user.role == roles.SALES_HEAD:
        return _("Team deals")
    if user.role == roles.ADMIN:
        return _("All deals")
    return _("My deals")


def _currency_totals(deals) -> list[tuple[str, object]]:
    totals: dict[str, object] = {}
    for deal in deals:
        totals[deal.currency] = totals.get(deal.currency, 0) + deal.amount
    return sorted(totals.items())


# --- Start -----------------------------------------------------------------------------------


@login_required
def home(request):
    # The security officer works with no deals: their start is the security console.
    if request.user.role == roles.SECURITY_OFFICER:
        return redirect("security_home")
    return redirect("deal_list")


# --- Deals -----------------------------------------------------------------------------------


@login_required
@require_GET
@list_rate_limited
def deal_list(request):
    user = request.user
    form = DealFilterForm(request.GET, user=user, pipeline=selectors.pipeline_for(user=user))
    filters = form.filters()
    page = _listed(selectors.deal_page(user=user, filters=filters, page=request.GET.get("page")),
                   filters.q)
    return render(request, "crm/deal_list.html", {
        "nav": "deals",
        "heading": _deal_list_heading(user),
        "form": form,
        "page": page,
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
        shown = dict(_currency_totals(column.deals))
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
    return _with_kinds(entries[:TIMELINE_PAGE]), older


def _deal_card(request, deal: Deal, *, note_form=None, task_form=None, status_form=None):
    user = request.user
    access_log.read(deal, action=Action.VIEW)
    before = _int_or_none(request.GET.get("before"))
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
        "task_form": task_form or TaskForm(user=user, deal=deal),
        "status_form": status_form or DealStatusForm(initial={"status": deal.status}),
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
    contact_id = _int_or_none(request.GET.get("contact"))
    if contact_id:
        contact = selectors.contact_get(user=user, pk=contact_id)
        initial.update(contact=contact.pk, company=contact.company_id)
    company_id = _int_or_none(request.GET.get("company"))
    if company_id:
        initial["company"] = selectors.company_get(user=user, pk=company_id).pk
    form = DealForm(request.POST or None, user=user, pipeline=pipeline, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            deal = services.deal_create(by=user, **form.cleaned_data)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            messages.success(request, _("Deal created."))
            return redirect(deal)
    return render(request, "crm/deal_form.html", {"nav": "deals", "form": form, "deal": None})


@login_required
@require_http_methods(["GET", "POST"])
def deal_edit(request, pk):
    user = request.user
    deal = selectors.deal_get(user=user, pk=pk)
    if not selectors.deal_can_edit(user=user, deal=deal):
        raise PermissionDenied(_("Your role does not allow this action."))
    form = DealForm(request.POST or None, user=user, pipeline=deal.pipeline, deal=deal)
    if request.method == "POST" and form.is_valid():
        try:
            services.deal_update(deal=deal, by=user, **form.cleaned_data)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            messages.success(request, _("Deal saved."))
            return redirect(deal)
    return render(request, "crm/deal_form.html", {"nav": "deals", "form": form, "deal": deal})


@login_required
@require_POST
def deal_move(request, pk):
    deal = selectors.deal_get(user=request.user, pk=pk)
    form = DealMoveForm(request.POST, deal=deal)
    if not form.is_valid():
        if _wants_json(request):
            return _form_errors_json(form)
        return HttpResponseBadRequest(_("Unknown stage."))
    services.deal_move(deal=deal, stage=form.cleaned_data["stage"], by=request.user)
    if _wants_json(request):
        return JsonResponse({"deal": deal.pk, "stage": deal.stage_id})
    messages.success(
        request, _("“%(deal)s” moved to “%(stage)s”.") % {"deal": deal, "stage": deal.stage}
    )
    return redirect(_next_url(request, reverse("deal_board")))


@login_required
@require_POST
def deal_status(request, pk):
    deal = selectors.deal_get(user=request.user, pk=pk)
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
    deal = selectors.deal_get(user=request.user, pk=pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            note = services.note_add(by=request.user, text=form.cleaned_data["text"], deal=deal)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            if _wants_json(request):
                entry = selectors.timeline_entry_for(kind="note", source=note)
                return _entry_json(request, entry)
            messages.success(request, _("Note added."))
            return redirect(f"{deal.get_absolute_url()}#timeline")
    if _wants_json(request):
        return _form_errors_json(form)
    return _deal_card(request, deal, note_form=form)


def _open_tasks_html(request, deal) -> str:
    return render_to_string("crm/_deal_tasks.html", {
        "deal": deal,
        "tasks": selectors.deal_open_tasks(deal=deal),
        "can_complete_task": request.user.has_perm("crm.change_task"),
    }, request)


@login_required
@require_POST
def deal_task_add(request, pk):
    deal = selectors.deal_get(user=request.user, pk=pk)
    form = TaskForm(request.POST, user=request.user, deal=deal)
    if form.is_valid():
        try:
            task = services.task_create(by=request.user, deal=deal, **form.cleaned_data)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            if _wants_json(request):
                return _entry_json(
                    request, selectors.timeline_entry_for(kind="task_created", source=task),
                    tasks_html=_open_tasks_html(request, deal),
                )
            messages.success(request, _("Task added."))
            return redirect(f"{deal.get_absolute_url()}#tasks")
    if _wants_json(request):
        return _form_errors_json(form)
    return _deal_card(request, deal, task_form=form)


@login_required
@require_GET
def deal_timeline(request, pk):
    """Older entries for "Show older" (JSON: rendered entries and the next page's URL)."""
    deal = selectors.deal_get(user=request.user, pk=pk)
    access_log.read(deal, action=Action.TIMELINE)
    entries, older = _timeline_slice(deal, _int_or_none(request.GET.get("before")))
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
    _with_kinds([entry])
    return render(request, "crm/timeline/_entry.html", {"entry": entry})


# --- Tasks -----------------------------------------------------------------------------------


@login_required
@require_GET
@list_rate_limited
def task_list(request):
    tasks = list(selectors.my_open_tasks(user=request.user))
    access_log.read(tasks, action=Action.LIST)
    return render(request, "crm/task_list.html", {
        "nav": "tasks",
        "tasks": tasks,
        "can_complete_task": request.user.has_perm("crm.change_task"),
    })


def _visible_deal(user, deal_id):
    """The task's deal if the user may see it (an assignee may not see the deal)."""
    if deal_id is None:
        return None
    try:
        return selectors.deal_get(user=user, pk=deal_id)
    except Http404:
        return None


@login_required
@require_POST
def task_complete(request, pk):
    task = selectors.task_get(user=request.user, pk=pk)
    services.task_complete(task=task, by=request.user)
    deal = _visible_deal(request.user, task.deal_id)
    if _wants_json(request):
        data = {"task": task.pk}
        if deal is not None:
            entry = selectors.timeline_entry_for(kind="task_done", source=task)
            if entry is not None:
                data.update(entry=entry.pk, html=_entry_html(request, entry))
            data["tasks_html"] = _open_tasks_html(request, deal)
        return JsonResponse(data)
    messages.success(request, _("Task completed."))
    default = deal.get_absolute_url() if deal is not None else reverse("task_list")
    return redirect(_next_url(request, default))


# --- Contacts --------------------------------------------------------------------------------


@login_required
@require_GET
@list_rate_limited
def contact_list(request):
    q = request.GET.get("q", "").strip()[:100]
    return render(request, "crm/contact_list.html", {
        "nav": "contacts",
        "q": q,
        "page": _listed(_page(request, selectors.contact_list(user=request.user, q=q)), q),
        "can_add": request.user.has_perm("crm.add_contact"),
    })


def _contact_card(request, contact, *, note_form=None):
    user = request.user
    access_log.read(contact, action=Action.VIEW)
    return render(request, "crm/contact_detail.html", {
        "nav": "contacts",
        "contact": contact,
        "points": masking.present_points(user=user, contact=contact),
        "tags": contact.tags.all(),
        "deals": selectors.deal_list(user=user).filter(contact=contact)[:RELATED_LIMIT],
        "entries": _with_kinds(selectors.contact_timeline(user=user, contact=contact)),
        "can_edit": selectors.contact_can_edit(user=user, contact=contact),
        "can_add_deal": user.has_perm("crm.add_deal"),
        "can_add_note": user.has_perm("crm.add_note"),
        "note_form": note_form or NoteForm(),
    })


@login_required
@require_GET
def contact_detail(request, pk):
    return _contact_card(request, selectors.contact_get(user=request.user, pk=pk))


@login_required
@require_POST
def contact_note_add(request, pk):
    contact = selectors.contact_get(user=request.user, pk=pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            note = services.note_add(
                by=request.user, text=form.cleaned_data["text"], contact=contact
            )
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            if _wants_json(request):
                entry = selectors.timeline_entry_for(kind="note", source=note)
                return _entry_json(request, entry)
            messages.success(request, _("Note added."))
            return redirect(f"{contact.get_absolute_url()}#timeline")
    if _wants_json(request):
        return _form_errors_json(form)
    return _contact_card(request, contact, note_form=form)


@login_required
@require_http_methods(["GET", "POST"])
def contact_create(request):
    user = request.user
    if not user.has_perm("crm.add_contact"):
        raise PermissionDenied(_("Your role does not allow this action."))
    initial = {}
    company_id = _int_or_none(request.GET.get("company"))
    if company_id:
        initial["company"] = selectors.company_get(user=user, pk=company_id).pk
    form = ContactForm(request.POST or None, user=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.contact_create(by=user, **form.cleaned_data)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            messages.success(request, _("Contact created."))
            return redirect(contact)
    return render(request, "crm/contact_form.html", {
        "nav": "contacts", "form": form, "contact": None,
    })


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request, pk):
    user = request.user
    contact = selectors.contact_get(user=user, pk=pk)
    if not selectors.contact_can_edit(user=user, contact=contact):
        raise PermissionDenied(_("Your role does not allow this action."))
    form = ContactForm(request.POST or None, user=user, contact=contact)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            services.contact_update(
                contact=contact, by=user,
                add_phones=data.pop("phones"), add_emails=data.pop("emails"),
                remove_point_ids=data.pop("remove_points"), **data,
            )
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            messages.success(request, _("Contact saved."))
            return redirect(contact)
    return render(request, "crm/contact_form.html", {
        "nav": "contacts", "form": form, "contact": contact,
    })


# --- Companies -------------------------------------------------------------------------------


@login_required
@require_GET
@list_rate_limited
def company_list(request):
    q = request.GET.get("q", "").strip()[:100]
    return render(request, "crm/company_list.html", {
        "nav": "companies",
        "q": q,
        "page": _listed(_page(
            request, selectors.company_list(user=request.user, q=q).select_related("owner")
        ), q),
        "can_add": request.user.has_perm("crm.add_company"),
    })


@login_required
@require_GET
def company_detail(request, pk):
    user = request.user
    company = selectors.company_get(user=user, pk=pk)
    contacts = list(selectors.contact_list(user=user).filter(company=company)[:RELATED_LIMIT])
    deals = list(selectors.deal_list(user=user).filter(company=company)[:RELATED_LIMIT])
    access_log.read(company, action=Action.VIEW)
    access_log.read(contacts + deals, action=Action.LIST)
    return render(request, "crm/company_detail.html", {
        "nav": "companies",
        "company": company,
        "contacts": contacts,
        "deals": deals,
        "can_edit": selectors.company_can_edit(user=user, company=company),
        "can_add_contact": user.has_perm("crm.add_contact"),
        "can_add_deal": user.has_perm("crm.add_deal"),
    })


@login_required
@require_http_methods(["GET", "POST"])
def company_create(request):
    user = request.user
    if not user.has_perm("crm.add_company"):
        raise PermissionDenied(_("Your role does not allow this action."))
    form = CompanyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            company = services.company_create(by=user, **form.cleaned_data)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            messages.success(request, _("Company created."))
            return redirect(company)
    return render(request, "crm/company_form.html", {
        "nav": "companies", "form": form, "company": None,
    })


@login_required
@require_http_methods(["GET", "POST"])
def company_edit(request, pk):
    user = request.user
    company = selectors.company_get(user=user, pk=pk)
    if not selectors.company_can_edit(user=user, company=company):
        raise PermissionDenied(_("Your role does not allow this action."))
    form = CompanyForm(request.POST or None, company=company)
    if request.method == "POST" and form.is_valid():
        try:
            services.company_update(company=company, by=user, **form.cleaned_data)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            messages.success(request, _("Company saved."))
            return redirect(company)
    return render(request, "crm/company_form.html", {
        "nav": "companies", "form": form, "company": company,
    })
