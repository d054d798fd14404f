"""A real redis-server of a test's (or a bench's) own, on a free loopback port, to stop, kill,
freeze (SIGSTOP: the kernel accepts connections, nobody answers) and start again on the same
address."""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, directory: Path, *, appendonly: bool = False):
        self.port, self.directory, self.appendonly = free_port(), directory, appendonly
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: a clean stop; SIGKILL: killed."""
        if self.running:
            os.kill(self.process.pid, signal.SIGCONT)  # a frozen one cannot act on SIGTERM
            self.process.send_signal(sig)
            self.process.wait(timeout=15)

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)
