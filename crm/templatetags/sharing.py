from datetime import datetime

from django import template

from crm import sharing
from crm.views.sharing import DealShareForm

register = template.Library()

# The card's picker: the deal's team and a few more; the sharing page finds anyone by name.
# (300 colleagues rendered into every card's folded form took a third of its time.)
CARD_OPTIONS = 30


@register.inclusion_tag("crm/_deal_shares.html", takes_context=True)
def deal_shares_panel(context, deal):
    """The deal card's "Shared with" panel: the live shares, and for those who may share,
    the form and the revoke buttons. Nothing at all for a viewer with nothing to see."""
    user = context["request"].user
    can_share = sharing.deal_can_share(user=user, deal=deal)
    return {
        "deal": deal,
        "shares": sharing.deal_shares(deal=deal),
        "can_share": can_share,
        "form": DealShareForm(deal=deal, by=user, options=CARD_OPTIONS) if can_share else None,
        "csrf_token": context.get("csrf_token"),
        "request": context["request"],
    }


@register.filter
def iso_datetime(value):
    """A timeline payload's ISO 8601 string back to a datetime (None stays None)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
