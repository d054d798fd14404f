"""The companies' pages: the list, the company card and its forms."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from core.http import query_text
from crm import selectors, services
from crm.forms import (
    CompanyForm,
)
from crm.views.common import RELATED_LIMIT, form_page, listed, page_of
from security.audit import access_log
from security.audit.access_log import Action
from security.ratelimit import list_rate_limited


@login_required
@require_GET
@list_rate_limited
def company_list(request):
    q = query_text(request.GET, "q")
    return render(request, "crm/company_list.html", {
        "nav": "companies",
        "q": q,
        "page": listed(page_of(
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
    return form_page(request, form, save=lambda data: services.company_create(by=user, **data),
                     done=_("Company created."), template="crm/company_form.html",
                     context={"nav": "companies", "company": None})


@login_required
@require_http_methods(["GET", "POST"])
def company_edit(request, pk):
    user = request.user
    company = selectors.company_get(user=user, pk=pk)
    if not selectors.company_can_edit(user=user, company=company):
        raise PermissionDenied(_("Your role does not allow this action."))
    form = CompanyForm(request.POST or None, company=company)

    def save(data):
        services.company_update(company=company, by=user, **data)
        return company

    return form_page(request, form, save=save, done=_("Company saved."),
                     template="crm/company_form.html",
                     context={"nav": "companies", "company": company}, shown=company)
