from django import template
from django.utils import timezone

from core.http import int_or_none
from crm import selectors as crm_selectors
from inbox import policy, selectors, services

register = template.Library()

@register.inclusion_tag("inbox/_conversation_panel.html", takes_context=True)
def conversation_panel(context, deal):
    """The conversations of a deal the page fetched through crm.selectors.deal_get."""
    user = context["request"].user
    conversations = list(selectors.deal_conversations(deal=deal))
    if not conversations:
        return {"conversations": []}
    # ?message=<id>: the card opened at a message (a search hit), its page shown instead of
    # the newest one, with a way back to the newest.
    at = int_or_none(context["request"].GET.get("message"))
    for conversation in conversations:
        if conversation.contact_id == deal.contact_id:  # the card's client, read already
            conversation.contact = deal.contact
        conversation.chat_has_newer = False
        opened = at and selectors.chat_page_at(conversation=conversation, message_id=at)
        if opened:
            conversation.chat, conversation.chat_has_older, conversation.chat_has_newer = opened
        else:
            conversation.chat, conversation.chat_has_older = selectors.chat_page(
                conversation=conversation)
        conversation.failed_reply = selectors.failed_reply(conversation=conversation)
        # WhatsApp: until when free text reaches the client; past it, the templates instead.
        conversation.window_closes_at = services.reply_window_closes_at(conversation)
        conversation.window_closed = (conversation.window_closes_at is not None
                                      and conversation.window_closes_at <= timezone.now())
        # 584-FZ: what this channel may not carry, said before the manager types.
        conversation.foreign_restricted = policy.restricted(conversation.channel)
        if conversation.foreign_restricted:
            conversation.domestic_channels = policy.domestic_channels(conversation.contact)
        if conversation.window_closed:
            conversation.templates = list(selectors.approved_templates(
                channel=conversation.channel))
            most = max((t.parameters for t in conversation.templates), default=0)
            conversation.template_fields = range(1, most + 1)
    can_reply = crm_selectors.deal_can_edit(user=user, deal=deal)
    return {
        "request": context["request"],
        "csrf_token": context.get("csrf_token"),
        "deal": deal,
        "conversations": conversations,
        "can_reply": can_reply,
        "canned_replies": list(selectors.canned_replies_for(user=user)) if can_reply else [],
        "now": timezone.now(),
    }


@register.inclusion_tag("inbox/_client_channels.html")
def client_channels(contact):
    """Every channel the client has written from (a card the page fetched through a
    selector), with the last activity in each and whether they can still be reached."""
    return {"channels": selectors.client_channels(contact=contact)}
