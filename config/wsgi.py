"""WSGI entry point: production HTTP (pages, API, webhooks) on gunicorn workers."""

import os

from django.core.wsgi import get_wsgi_application

from config.memory import freeze_startup_objects

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()
# Loaded once in gunicorn's master (--preload), before it forks the workers.
freeze_startup_objects()
