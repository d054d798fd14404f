"""What the search box finds of the inbox: messages of every channel, by their words (the
client's, the managers' replies, private notes), where the user sees the conversation."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.holdings import SearchSource
from inbox.models import Channel
from inbox.selectors import messages_visible_to


def _url(message) -> str:
    """The deal card opened at the message: its conversation's panel loads the page of the
    chat that holds it. (A conversation is seen through its deal, so a hit has one.)"""
    page = reverse("deal_detail", args=[message.conversation.deal_id])
    return f"{page}?message={message.pk}#message-{message.pk}"


SOURCES = (
    SearchSource(
        kind="message", label=_("Messages"), visible=messages_visible_to, at="created_at",
        deal="conversation__deal_id", contact="conversation__contact_id",
        channel="channel__kind", channels=lambda: dict(Channel.Kind.choices),
        person="owner_id", select_related=("conversation__deal", "channel"),
        title=lambda message: message.conversation.deal.title,
        text=lambda message: message.text, url=_url),
)
