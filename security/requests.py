def client_ip(request) -> str | None:
    """The client's address. Behind the production proxy REMOTE_ADDR is the proxy, which sets
    X-Real-IP (deploy/nginx.conf); the header is trusted only in production mode."""
    from django.conf import settings

    if not settings.EMBEDDED:
        real = request.headers.get("X-Real-IP")
        if real:
            return real.strip()
    return request.META.get("REMOTE_ADDR") or None
