"""Settings of the gunicorn server in `bench/inbox_stack.py`: the product's, plus one URL.

Only the bench's web server loads this (DJANGO_SETTINGS_MODULE=bench.stack_settings); the
product never routes to `bench.stack_urls`.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.stack_urls"
