"""A local fake of the WhatsApp Business Cloud API (Meta Graph): a real HTTP server on 127.0.0.1
speaking the real protocol under `/<version>/`, `Authorization: Bearer <token>` on every request:
`POST /<phone_number_id>/messages` (text, document, image, template... answered with a wamid),
`POST /<phone_number_id>/media` (multipart `messaging_product`, `type`, `file` -> a media id),
`GET /<media_id>` (its metadata and download URL), then `GET /media-download/<media_id>` (the
bytes, Bearer too), `GET /<waba_id>/message_templates` and `POST /<waba_id>/subscribed_apps`.
Errors are Graph's `{"error": {"message", "type", "code", "error_data"?, "fbtrace_id"}}`.

It records every request (query parameters merged into the body; an upload with its file's
bytes) under "messages", "media", "media_get", "download", "message_templates" or
"subscribed_apps". `fail_next(mode, times)` makes the next sending calls ("messages", "media")
fail: "rate" (130429, HTTP 429), "window" (131047: more than 24 hours since the customer last
wrote, only a template may go), "undeliverable" (131026), "auth" (190, HTTP 401), "500" (code 2,
service temporarily unavailable); `method="media_get"` (or "download"...) fails those instead.
Like the real API it refuses text over 4096 characters (code 100) and a template that is not
APPROVED in that language (132001) or given another number of body parameters than its
placeholders (132000). `templates` is what message_templates lists; `add_file(content)` makes
media that an inbound message can name.
"""

import copy
import hashlib
import re
import secrets
import time
from urllib.parse import parse_qsl, urlsplit

from tests.fake_server import FakeServer, JsonHandler, read_body
from tests.inbox.fake_bot_api import Recorded

SENDING = ("messages", "media")
TEXT_LIMIT = 4096
MEDIA_TYPES = ("audio", "document", "image", "sticker", "video")

DEFAULT_TEMPLATES = [
    {"name": "order_update", "language": "ru", "status": "APPROVED", "category": "UTILITY",
     "id": "1000000000000001",
     "components": [{"type": "BODY", "text": "Здравствуйте, {{1}}! Ваш заказ {{2}} готов."}]},
    {"name": "come_back", "language": "ru", "status": "APPROVED", "category": "UTILITY",
     "id": "1000000000000002",
     "components": [{"type": "BODY", "text": "Здравствуйте! Ответьте на это сообщение, "
                                             "чтобы продолжить разговор с менеджером."}]},
    {"name": "spring_sale", "language": "ru", "status": "REJECTED", "category": "MARKETING",
     "id": "1000000000000003",
     "components": [{"type": "BODY", "text": "Скидка {{1}}% только сегодня!"}]},
]

FAILURES = {  # mode -> (HTTP status, code, message, details)
    "rate": (429, 130429, "(#130429) Rate limit hit",
             "Cloud API message throughput has been reached."),
    "window": (400, 131047, "(#131047) Re-engagement message",
               "Message failed to send because more than 24 hours have passed since the "
               "customer last replied to this number."),
    "undeliverable": (400, 131026, "(#131026) Message Undeliverable",
                      "Unable to deliver message: the recipient is not a WhatsApp user or "
                      "has not accepted the latest terms."),
    "auth": (401, 190, "Invalid OAuth access token.", None),
    "500": (500, 2, "(#2) Service temporarily unavailable", None),
}


def graph_error(code: int, message: str, *, details: str | None = None,
                kind: str = "OAuthException", subcode: int | None = None) -> dict:
    error: dict = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error["fbtrace_id"] = f"A{secrets.token_urlsafe(15)}"
    return {"error": error}


def bad_param(message: str) -> tuple[int, dict]:
    return 400, graph_error(100, f"(#100) {message}")



class FakeGraphApi(FakeServer):
    SENDING = SENDING
    FAILURE_MODES = tuple(FAILURES)

    def __init__(self, token: str = "EAAG-test-token", version: str = "v21.0"):
        self.token = token
        self.version = version
        self.media: dict[str, tuple[bytes, str]] = {}  # media id -> (content, mime type)
        self.templates: list[dict] = copy.deepcopy(DEFAULT_TEMPLATES)
        self.subscribed_apps: list[dict] = []  # the bodies of the subscribed_apps calls
        self._next_id = 0
        super().__init__()


    def add_file(self, content: bytes, mime_type: str = "application/pdf",
                 media_id: str | None = None) -> str:
        media_id = media_id or str(self._new_id() + 1_000_000_000_000_000)
        with self._lock:
            self.media[media_id] = (content, mime_type)
        return media_id

    def _new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    def _failure(self, method: str) -> tuple[int, dict] | None:
        mode = self._take_failure(method)
        if mode is None:
            return None
        status, code, message, details = FAILURES[mode]
        return status, graph_error(code, message, details=details)

    # --- The protocol -----------------------------------------------------------------------

    def _route(self, verb: str, path: str) -> tuple[str, str]:
        """(method, the id in the path) for a request, ("unknown", path) when none."""
        parts = [p for p in path.split("/") if p]
        if verb == "GET" and len(parts) == 2 and parts[0] == "media-download":
            return "download", parts[1]
        if not parts or parts[0] != self.version:
            return "unknown", path
        if verb == "GET" and len(parts) == 2:
            return "media_get", parts[1]
        edges = {"GET": ("message_templates",), "POST": ("messages", "media", "subscribed_apps")}
        if len(parts) == 3 and parts[2] in edges.get(verb, ()):
            return parts[2], parts[1]
        return "unknown", path

    def _answer(self, method: str, ident: str, body: dict,
                files: dict) -> tuple[int, dict | bytes]:
        if method == "unknown":
            return 400, graph_error(2500, f"Unknown path components: {ident}")
        failure = self._failure(method)
        if failure is not None:
            return failure
        if method == "messages":
            return self._message(body)
        if method == "media":
            if body.get("messaging_product") != "whatsapp":
                return bad_param("The parameter messaging_product is required.")
            if "file" not in files:
                return bad_param("The parameter file is required.")
            _name, content, ctype = files["file"]
            return 200, {"id": self.add_file(content, body.get("type") or ctype)}
        if method == "media_get":
            if ident not in self.media:
                return 400, graph_error(
                    100, f"Unsupported get request. Object with ID '{ident}' does not exist, "
                         "cannot be loaded due to missing permissions, or does not support "
                         "this operation.", kind="GraphMethodException", subcode=33)
            content, mime_type = self.media[ident]
            return 200, {"messaging_product": "whatsapp",
                         "url": f"{self.base_url}/media-download/{ident}",
                         "mime_type": mime_type, "sha256": hashlib.sha256(content).hexdigest(),
                         "file_size": str(len(content)), "id": ident}
        if method == "download":
            if ident not in self.media:
                return 404, graph_error(100, "(#100) Media not found.")
            return 200, self.media[ident][0]
        if method == "message_templates":
            wanted = {k: body[k] for k in ("name", "status", "language") if k in body}
            data = [t for t in self.templates if all(t.get(k) == v for k, v in wanted.items())]
            return 200, {"data": data, "paging": {"cursors": {}}}
        # subscribed_apps
        if body.get("override_callback_uri") and not body.get("verify_token"):
            return bad_param("The parameter verify_token is required with "
                             "override_callback_uri.")
        with self._lock:
            self.subscribed_apps.append(body)
        return 200, {"success": True}

    def _message(self, body: dict) -> tuple[int, dict]:
        if body.get("messaging_product") != "whatsapp":
            return bad_param("The parameter messaging_product is required.")
        to = str(body.get("to") or "")
        if not to:
            return bad_param("The parameter to is required.")
        kind = body.get("type") or "text"
        if kind == "text":
            text = (body.get("text") or {}).get("body") or ""
            if not text:
                return bad_param("The parameter text['body'] is required.")
            if len(text) > TEXT_LIMIT:
                return bad_param(f"Param text['body'] must be at most {TEXT_LIMIT} characters "
                                 "long.")
        elif kind == "template":
            refused = self._template_refusal(body.get("template") or {})
            if refused is not None:
                return refused
        elif kind in MEDIA_TYPES:
            media = body.get(kind) or {}
            if not (media.get("id") or media.get("link")):
                return bad_param(f"Param {kind} must contain an id or a link.")
        message = {"id": f"wamid.HBgL{secrets.token_hex(16).upper()}"}
        if kind == "template":
            message["message_status"] = "accepted"
        return 200, {"messaging_product": "whatsapp",
                     "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                     "messages": [message]}

    def _template_refusal(self, template: dict) -> tuple[int, dict] | None:
        name, language = template.get("name"), (template.get("language") or {}).get("code")
        found = next((t for t in self.templates if t["name"] == name
                      and t["language"] == language and t["status"] == "APPROVED"), None)
        if found is None:
            return 404, graph_error(132001, "(#132001) Template name does not exist in the "
                                    "translation", details=f"template name ({name}) does not "
                                    f"exist in {language}")
        text = next((c.get("text", "") for c in found["components"] if c["type"] == "BODY"), "")
        expected = len(set(re.findall(r"\{\{\d+\}\}", text)))
        given = sum(len(c.get("parameters") or []) for c in template.get("components") or []
                    if str(c.get("type", "")).lower() == "body")
        if given != expected:
            return 400, graph_error(132000, "(#132000) Number of parameters does not match the "
                                    "expected number of params",
                                    details=f"body: number of localizable_params ({given}) does "
                                    f"not match the expected number of params ({expected})")
        return None

    def _handler(self):
        fake = self

        class Handler(JsonHandler):
            def _handle(self, verb):
                url = urlsplit(self.path)
                method, ident = fake._route(verb, url.path)
                body, files = read_body(self)
                body = {**dict(parse_qsl(url.query)), **body}
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
                recorded = Recorded(method, token, body, files)
                fake.requests.append(recorded)
                if token != fake.token:
                    status, payload = 401, graph_error(190, "Invalid OAuth access token.")
                else:
                    status, payload = fake._answer(method, ident, body, files)
                recorded.status = status
                if fake.send_delay and method in SENDING:
                    time.sleep(fake.send_delay)
                self._send(status, payload,
                           fake.media[ident][1] if isinstance(payload, bytes) else None)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        return Handler
