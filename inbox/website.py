"""Website chat: the visitor's token, the sites a channel serves, the embed snippet, and what
a visitor may read of their own conversation.

The token is a bearer secret the server issues on a visitor's first message and the widget
keeps in the visitor's browser. It is signed (so a token the server never issued is refused
without a lookup, even before the first message has been processed) and never stored: the
visitor is known to the inbox by `visitor_id(channel, token)`, a keyed hash of it, which is the
ChannelIdentity's external id, the key of their websocket group and the `to` of replies. A
database dump therefore holds no token, and no token can be rebuilt from it.

Changing BLIND_INDEX_KEY changes every visitor id: visitors then start new conversations
(their history stays on the deal card).
"""

import secrets

from django.core import signing
from django.utils.crypto import salted_hmac

from core import crypto
from inbox.models import Channel, ChannelIdentity, Message
from security import requests
from security.requests import origin_of  # noqa: F401 (the widget's import)

HISTORY_LIMIT = 100
TEXT_LIMIT = 4096
NAME_LIMIT = 100
# Messages a visitor sees: what they wrote and what was actually sent to them; never a
# private note, nor a reply still queued or one that failed.
VISIBLE_STATUSES = (Message.Status.RECEIVED, Message.Status.SENT, Message.Status.DELIVERED,
                    Message.Status.READ)


# --- Channels ---------------------------------------------------------------------------------


def public_key_new() -> str:
    return secrets.token_urlsafe(24)


def channel_ensure_public_key(channel: Channel) -> None:
    """Give a website channel its public key (before the first save; kept afterwards)."""
    if channel.kind == Channel.Kind.WEBSITE and not channel.public_key:
        channel.public_key = public_key_new()


def channel_for_key(public_key: str) -> Channel | None:
    """The active website channel of a public key; None for an unknown or inactive one."""
    if not public_key:
        return None
    return Channel.objects.filter(kind=Channel.Kind.WEBSITE, public_key=public_key,
                                  is_active=True).first()


def allowed_origins(channel: Channel) -> set[str]:
    """The channel's sites, one `scheme://host[:port]` per line (anything else is skipped)."""
    return requests.origins_listed(channel.allowed_origins)


def origin_allowed(channel: Channel, origin: str | None) -> bool:
    """Exact match of a browser's Origin against the channel's list (never a prefix)."""
    return requests.origin_in(channel.allowed_origins, origin)


# --- Visitors ---------------------------------------------------------------------------------


def _signer(channel: Channel) -> signing.Signer:
    return signing.Signer(salt=f"inbox.website.token.{channel.uuid}")


def token_for_first_message(channel: Channel, client_message_id: str) -> str:
    """The token of a visitor's first message. Derived from the message's id (not drawn at
    random), so the widget retrying a first message it got no answer to gets the same token
    back and the message stays one message."""
    seed = salted_hmac("inbox.website.first-token", f"{channel.uuid}:{client_message_id}",
                       algorithm="sha256").hexdigest()[:40]
    return _signer(channel).sign(seed)


def token_valid(channel: Channel, token) -> bool:
    if not isinstance(token, str) or not 0 < len(token) <= 200:
        return False
    try:
        _signer(channel).unsign(token)
    except signing.BadSignature:
        return False
    return True


def visitor_id(channel: Channel, token: str) -> str:
    """The visitor as the inbox knows them (ChannelIdentity.external_id): a keyed hash of the
    token, from which the token cannot be recovered."""
    return crypto.blind_index("website_visitor", f"{channel.uuid}:{token}")


def visitor_identity(channel: Channel, token: str) -> ChannelIdentity | None:
    return ChannelIdentity.objects.filter(
        channel=channel,
        external_id_index=ChannelIdentity.index_of(channel, visitor_id(channel, token)),
    ).first()


def public_message_id(message: Message) -> str:
    """The id the widget knows a message by: its own id for what the visitor wrote, the id the
    provider gave a reply (the last part of the external id)."""
    return message.external_id.rsplit(":", 1)[-1]


def visitor_history(channel: Channel, token: str, *, limit: int = HISTORY_LIMIT) -> list[dict]:
    """The visitor's own conversation on this channel, oldest first: their messages and the
    replies sent to them, text only. Nothing else of the CRM (no notes, no staff names)."""
    identity = visitor_identity(channel, token)
    if identity is None:
        return []
    messages = list(
        Message.objects.filter(
            conversation__identity=identity, channel=channel,
            direction__in=[Message.Direction.INBOUND, Message.Direction.OUTBOUND],
            status__in=VISIBLE_STATUSES,
        ).exclude(external_id="").order_by("-created_at", "-id")[:limit]
    )
    messages.reverse()
    return [message_public(m) for m in messages]


def message_public(message: Message) -> dict:
    return {
        "id": public_message_id(message),
        "direction": message.direction,
        "text": message.text,
        "at": (message.sent_at or message.created_at).isoformat(),
    }


# --- The embed snippet ------------------------------------------------------------------------


def snippet(channel: Channel, base_url: str) -> str:
    """The tag a site adds to its pages (`base_url`: this CRM's public address)."""
    from django.urls import reverse
    from django.utils.html import format_html

    src = base_url.rstrip("/") + reverse("widget:script", args=[channel.public_key])
    return str(format_html('<script src="{}" async></script>', src))
