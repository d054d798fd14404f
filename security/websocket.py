from channels.auth import AuthMiddlewareStack


def SessionAuthMiddlewareStack(inner):  # noqa: N802 (named like Channels' own stacks)
    """Websockets authenticate with the Django session cookie, as the pages do."""
    return AuthMiddlewareStack(inner)
