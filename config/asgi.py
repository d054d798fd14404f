"""ASGI entry point.

Embedded mode serves everything (pages, API and `/ws/`) from this one application. In
production only `/ws/` is routed here: Django's ASGI handler costs 4-7x per HTTP request, so
pages run on WSGI workers (see DESIGN.md).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

# Each route carries its own checks (session and host Origin for /ws/, the channel's sites for
# the website chat's /ws/widget/...): see config/routing.py.
from config.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

from config.memory import freeze_startup_objects  # noqa: E402

freeze_startup_objects()
