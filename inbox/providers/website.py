"""Website chat: the widget on the company's site is the "provider".

Inbound, the widget's POST (inbox/widget.py) is stored as an InboundEvent like any webhook
delivery, in this shape (the visitor's token is not in it, only its keyed hash):

    {"id": "<the widget's uuid of the message>", "visitor": "<visitor id>",
     "name": "<the name the visitor gave, or empty>", "text": "...",
     "sent_at": "<ISO time the server received it>", "origin": "https://shop.example"}

Outbound, a reply goes to the visitor's websocket group (their open widgets); a visitor who is
not on the site reads it in their history on the next visit, so a reply is sent once it is
stored for them, whether or not a widget was open.
"""

import json
import logging
import uuid
from datetime import datetime

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core import events as crm_events
from inbox.providers.base import (
    InboundMessage,
    NormalizedEvent,
    Provider,
    ProviderError,
    SendResult,
)

logger = logging.getLogger("inbox.website")


def visitor_group(visitor: str) -> str:
    """The channel-layer group of one visitor's widget sockets."""
    return f"widget.{visitor}"


class WebsiteProvider(Provider):
    kind = "website"
    max_body_bytes = 64 * 1024
    sends_files = False

    # --- Inbound ---------------------------------------------------------------------------

    def event_id(self, payload: dict) -> str:
        return f"w:{payload['visitor'][:16]}:{payload['id']}"

    def event_type(self, payload: dict) -> str:
        return "message"

    def inbound_payload(self, *, visitor: str, message_id: str, text: str, name: str,
                        origin: str) -> dict:
        """What the widget endpoint stores for one visitor message (`visitor`: the keyed
        hash of their token, inbox.website.visitor_id)."""
        return {
            "id": message_id,
            "visitor": visitor,
            "name": name,
            "text": text,
            "sent_at": timezone.now().isoformat(),
            "origin": origin,
        }

    def parse(self, payload: dict) -> list[NormalizedEvent]:
        if not isinstance(payload, dict) or not payload.get("visitor") or not payload.get("id"):
            return []
        return [InboundMessage(
            external_id=self.event_id(payload),
            sender_id=payload["visitor"],
            sender_name=self._name(payload),
            text=str(payload.get("text") or ""),
            sent_at=datetime.fromisoformat(payload["sent_at"]),
        )]

    def _name(self, payload: dict) -> str:
        """The name the visitor gave, if any: a message without one must not rename them
        (the inbox keeps a known name when a message brings none)."""
        return str(payload.get("name") or "").strip()

    def anonymous_name(self) -> str:
        with translation.override(settings.LANGUAGE_CODE):
            return _("Website visitor")

    # --- Outbound --------------------------------------------------------------------------

    def send_text(self, *, to: str, text: str, reply_to_external_id: str = "",
                  idempotency_key: str = "") -> SendResult:
        message_id = str(uuid.uuid4())
        event = {"id": message_id, "direction": "out", "text": text,
                 "at": timezone.now().isoformat()}
        try:
            crm_events.layer_send([(visitor_group(to),
                                    {"type": "widget.message", "message": event})])
        except Exception:  # the widget reads it from its history when it reconnects
            logger.warning("website chat %s: live push failed", self.channel.pk,
                           exc_info=True)
        return SendResult(external_id=f"w:out:{message_id}")

    def send_file(self, *, to: str, name: str, content: bytes, mime_type: str,
                  caption: str = "", idempotency_key: str = "") -> SendResult:
        raise ProviderError(_("Files cannot be sent to the website chat yet: send the text, "
                              "or a link to the file."), permanent=True)

    def fetch_media(self, file_id: str, *, max_bytes: int | None = None) -> bytes:
        raise ProviderError(_("Website visitors cannot send files."), permanent=True)

    def setup_webhook(self, url: str) -> str:
        """Nothing to register: the widget posts to this CRM itself."""
        return ""


def payload_text(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
