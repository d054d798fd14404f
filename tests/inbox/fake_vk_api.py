"""A local fake of the VK API for a community bot: a real HTTP server on 127.0.0.1 speaking the
real protocol: `POST /method/<name>` (parameters form-encoded or in the query, `access_token` and
`v` among them), always HTTP 200, with `{"response": ...}` or `{"error": {"error_code",
"error_msg", "request_params": [{"key", "value"}]}}`. It knows messages.send (deduplicated on
random_id per peer, as VK does), the document upload (docs.getMessagesUploadServer -> `POST
/upload/<id>`, multipart field `file` -> docs.save -> attachment `doc<owner_id>_<id>`) and the
Callback API setup (groups.getCallbackConfirmationCode, groups.addCallbackServer,
groups.setCallbackSettings).

It records every request under its method name ("messages.send"...; "upload" for the upload,
"file" for a download; the parameters but the token in the body); `delivered` holds the
distinct messages sent (a repeated random_id answers the first message's id and delivers
nothing). A wrong token is error 5. `fail_next(mode, times)` makes the next sending calls
(messages.send, docs.getMessagesUploadServer, docs.save) answer error "6" (too many requests per
second), "9" (flood control), "901" (the user has not allowed the community to write), "7"
(permission denied) or "10" (internal server error); `method=` names another. Like the real
API it refuses a send without random_id (100) and text over 4096 characters (914).
`add_file(content)` makes a file an inbound attachment can point at (served by GET, no auth,
like VK's document URLs).
"""

import secrets
import time
from urllib.parse import parse_qsl, urlsplit

from tests.fake_server import FakeServer, JsonHandler, read_body
from tests.inbox.fake_bot_api import Recorded

SENDING = ("messages.send", "docs.getMessagesUploadServer", "docs.save")
TEXT_LIMIT = 4096

FAILURES = {
    "6": "Too many requests per second",
    "9": "Flood control",
    "901": "Can't send messages for users without permission",
    "7": "Permission to perform this action is denied",
    "10": "Internal server error",
}
INVALID = "One of the parameters specified was missing or invalid: "


class VkError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message



def integer(params: dict, name: str) -> int:
    try:
        return int(params[name])
    except KeyError:
        raise VkError(100, f"{INVALID}{name} is a required parameter") from None
    except (TypeError, ValueError):
        raise VkError(100, f"{INVALID}{name} not integer") from None


class FakeVkApi(FakeServer):
    SENDING = SENDING
    FAILURE_MODES = tuple(FAILURES)

    def __init__(self, token: str = "vk1.a.test-token"):
        self.token = token
        self.confirmation_code = "a1b2c3d4"
        # The distinct messages sent: {"id", "peer_id", "random_id", "message", "attachment",
        # "reply_to"}.
        self.delivered: list[dict] = []
        self.docs: dict[int, dict] = {}  # doc id -> the doc object docs.save answered
        self.files: dict[str, bytes] = {}  # id -> content, served at /files/<id>
        self.callback_servers: dict[int, dict] = {}  # server_id -> {group_id, url, title, ...}
        self.callback_settings: dict[int, dict] = {}  # server_id -> setCallbackSettings params
        self._sent: dict[tuple[int, int], int] = {}  # (peer_id, random_id) -> message id
        self._uploads: dict[str, int] = {}  # upload id -> the peer it is for
        self._uploaded: dict[str, tuple[str, bytes, int]] = {}  # file -> (filename, bytes, owner)
        self._next_id = 1000
        super().__init__()


    def add_file(self, content: bytes, file_id: str | None = None) -> str:
        """Serve `content` without auth; returns its URL."""
        file_id = file_id or secrets.token_hex(8)
        with self._lock:
            self.files[file_id] = content
        return f"{self.base_url}/files/{file_id}"

    def _new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    def _failure(self, method: str) -> VkError | None:
        mode = self._take_failure(method)
        if mode is None:
            return None
        return VkError(int(mode), FAILURES[mode])

    # --- The protocol -----------------------------------------------------------------------

    def _call(self, method: str, token: str, params: dict) -> dict:
        """`{"response": ...}` or `{"error": ...}` for an API method."""
        try:
            if token != self.token:
                raise VkError(5, "User authorization failed: invalid access_token (4).")
            if not params.get("v"):
                raise VkError(8, "Invalid request: v is required")
            failure = self._failure(method)
            if failure is not None:
                raise failure
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            if handler is None:
                raise VkError(3, "Unknown method passed")
            return {"response": handler(params)}
        except VkError as error:
            request_params = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
            request_params += [{"key": k, "value": str(v)} for k, v in params.items()]
            return {"error": {"error_code": error.code, "error_msg": error.message,
                              "request_params": request_params}}

    def _messages_send(self, params: dict) -> int:
        peer_id = integer(params, "peer_id" if "peer_id" in params else "user_id")
        random_id = integer(params, "random_id")
        message, attachment = params.get("message") or "", params.get("attachment") or ""
        if not message and not attachment:
            raise VkError(100, f"{INVALID}message is empty or invalid")
        if len(message) > TEXT_LIMIT:
            raise VkError(914, "Message is too long")
        with self._lock:
            if (peer_id, random_id) in self._sent:
                return self._sent[peer_id, random_id]
            self._next_id += 1
            self._sent[peer_id, random_id] = self._next_id
            self.delivered.append({"id": self._next_id, "peer_id": peer_id,
                                   "random_id": random_id, "message": message,
                                   "attachment": attachment, "reply_to": params.get("reply_to")})
            return self._next_id

    def _docs_getMessagesUploadServer(self, params: dict) -> dict:
        peer_id = integer(params, "peer_id")
        if params.get("type", "doc") not in ("doc", "audio_message", "graffiti"):
            raise VkError(100, f"{INVALID}type is invalid")
        upload_id = secrets.token_hex(8)
        with self._lock:
            self._uploads[upload_id] = peer_id
        return {"upload_url": f"{self.base_url}/upload/{upload_id}"}

    def _upload(self, upload_id: str, files: dict) -> dict:
        """The upload server's answer (not an API method: `{"file"}` or `{"error"}`)."""
        with self._lock:
            owner_id = self._uploads.get(upload_id)
        if owner_id is None:
            return {"error": "ERR_UPLOAD_BAD_URL: upload url is invalid or expired"}
        if "file" not in files:
            return {"error": "ERR_UPLOAD_FILE_NOT_UPLOADED: file not uploaded"}
        filename, content, _ctype = files["file"]
        file = f"{owner_id}|0|0|{upload_id}|{secrets.token_hex(5)}|{len(content)}|{filename}"
        with self._lock:
            self._uploads.pop(upload_id, None)
            self._uploaded[file] = (filename, content, owner_id)
        return {"file": file}

    def _docs_save(self, params: dict) -> dict:
        with self._lock:
            uploaded = self._uploaded.pop(params.get("file") or "", None)
        if uploaded is None:
            raise VkError(100, f"{INVALID}file is invalid")
        filename, content, owner_id = uploaded
        title = params.get("title") or filename
        doc_id = self._new_id()
        doc = {"id": doc_id, "owner_id": owner_id, "title": title, "size": len(content),
               "ext": title.rpartition(".")[2].lower() if "." in title else "",
               "date": int(time.time()), "url": self.add_file(content, f"doc{doc_id}")}
        with self._lock:
            self.docs[doc_id] = doc
        return {"type": "doc", "doc": doc}

    def _groups_getCallbackConfirmationCode(self, params: dict) -> dict:
        integer(params, "group_id")
        return {"code": self.confirmation_code}

    def _groups_addCallbackServer(self, params: dict) -> dict:
        group_id = integer(params, "group_id")
        for name in ("url", "title"):
            if not params.get(name):
                raise VkError(100, f"{INVALID}{name} is a required parameter")
        server_id = self._new_id()
        with self._lock:
            self.callback_servers[server_id] = {
                "group_id": group_id, "url": params["url"], "title": params["title"],
                "secret_key": params.get("secret_key", "")}
        return {"server_id": server_id}

    def _groups_setCallbackSettings(self, params: dict) -> int:
        integer(params, "group_id")
        server_id = integer(params, "server_id")
        if server_id not in self.callback_servers:
            raise VkError(100, f"{INVALID}server_id is invalid")
        with self._lock:
            self.callback_settings[server_id] = {
                k: v for k, v in params.items() if k not in ("group_id", "server_id", "v")}
        return 1

    def _handler(self):
        fake = self

        class Handler(JsonHandler):
            def _handle(self):
                url = urlsplit(self.path)
                body, files = read_body(self)
                params = {**dict(parse_qsl(url.query)), **body}
                token = params.pop("access_token", "")
                kind, _slash, name = url.path.strip("/").partition("/")
                method = {"method": name, "upload": "upload", "files": "file"}.get(kind, "")
                recorded = Recorded(method or url.path, token, params, files)
                fake.requests.append(recorded)
                if method == "file":
                    failure = fake._failure("file")
                    if failure is not None:
                        status, payload = 500, {"error": failure.message}
                    elif name in fake.files:
                        status, payload = 200, fake.files[name]
                    else:
                        status, payload = 404, {"error": "Not Found"}
                elif method == "upload":
                    failure = fake._failure("upload")
                    status, payload = 200, ({"error": failure.message} if failure is not None
                                            else fake._upload(name, files))
                elif method:
                    status, payload = 200, fake._call(method, token, params)
                else:
                    status, payload = 404, {"error": "Not Found"}
                recorded.status = status
                if fake.send_delay and method in SENDING:
                    time.sleep(fake.send_delay)
                self._send(status, payload)

            def do_GET(self):
                self._handle()

            def do_POST(self):
                self._handle()

        return Handler
