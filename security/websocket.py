from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.conf import settings


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
