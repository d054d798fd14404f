import copy
import json
import warnings

import uvicorn
import uvicorn.config
from django.conf import settings
from django.core.management import BaseCommand, call_command

from core.scheduler import EmbeddedScheduler


class Command(BaseCommand):
    help = (
        "Serve pages, API and websockets from one ASGI process, with periodic jobs in a "
        "background thread (the embedded mode of `make run`)."
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
