"""The consents of a contact in the app: `GET /contacts/<id>/consents/` the state and history
(who, when, source, the text version), `POST` a grant or withdrawal recorded by a manager who
may change the contact (404 to anyone who cannot see the contact, 403 to read-only)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from consents import selectors, services
from consents.forms import ConsentRecordForm
from consents.models import ConsentEvent
from core.http import wants_folded_form
from crm import selectors as crm_selectors
from security.audit import access_log
from security.audit.access_log import Action


@login_required
@require_http_methods(["GET", "POST"])
def contact_consents(request, pk):
    user = request.user
    contact = crm_selectors.contact_get(user=user, pk=pk)
    can_record = crm_selectors.contact_can_edit(user=user, contact=contact)
    form = ConsentRecordForm(request.POST or None, auto_id="consent-%s")
    if wants_folded_form(request):
        # The cards' folded form: the purposes and kinds, nothing of the client to log.
        if not can_record:
            raise PermissionDenied(_("You may look at this contact but not change it."))
        return render(request, "consents/_consent_form.html", {"contact": contact,
                                                               "form": form})
    if request.method == "POST":
        if not can_record:
            raise PermissionDenied(_("You may look at this contact but not change it."))
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.consent_record(
                    contact=contact, purpose=data["purpose"], kind=data["kind"],
                    source=ConsentEvent.Source.MANAGER, by=user,
                    evidence={"document": data["document"].strip(),
                              "note": data["note"].strip()},
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Consent recorded.") if
                                 data["kind"] == ConsentEvent.Kind.GRANTED
                                 else _("Withdrawal recorded."))
                return redirect("contact_consents", pk=contact.pk)
    access_log.read(contact, action=Action.VIEW, detail={"consents": "history"})
    return render(request, "consents/contact_consents.html", {
        "nav": "contacts",
        "contact": contact,
        "overview": selectors.consent_overview(contact=contact),
        "history": selectors.consent_history_rows(contact_id=contact.pk),
        "can_record": can_record,
        "form": form,
    }, status=400 if request.method == "POST" else 200)
