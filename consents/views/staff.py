"""Staff side of the privacy center: thin views over consents.privacy."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from consents import privacy
from consents.privacy_forms import PrivacyLinkForm
from core.forms import apply_service_errors
from crm import selectors as crm_selectors
from security.audit import access_log
from security.audit.access_log import Action


@login_required
@require_http_methods(["GET", "POST"])
def privacy_link_send(request, pk):
    contact = crm_selectors.contact_get(user=request.user, pk=pk)  # 404 to who cannot see it
    if not crm_selectors.contact_can_edit(user=request.user, contact=contact):
        raise PermissionDenied(_("Your role does not allow this action."))
    routes = privacy.link_routes(user=request.user, contact=contact)
    form = PrivacyLinkForm(request.POST or None, routes=routes)
    if request.method == "POST" and form.is_valid():
        try:
            privacy.privacy_link_send(contact=contact, by=request.user,
                                      via=form.cleaned_data["via"],
                                      base_url=request.build_absolute_uri("/"))
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            messages.success(request, _("The link to the privacy center is sent."))
            return redirect(contact)
    access_log.read(contact, action=Action.VIEW)
    return render(request, "consents/privacy_link_form.html", {
        "nav": "contacts", "contact": contact, "form": form, "routes": routes,
        "hours": int(privacy.lifetime().total_seconds() // 3600),
    }, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def privacy_links_revoke(request, pk):
    contact = crm_selectors.contact_get(user=request.user, pk=pk)
    privacy.privacy_links_revoke(contact=contact, by=request.user)
    messages.success(request, _("Every privacy center link sent to this contact is revoked."))
    return redirect(contact)
