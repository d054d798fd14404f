"""What every local fake of a provider shares: a real HTTP server on 127.0.0.1 (`start`,
`stop`, `base_url`), the requests it recorded (`requests`, `calls(method)`), and failures on
demand: `fail_next(mode, times, method=...)` makes the next calls of those methods (by default
the fake's `SENDING` ones) answer as `mode` does; the fake turns the mode taken by
`_take_failure` into its provider's error. `send_delay`: seconds a sending method takes to
answer, after it is recorded (a slow provider)."""

import threading
from http.server import ThreadingHTTPServer


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
