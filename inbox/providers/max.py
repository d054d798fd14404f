"""MAX Bot API (the national messenger): the webhook subscription's deliveries and the calls
that send.

What MAX sends is described in ../shared/PROTOCOLS.md. Updates carry no id of their own: a
message is known by its `mid`, an edit by its mid and time, a button press by its callback
id. Only dialogs with the bot are a client's conversation; group chats are ignored.

The channel's settings: `credentials` the bot token, `webhook_secret` the subscription's
secret (MAX sends it back in a header on every delivery).
"""

import hashlib
import hmac
import json
import time

from django.utils.translation import gettext as _

from core.untrusted import parse_json
from core.webhooks import MAX_EVENT_ID, Delivery, Received
from inbox.providers.base import (
    ClientReachable,
    ClientUnreachable,
    InboundAttachment,
    InboundMessage,
    NormalizedEvent,
    Provider,
    ProviderError,
    SendResult,
    moment,
    obj,
    objs,
    text,
)

SECRET_HEADER = "X-Max-Bot-Api-Secret"
DEFAULT_BASE_URL = "https://platform-api2.max.ru"
TEXT_LIMIT = 4000
UPDATE_TYPES = ["message_created", "message_edited", "message_callback", "bot_started",
                "bot_stopped"]

# Attachment types with a file behind them, and a name for those that come without one.
_FILES = {"file": "file", "image": "image.jpg", "video": "video.mp4", "audio": "audio.ogg",
          "sticker": "sticker.webp"}
_KIND = {"image": "photo", "file": "document"}


def _name_of(user: dict) -> str:
    name = text(user.get("name")) or " ".join(
        filter(None, [text(user.get("first_name")), text(user.get("last_name"))]))
    return name.strip()[:200]


def _attachment(item: dict) -> InboundAttachment | None:
    kind = text(item.get("type"))
    url = text(obj(item.get("payload")).get("url"))
    if kind not in _FILES or not url.startswith(("https://", "http://")):
        return None
    size = item.get("size")
    return InboundAttachment(
        kind=_KIND.get(kind, kind), file_id=url[:2000],
        name=(text(item.get("filename")) or _FILES[kind])[:255],
        size=size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0,
    )


def _extra_text(attachments: list[dict]) -> str:
    """What a location or a contact card says (they have no file)."""
    lines = []
    for item in attachments:
        if item.get("type") == "location":
            lines.append(_("Location: %(place)s") % {
                "place": f"{text(item.get('latitude'))}, {text(item.get('longitude'))}"})
        elif item.get("type") == "contact":
            payload = obj(item.get("payload"))
            name = _name_of(obj(payload.get("max_info"))) or text(payload.get("vcf_info"))[:200]
            lines.append(_("Contact card: %(cards)s") % {"cards": name})
    return "\n".join(lines)


class MaxProvider(Provider):
    kind = "max"
    max_body_bytes = 1_000_000
    text_limit = TEXT_LIMIT

    # --- Inbound ---------------------------------------------------------------------------

    def verify(self, delivery: Delivery) -> bool:
        expected = self.channel.webhook_secret or ""
        given = delivery.headers.get(SECRET_HEADER) or ""
        if not expected or not given:
            return False
        return hmac.compare_digest(given.encode(), expected.encode())

    def read(self, delivery: Delivery) -> Received:
        payload = parse_json(delivery.body, max_bytes=self.max_body_bytes)
        if not isinstance(payload, dict) or not isinstance(payload.get("update_type"), str):
            raise ValueError("an update without an update_type")
        return Received(event_id=self.event_id(payload, delivery.body),
                        event_type=payload["update_type"][:50], payload=delivery.body.decode())

    def event_id(self, payload: dict, body: bytes) -> str:
        kind = payload["update_type"]
        mid = text(obj(obj(payload.get("message")).get("body")).get("mid"))
        callback_id = text(obj(payload.get("callback")).get("callback_id"))
        chat_id = text(payload.get("chat_id"))
        if kind == "message_created" and mid:
            key = mid
        elif kind == "message_edited" and mid:
            # An edit keeps the message's mid: it is known by its time too.
            key = f"edit:{mid}:{text(payload.get('timestamp'))}"
        elif kind == "message_callback" and callback_id:
            key = f"callback:{callback_id}"
        elif kind in ("bot_started", "bot_stopped") and chat_id:
            key = f"{kind}:{chat_id}:{text(payload.get('timestamp'))}"
        else:
            key = ""
        if not key or len(key) > MAX_EVENT_ID:
            return "sha256:" + hashlib.sha256(body).hexdigest()
        return key

    def parse(self, payload: dict) -> list[NormalizedEvent]:
        kind = payload.get("update_type")
        if kind in ("message_created", "message_edited"):
            inbound = self._message(obj(payload.get("message")),
                                    edited=kind == "message_edited", at=payload.get("timestamp"))
            return [inbound] if inbound else []
        if kind == "message_callback":
            return self._callback(payload)
        chat_id = text(payload.get("chat_id"))
        if kind == "bot_started" and chat_id:
            return [ClientReachable(sender_id=chat_id)]
        if kind == "bot_stopped" and chat_id:
            return [ClientUnreachable(sender_id=chat_id,
                                      reason=_("The client stopped the bot in MAX."))]
        return []

    def _message(self, message: dict, *, edited: bool, at) -> InboundMessage | None:
        recipient = obj(message.get("recipient"))
        sender = obj(message.get("sender"))
        body = obj(message.get("body"))
        chat_id = text(recipient.get("chat_id"))
        if recipient.get("chat_type") != "dialog" or sender.get("is_bot") is True \
                or not text(body.get("mid")) or not chat_id:
            return None
        link = obj(message.get("link"))
        linked = obj(link.get("message"))
        items = objs(body.get("attachments"))
        said = text(body.get("text"))
        if not said and link.get("type") == "forward":
            said = text(linked.get("text"))
        return InboundMessage(
            external_id=text(body["mid"])[:100],
            sender_id=chat_id,
            sender_name=_name_of(sender),
            text="\n".join(filter(None, [said, _extra_text(items)])),
            sent_at=moment(at if edited and at else message.get("timestamp") or at,
                           milliseconds=True),
            reply_to_external_id=text(linked.get("mid"))[:100]
            if link.get("type") == "reply" else "",
            edited=edited,
            attachments=tuple(a for a in map(_attachment, items) if a is not None),
        )

    def _callback(self, payload: dict) -> list[NormalizedEvent]:
        """A button pressed under one of our messages: what it said is the client's answer."""
        callback = obj(payload.get("callback"))
        recipient = obj(obj(payload.get("message")).get("recipient"))
        chat_id = text(recipient.get("chat_id"))
        if recipient.get("chat_type") != "dialog" or not chat_id \
                or not text(callback.get("callback_id")):
            return []
        return [InboundMessage(
            external_id=f"callback:{text(callback['callback_id'])}"[:100],
            sender_id=chat_id,
            sender_name=_name_of(obj(callback.get("user"))),
            text=text(callback.get("payload")),
            sent_at=moment(callback.get("timestamp") or payload.get("timestamp"),
                           milliseconds=True),
        )]

    def anonymous_name(self) -> str:
        return "MAX"

    # --- Outbound ----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{(self.channel.api_base_url or DEFAULT_BASE_URL).rstrip('/')}/{path}"

    def _call(self, method: str, url: str, **kwargs) -> dict:
        from inbox.providers.http import ProviderHttp, json_of

        http = ProviderHttp("MAX")
        response = http.request(method, url, headers={"Authorization": self.channel.credentials},
                                **kwargs)
        payload = json_of(response)
        if response.status_code == 200 and payload.get("success", True) is not False:
            return payload
        code = str(payload.get("code") or "")
        detail = str(payload.get("message") or code)
        if code == "attachment.not.ready":
            # The upload is still being processed: sending again shortly works.
            raise http.refused(response, detail, permanent=False, retry_after=2, code=code)
        raise http.refused(response, detail, code=code or response.status_code,
                           client_unreachable=response.status_code == 403)

    def _send(self, to: str, body: dict) -> SendResult:
        answer = self._call("POST", self._url("messages"), params={"chat_id": to}, json=body)
        mid = ((answer.get("message") or {}).get("body") or {}).get("mid")
        if not mid:
            raise ProviderError(_("MAX answered without a message id."), permanent=False)
        return SendResult(external_id=str(mid)[:100])

    def send_text(self, *, to: str, text: str, reply_to_external_id: str = "",
                  idempotency_key: str = "") -> SendResult:
        if not text or len(text) > TEXT_LIMIT:
            raise ProviderError(_("MAX takes 1 to %(limit)s characters per message.")
                                % {"limit": TEXT_LIMIT}, permanent=True)
        body: dict = {"text": text}
        if reply_to_external_id and not reply_to_external_id.startswith("callback:"):
            body["link"] = {"type": "reply", "mid": reply_to_external_id}
        return self._send(to, body)

    def send_file(self, *, to: str, name: str, content: bytes, mime_type: str,
                  caption: str = "", idempotency_key: str = "") -> SendResult:
        from inbox.providers.http import FILE_TIMEOUT, ProviderHttp, json_of

        slot = self._call("POST", self._url("uploads"), params={"type": "file"})
        upload_url = slot.get("url")
        if not isinstance(upload_url, str) or not upload_url.startswith("http"):
            raise ProviderError(_("MAX gave no address to upload the file to."),
                                permanent=False)
        http = ProviderHttp("MAX")
        response = http.request("POST", upload_url, timeout=FILE_TIMEOUT,
                                headers={"Authorization": self.channel.credentials},
                                files={"data": (name, content,
                                                mime_type or "application/octet-stream")})
        token = json_of(response).get("token") or slot.get("token")
        if response.status_code != 200 or not token:
            raise http.refused(response, json_of(response).get("message", ""))
        body: dict = {"attachments": [{"type": "file", "payload": {"token": token}}]}
        if caption:
            body["text"] = caption[:TEXT_LIMIT]
        return self._send(to, body)

    def fetch_media(self, file_id: str, *, max_bytes: int | None = None) -> bytes:
        from inbox.providers.http import ProviderHttp

        if not file_id.startswith(("https://", "http://")):
            raise ProviderError(_("MAX gave no address for the file."), permanent=True)
        return ProviderHttp("MAX").download(file_id, max_bytes=max_bytes)

    def setup_webhook(self, url: str) -> str:
        self._call("POST", self._url("subscriptions"), json={
            "url": url, "update_types": UPDATE_TYPES, "secret": self.channel.webhook_secret})
        return _("MAX now delivers to %(url)s.") % {"url": url}

    # --- The demo ----------------------------------------------------------------------------

    def simulated_delivery(self, *, sender: str, text: str) -> tuple[bytes, dict[str, str]]:
        user_id = 400_000_000 + int(hashlib.sha256(sender.encode()).hexdigest()[:10], 16) \
            % 100_000_000
        now = int(time.time() * 1000)
        first, _space, last = sender.partition(" ")
        payload = {"update_type": "message_created", "timestamp": now, "message": {
            "sender": {"user_id": user_id, "first_name": first, "last_name": last,
                       "name": sender, "is_bot": False},
            "recipient": {"chat_id": user_id + 7_000_000_000, "chat_type": "dialog"},
            "timestamp": now,
            "body": {"mid": "mid." + hashlib.sha256(f"{sender}{now}{text}".encode()
                                                    ).hexdigest()[:32],
                     "seq": now, "text": text},
        }}
        body = json.dumps(payload, ensure_ascii=False).encode()
        return body, {SECRET_HEADER: self.channel.webhook_secret}
