from django import template

from crm import selectors as crm_selectors
from crm.models import ContactPoint
from telephony import click_to_call, selectors

register = template.Library()


@register.inclusion_tag("telephony/_click_to_call.html", takes_context=True)
def click_to_call_button(context, deal):
    """The Call button of a deal the page fetched through crm.selectors.deal_get: shown to
    whoever may change the deal and has an extension, when its client has a phone."""
    user = context["request"].user
    extension = selectors.extension_of(user=user)
    shown = (
        extension is not None and deal.contact_id is not None
        and deal.contact.points.filter(kind=ContactPoint.Kind.PHONE).exists()
        and crm_selectors.deal_can_edit(user=user, deal=deal)
    )
    if not shown:
        return {"shown": False}
    return {
        "shown": True,
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
        "deal": deal,
        "extension": extension,
        "command": click_to_call.latest_command(deal=deal, user=user),
    }
