"""What the CRM's pages share: safe redirects, lists with the access log, timeline entries
rendered for the live deal card, and the create/edit form page."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from core.forms import apply_service_errors
from crm import selectors, timeline
from security import roles
from security.audit import access_log
from security.audit.access_log import Action

TIMELINE_PAGE = selectors.TIMELINE_PAGE
# Cards show this many related rows; the lists behind them have the rest.
RELATED_LIMIT = 50



def next_url(request, default: str) -> str:
    url = request.POST.get("next") or request.GET.get("next")
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return default


def int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def with_kinds(entries):
    """Attach each entry's registered kind (label and template) for `_entry.html`."""
    for entry in entries:
        entry.kind_info = timeline.kind_for(entry.kind)
    return entries


def entry_html(request, entry, **extra) -> str:
    with_kinds([entry])
    return render_to_string("crm/timeline/_entry.html", {"entry": entry, **extra}, request)


def entry_json(request, entry, **extra) -> JsonResponse:
    if entry is None:  # written, but not among the newest: the page catches up on reload
        return JsonResponse({"entry": None, "html": "", **extra})
    return JsonResponse({"entry": entry.pk, "html": entry_html(request, entry), **extra})


def form_errors_json(form) -> JsonResponse:
    return JsonResponse({"errors": form.errors.get_json_data()}, status=400)


def page_of(request, queryset):
    return Paginator(queryset, settings.UI_PAGE_SIZE).get_page(request.GET.get("page"))


def listed(page, q: str = ""):
    """The rows a list page shows are reads: searched for, or just listed."""
    access_log.read(page.object_list, action=Action.SEARCH if q else Action.LIST)
    return page


def deal_list_heading(user) -> str:
    if user.role == roles.SALES_HEAD:
        return _("Team deals")
    if user.role == roles.ADMIN:
        return _("All deals")
    return _("My deals")


def currency_totals(deals) -> list[tuple[str, object]]:
    totals: dict[str, object] = {}
    for deal in deals:
        totals[deal.currency] = totals.get(deal.currency, 0) + deal.amount
    return sorted(totals.items())


def form_page(request, form, *, save, done: str, template: str, context: dict, shown=None):
    """A record's create or edit page: on a valid POST, `save(cleaned_data)` (a service call
    returning the record) -> the message `done` and a redirect to the record; a service's
    ValidationError lands on the form's fields; otherwise the form again. An edit page shows
    the record it edits (`shown`): a read, as its card is."""
    if request.method == "POST" and form.is_valid():
        try:
            saved = save(dict(form.cleaned_data))
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            messages.success(request, done)
            return redirect(saved)
    if shown is not None:
        access_log.read(shown, action=Action.VIEW)
    return render(request, template, {"form": form, **context})
