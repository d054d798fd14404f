"""WhatsApp Business Cloud API (Meta Graph): the webhook (GET handshake, signed POSTs,
messages and statuses) and the Graph calls (send, upload, media, templates, subscription).

What Meta sends is described in ../shared/PROTOCOLS.md. One Meta app may serve several
numbers through one callback URL: a delivery for another number than the channel's
(`account_id`, the phone number ID) is stored and ignored.

The channel's settings: `credentials` the access token, `webhook_secret` the app secret (it
signs every POST), `handshake_secret` the verify token, `account_id` the phone number ID,
`business_account_id` the WhatsApp Business Account ID (templates, subscription).
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from django.utils.translation import gettext as _

from core.untrusted import parse_json
from core.webhooks import MAX_EVENT_ID, Delivery, Received
from inbox.providers.base import (
    DeliveryStatus,
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

SIGNATURE_HEADER = "X-Hub-Signature-256"
DEFAULT_BASE_URL = "https://graph.facebook.com"
API_VERSION = "v21.0"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
# Free-form messages reach a client only within this long after their last message; after
# it, only an approved template (PROTOCOLS.md: the customer-service window).
REPLY_WINDOW = timedelta(hours=24)

# Media types, with a name for the ones that come without (only documents have one).
_MEDIA = {
    "image": "image.jpg",
    "document": "file",
    "audio": "audio.ogg",
    "video": "video.mp4",
    "sticker": "sticker.webp",
}
_STATUSES = ("sent", "delivered", "read", "failed")
# Graph error codes worth retrying: rate limits (130429 per number, 131056 per pair, 4 and
# 80007 per app) and Meta's temporary failures (1, 2, 131000 "something went wrong").
_RETRYABLE = {1, 2, 4, 80007, 130429, 131000, 131056}
# The client cannot get messages from this number (not on WhatsApp, blocked us...).
_UNREACHABLE = {131026}
# 131047: more than 24 hours since the client last wrote (a template is needed).
OUTSIDE_WINDOW = 131047


def _digits(value) -> str:
    return "".join(ch for ch in text(value) if ch.isdigit())


def _changes(payload) -> list[dict]:
    """The `value` of every `messages` change in the envelope."""
    return [obj(change.get("value")) for entry in objs(obj(payload).get("entry"))
            for change in objs(entry.get("changes"))
            if change.get("field") == "messages" and isinstance(change.get("value"), dict)]


def _location_text(location: dict) -> str:
    place = ", ".join(text(location.get(key)) for key in ("name", "address")
                      if text(location.get(key)))
    point = f"{text(location.get('latitude'))}, {text(location.get('longitude'))}"
    return _("Location: %(place)s") % {"place": f"{place} ({point})" if place else point}


def _contacts_text(contacts: list[dict]) -> str:
    cards = []
    for card in contacts:
        name = text(obj(card.get("name")).get("formatted_name"))
        phones = ", ".join(text(p.get("phone")) for p in objs(card.get("phones"))
                           if text(p.get("phone")))
        cards.append(" ".join(filter(None, [name, phones])))
    return _("Contact card: %(cards)s") % {"cards": "; ".join(cards)}


def _message_text(message: dict) -> str:
    """What the manager reads of a message (media carry their caption)."""
    kind = text(message.get("type"))
    body = obj(message.get(kind))
    if kind == "text":
        return text(body.get("body"))
    if kind in _MEDIA:
        return text(body.get("caption"))
    if kind == "location":
        return _location_text(body)
    if kind == "contacts":
        return _contacts_text(objs(message.get("contacts")))
    if kind == "interactive":
        reply = obj(body.get("button_reply")) or obj(body.get("list_reply"))
        return " — ".join(filter(None, [text(reply.get("title")),
                                        text(reply.get("description"))]))
    if kind == "button":
        return text(body.get("text"))
    if kind == "reaction":
        return _("Reacted %(emoji)s") % {"emoji": text(body.get("emoji"))}
    return _("[A message of a kind this CRM cannot show: %(kind)s. Ask the client to send it "
             "again as text or a file.]") % {"kind": kind[:30]}


def _attachments(message: dict) -> tuple[InboundAttachment, ...]:
    kind = text(message.get("type"))
    media = obj(message.get(kind))
    if kind not in _MEDIA or not text(media.get("id")):
        return ()
    return (InboundAttachment(
        kind="voice" if kind == "audio" and media.get("voice") is True else kind,
        file_id=text(media["id"])[:300],
        name=(text(media.get("filename")) or _MEDIA[kind])[:255],
        mime_type=text(media.get("mime_type")).split(";")[0][:100],
    ),)


class WhatsAppProvider(Provider):
    kind = "whatsapp"
    foreign = True
    channel_rate = 80  # messages a second per business number (130429 past it)
    max_body_bytes = 3_000_000  # Meta batches up to a thousand statuses in one POST
    text_limit = TEXT_LIMIT
    makes_webhook_secret = False
    reply_window = REPLY_WINDOW

    # --- Inbound ---------------------------------------------------------------------------

    def handshake(self, query) -> str | None:
        expected = self.channel.handshake_secret or ""
        given = query.get("hub.verify_token") or ""
        challenge = query.get("hub.challenge") or ""
        if query.get("hub.mode") != "subscribe" or not expected or not given \
                or not challenge or len(challenge) > 200:
            return None
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return None
        return challenge

    def verify(self, delivery: Delivery) -> bool:
        secret = self.channel.webhook_secret or ""
        given = delivery.headers.get(SIGNATURE_HEADER) or ""
        if not secret or not given.startswith("sha256="):
            return False
        expected = hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given[len("sha256="):].lower().encode(), expected.encode())

    def read(self, delivery: Delivery) -> Received:
        payload = parse_json(delivery.body, max_bytes=self.max_body_bytes)
        if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
            raise ValueError("a delivery without an entry list")
        return Received(event_id=self.event_id(payload, delivery.body),
                        event_type=self.event_type(payload), payload=delivery.body.decode())

    def event_id(self, payload: dict, body: bytes) -> str:
        """Meta has no delivery id: a delivery of one message is its wamid, of one status
        "<wamid>:<status>"; a batch is the hash of those (the same batch again is the same
        id); anything else is the hash of the body. A message repeated in another batch is
        still stored once (messages are unique per channel by wamid)."""
        keys = []
        for value in _changes(payload):
            keys += [text(m.get("id")) for m in objs(value.get("messages"))]
            keys += [f"{text(s.get('id'))}:{text(s.get('status'))}"
                     for s in objs(value.get("statuses"))]
        if len(keys) == 1 and 0 < len(keys[0]) <= MAX_EVENT_ID:
            return keys[0]
        hashed = "\n".join(sorted(keys)).encode() if keys else body
        return "sha256:" + hashlib.sha256(hashed).hexdigest()

    def event_type(self, payload: dict) -> str:
        for value in _changes(payload):
            for key in ("messages", "statuses", "errors"):
                if value.get(key):
                    return key
        for entry in objs(payload.get("entry")):
            for change in objs(entry.get("changes")):
                return text(change.get("field"))[:50]
        return ""

    def parse(self, payload: dict) -> list[NormalizedEvent]:
        events: list[NormalizedEvent] = []
        for value in _changes(payload):
            number = text(obj(value.get("metadata")).get("phone_number_id"))
            if self.channel.account_id and number != self.channel.account_id:
                continue  # another number of the same Meta app
            names = {text(c.get("wa_id")): text(obj(c.get("profile")).get("name"))
                     for c in objs(value.get("contacts"))}
            for message in objs(value.get("messages")):
                event = self._message(message, names)
                if event is not None:
                    events.append(event)
            for status in objs(value.get("statuses")):
                if status.get("status") in _STATUSES and text(status.get("id")):
                    events.append(self._status(status))
        return events

    def _message(self, message: dict, names: dict) -> InboundMessage | None:
        sender = _digits(message.get("from"))
        if not text(message.get("id")) or not sender:
            return None
        kind = text(message.get("type"))
        reaction = obj(message.get("reaction"))
        if kind == "reaction" and not text(reaction.get("emoji")):
            return None  # a reaction taken back
        replied = reaction.get("message_id") if kind == "reaction" \
            else obj(message.get("context")).get("id")
        return InboundMessage(
            external_id=text(message["id"])[:100],
            sender_id=sender,
            sender_name=names.get(text(message.get("from"))) or f"+{sender}",
            text=_message_text(message),
            sent_at=moment(message.get("timestamp")),
            reply_to_external_id=text(replied)[:100],
            attachments=_attachments(message),
            phone=f"+{sender}",
        )

    @staticmethod
    def _status(status: dict) -> DeliveryStatus:
        error = ""
        for first in objs(status.get("errors"))[:1]:
            detail = text(obj(first.get("error_data")).get("details")) \
                or text(first.get("message")) or text(first.get("title"))
            error = _("WhatsApp could not deliver the message (%(code)s): %(detail)s") % {
                "code": text(first.get("code")) or "?", "detail": detail[:300]}
        return DeliveryStatus(external_id=text(status.get("id"))[:100],
                              status=status["status"], at=moment(status.get("timestamp")),
                              error=error)

    def anonymous_name(self) -> str:
        return "WhatsApp"

    # --- Outbound: the Graph API -----------------------------------------------------------

    def _url(self, *path) -> str:
        base = (self.channel.api_base_url or DEFAULT_BASE_URL).rstrip("/")
        return "/".join([base, API_VERSION, *map(str, path)])

    def _auth(self) -> dict:
        return {"Authorization": f"Bearer {self.channel.credentials}"}

    def _http(self):
        from inbox.providers.http import ProviderHttp

        return ProviderHttp("WhatsApp")

    def _call(self, method: str, url: str, **kwargs) -> dict:
        from inbox.providers.http import json_of

        http = self._http()
        response = http.request(method, url, headers=self._auth(), **kwargs)
        payload = json_of(response)
        if response.status_code == 200 and "error" not in payload:
            return payload
        error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
        code = error.get("code")
        detail = str((error.get("error_data") or {}).get("details") or error.get("message")
                     or "")
        if code == OUTSIDE_WINDOW:
            detail = _("more than 24 hours have passed since the client last wrote; only an "
                       "approved template can be sent now")
        retryable = code in _RETRYABLE or response.status_code >= 500
        raise http.refused(response, detail, permanent=not retryable,
                            code=code or response.status_code,
                            client_unreachable=code in _UNREACHABLE)

    def _send(self, body: dict) -> SendResult:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", **body}
        answer = self._call("POST", self._url(self.channel.account_id, "messages"), json=body)
        try:
            return SendResult(external_id=str(answer["messages"][0]["id"])[:100])
        except (KeyError, IndexError, TypeError):
            raise ProviderError(_("WhatsApp answered without a message id."),
                                permanent=False) from None

    def send_text(self, *, to: str, text: str, reply_to_external_id: str = "",
                  idempotency_key: str = "") -> SendResult:
        if not text or len(text) > TEXT_LIMIT:
            raise ProviderError(_("WhatsApp takes 1 to %(limit)s characters per message.")
                                % {"limit": TEXT_LIMIT}, permanent=True)
        body = {"to": to, "type": "text", "text": {"body": text, "preview_url": False}}
        if reply_to_external_id:
            body["context"] = {"message_id": reply_to_external_id}
        return self._send(body)

    def send_file(self, *, to: str, name: str, content: bytes, mime_type: str,
                  caption: str = "", idempotency_key: str = "") -> SendResult:
        from inbox.providers.http import FILE_TIMEOUT

        mime_type = mime_type or "application/octet-stream"
        uploaded = self._call(
            "POST", self._url(self.channel.account_id, "media"), timeout=FILE_TIMEOUT,
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (name, content, mime_type)})
        media = {"id": str(uploaded.get("id") or "")}
        # Pictures show in the chat; anything else goes as a document, keeping its name.
        kind = "image" if mime_type in ("image/jpeg", "image/png") else "document"
        if kind == "document":
            media["filename"] = name
        if caption:
            media["caption"] = caption[:CAPTION_LIMIT]
        return self._send({"to": to, "type": kind, kind: media})

    def send_template(self, *, to: str, name: str, language: str,
                      parameters: list[str]) -> SendResult:
        template = {"name": name, "language": {"code": language}}
        if parameters:
            template["components"] = [{"type": "body", "parameters": [
                {"type": "text", "text": value} for value in parameters]}]
        return self._send({"to": to, "type": "template", "template": template})

    def fetch_media(self, file_id: str, *, max_bytes: int | None = None) -> bytes:
        meta = self._call("GET", self._url(file_id))
        size = str(meta.get("file_size") or "")  # Graph sends it as a string
        if max_bytes is not None and size.isdigit() and int(size) > max_bytes:
            raise ProviderError(_("The file is larger than the limit and was not "
                                  "downloaded."), permanent=True)
        url = meta.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ProviderError(_("WhatsApp gave no address for the file."), permanent=True)
        return self._http().download(url, max_bytes=max_bytes, headers=self._auth())

    def templates(self) -> list[dict]:
        """The account's message templates, as Graph lists them (every page)."""
        url = self._url(self.channel.business_account_id, "message_templates")
        params = {"limit": 100, "fields": "name,language,status,category,components"}
        found: list[dict] = []
        for _page in range(50):
            answer = self._call("GET", url, params=params)
            found += [t for t in answer.get("data") or [] if isinstance(t, dict)]
            after = ((answer.get("paging") or {}).get("cursors") or {}).get("after")
            if not after or not (answer.get("paging") or {}).get("next"):
                break
            params = {**params, "after": after}
        return found

    def setup_webhook(self, url: str) -> str:
        """Subscribe the app to the business account, with this channel's URL and verify
        token as the account's callback override (Graph: subscribed_apps)."""
        if not self.channel.business_account_id or not self.channel.handshake_secret:
            raise ProviderError(_("Fill in the business account ID and the verify token "
                                  "first."), permanent=True)
        self._call(
            "POST", self._url(self.channel.business_account_id, "subscribed_apps"),
            json={"override_callback_uri": url,
                  "verify_token": self.channel.handshake_secret})
        return _("WhatsApp now delivers to %(url)s.") % {"url": url}

    # --- The demo ----------------------------------------------------------------------------

    def simulated_delivery(self, *, sender: str, text: str) -> tuple[bytes, dict[str, str]]:
        number = "7999" + str(int(hashlib.sha256(sender.encode()).hexdigest()[:10], 16)
                              % 10_000_000).zfill(7)
        now = datetime.now(UTC)
        wamid = "wamid." + hashlib.sha256(f"{sender}{now.timestamp()}{text}".encode()
                                          ).hexdigest()[:40]
        payload = {"object": "whatsapp_business_account", "entry": [{
            "id": self.channel.business_account_id or "0", "changes": [{"field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "",
                                 "phone_number_id": self.channel.account_id},
                    "contacts": [{"profile": {"name": sender}, "wa_id": number}],
                    "messages": [{"from": number, "id": wamid,
                                  "timestamp": str(int(now.timestamp())), "type": "text",
                                  "text": {"body": text}}],
                }}]}]}
        body = json.dumps(payload, ensure_ascii=False).encode()
        signature = hmac.new(self.channel.webhook_secret.encode(), body,
                             hashlib.sha256).hexdigest()
        return body, {SIGNATURE_HEADER: f"sha256={signature}"}
