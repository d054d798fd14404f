from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from crm.consumers import LiveConsumer
from inbox.consumers import WidgetConsumer
from security.websocket import SessionAuthMiddlewareStack

websocket_urlpatterns = [
    # The website chat visitor's socket: no session, and not AllowedHostsOriginValidator (the
    # company's site is not one of this server's hosts): the consumer checks the Origin
    # against the channel's own list of sites.
    path("ws/widget/<slug:public_key>/", WidgetConsumer.as_asgi()),
    # The staff socket: session auth, and an Origin of this server's own hosts.
    path("ws/", AllowedHostsOriginValidator(SessionAuthMiddlewareStack(LiveConsumer.as_asgi()))),
]
