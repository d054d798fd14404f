from django import template

from crm import selectors as crm_selectors
from inbox import selectors

register = template.Library()


@register.inclusion_tag("inbox/_conversation_panel.html", takes_context=True)
def conversation_panel(context, deal):
    """The conversations of a deal the page fetched through crm.selectors.deal_get."""
    user = context["request"].user
    return {
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
        "deal": deal,
        "conversations": list(selectors.deal_conversations(deal=deal)),
        "can_reply": crm_selectors.deal_can_edit(user=user, deal=deal),
    }
