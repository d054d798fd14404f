from django import template
from django.utils.translation import gettext_lazy as _

from consents import selectors
from crm import selectors as crm_selectors

register = template.Library()

# The evidence's keys (consents.services, capture, the privacy center) as the history names
# them; the stored keys stay as they are for the API.
EVIDENCE_LABELS = {
    "ip": _("IP address"),
    "user_agent": _("Browser"),
    "page_url": _("Page"),
    "origin": _("Site"),
    "site": _("Form"),
    "note": _("Note"),
    "document": _("Document"),
    "kind": _("Kind"),
    "message": _("Message"),
}


@register.filter
def evidence_label(key):
    return EVIDENCE_LABELS.get(key, key)


@register.inclusion_tag("consents/_consent_panel.html", takes_context=True)
def consent_panel(context, contact):
    """The contact's consent per purpose at a glance, on the contact and deal cards (the
    page fetched the contact through crm.selectors and logged the read). A deal without a
    contact passes None, or "" when the page names it through a missing relation."""
    if not contact:
        return {"contact": None}
    user = context["request"].user
    can_record = crm_selectors.contact_can_edit(user=user, contact=contact)
    return {
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
        "contact": contact,
        "overview": selectors.consent_overview(contact=contact),
        "can_record": can_record,
    }
