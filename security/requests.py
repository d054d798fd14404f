from urllib.parse import urlsplit


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


# --- Site origins (the website chat, the consent forms) ---------------------------------------


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower case, no path; "" when it is not http(s)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def origins_listed(text: str) -> set[str]:
    """The origins of a settings field, one `scheme://host[:port]` per line (anything else,
    a path or a wildcard, is skipped: never a prefix match)."""
    found = set()
    for line in (text or "").splitlines():
        line = line.strip().rstrip("/")
        origin = origin_of(line)
        if origin and origin == line.lower():
            found.add(origin)
    return found


def origin_in(text: str, origin: str | None) -> bool:
    """Exact match of a browser's Origin against a list of origins."""
    return bool(origin) and origin.lower() in origins_listed(text)
