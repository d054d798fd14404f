"""The interface every messenger provider implements, and the normalized events it yields.

As in healthchecks' transports: a provider classifies its own errors as permanent (the bot
was blocked: retrying cannot help) or retryable (429, 5xx, a network failure), and the
sending task retries only the latter, honouring `retry_after` when the provider gives one.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import import_module

from core.providers import ProviderError  # noqa: F401 (the providers' error, named here too)
from core.webhooks import WebhookProvider


@dataclass(frozen=True)
class InboundAttachment:
    kind: str  # photo, document, voice, audio, video, sticker
    file_id: str
    name: str = ""
    mime_type: str = ""
    size: int = 0


@dataclass(frozen=True)
class InboundMessage:
    """A message from a client (new or edited)."""

    external_id: str  # unique per channel, e.g. "<chat id>:<message id>"
    sender_id: str  # the client's id on this channel (where replies go)
    sender_name: str
    text: str
    sent_at: datetime
    reply_to_external_id: str = ""
    edited: bool = False
    attachments: tuple[InboundAttachment, ...] = field(default_factory=tuple)
    # The client's phone number when the channel gives it (WhatsApp: the sender is their
    # number): a client already known by it, from a call or another channel, keeps their card.
    phone: str = ""
    # Written by us from the provider's own interface (VK: a community admin answering in
    # VK): stored as an outbound message that was sent, not as the client's.
    from_us: bool = False
    # Our own message's id as we gave it to the provider (VK's random_id): an echo of a
    # message this product sent is not stored a second time.
    our_id: str = ""
    # The sender's e-mail address when the channel gives it: a known client keeps their card.
    email: str = ""
    # Sent by a machine (an auto-reply, a list): stored, but never answered automatically.
    automatic: bool = False
    # E-mail threading (inbox.routing.threads_for): the external ids of the messages this one
    # answers, nearest first (In-Reply-To, then References); the conversation token of the
    # plus-addressed reply-to it was sent to; its normalized subject's key.
    answers: tuple[str, ...] = ()
    thread_token: str = ""
    subject_key: str = ""
    # The e-mail's envelope and bodies for inbox.models.MailDetails (field -> value).
    mail: dict | None = None


@dataclass(frozen=True)
class ClientUnreachable:
    """The client blocked the bot (or left): sends to them can only fail from now on."""

    sender_id: str
    reason: str


@dataclass(frozen=True)
class ClientReachable:
    """The client allowed messages again (VK's message_allow, MAX's bot_started)."""

    sender_id: str


@dataclass(frozen=True)
class DeliveryStatus:
    """What became of a message we sent (WhatsApp: sent, delivered, read, failed)."""

    external_id: str
    status: str  # one of Message.Status: sent, delivered, read, failed
    at: datetime
    error: str = ""


@dataclass(frozen=True)
class Unsubscribed:
    """A client pressed "Unsubscribe" on campaign mail (List-Unsubscribe): `token` names them
    and the purpose (inbox/unsubscribe.py); `evidence`, what the request came with."""

    token: str
    evidence: dict


NormalizedEvent = (InboundMessage | ClientUnreachable | ClientReachable | DeliveryStatus
                   | Unsubscribed)


# --- Reading what a provider sent ---------------------------------------------------------------
# A stored delivery passed the provider's signature and the JSON door (core.untrusted), but its
# shape is still whatever arrived: parsers read it through these, so a field of another type
# than documented is a field left out, never an exception in the worker.


def obj(value) -> dict:
    return value if isinstance(value, dict) else {}


def objs(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def text(value) -> str:
    """A string or a number as text; anything else (null, an object) as nothing."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def moment(value, *, milliseconds: bool = False) -> datetime:
    """A Unix time (seconds, or milliseconds) as a datetime; now when it is none."""
    try:
        seconds = float(value) / (1000 if milliseconds else 1)
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(tz=UTC)


@dataclass(frozen=True)
class SendResult:
    external_id: str


@dataclass(frozen=True)
class MailThread:
    """What an e-mail reply carries to thread with what it answers (Provider.threaded)."""

    subject: str
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    quoted: str = ""  # the history quoted under the reply
    reply_token: str = ""  # the conversation's token for the plus-addressed reply-to
    unsubscribe: str = ""  # a campaign mail's List-Unsubscribe header


class Provider(WebhookProvider):
    """One channel's adapter. Built per channel: `provider_for(channel)`. Inbound, it checks
    and reads webhook deliveries (core.webhooks: `verify`, `read`) and turns a stored one
    into normalized events (`parse`); outbound, it sends and fetches media. It touches no
    model and sends no realtime event: routing and storing are the inbox's
    (inbox.services)."""

    kind: str = ""
    # Whether the manager can send the client a file here (the composer offers it only then).
    sends_files: bool = True
    # The longest text one message may carry here.
    text_limit: int = 4096
    # Sends a second the provider takes from one channel (WhatsApp: 80 per number); 0: no
    # limit of ours beyond a chat's one a second.
    channel_rate: int = 0
    # A messenger owned abroad (584-FZ): the organisation may keep personal data off it
    # (inbox/policy.py).
    foreign: bool = False
    # How long after the client's last message free-form replies reach them (WhatsApp's
    # customer-service window); None where there is no such limit.
    reply_window: timedelta | None = None
    # Whether `channel_connect_webhook` makes the channel's webhook secret when it has none
    # (Telegram, MAX and VK take the one we give them; WhatsApp's is the Meta app's secret,
    # which only the admin can copy in).
    makes_webhook_secret: bool = True
    # Whether a reply goes out with its thread (MailThread: subject, ids, quoted history):
    # e-mail; the messengers thread by chat.
    threaded: bool = False
    # Whether deliveries come from polling the provider (a mailbox) rather than a webhook.
    polled: bool = False
    # The kind of contact point a client's id here is (e-mail: their address): a client known
    # only by the address on their card can be written to first (a campaign).
    contact_point_kind: str = ""

    def __init__(self, channel):
        self.channel = channel

    # --- Inbound ---------------------------------------------------------------------------

    def parse(self, payload: dict) -> list[NormalizedEvent]:
        """Normalized events; an empty list for update types we do not handle."""
        raise NotImplementedError

    def anonymous_name(self) -> str:
        """The name of a new client whose messages bring none."""
        return ""

    # --- Outbound --------------------------------------------------------------------------

    # `idempotency_key` is the same for every attempt of one message: a provider that can
    # make a repeated call a no-op (VK's random_id) does.

    def send_text(self, *, to: str, text: str, reply_to_external_id: str = "",
                  idempotency_key: str = "") -> SendResult:
        raise NotImplementedError

    def send_file(self, *, to: str, name: str, content: bytes, mime_type: str,
                  caption: str = "", idempotency_key: str = "") -> SendResult:
        raise NotImplementedError

    def fetch_media(self, file_id: str, *, max_bytes: int | None = None) -> bytes:
        """A client's file; past `max_bytes` a permanent ProviderError, the rest unread."""
        raise NotImplementedError

    def media_in(self, delivery: dict, file_id: str, *, max_bytes: int | None = None) -> bytes:
        """A file carried inside the stored delivery its message came in (a mail's parts):
        the `polled` providers' fetch_media."""
        raise NotImplementedError

    def webhook_settings(self) -> dict[str, str]:
        """Channel fields to save before the provider is pointed at the URL (VK asks for its
        confirmation code as soon as the URL is added)."""
        return {}

    def setup_webhook(self, url: str) -> str:
        """Point the provider at `url`; returns what the admin is told it did."""
        raise NotImplementedError

    # --- The demo and simulate_inbound -------------------------------------------------------

    def simulated_delivery(self, *, sender: str, text: str) -> tuple[bytes, dict[str, str]]:
        """A delivery of a text from a made-up client named `sender` (the same name is the
        same client), as the provider would post it: body and headers, signed with the
        channel's secret."""
        raise NotImplementedError


PROVIDERS = {
    "telegram": "inbox.providers.telegram.TelegramProvider",
    "whatsapp": "inbox.providers.whatsapp.WhatsAppProvider",
    "max": "inbox.providers.max.MaxProvider",
    "vk": "inbox.providers.vk.VkProvider",
    "website": "inbox.providers.website.WebsiteProvider",
    "email": "inbox.providers.email.EmailProvider",
}
# The kinds whose provider posts to `/hooks/<kind>/<channel uuid>/` (core.webhooks); the
# website chat's widget has endpoints of its own (inbox.views.widget).
WEBHOOK_KINDS = ("telegram", "whatsapp", "max", "vk")


def provider_for(channel) -> Provider:
    module_name, _dot, class_name = PROVIDERS[channel.kind].rpartition(".")
    return getattr(import_module(module_name), class_name)(channel)
