"""The Content-Security-Policy of every page.

Each request gets a nonce (`request.csp_nonce`, `{{ csp_nonce }}` in templates): a page's own
<script> and <style> elements run only when they carry it, and nothing inline runs without it
(no 'unsafe-inline' anywhere), so markup slipped into a page through client data cannot
execute. Scripts and stylesheets are otherwise loaded from this origin only.

An HTML response that already has a policy keeps it: the privacy center, attachments and call
recordings set stricter ones of their own. Other responses (JSON, files, the widget's script)
are not documents and get none. Neither do Django's error pages in DEBUG, which style and
script themselves inline (DEBUG is never on in production).
"""

import secrets

from django.conf import settings
from django.core.exceptions import DisallowedHost

HEADER = "Content-Security-Policy"


def _socket_source(request) -> str:
    """The websockets of this host (live updates, the website chat): 'self' covers them in
    CSP Level 3 browsers only."""
    try:
        host = request.get_host()
    except DisallowedHost:
        return ""
    return ("wss://" if request.is_secure() else "ws://") + host


def content_security_policy(request) -> str:
    nonce = f"'nonce-{request.csp_nonce}'"
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' {nonce}",
        "style-src": f"'self' {nonce}",
        "img-src": "'self' data: blob:",
        "connect-src": f"'self' {_socket_source(request)}".strip(),
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = secrets.token_urlsafe(18)
        response = self.get_response(request)
        if (HEADER not in response
                and response.get("Content-Type", "").startswith("text/html")
                and not (settings.DEBUG and response.status_code >= 400)):
            response[HEADER] = content_security_policy(request)
        return response


def csp_nonce(request) -> dict:
    """The context processor: `{{ csp_nonce }}` for a page's <script> and <style> tags."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
