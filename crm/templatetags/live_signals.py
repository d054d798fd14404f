from django import template

from crm import mentions

register = template.Library()


@register.inclusion_tag("crm/_mention_candidates.html", takes_context=True)
def mention_candidates(context, deal):
    """Whom the user may @mention in the notes of the deal on screen (static/js/mentions.js
    offers them): the colleagues who see it. Staff names only, no client data."""
    user = context["request"].user
    return {"candidates": mentions.mention_candidates(deal=deal, by=user)}
