import copy
import json
import warnings

import uvicorn
import uvicorn.config
from django.conf import settings
from django.core.management import BaseCommand, call_command

from core import tasks
from core.scheduler import EmbeddedScheduler

# A send retrying against a failing provider holds a thread for its waits (~33 s at most):
# a few threads keep the other work (inbound messages, files) moving meanwhile.
WORKER_THREADS = 4


class Command(BaseCommand):
    help = (
        "Serve pages, API and websockets from one ASGI process, with background tasks in an "
        "in-process worker and periodic jobs in a thread (the embedded mode of `make run`)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host, port, **options):
        url = f"http://{host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"CRM is running at {url}"))
        self._print_demo_logins()
        # WhiteNoise streams static files with a sync iterator, which Django's ASGI handler
        # warns about on every file; harmless here (production serves static over WSGI).
        warnings.filterwarnings(
            "ignore", message="StreamingHttpResponse must consume synchronous iterators"
        )
        # Tasks run off the request threads: a reply's request answers at once while the
        # provider's retries wait in a worker thread.
        tasks.worker_start(threads=WORKER_THREADS)
        scheduler = EmbeddedScheduler()
        scheduler.start()
        try:
            uvicorn.run(
                "config.asgi:application",
                host=host,
                port=port,
                lifespan="off",  # Django's ASGI handler does not speak the lifespan protocol
                log_level="warning" if not settings.DEBUG else "info",
                log_config=_log_config(),
                ws="websockets-sansio",
            )
        finally:
            scheduler.stop()
            tasks.worker_stop()

    def _print_demo_logins(self):
        from io import StringIO

        from crm.demo import demo_present

        if not demo_present():
            return
        out = StringIO()
        call_command("seed_demo", "--json", stdout=out)
        demo = json.loads(out.getvalue())
        users = demo.get("users", [])
        if users:
            self.stdout.write("Demo logins (password: demo):")
            for user in users:
                self.stdout.write(f"  {user['username']:<12} {user.get('role', '')}"
                                  f" {user.get('team') or ''}".rstrip())


def _log_config() -> dict:
    """uvicorn's own logging, with the privacy links' tokens cut out of its access log."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["privacy_tokens"] = {
        "()": "consents.log_filters.RedactPrivacyTokens"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("privacy_tokens")
    return config
