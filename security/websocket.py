"""The staff websocket (`/ws/`) under the page's rules: the same origins as the page's CSRF
check (`SameOriginValidator`), and the same session rules (`socket_session`, through
security.middleware.session_refusal)."""

import io
from importlib import import_module
from typing import NamedTuple

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib import auth
from django.core.handlers.asgi import ASGIRequest
from django.middleware.csrf import CsrfViewMiddleware
from django_otp.middleware import OTPMiddleware

from security.middleware import Refusal, session_refusal


class _SocketRequest(ASGIRequest):
    """A websocket's handshake as a Django request, so that the page's own checks read it:
    headers, cookies, the client's address, and the scheme a page of it would have (wss is
    https; behind the proxy, SECURE_PROXY_SSL_HEADER as for pages)."""

    def __init__(self, scope):
        super().__init__({**scope, "method": "GET"}, io.BytesIO())

    def _get_scheme(self):
        return "https" if self.scope.get("scheme") == "wss" else "http"


def _page_response(request):  # the middlewares below are only asked their checks
    return None


def origin_allowed(scope) -> bool:
    """The Origin a page's form post must have (Django's CSRF origin check): the server's
    Host with its scheme and port, or one of CSRF_TRUSTED_ORIGINS. Channels'
    AllowedHostsOriginValidator compares the host alone, so a page of another port of the
    same host (another app) could open a socket with our cookie."""
    request = _SocketRequest(scope)
    if "HTTP_ORIGIN" not in request.META:
        return False
    return CsrfViewMiddleware(_page_response)._origin_verified(request)


class SameOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


class SocketSession(NamedTuple):
    refusal: Refusal | None  # None: the socket may stay
    user: object  # as a page would have it now: role, teams, django-otp's verification
    found: bool  # the session key still opens a session (a password change replaces it)


def socket_session(scope) -> SocketSession:
    """The socket's session, read afresh from the store, through the page's rules. An idle
    session is ended as a page ends it. Opening or keeping a socket is no activity of a
    person, as a page's background fetch is not."""
    request = _SocketRequest(scope)
    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(key)
    request.user = auth.get_user(request)
    found = request.session.session_key is not None  # a key the store does not hold is dropped
    OTPMiddleware(_page_response)._verify_user_sync(request, request.user)
    refusal = session_refusal(request, activity=False)
    if refusal in (None, Refusal.TWO_FACTOR) and request.session.modified:
        request.session.save()  # the first activity stored, or a stale device forgotten
    return SocketSession(refusal, request.user, found)


class RevokedSessionLogMiddleware(BaseMiddleware):
    """A socket opened with a session cookie that loads no user: if the session was revoked
    (its user cut off), the attempt is logged. The consumer refuses it either way (4401)."""

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        key = scope.get("cookies", {}).get(settings.SESSION_COOKIE_NAME)
        if key and user is not None and not user.is_authenticated:
            from security import accounts

            client = scope.get("client") or (None, None)
            await database_sync_to_async(accounts.session_refused)(
                key, surface="websocket", ip=client[0], path=scope.get("path", "")
            )
        return await super().__call__(scope, receive, send)


def SessionAuthMiddlewareStack(inner):  # noqa: N802 (named like Channels' own stacks)
    """Websockets authenticate with the Django session cookie, as the pages do."""
    return AuthMiddlewareStack(RevokedSessionLogMiddleware(inner))
