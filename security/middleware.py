"""Session hygiene for the web UI and the websocket: idle sessions end, and the roles that
must use two-factor authentication pass it before anything else (`session_refusal`)."""

import enum
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


class Refusal(enum.Enum):
    """Why a session may not reach a page or open a websocket."""

    ANONYMOUS = "anonymous"  # no session, or it loads no active user
    IDLE = "idle"  # unused for SESSION_IDLE_TIMEOUT: it has just been ended
    TWO_FACTOR = "two_factor"  # a role that must pass two-factor has not, in this session


def session_refusal(request, *, activity: bool, two_factor_exempt: bool = False) -> Refusal | None:
    """The session rules, the one copy: every page (SessionRulesMiddleware) and the websocket
    (security.websocket.socket_session) ask here. `request` has `user` (with django-otp's
    `is_verified`) and `session`; `activity` says whether a person did something, which keeps
    the session alive. An idle session is ended here, as logging out does (the session's
    sockets close too); the last activity is stored at most once a minute."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return Refusal.ANONYMOUS
    now = int(time.time())
    last = request.session.get("last_activity")
    if last is not None and now - last > settings.SESSION_IDLE_TIMEOUT:
        logout(request)
        return Refusal.IDLE
    if last is None or (activity and now - last >= _TOUCH_EVERY):
        request.session["last_activity"] = now
    if (not two_factor_exempt and login_protection.two_factor_required(user)
            and not user.is_verified()):
        return Refusal.TWO_FACTOR
    return None


class SessionRulesMiddleware:
    """Idle sessions end; a user of a role that must use two-factor, logged in with a
    password only, reaches nothing but the two-factor page (and logout) until they pass it.
    An anonymous request goes on: the views decide what it may see."""

    TWO_FACTOR_EXEMPT = ("/account/two-factor/", "/logout/", "/static/", "/healthz/", "/i18n/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not hasattr(request, "session"):
            return self.get_response(request)
        refusal = session_refusal(
            request, activity=_user_activity(request),
            two_factor_exempt=request.path.startswith(self.TWO_FACTOR_EXEMPT),
        )
        if refusal is Refusal.IDLE:
            message = _("You were logged out after a period of inactivity.")
            if _is_api(request) or wants_json(request):
                return JsonResponse({"detail": message}, status=401)
            messages.info(request, message)
            return _to(request, "login")
        if refusal is Refusal.TWO_FACTOR:
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
