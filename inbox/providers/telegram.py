"""Telegram Bot API: the inbound half (webhook check, parsing) and the door to the outbound
half, `inbox.providers.telegram_client.TelegramBotClient`, imported when first used.

What Telegram sends is described in ../shared/PROTOCOLS.md. Only private chats are handled:
a bot added to a group or a channel sees messages that are not a client's conversation.
"""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

from django.utils.translation import gettext as _

from core.untrusted import parse_json
from core.webhooks import Delivery, Received
from inbox.providers.base import (
    ClientUnreachable,
    InboundAttachment,
    InboundMessage,
    NormalizedEvent,
    Provider,
    SendResult,
)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Kinds of media a message may carry, in the order we look for them, with a default name
# and MIME type for the ones Telegram sends without (a photo or a voice note has no name).
_MEDIA = {
    "document": ("file", ""),
    "photo": ("photo.jpg", "image/jpeg"),
    "voice": ("voice.ogg", "audio/ogg"),
    "audio": ("audio.mp3", "audio/mpeg"),
    "video": ("video.mp4", "video/mp4"),
    "video_note": ("video_note.mp4", "video/mp4"),
    "animation": ("animation.mp4", "video/mp4"),
    "sticker": ("sticker.webp", "image/webp"),
}
_MESSAGE_TYPES = ("message", "edited_message")


def _when(timestamp) -> datetime:
    return datetime.fromtimestamp(int(timestamp), tz=UTC)


def _name_of(user: dict) -> str:
    name = " ".join(filter(None, [user.get("first_name"), user.get("last_name")])).strip()
    if not name and user.get("username"):
        name = f"@{user['username']}"
    return name or f"Telegram {user.get('id', '')}".strip()


def _attachment(kind: str, media) -> InboundAttachment:
    default_name, default_mime = _MEDIA[kind]
    if kind == "photo":
        # An array of sizes of one picture: keep the largest.
        media = max(media, key=lambda s: (s.get("file_size") or 0,
                                          (s.get("width") or 0) * (s.get("height") or 0)))
    mime = media.get("mime_type") or default_mime
    if kind == "sticker":
        if media.get("is_animated"):
            default_name, mime = "sticker.tgs", "application/x-tgsticker"
        elif media.get("is_video"):
            default_name, mime = "sticker.webm", "video/webm"
    return InboundAttachment(
        kind=kind,
        file_id=str(media["file_id"]),
        name=(media.get("file_name") or default_name)[:255],
        mime_type=mime[:100],
        size=int(media.get("file_size") or 0),
    )


class TelegramProvider(Provider):
    kind = "telegram"
    foreign = True
    max_body_bytes = 1_000_000

    # --- Inbound ---------------------------------------------------------------------------

    def verify(self, delivery: Delivery) -> bool:
        expected = self.channel.webhook_secret or ""
        given = delivery.headers.get(SECRET_HEADER) or ""
        if not expected or not given:
            return False
        return hmac.compare_digest(given.encode(), expected.encode())

    def read(self, delivery: Delivery) -> Received:
        payload = parse_json(delivery.body, max_bytes=self.max_body_bytes)
        return Received(event_id=self.event_id(payload), event_type=self.event_type(payload),
                        payload=delivery.body.decode())

    def event_id(self, payload: dict) -> str:
        update_id = payload.get("update_id") if isinstance(payload, dict) else None
        if isinstance(update_id, bool) or not isinstance(update_id, int):
            raise ValueError("an update without an integer update_id")
        return str(update_id)

    def event_type(self, payload: dict) -> str:
        for key in payload:
            if key != "update_id":
                return str(key)[:50]
        return ""

    def parse(self, payload: dict) -> list[NormalizedEvent]:
        kind = self.event_type(payload)
        body = payload.get(kind)
        if not isinstance(body, dict):
            return []
        chat = body.get("chat") or {}
        if chat.get("type") != "private":
            return []
        if kind in _MESSAGE_TYPES:
            return [self._message(body, edited=kind == "edited_message")]
        if kind == "my_chat_member":
            status = (body.get("new_chat_member") or {}).get("status")
            if status == "kicked":
                return [ClientUnreachable(sender_id=str(chat["id"]),
                                          reason="The client blocked the bot.")]
        return []

    def _message(self, body: dict, *, edited: bool) -> InboundMessage:
        chat_id = str(body["chat"]["id"])
        sender = body.get("from") or body["chat"]
        reply = body.get("reply_to_message") or {}
        attachments = tuple(
            _attachment(kind, body[kind]) for kind in _MEDIA if body.get(kind)
        )
        # An animation also comes as a document: keep one of the two.
        if body.get("animation"):
            attachments = tuple(a for a in attachments if a.kind != "document")
        return InboundMessage(
            external_id=f"{chat_id}:{body['message_id']}",
            sender_id=chat_id,
            sender_name=_name_of(sender),
            text=body.get("text") or body.get("caption") or "",
            sent_at=_when(body.get("edit_date") if edited and body.get("edit_date")
                          else body["date"]),
            reply_to_external_id=f"{chat_id}:{reply['message_id']}" if reply else "",
            edited=edited,
            attachments=attachments,
        )

    # --- Outbound: the Bot API client ------------------------------------------------------

    def _client(self):
        from inbox.providers.telegram_client import TelegramBotClient

        return TelegramBotClient(self.channel)

    def send_text(self, *, to: str, text: str, reply_to_external_id: str = "",
                  idempotency_key: str = "") -> SendResult:
        return self._client().send_text(to=to, text=text,
                                        reply_to_external_id=reply_to_external_id)

    def send_file(self, *, to: str, name: str, content: bytes, mime_type: str,
                  caption: str = "", idempotency_key: str = "") -> SendResult:
        return self._client().send_file(to=to, name=name, content=content,
                                        mime_type=mime_type, caption=caption)

    def fetch_media(self, file_id: str, *, max_bytes: int | None = None) -> bytes:
        # getFile hands bots files of 20 MB at most; the caller checks the size it got.
        return self._client().fetch_media(file_id)

    def setup_webhook(self, url: str) -> str:
        self._client().setup_webhook(url)
        return _("Telegram now delivers to %(url)s.") % {"url": url}

    # --- The demo ----------------------------------------------------------------------------

    def simulated_delivery(self, *, sender: str, text: str) -> tuple[bytes, dict[str, str]]:
        user_id = 100_000_000 + int(hashlib.sha256(sender.encode()).hexdigest()[:12], 16) \
            % 900_000_000
        first, _space, last = sender.partition(" ")
        person = {"id": user_id, "first_name": first, **({"last_name": last} if last else {})}
        update_id = int(time.time() * 1000) % 2_000_000_000
        update = {"update_id": update_id, "message": {
            "message_id": update_id % 1_000_000_000,
            "from": {**person, "is_bot": False, "language_code": "ru"},
            "chat": {**person, "type": "private"},
            "date": int(time.time()),
            "text": text,
        }}
        body = json.dumps(update, ensure_ascii=False).encode()
        return body, {SECRET_HEADER: self.channel.webhook_secret}
