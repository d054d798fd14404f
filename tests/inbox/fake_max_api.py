"""A local fake of the MAX Bot API (platform-api2.max.ru): a real HTTP server on 127.0.0.1
speaking the real protocol, `Authorization: <token>` (or `?access_token=<token>`) on every call:
`POST /messages?chat_id=|user_id=` answered with the sent message (`body.mid`, `body.seq`),
`POST /uploads?type=file|image|video|audio` -> an upload URL, `POST /upload/<id>` (multipart
field `data`, no auth needed) -> the attachment's token, `GET|POST|DELETE /subscriptions` and
`GET /me`. Errors are `{"code", "message"}`.

It records every request (query parameters merged into the body; an upload with its file's
bytes) under "messages", "uploads", "upload", "subscriptions" (the POST),
"subscriptions:get", "subscriptions:delete", "me" or "file" (a download). `fail_next(mode,
times)` makes the next sending calls ("messages", "uploads", "upload") fail: "429"
(too.many.requests), "403" (chat.denied: the user blocked the bot), "404" (chat not found),
"500"; `method=` names another. `fail_next("not_ready")` makes the next message with an
attachment answer attachment.not.ready, as MAX does while it still processes an upload. Like
the real API it refuses text over 4000 characters and an attachment token it never gave.
`add_file(content)` makes a file an inbound attachment can point at (`GET /files/<id>`, no
auth, like MAX's CDN URLs).
"""

import secrets
import time
from urllib.parse import parse_qsl, urlsplit

from tests.fake_server import FakeServer, JsonHandler, read_body
from tests.inbox.fake_bot_api import Recorded

SENDING = ("messages", "uploads", "upload")
TEXT_LIMIT = 4000
UPLOAD_TYPES = ("file", "image", "video", "audio")
DIALOG_BASE = 100_000_000  # a user's dialog chat id, in this fake: DIALOG_BASE + user_id

FAILURES = {
    "429": (429, "too.many.requests", "Too many requests"),
    "403": (403, "chat.denied", "chat.denied: user blocked the bot"),
    "404": (404, "not.found", "Chat not found"),
    "500": (500, "internal.error", "Internal server error"),
}


def max_error(status: int, code: str, message: str) -> tuple[int, dict]:
    return status, {"code": code, "message": message}


def bad_payload(message: str) -> tuple[int, dict]:
    return max_error(400, "proto.payload", message)



class FakeMaxApi(FakeServer):
    SENDING = SENDING
    FAILURE_MODES = tuple(FAILURES)

    def __init__(self, token: str = "max-test-token"):
        self.token = token
        self.bot = {"user_id": 9_000_001, "first_name": "CRM", "name": "CRM",
                    "username": "crm_test_bot", "is_bot": True,
                    "last_activity_time": 1_700_000_000_000}
        self.uploaded: dict[str, tuple[str, bytes, str]] = {}  # token -> (filename, bytes, type)
        self.files: dict[str, bytes] = {}  # id -> content, served at /files/<id>
        self.subscriptions: list[dict] = []  # {"url", "time", "update_types", "version", "secret"}
        self._not_ready = 0
        self._uploads: dict[str, tuple[str, str | None]] = {}  # upload id -> (type, token)
        self._seq = 0
        super().__init__()

    def fail_next(self, mode: str, times: int = 1, *, method: str | None = None) -> None:
        if mode == "not_ready":
            with self._lock:
                self._not_ready += times
            return
        super().fail_next(mode, times, method=method)

    def add_file(self, content: bytes, file_id: str | None = None) -> str:
        """Serve `content` without auth; returns its URL."""
        file_id = file_id or secrets.token_hex(8)
        with self._lock:
            self.files[file_id] = content
        return f"{self.base_url}/files/{file_id}"

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _failure(self, method: str) -> tuple[int, dict] | None:
        mode = self._take_failure(method)
        if mode is None:
            return None
        return max_error(*FAILURES[mode])

    # --- The protocol -----------------------------------------------------------------------

    def _route(self, verb: str, path: str) -> tuple[str, str]:
        """(method, the id in the path) for a request, ("unknown", path) when none."""
        parts = [p for p in path.split("/") if p]
        simple = {("POST", "messages"): "messages", ("POST", "uploads"): "uploads",
                  ("POST", "subscriptions"): "subscriptions", ("GET", "me"): "me",
                  ("GET", "subscriptions"): "subscriptions:get",
                  ("DELETE", "subscriptions"): "subscriptions:delete"}
        if len(parts) == 1 and (verb, parts[0]) in simple:
            return simple[verb, parts[0]], ""
        if len(parts) == 2 and (verb, parts[0]) in (("POST", "upload"), ("GET", "files")):
            return ("upload" if verb == "POST" else "file"), parts[1]
        return "unknown", path

    def _answer(self, method: str, ident: str, query: dict, body: dict,
                files: dict) -> tuple[int, dict | bytes]:
        if method == "unknown":
            return max_error(404, "not.found", f"Path {ident} is not recognized")
        failure = self._failure(method)
        if failure is not None:
            return failure
        if method == "messages":
            return self._message(query, body)
        if method == "uploads":
            kind = query.get("type")
            if kind not in UPLOAD_TYPES:
                return bad_payload(f"Invalid upload type: {kind}")
            upload_id = secrets.token_hex(8)
            token = secrets.token_urlsafe(24) if kind in ("video", "audio") else None
            with self._lock:
                self._uploads[upload_id] = (kind, token)
            answer = {"url": f"{self.base_url}/upload/{upload_id}"}
            return 200, answer if token is None else {**answer, "token": token}
        if method == "upload":
            with self._lock:
                kind, token = self._uploads.pop(ident, (None, None))  # one file per URL
            if kind is None:
                return max_error(404, "not.found", "Upload URL not found or already used")
            if "data" not in files:
                return bad_payload("Multipart field data is required")
            filename, content, _ctype = files["data"]
            token = token or secrets.token_urlsafe(24)
            with self._lock:
                self.uploaded[token] = (filename, content, kind)
            if kind == "file":
                return 200, {"fileId": self._next_seq(), "token": token}
            if kind == "image":
                return 200, {"photos": {secrets.token_urlsafe(12): {"token": token}}}
            return 200, b"<retval>1</retval>"
        if method == "file":
            if ident not in self.files:
                return max_error(404, "not.found", "File not found")
            return 200, self.files[ident]
        if method == "me":
            return 200, self.bot
        if method == "subscriptions:get":
            return 200, {"subscriptions": [{k: v for k, v in s.items() if k != "secret"}
                                           for s in self.subscriptions]}
        if method == "subscriptions":
            if not body.get("url"):
                return 400, {"success": False, "message": "url is required"}
            subscription = {"url": body["url"], "time": int(time.time() * 1000),
                            "update_types": body.get("update_types") or [],
                            "version": body.get("version"), "secret": body.get("secret")}
            with self._lock:
                self.subscriptions = [s for s in self.subscriptions if s["url"] != body["url"]]
                self.subscriptions.append(subscription)
            return 200, {"success": True}
        # subscriptions:delete
        with self._lock:
            self.subscriptions = [s for s in self.subscriptions if s["url"] != query.get("url")]
        return 200, {"success": True}

    def _message(self, query: dict, body: dict) -> tuple[int, dict]:
        try:
            chat_id = int(query["chat_id"]) if query.get("chat_id") else None
            user_id = int(query["user_id"]) if query.get("user_id") else None
        except ValueError:
            return bad_payload("chat_id and user_id must be integers")
        if chat_id is None and user_id is None:
            return bad_payload("chat_id or user_id is required")
        text, attachments = body.get("text") or "", body.get("attachments") or []
        if len(text) > TEXT_LIMIT:
            return bad_payload(f"text: size must be less than or equal to {TEXT_LIMIT}")
        if not text and not attachments:
            return bad_payload("Message text or attachments are required")
        if body.get("format") not in (None, "markdown", "html"):
            return bad_payload(f"Invalid format: {body['format']}")
        for attachment in attachments:
            token = (attachment.get("payload") or {}).get("token")
            if attachment.get("type") in UPLOAD_TYPES and token not in self.uploaded:
                return bad_payload(f"Invalid attachment token: {token}")
        if attachments:
            with self._lock:
                not_ready, self._not_ready = self._not_ready > 0, max(self._not_ready - 1, 0)
            if not_ready:
                return max_error(400, "attachment.not.ready",
                                 "Key: errors.process.attachment.file.not.processed")
        recipient = {"chat_id": chat_id if chat_id is not None else DIALOG_BASE + user_id,
                     "chat_type": "dialog"}
        if user_id is not None:
            recipient["user_id"] = user_id
        message_body = {"mid": f"mid.{secrets.token_hex(16)}", "seq": self._next_seq(),
                        "text": text}
        if attachments:
            message_body["attachments"] = attachments
        message = {"sender": self.bot, "recipient": recipient,
                   "timestamp": int(time.time() * 1000), "body": message_body}
        if body.get("link"):
            message["link"] = {"type": body["link"].get("type"),
                               "message": {"mid": body["link"].get("mid")}}
        return 200, {"message": message}

    def _handler(self):
        fake = self

        class Handler(JsonHandler):
            def _handle(self, verb):
                url = urlsplit(self.path)
                method, ident = fake._route(verb, url.path)
                query = dict(parse_qsl(url.query))
                query_token = query.pop("access_token", "")
                token = self.headers.get("Authorization") or query_token
                body, files = read_body(self)
                recorded = Recorded(method, token, {**query, **body}, files)
                fake.requests.append(recorded)
                if token != fake.token and method not in ("upload", "file", "unknown"):
                    status, payload = max_error(401, "verify.token", "Invalid access_token")
                else:
                    status, payload = fake._answer(method, ident, query, body, files)
                recorded.status = status
                if fake.send_delay and method in SENDING:
                    time.sleep(fake.send_delay)
                self._send(status, payload)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        return Handler
