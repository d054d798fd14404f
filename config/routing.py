from django.urls import path

from crm.consumers import LiveConsumer
from inbox.consumers import WidgetConsumer
from security.websocket import SameOriginValidator, SessionAuthMiddlewareStack

websocket_urlpatterns = [
    # The website chat visitor's socket: no session, and not SameOriginValidator (the
    # company's site is not one of this server's hosts): the consumer checks the Origin
    # against the channel's own list of sites.
    path("ws/widget/<slug:public_key>/", WidgetConsumer.as_asgi()),
    # The staff socket: session auth, and the Origin a page's form post must have (scheme,
    # host and port).
    path("ws/", SameOriginValidator(SessionAuthMiddlewareStack(LiveConsumer.as_asgi()))),
]
