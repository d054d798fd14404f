"""What the search box finds of the inbox: messages of every channel, by their words (the
client's, the managers' replies, private notes, a mail's subject, the files' names), where the
user sees the conversation."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core import sql  # also the `among` lookup
from core.holdings import RelatedDocument, SearchSource
from inbox.models import Channel, Conversation, Message
from inbox.selectors import conversations_visible_to, messages_visible_to

# Up to this many conversations, a user's messages are asked by their conversations' ids for
# a common word: PostgreSQL then reads its rows of those conversations only (a bitmap of each,
# or their newest first), where a subquery of the visibility rule made it guess. A rare
# word's few rows need no list (listing a team's conversations took 13-20 ms at 1M deals).
LISTED_CONVERSATIONS = 20_000


def _messages_listed(user) -> tuple:
    """messages_visible_to, the conversations listed when they are not too many, and about
    what share of all messages they hold (their share of the conversations)."""
    ids = list(conversations_visible_to(user).order_by()
               .values_list("pk", flat=True)[:LISTED_CONVERSATIONS + 1])
    conversations = sql.table_rows(Conversation)
    share = min(1.0, len(ids) / conversations) if conversations else 1.0
    if len(ids) > LISTED_CONVERSATIONS:
        return messages_visible_to(user), share
    return Message.objects.filter(conversation_id__among=frozenset(ids)), share


def _url(message) -> str:
    """The deal card opened at the message: its conversation's panel loads the page of the
    chat that holds it. (A conversation is seen through its deal, so a hit has one.)"""
    page = reverse("deal_detail", args=[message.conversation.deal_id])
    return f"{page}?message={message.pk}#message-{message.pk}"


def _text(message) -> str:
    """What a hit's snippet is cut from: the mail's subject, the text, the files' names."""
    mail = getattr(message, "mail", None)  # an e-mail's envelope, selected with the message
    return "\n".join(filter(None, [mail.subject if mail else "", message.text,
                                    *(file.name for file in message.attachments.all())]))


SOURCES = (
    SearchSource(
        kind="message", label=_("Messages"), visible=messages_visible_to,
        listed=_messages_listed, at="created_at",
        deal="conversation__deal_id", contact="conversation__contact_id",
        channel="channel__kind", channels=lambda: dict(Channel.Kind.choices),
        person="owner_id", select_related=("conversation__deal", "channel", "mail"),
        prefetch_related=("attachments",),
        related=(RelatedDocument("attachments", names=True), RelatedDocument("mail")),
        title=lambda message: message.conversation.deal.title, text=_text, url=_url),
)
