"""A local fake of the Mango Office VPBX API: a real HTTP server on 127.0.0.1 speaking the real
protocol (form POSTs of `vpbx_api_key`, `sign`, `json`; sign = sha256(key + json + salt)).

- `commands/callback` checks the sign, answers 200 `{"result": 1000}` and prepares the PBX's
  later signed `result/callback` request (`{"command_id", "result"}`, the code from
  `callback_result`). It is kept in `pending_results` as `(path, form)`; the tests deliver it
  to our webhook through Django's test Client (`deliver_results(client, webhook_base)`), as
  there is no live server for the fake to call. With `webhook_base` set to a real URL the fake
  POSTs it there itself, as Mango does.
- `queries/recording/post` answers 302 to a one-time `/download/<token>` link that serves the
  recording (audio/mp3) once and then answers 404.
- `fail_next("429" | "500" | "400", times, path=None)` makes the next requests fail; 429
  carries `Retry-After: <retry_after>`.
Every request is recorded (`requests`, with `sign_ok`); every link handed out is in `links`.
"""

import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
from urllib.request import Request, urlopen

RESULT_OK = 1000


def mango_sign(key: str, json_text: str, salt: str) -> str:
    return hashlib.sha256(f"{key}{json_text}{salt}".encode()).hexdigest()


def mango_form(key: str, salt: str, payload: dict) -> dict:
    text = json.dumps(payload, separators=(",", ":"))
    return {"vpbx_api_key": key, "sign": mango_sign(key, text, salt), "json": text}


@dataclass
class Recorded:
    method: str  # "POST", "GET"
    path: str  # "commands/callback", "download/<token>"...
    form: dict
    payload: dict | None
    sign_ok: bool
    at: float = field(default_factory=time.monotonic)


class FakeMango:
    def __init__(self, api_key: str = "test-vpbx-key", api_salt: str = "test-vpbx-salt"):
        self.api_key = api_key
        self.api_salt = api_salt
        self.requests: list[Recorded] = []
        self.recordings: dict[str, bytes] = {}  # recording_id -> mp3 bytes
        self.links: list[str] = []  # every one-time link handed out
        self.callback_result = RESULT_OK
        self.pending_results: list[tuple[str, dict]] = []
        self.webhook_base = ""
        self.retry_after = 1
        self._failures: list[tuple[str, str | None]] = []
        self._tokens: dict[str, str] = {}  # token -> recording_id, until used
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/vpbx/"

    def start(self) -> "FakeMango":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, mode: str, times: int = 1, *, path: str | None = None) -> None:
        with self._lock:
            self._failures.extend([(mode, path)] * times)

    def add_recording(self, content: bytes, recording_id: str | None = None) -> str:
        recording_id = recording_id or f"MToxMDA1NzU5MzoxMjM0NTY3ODk6{secrets.token_hex(6)}"
        self.recordings[recording_id] = content
        return recording_id

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def deliver_results(self, client, webhook_base: str) -> list:
        """POST the pending result/callback requests to our webhook through a Django test
        Client; returns the responses."""
        responses = []
        while self.pending_results:
            path, form = self.pending_results.pop(0)
            responses.append(client.post(webhook_base.rstrip("/") + "/" + path, form))
        return responses

    # --- The protocol -----------------------------------------------------------------------

    def _failure(self, path: str) -> tuple[int, dict, dict] | None:
        with self._lock:
            index = next((i for i, (_mode, only) in enumerate(self._failures)
                          if only is None or only == path), None)
            if index is None:
                return None
            mode = self._failures.pop(index)[0]
        if mode == "429":
            return 429, {"result": 429}, {"Retry-After": str(self.retry_after)}
        if mode == "400":
            return 400, {"result": 3102}, {}
        return 500, {"result": 5000}, {}

    def _answer(self, path: str, payload: dict) -> tuple[int, dict | bytes, dict]:
        failure = self._failure(path)
        if failure is not None:
            return failure
        if path == "commands/callback":
            if not payload.get("command_id") or not (payload.get("from") or {}).get("extension") \
                    or not payload.get("to_number"):
                return 200, {"result": 3101}, {}  # a missing parameter
            result = mango_form(self.api_key, self.api_salt, {
                "command_id": payload["command_id"], "result": self.callback_result})
            self.pending_results.append(("result/callback", result))
            if self.webhook_base:
                threading.Thread(target=self._post_result, daemon=True).start()
            return 200, {"result": RESULT_OK}, {}
        if path == "queries/recording/post":
            recording_id = payload.get("recording_id", "")
            if payload.get("action") != "download" or recording_id not in self.recordings:
                return 404, {"result": 3105}, {}
            token = secrets.token_urlsafe(24)
            with self._lock:
                self._tokens[token] = recording_id
            link = f"{self.base_url}download/{token}"
            self.links.append(link)
            return 302, b"", {"Location": link}
        return 404, {"result": 3100}, {}

    def _post_result(self):
        time.sleep(0.05)  # Mango calls back after it answered the command
        while self.pending_results:
            path, form = self.pending_results.pop(0)
            data = "&".join(f"{k}={_quote(v)}" for k, v in form.items()).encode()
            request = Request(self.webhook_base.rstrip("/") + "/" + path, data=data,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
            try:
                urlopen(request, timeout=5).read()
            except OSError:
                pass

    def _download(self, token: str) -> tuple[int, bytes, dict]:
        failure = self._failure("download")
        if failure is not None:
            return failure
        with self._lock:
            recording_id = self._tokens.pop(token, None)  # one use
        if recording_id is None:
            return 404, b"Not Found", {"Content-Type": "text/plain"}
        return 200, self.recordings[recording_id], {"Content-Type": "audio/mp3"}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, payload, headers):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                headers = dict(headers)
                headers.setdefault("Content-Type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                prefix = "/vpbx/download/"
                path = self.path.removeprefix("/vpbx/")
                fake.requests.append(Recorded("GET", path, {}, None, True))
                if not self.path.startswith(prefix):
                    return self._send(404, {"result": 3100}, {})
                return self._send(*fake._download(self.path[len(prefix):]))

            def do_POST(self):
                path = self.path.removeprefix("/vpbx/")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                text = form.get("json", "")
                sign_ok = (form.get("vpbx_api_key") == fake.api_key and form.get("sign") ==
                           mango_sign(fake.api_key, text, fake.api_salt))
                try:
                    payload = json.loads(text) if text else None
                except json.JSONDecodeError:
                    payload = None
                fake.requests.append(Recorded("POST", path, form, payload, sign_ok))
                if not sign_ok:
                    return self._send(401, {"result": 3102}, {})
                if not isinstance(payload, dict):
                    return self._send(400, {"result": 3101}, {})
                return self._send(*fake._answer(path, payload))

        return Handler


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
