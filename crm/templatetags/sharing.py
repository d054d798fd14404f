from datetime import datetime

from django import template

from crm import sharing

register = template.Library()


@register.inclusion_tag("crm/_deal_shares.html", takes_context=True)
def deal_shares_panel(context, deal):
    """The deal card's "Shared with" panel: the live shares, and for those who may share,
    the revoke buttons and the folded form (fetched when unfolded: crm.views.sharing). Nothing
    at all for a viewer with nothing to see."""
    user = context["request"].user
    can_share = sharing.deal_can_share(user=user, deal=deal)
    return {
        "deal": deal,
        "shares": sharing.deal_shares(deal=deal),
        "can_share": can_share,
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
