"""What every local fake of a provider shares: a real HTTP server on 127.0.0.1 (`start`,
`stop`, `base_url`), the requests it recorded (`requests`, `calls(method)`), and failures on
demand: `fail_next(mode, times, method=...)` makes the next calls of those methods (by default
the fake's `SENDING` ones) answer as `mode` does; the fake turns the mode taken by
`_take_failure` into its provider's error. `send_delay`: seconds a sending method takes to
answer, after it is recorded (a slow provider)."""

import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl


class JsonHandler(BaseHTTPRequestHandler):
    """A fake's request handler: quiet, answering JSON (or bytes) with `_send`."""

    def log_message(self, *args):
        pass

    def _send(self, status: int, payload, ctype: str | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype or ("application/octet-stream"
                                                   if isinstance(payload, bytes)
                                                   else "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def read_body(handler: BaseHTTPRequestHandler) -> tuple[dict, dict]:
    """The request's fields (JSON, a form, or a multipart's text parts) and its files
    ({name: (filename, bytes, content type)})."""
    raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    ctype = handler.headers.get("Content-Type", "")
    body, files = {}, {}
    if ctype.startswith("application/json"):
        body = json.loads(raw or b"{}")
    elif ctype.startswith("application/x-www-form-urlencoded"):
        body = dict(parse_qsl(raw.decode()))
    elif ctype.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            content = part.get_payload(decode=True) or b""
            if part.get_filename():
                files[name] = (part.get_filename(), content, part.get_content_type())
            else:
                body[name] = content.decode()
    return body, files


class FakeServer:
    SENDING: tuple[str, ...] = ()
    FAILURE_MODES: tuple[str, ...] = ()  # empty: any mode the fake understands

    def __init__(self):
        self.requests: list = []
        self.send_delay = 0.0
        self._failures: list[tuple[str, tuple[str, ...]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self):
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls(self, method: str) -> list:
        return [r for r in self.requests if r.method == method]

    def fail_next(self, mode: str, times: int = 1, *, method: str | None = None) -> None:
        if self.FAILURE_MODES and mode not in self.FAILURE_MODES:
            raise ValueError(f"unknown failure mode {mode!r}")
        methods = (method,) if method else self.SENDING
        with self._lock:
            self._failures.extend([(mode, methods)] * times)

    def _take_failure(self, method: str) -> str | None:
        """The mode of the next failure asked for `method`, taken off the list."""
        with self._lock:
            index = next((i for i, (_mode, methods) in enumerate(self._failures)
                          if method in methods), None)
            return None if index is None else self._failures.pop(index)[0]
