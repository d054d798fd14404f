"""The interface every messenger provider implements, and the normalized events it yields.

As in healthchecks' transports: a provider classifies its own errors as permanent (the bot
was blocked: retrying cannot help) or retryable (429, 5xx, a network failure), and the
sending task retries only the latter, honouring `retry_after` when the provider gives one.
"""

from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass(frozen=True)
class ClientUnreachable:
    """The client blocked the bot (or left): sends to them can only fail from now on."""

    sender_id: str
    reason: str


NormalizedEvent = InboundMessage | ClientUnreachable


@dataclass(frozen=True)
class SendResult:
    external_id: str


class Provider(WebhookProvider):
    """One channel's adapter. Built per channel: `provider_for(channel)`. Inbound, it checks
    and reads webhook deliveries (core.webhooks: `verify`, `read`) and turns a stored one
    into normalized events (`parse`); outbound, it sends and fetches media. It touches no
    model and sends no realtime event: routing and storing are the inbox's
    (inbox.services)."""

    kind: str = ""
    # Whether the manager can send the client a file here (the composer offers it only then).
    sends_files: bool = True

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

    def send_text(self, *, to: str, text: str, reply_to_external_id: str = "") -> SendResult:
        raise NotImplementedError

    def send_file(self, *, to: str, name: str, content: bytes, mime_type: str,
                  caption: str = "") -> SendResult:
        raise NotImplementedError

    def fetch_media(self, file_id: str) -> bytes:
        raise NotImplementedError

    def setup_webhook(self, url: str) -> None:
        raise NotImplementedError


PROVIDERS = {
    "telegram": "inbox.providers.telegram.TelegramProvider",
    "website": "inbox.providers.website.WebsiteProvider",
}
# The kinds whose provider posts to `/hooks/<kind>/<channel uuid>/` (core.webhooks); the
# website chat's widget has endpoints of its own (inbox.views.widget).
WEBHOOK_KINDS = ("telegram",)


def provider_for(channel) -> Provider:
    module_name, _dot, class_name = PROVIDERS[channel.kind].rpartition(".")
    return getattr(import_module(module_name), class_name)(channel)
