"""VK community messages: the Callback API's deliveries and the VK API calls that send.

What VK sends is described in ../shared/PROTOCOLS.md. VK checks the URL with a confirmation
request answered by the community's code, puts the secret inside the JSON body (no header,
no signature), and retries any delivery not answered "ok". `message_reply` is a message the
community sent, from VK's own interface or through this CRM: the first kind is shown as
ours, the second is already here (its `random_id` is our message's).

The channel's settings: `credentials` the community's access token, `webhook_secret` the
Callback API's secret key, `handshake_secret` the confirmation code, `account_id` the
community (group) id.
"""

import hashlib
import hmac
import json
import time

from django.utils.translation import gettext as _

from core.untrusted import parse_json
from core.webhooks import Answer, Delivery, Received
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

DEFAULT_BASE_URL = "https://api.vk.com"
API_VERSION = "5.199"
TEXT_LIMIT = 4096
# Peer ids from here on are group chats, not a client's dialog with the community.
CHAT_PEER_FROM = 2_000_000_000
# VK error codes worth retrying: unknown (1), too many requests (6), flood control (9),
# internal (10).
_RETRYABLE = {1, 6, 9, 10}
# The client does not accept messages from the community (any more).
_UNREACHABLE = {900, 901, 902}
_EVENTS = {"message_new": 1, "message_reply": 1, "message_edit": 1, "message_allow": 1,
           "message_deny": 1}


def _largest_url(sizes) -> str:
    best = max((size for size in objs(sizes) if text(size.get("url"))),
               key=lambda size: _number(size.get("width")) * _number(size.get("height")),
               default=None)
    return text(best["url"]) if best else ""


def _number(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _attachment(item: dict) -> InboundAttachment | str | None:
    """A file to fetch, or a line of text for what has no file (a link, a video)."""
    kind = text(item.get("type"))
    body = obj(item.get(kind))
    if kind == "photo":
        url, name, mime, kind = _largest_url(body.get("sizes")), "photo.jpg", "image/jpeg", \
            "photo"
    elif kind == "doc":
        url, name, mime, kind = text(body.get("url")), text(body.get("title")) or "file", "", \
            "document"
    elif kind == "audio_message":
        url, name, mime, kind = text(body.get("link_ogg")) or text(body.get("link_mp3")), \
            "voice.ogg", "audio/ogg", "voice"
    elif kind == "sticker":
        url, name, mime = _largest_url(body.get("images")), "sticker.png", "image/png"
    elif kind == "link":
        return text(body.get("url"))
    elif kind in ("video", "audio", "wall"):
        return _("[%(kind)s: open the conversation in VK to see it]") % {"kind": kind}
    else:
        return None
    if not url.startswith(("https://", "http://")):
        return None
    return InboundAttachment(kind=kind, file_id=url[:2000], name=name[:255], mime_type=mime,
                             size=max(_number(body.get("size")), 0))


def _message_object(payload: dict) -> dict:
    message = obj(payload.get("object"))
    # message_new wraps the message (API 5.103+); message_reply and message_edit do not.
    return obj(message["message"]) if isinstance(message.get("message"), dict) else message


class VkProvider(Provider):
    kind = "vk"
    max_body_bytes = 1_000_000
    text_limit = TEXT_LIMIT

    # --- Inbound ---------------------------------------------------------------------------

    def verify(self, delivery: Delivery) -> bool:
        expected = self.channel.webhook_secret or ""
        try:
            payload = parse_json(delivery.body, max_bytes=self.max_body_bytes)
        except ValueError:
            # No secret can be read out of it: `read` refuses it as malformed (400) and
            # nothing is stored, as for every provider.
            return True
        if not isinstance(payload, dict):
            return True
        group = str(payload.get("group_id") or "")
        if self.channel.account_id and group != self.channel.account_id:
            return False
        given = payload.get("secret")
        if payload.get("type") == "confirmation" and given is None:
            # VK's confirmation request may come without the secret: answering it only
            # tells the community's own code back.
            return bool(self.channel.account_id)
        if not expected or not isinstance(given, str) or not given:
            return False
        return hmac.compare_digest(given.encode(), expected.encode())

    def read(self, delivery: Delivery) -> Received | Answer:
        payload = parse_json(delivery.body, max_bytes=self.max_body_bytes)
        kind = payload.get("type") if isinstance(payload, dict) else None
        if not isinstance(kind, str) or not kind:
            raise ValueError("a delivery without a type")
        if kind == "confirmation":
            if not self.channel.handshake_secret:
                raise ValueError("no confirmation code is set for this channel")
            return Answer(self.channel.handshake_secret)
        event_id = payload.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            # Older API versions send no event id.
            event_id = "sha256:" + hashlib.sha256(delivery.body).hexdigest()
        return Received(event_id=event_id, event_type=kind[:50],
                        payload=delivery.body.decode(), answer="ok")

    def parse(self, payload: dict) -> list[NormalizedEvent]:
        kind = payload.get("type")
        user = _number(obj(payload.get("object")).get("user_id"))
        if kind == "message_allow" and user > 0:
            return [ClientReachable(sender_id=str(user))]
        if kind == "message_deny" and user > 0:
            return [ClientUnreachable(sender_id=str(user), reason=_(
                "The client forbade messages from the community in VK."))]
        if kind in ("message_new", "message_edit", "message_reply"):
            message = self._message(_message_object(payload), kind)
            return [message] if message else []
        return []

    def _message(self, message: dict, kind: str) -> InboundMessage | None:
        peer = _number(message.get("peer_id"))
        if not 0 < peer < CHAT_PEER_FROM or not self._message_id(message):
            return None  # a group chat, or not a message at all
        from_us = kind == "message_reply" or message.get("out") == 1
        if kind == "message_edit" and from_us:
            return None  # our own edit: nothing the client said
        parsed = [_attachment(item) for item in objs(message.get("attachments"))]
        lines = [text(message.get("text"))]
        lines += [p for p in parsed if isinstance(p, str) and p]
        coordinates = obj(obj(message.get("geo")).get("coordinates"))
        if coordinates:
            place = text(obj(obj(message.get("geo")).get("place")).get("title"))
            point = f"{text(coordinates.get('latitude'))}, {text(coordinates.get('longitude'))}"
            lines.append(_("Location: %(place)s") % {
                "place": f"{place} ({point})" if place else point})
        lines += [f"» {text(forwarded.get('text'))}" for forwarded in
                  objs(message.get("fwd_messages")) if text(forwarded.get("text"))]
        random_id = _number(message.get("random_id"))
        edited_at = message.get("update_time") if kind == "message_edit" else None
        return InboundMessage(
            external_id=self._message_id(message),
            sender_id=str(peer),
            sender_name="" if from_us else f"VK id{peer}",
            text="\n".join(line for line in lines if line),
            sent_at=moment(edited_at or message.get("date")),
            reply_to_external_id=self._message_id(obj(message.get("reply_message"))),
            edited=kind == "message_edit",
            attachments=tuple(p for p in parsed if isinstance(p, InboundAttachment)),
            from_us=from_us,
            our_id=str(random_id) if random_id else "",
        )

    @staticmethod
    def _message_id(message: dict) -> str:
        """The community's id of a message; a group chat's have none, only their number in
        the chat. Empty when the message has neither."""
        if _number(message.get("id")) > 0:
            return str(message["id"])
        number = _number(message.get("conversation_message_id"))
        return f"{_number(message.get('peer_id'))}:c{number}" if number > 0 else ""

    def anonymous_name(self) -> str:
        return "VK"

    # --- Outbound: the VK API ----------------------------------------------------------------

    def _call(self, method: str, **params):
        from inbox.providers.http import ProviderHttp, json_of

        http = ProviderHttp("VK")
        url = f"{(self.channel.api_base_url or DEFAULT_BASE_URL).rstrip('/')}/method/{method}"
        response = http.request("POST", url, data={
            **params, "access_token": self.channel.credentials, "v": API_VERSION})
        payload = json_of(response)
        if response.status_code == 200 and "response" in payload:
            return payload["response"]
        error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
        code = error.get("error_code")
        if response.status_code != 200 and not error:
            raise http.refused(response)
        raise http.refused(response, str(error.get("error_msg") or code),
                           permanent=code not in _RETRYABLE, code=code,
                           client_unreachable=code in _UNREACHABLE)

    @staticmethod
    def random_id(key: str) -> int:
        """VK sends a message once per random_id (int32): the same message's retries reuse
        it, so a retry after an answer that got lost is never a second message."""
        return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) & 0x7FFF_FFFF or 1

    def send_text(self, *, to: str, text: str, reply_to_external_id: str = "",
                  idempotency_key: str = "") -> SendResult:
        if not text or len(text) > TEXT_LIMIT:
            raise ProviderError(_("VK takes 1 to %(limit)s characters per message.")
                                % {"limit": TEXT_LIMIT}, permanent=True)
        params = {"peer_id": to, "message": text,
                  "random_id": self.random_id(idempotency_key or f"{to}:{text}:{time.time()}")}
        if reply_to_external_id.isdigit():
            params["reply_to"] = reply_to_external_id
        return SendResult(external_id=str(self._call("messages.send", **params)))

    def send_file(self, *, to: str, name: str, content: bytes, mime_type: str,
                  caption: str = "", idempotency_key: str = "") -> SendResult:
        from inbox.providers.http import FILE_TIMEOUT, ProviderHttp, json_of

        server = self._call("docs.getMessagesUploadServer", type="doc", peer_id=to)
        upload_url = server.get("upload_url") if isinstance(server, dict) else None
        if not isinstance(upload_url, str) or not upload_url.startswith("http"):
            raise ProviderError(_("VK gave no address to upload the file to."),
                                permanent=False)
        http = ProviderHttp("VK")
        response = http.request("POST", upload_url, timeout=FILE_TIMEOUT, files={
            "file": (name, content, mime_type or "application/octet-stream")})
        uploaded = json_of(response).get("file")
        if response.status_code != 200 or not uploaded:
            raise http.refused(response, str(json_of(response).get("error") or ""))
        saved = self._call("docs.save", file=uploaded, title=name)
        doc = saved.get("doc") if isinstance(saved, dict) else None
        if not isinstance(doc, dict) or "id" not in doc:
            raise ProviderError(_("VK did not keep the uploaded file."), permanent=False)
        params = {"peer_id": to, "attachment": f"doc{doc['owner_id']}_{doc['id']}",
                  "random_id": self.random_id(idempotency_key or f"{to}:{name}:{time.time()}")}
        if caption:
            params["message"] = caption[:TEXT_LIMIT]
        return SendResult(external_id=str(self._call("messages.send", **params)))

    def fetch_media(self, file_id: str, *, max_bytes: int | None = None) -> bytes:
        from inbox.providers.http import ProviderHttp

        if not file_id.startswith(("https://", "http://")):
            raise ProviderError(_("VK gave no address for the file."), permanent=True)
        return ProviderHttp("VK").download(file_id, max_bytes=max_bytes)

    def webhook_settings(self) -> dict[str, str]:
        """The confirmation code VK will ask the URL for, saved before VK asks."""
        if not self.channel.account_id:
            raise ProviderError(_("Fill in the community ID first."), permanent=True)
        answer = self._call("groups.getCallbackConfirmationCode",
                            group_id=self.channel.account_id)
        code = answer.get("code") if isinstance(answer, dict) else None
        if not code:
            raise ProviderError(_("VK gave no confirmation code."), permanent=False)
        return {"handshake_secret": str(code)}

    def setup_webhook(self, url: str) -> str:
        group = self.channel.account_id
        added = self._call("groups.addCallbackServer", group_id=group, url=url,
                           title="CRM", secret_key=self.channel.webhook_secret)
        server_id = added.get("server_id") if isinstance(added, dict) else None
        self._call("groups.setCallbackSettings", group_id=group, server_id=server_id,
                   api_version=API_VERSION, **_EVENTS)
        return _("VK now delivers to %(url)s.") % {"url": url}

    # --- The demo ----------------------------------------------------------------------------

    def simulated_delivery(self, *, sender: str, text: str) -> tuple[bytes, dict[str, str]]:
        user_id = 700_000_000 + int(hashlib.sha256(sender.encode()).hexdigest()[:10], 16) \
            % 100_000_000
        now = int(time.time())
        event_id = hashlib.sha256(f"{sender}{time.time()}{text}".encode()).hexdigest()[:40]
        payload = {
            "group_id": int(self.channel.account_id or 0), "type": "message_new",
            "event_id": event_id,
            "v": API_VERSION, "secret": self.channel.webhook_secret,
            "object": {"message": {"date": now, "from_id": user_id,
                                   "id": int(event_id[:7], 16),
                                   "out": 0, "peer_id": user_id, "text": text,
                                   "attachments": [], "fwd_messages": []},
                       "client_info": {"lang_id": 0}},
        }
        return json.dumps(payload, ensure_ascii=False).encode(), {}
