"""A local fake of the Telegram Bot API: a real HTTP server on 127.0.0.1 speaking the real
protocol (`/bot<token>/<method>`, `/file/bot<token>/<path>`, `{"ok": ..., "result": ...}` and
`{"ok": false, "error_code", "description", "parameters": {"retry_after"}}`).

It records every request (a multipart upload with its files' bytes). `fail_next(mode, times)`
makes the next sending calls fail: "429" (Too Many Requests, retry_after), "403" (bot
blocked), "400" (Bad Request), "500"; `fail_next(mode, times, method="getFile")` (or
`method="file"`, the download) fails those instead. `add_file(content)` makes a file that
`getFile` and the download serve; like the real API, getFile refuses files over 20 MB.
"""

import secrets
import time
from dataclasses import dataclass, field

from tests.fake_server import FakeServer, JsonHandler, read_body

SENDING = ("sendMessage", "sendDocument")
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # what getFile hands to bots


@dataclass
class Recorded:
    method: str  # "sendMessage", "getFile", "file:<path>"...
    token: str
    body: dict
    files: dict = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    status: int = 0  # the answer's HTTP status, once given (0: not answered yet)


class FakeBotApi(FakeServer):
    SENDING = SENDING

    def __init__(self, token: str = "123456:TEST-token"):
        self.token = token
        self.files: dict[str, bytes] = {}  # file_id -> content, served as documents/<file_id>
        self.retry_after = 1
        self._next_message_id = 100
        super().__init__()


    def add_file(self, content: bytes, file_id: str | None = None) -> str:
        file_id = file_id or f"BQACAgIAAxkBAA{secrets.token_hex(8)}"
        self.files[file_id] = content
        return file_id

    def _failure(self, method: str) -> tuple[int, dict] | None:
        mode = self._take_failure(method)
        if mode is None:
            return None
        if mode == "429":
            return 429, {"ok": False, "error_code": 429,
                         "description": f"Too Many Requests: retry after {self.retry_after}",
                         "parameters": {"retry_after": self.retry_after}}
        if mode == "403":
            return 403, {"ok": False, "error_code": 403,
                         "description": "Forbidden: bot was blocked by the user"}
        if mode == "400":
            return 400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: wrong file_id or the file is temporarily "
                                        "unavailable"}
        return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}

    # --- The protocol -----------------------------------------------------------------------

    def _answer(self, method: str, body: dict) -> tuple[int, dict | bytes]:
        failure = self._failure(method)
        if failure is not None:
            return failure
        if method in SENDING:
            if not body.get("chat_id"):
                return 400, {"ok": False, "error_code": 400,
                             "description": "Bad Request: chat not found"}
            with self._lock:
                self._next_message_id += 1
                message_id = self._next_message_id
            result = {"message_id": message_id, "date": 1_700_000_000,
                      "chat": {"id": int(body["chat_id"]), "type": "private"}}
            if method == "sendMessage":
                if len(body.get("text") or "") > 4096:
                    return 400, {"ok": False, "error_code": 400,
                                 "description": "Bad Request: message is too long"}
                result["text"] = body["text"]
            return 200, {"ok": True, "result": result}
        if method == "getFile":
            file_id = body.get("file_id", "")
            if file_id not in self.files:
                return 400, {"ok": False, "error_code": 400,
                             "description": "Bad Request: invalid file_id"}
            if len(self.files[file_id]) > DOWNLOAD_LIMIT:
                return 400, {"ok": False, "error_code": 400,
                             "description": "Bad Request: file is too big"}
            return 200, {"ok": True, "result": {"file_id": file_id,
                                                "file_size": len(self.files[file_id]),
                                                "file_path": f"documents/{file_id}"}}
        if method == "setWebhook":
            return 200, {"ok": True, "result": True, "description": "Webhook was set"}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def _handler(self):
        fake = self

        class Handler(JsonHandler):
            def _token_ok(self, token):
                if token != fake.token:
                    self._send(401, {"ok": False, "error_code": 401,
                                     "description": "Unauthorized"})
                    return False
                return True

            def do_GET(self):
                prefix = "/file/bot"
                if not self.path.startswith(prefix):
                    return self._send(404, {"ok": False, "error_code": 404,
                                            "description": "Not Found"})
                token, _slash, path = self.path[len(prefix):].partition("/")
                fake.requests.append(Recorded(f"file:{path}", token, {}))
                if not self._token_ok(token):
                    return None
                failure = fake._failure("file")
                if failure is not None:
                    return self._send(*failure)
                file_id = path.rpartition("/")[2]
                if file_id not in fake.files:
                    return self._send(404, {"ok": False, "error_code": 404,
                                            "description": "Not Found"})
                return self._send(200, fake.files[file_id])

            def do_POST(self):
                if not self.path.startswith("/bot"):
                    return self._send(404, {"ok": False, "error_code": 404,
                                            "description": "Not Found"})
                token, _slash, method = self.path[len("/bot"):].partition("/")
                body, files = read_body(self)
                recorded = Recorded(method, token, body, files)
                fake.requests.append(recorded)
                if not self._token_ok(token):
                    return None
                status, payload = fake._answer(method, body)
                recorded.status = status
                if fake.send_delay and method in SENDING:
                    time.sleep(fake.send_delay)
                return self._send(status, payload)

        return Handler
