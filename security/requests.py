def client_ip(request) -> str | None:
    """The client's address. Behind the production proxy REMOTE_ADDR is the proxy, which sets
    X-Real-IP (deploy/nginx.conf); the header is trusted only in production mode."""
    from django.conf import settings

    if not settings.EMBEDDED:
        real = request.headers.get("X-Real-IP")
        if real:
            return real.strip()
    return request.META.get("REMOTE_ADDR") or None


def wants_json(request) -> bool:
    """A page's script asking for JSON (fetch with Accept: application/json); a plain form
    post gets HTML."""
    return "application/json" in request.headers.get("Accept", "")
