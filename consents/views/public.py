"""The privacy center: public pages a client reaches through their signed link (no login).

The link `/privacy/<token>/` is opened once: the token is checked (consents.privacy), put in
a signed cookie of its own (path /privacy/, HttpOnly, SESSION_MINUTES at most) and the
browser is sent on to `/privacy/`. The pages read the token from that cookie and check it
again on every request (a revoked link stops at once), so the token leaves the address bar,
the browser's history and every later access-log line. A token that fails shows a page that
says why and nothing else. The pages are never indexed or cached, send no Referer elsewhere,
load nothing from elsewhere and run no script (the CSP says so). POSTs are CSRF-protected and
rate-limited per contact and address.

The privacy center is the client's alone: a browser signed in as staff is refused (403), so
no member of staff reads or downloads a client's data through it, whatever link they hold.

The access log: each page and the download are recorded as reads of the contact with no user
and `{"subject": <contact id>}` in the detail (the subject reading their own data); the
opening request is recorded under `/privacy/<token>/` with the token cut out.
"""

import functools
import logging

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consents import privacy, privacy_data, selectors, services
from consents.models import ConsentEvent, SubjectRequest
from consents.privacy_forms import SubjectRequestForm, WithdrawForm
from security.audit import access_log
from security.audit.access_log import Action, Surface
from security.requests import client_ip

logger = logging.getLogger("consents.privacy")

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")


def _protect(response, request=None):
    if response.status_code >= 400 and request is not None:
        # Django logs every 4xx with its path, which holds the token (still valid behind a
        # 429 or a form error): log it here without, and tell Django it is done.
        logger.warning("privacy center %s: %s", response.status_code,
                       _redacted(request, getattr(request, "privacy_token", "")))
        response._has_been_logged = True
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "no-store"
    # Not "no-referrer": with it browsers send `Origin: null` on the forms' POSTs, which the
    # CSRF check refuses. Same-origin sends the path only back to us.
    response["Referrer-Policy"] = "same-origin"
    response["Content-Security-Policy"] = CSP
    return response


def _redacted(request, token: str) -> str:
    return request.path.replace(token, "<token>") if token else request.path


def _error_page(request, error: privacy.LinkError | None):
    """Why the link or the visit does not work; `None`: no (valid) visit cookie."""
    return _protect(render(request, "consents/privacy/link_error.html", {
        "expired": isinstance(error, privacy.LinkExpired),
        "revoked": isinstance(error, privacy.LinkRevoked),
        "ended": error is None,
    }, status=400 if error is None else error.status), request)


def _staff_refused(request):
    return _protect(render(request, "consents/privacy/staff_refused.html", status=403),
                    request)


# The visit: the token in a cookie of the privacy center's own, signed again with a time
# stamp so that a copied cookie also stops working after SESSION_MINUTES.
COOKIE = "privacy_visit"
COOKIE_SALT = "consents.privacy-center.visit"
COOKIE_PATH = "/privacy/"
SESSION_MINUTES = 30


@require_GET
def privacy_open(request, token):
    """The link itself: check it, start the visit, and go on to the token-free address."""
    request.privacy_token = token
    access_log.record_path_as(_redacted(request, token))
    if request.user.is_authenticated:
        return _staff_refused(request)
    try:
        privacy.privacy_contact(token)
    except privacy.LinkError as error:
        return _error_page(request, error)
    response = redirect("privacy:home")
    response.set_signed_cookie(
        COOKIE, token, salt=COOKIE_SALT, max_age=SESSION_MINUTES * 60, path=COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Lax")
    return _protect(response, request)


def privacy_view(view):
    """Resolve the visit's token into the contact (or answer the error page), refuse staff,
    rate-limit POSTs, and protect the response."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated:
            return _staff_refused(request)
        token = request.get_signed_cookie(COOKIE, default=None, salt=COOKIE_SALT,
                                          max_age=SESSION_MINUTES * 60)
        if not token:
            return _error_page(request, None)
        try:
            contact = privacy.privacy_contact(token)
        except privacy.LinkError as error:
            response = _error_page(request, error)
            response.delete_cookie(COOKIE, path=COOKIE_PATH)
            return response
        if request.method == "POST":
            wait = privacy.rate_limited(contact_id=contact.pk, ip=client_ip(request))
            if wait:
                response = render(request, "consents/privacy/rate_limited.html",
                                  {"wait": wait}, status=429)
                response["Retry-After"] = str(wait)
                return _protect(response, request)
        return _protect(view(request, contact, *args, **kwargs), request)

    return wrapper


def _subject_read(contact, *, action=Action.VIEW, surface=None):
    access_log.read(contact, action=action, surface=surface, detail={"subject": contact.pk})


@require_GET
@privacy_view
def privacy_home(request, contact):
    data = privacy_data.subject_data(contact, with_messages=False)
    _subject_read(contact)
    return render(request, "consents/privacy/home.html", {"data": data})


@require_http_methods(["GET", "POST"])
@privacy_view
def privacy_withdraw(request, contact):
    """GET: what withdrawing this consent means, and a confirm button. POST: withdraw it."""
    form = WithdrawForm(request.POST or request.GET or None)
    purpose = None
    if form.is_bound:
        purpose = selectors.granted_purpose(contact=contact, code=form.data.get("purpose", ""))
    if purpose is None or not form.is_valid():
        messages.info(request, _("This consent is not given, or was already withdrawn."))
        return redirect("privacy:home")
    if request.method == "POST":
        services.consent_record(
            contact=contact, purpose=purpose, kind=ConsentEvent.Kind.WITHDRAWN,
            source=ConsentEvent.Source.PRIVACY_CENTER,
            evidence={"ip": client_ip(request),
                      "user_agent": request.headers.get("User-Agent", "")[:300]},
        )
        messages.success(request, _("Your consent “%(purpose)s” is withdrawn.")
                         % {"purpose": purpose.title})
        return redirect("privacy:home")
    return render(request, "consents/privacy/withdraw_confirm.html", {
        "purpose": purpose, "text": purpose.current_text(),
    })


@require_POST
@privacy_view
def privacy_download(request, contact):
    body = privacy_data.subject_archive(contact)
    _subject_read(contact, action=Action.DOWNLOAD, surface=Surface.FILE)
    response = HttpResponse(body, content_type="application/zip")
    name = f"my-data-{timezone.localdate():%Y-%m-%d}.zip"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_http_methods(["GET", "POST"])
@privacy_view
def privacy_request(request, contact):
    """Ask for erasure or correction: registered as a subject request, due in working days."""
    form = SubjectRequestForm(request.POST or None,
                              initial={"kind": request.GET.get("kind", "rectification")})
    if request.method == "POST" and form.is_valid():
        try:
            subject_request = services.subject_request_register(
                contact=contact, kind=form.cleaned_data["kind"],
                source=SubjectRequest.Source.PRIVACY_CENTER,
                details=form.cleaned_data["details"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _(
                "Your request no. %(number)s is registered. We will answer by %(due)s.") % {
                "number": subject_request.pk,
                "due": date_format(subject_request.due_date, "j E Y")})
            return redirect("privacy:home")
    return render(request, "consents/privacy/request_form.html",
                  {"form": form, "contact": contact},
                  status=400 if form.errors else 200)
