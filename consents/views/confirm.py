"""The page a double opt-in link opens (consents/confirmation.py): what the form asked for,
and a button. Opening the link records nothing (mail scanners open links); pressing the
button does, once. The page is the privacy center's kind: no script, nothing from elsewhere,
not cached, not indexed, the token kept out of the logs."""

import logging

from django.shortcuts import render
from django.utils.formats import date_format
from django.views.decorators.http import require_http_methods

from consents import confirmation
from consents.views.public import CSP
from security.requests import client_ip

logger = logging.getLogger("consents.confirmation")


def _page(request, template: str, context: dict, status: int = 200):
    response = render(request, template, context, status=status)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    response["Content-Security-Policy"] = CSP
    if status >= 400:
        logger.warning("consent confirmation %s", status)  # without the token
        response._has_been_logged = True
    return response


@require_http_methods(["GET", "POST"])
def consent_confirm(request, token):
    try:
        pending = confirmation.pending_get(token)
    except confirmation.LinkExpired:
        return _page(request, "consents/confirm.html", {"expired": True}, status=410)
    except confirmation.LinkInvalid:
        return _page(request, "consents/confirm.html", {"invalid": True}, status=404)
    if request.method == "POST" and pending.confirmed_at is None:
        pending = confirmation.pending_confirm(token=token, evidence={
            "ip": client_ip(request) or "",
            "user_agent": request.headers.get("User-Agent", "")[:300]})
    return _page(request, "consents/confirm.html", {
        "pending": pending, "site": pending.site,
        "purposes": confirmation.pending_purposes(pending),
        "until": date_format(pending.expires_at, "j E, H:i"),
    })
