"""The privacy link's token kept out of every log line.

The link `/privacy/<token>/` is a bearer credential to a client's data for days. The view
exchanges it for a cookie on first use (consents.views.public), but that first request still
carries it in its path, and servers log paths: the access log of `manage.py serve` (uvicorn),
Django's warnings about 4xx answers, and the proxy's log (deploy/nginx.conf, which rewrites
the same paths with its own map). This filter rewrites them to `/privacy/<token>`; the pages
after the link (`/privacy/withdraw/`...) carry no token and stay as they are.
"""

import logging
import re

# The one path with a token: /privacy/ followed by anything but the center's own pages.
TOKEN_IN_PATH = re.compile(r"/privacy/(?!(?:withdraw|download|request)/)[^/?#\s\"']+")
REDACTED = "/privacy/<token>"


def redact(text: str) -> str:
    return TOKEN_IN_PATH.sub(REDACTED, text) if "/privacy/" in text else text


class RedactPrivacyTokens(logging.Filter):
    """Rewrites the message and its arguments (uvicorn's access formatter reads the
    arguments themselves), never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True
