"""The production stack of docker-compose.yml as local processes, for the inbox bench and the
CI smoke test of the runtime install (scripts/production_smoke.py).

Each service runs the compose file's command with its settings (CRM_MODE=production) on the
PostgreSQL and Redis given by DATABASE_URL and REDIS_URL, from the virtualenv given as
`bin_dir` (the current one by default).
"""

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# docker-compose.yml's defaults for the service sizes, read from the same variables.
WEB_WORKERS = os.environ.get("WEB_WORKERS", "3")
WS_WORKERS = os.environ.get("WS_WORKERS", "2")
WORKER_CONCURRENCY = os.environ.get("WORKER_CONCURRENCY", "4")


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def stack_env(tmp: Path) -> dict:
    """What the compose file's `.env` and `environment:` give every app service."""
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        raise SystemExit("DATABASE_URL and REDIS_URL must be set; run through "
                         "scripts/test-services.sh (make bench-inbox does)")
    env = dict(os.environ)
    env.update(
        CRM_MODE="production",
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=f"k1:{_key()}",
        BLIND_INDEX_KEY=_key(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CRM_VAR_DIR=str(tmp / "var"),
        MEDIA_ROOT=str(tmp / "media"),
    )
    env.pop("DEBUG", None)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """The compose services as local processes, each in its own process group."""

    def __init__(self, env: dict, tmp: Path, *, bin_dir: Path | None = None,
                 web_settings: str = "config.settings"):
        self.env, self.tmp = env, tmp
        self.bin = bin_dir or Path(sys.executable).parent
        self.web_settings = web_settings
        self.web_port, self.ws_port = free_port(), free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.specs: dict[str, tuple[list[str], dict]] = {}

    def _start(self, name: str, argv: list[str], **env) -> None:
        self.specs[name] = (argv, env)
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the process)
        self.procs[name] = subprocess.Popen(
            argv, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def migrate(self) -> None:
        subprocess.run([str(self.bin / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
                       cwd=ROOT, env=self.env, check=True)

    def start(self) -> None:
        self._start("web", [
            str(self.bin / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{self.web_port}",
            "--workers", WEB_WORKERS, "--timeout", "60", "--preload",
            "--max-requests", "100000", "--max-requests-jitter", "50000",
            "--forwarded-allow-ips", "*",
        ], DJANGO_SETTINGS_MODULE=self.web_settings)
        self._start("ws", [
            str(self.bin / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1",
            "--port", str(self.ws_port), "--workers", WS_WORKERS,
            "--lifespan", "off", "--proxy-headers", "--forwarded-allow-ips", "*",
        ])
        self._start("worker", [
            "nice", "-n", "10", str(self.bin / "celery"), "-A", "config", "worker",
            "--loglevel", "INFO", "--concurrency", WORKER_CONCURRENCY,
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ])
        self._start("beat", [str(self.bin / "celery"), "-A", "config", "beat", "--loglevel", "INFO",
                             "--schedule", str(self.tmp / "celerybeat-schedule")])
        self._wait_port("web", self.web_port)
        self._wait_port("ws", self.ws_port)

    def _wait_port(self, name: str, port: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"{name} did not listen on {port}; see {self.tmp}/{name}.log")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a service's whole process group (gunicorn's or Celery's workers with it)."""
        try:
            os.killpg(self.procs[name].pid, sig)
        except ProcessLookupError:
            pass
        self.procs[name].wait()

    def restart_dead(self) -> list[str]:
        """What a supervisor does (compose's restart policy, the systemd units): start again
        every service that exited. Returns their names."""
        dead = [name for name, proc in self.procs.items() if proc.poll() is not None]
        for name in dead:
            argv, env = self.specs[name]
            self._start(name, argv, **env)
        return dead

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}; "
                                 f"see {self.tmp}/{name}.log")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
