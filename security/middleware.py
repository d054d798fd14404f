"""Session hygiene for the web UI: idle sessions end, and the roles that must use two-factor
authentication pass it before anything else."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from security import accounts, login_protection
from security.requests import client_ip, wants_json

# Writing the session on every request would cost a database write per page: the last
# activity is stored at most once a minute.
_TOUCH_EVERY = 60


def _to(request, url_name: str):
    """A redirect to `url_name` that comes back here afterwards."""
    return redirect(f"{reverse(url_name)}?{urlencode({'next': request.get_full_path()})}")


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _user_activity(request) -> bool:
    """A person did something: a page opened, a form sent. A page's own background fetches
    (live updates) keep nothing alive; clients without Fetch Metadata count as people."""
    if request.method not in ("GET", "HEAD"):
        return True
    mode = request.headers.get("Sec-Fetch-Mode")
    return mode is None or mode == "navigate"


class IdleSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            last = request.session.get("last_activity")
            if last is not None and now - last > settings.SESSION_IDLE_TIMEOUT:
                logout(request)
                message = _("You were logged out after a period of inactivity.")
                if _is_api(request) or wants_json(request):
                    return JsonResponse({"detail": message}, status=401)
                messages.info(request, message)
                return _to(request, "login")
            if last is None or (_user_activity(request) and now - last >= _TOUCH_EVERY):
                request.session["last_activity"] = now
        return self.get_response(request)


class TwoFactorRequiredMiddleware:
    """A user of a role that must use two-factor, logged in with a password only, reaches
    nothing but the two-factor page (and logout) until they pass it."""

    ALLOWED = ("/account/two-factor/", "/logout/", "/static/", "/healthz/", "/i18n/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated
                and login_protection.two_factor_required(user)
                and not user.is_verified()
                and not request.path.startswith(self.ALLOWED)):
            if _is_api(request) or wants_json(request):
                return JsonResponse({"detail": _("Two-factor authentication is required: "
                                                 "confirm a code on the two-factor page.")},
                                    status=403)
            return _to(request, "two_factor")
        return self.get_response(request)


class RevokedCredentialMiddleware:
    """A session cookie that opens no session is looked up among the revoked ones (one query,
    only for such cookies): presented after the user was cut off, it is logged. The request
    goes on as anonymous (a login redirect, or 401 from the API).

    After the request, a logged-in session whose key changed is recorded under its new key
    (security.accounts), so cutting its user off still finds it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if cookie and not request.user.is_authenticated and request.session.session_key is None:
            accounts.session_refused(
                cookie, surface="api" if _is_api(request) else "html",
                ip=client_ip(request), path=request.path,
            )
        response = self.get_response(request)
        accounts.request_session_track(request)
        return response
