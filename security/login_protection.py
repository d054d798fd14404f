"""Brute-force lockout (django-axes) and two-factor authentication (TOTP, django-otp).

Axes counts failed logins per username and address on every path that checks a password (the
web login, the API token endpoint), and refuses further attempts for a while: the answer is a
page (429) for the web and JSON for the API. Two-factor: who must use it, setting up a TOTP
device, and checking a code; the web flow is in security.views.two_factor and the
SessionRulesMiddleware, the API's in crm.api.views.TokenObtainView.
"""

import base64
from io import BytesIO

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from security import requests


def client_ip(request) -> str:
    return requests.client_ip(request) or ""


def lockout_response(request, original_response=None, credentials=None):
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = _("Too many failed attempts to log in. Try again in %(minutes)d minutes, or ask "
                "the administrator to unlock the account.") % {"minutes": minutes}
    if request.path.startswith("/api/") or requests.wants_json(request):
        response = JsonResponse({"detail": message}, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message},
                          status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


# --- Two-factor ------------------------------------------------------------------------------


def two_factor_required(user) -> bool:
    """Must `user` pass a second factor? Only enforced where TWO_FACTOR_REQUIRED is set."""
    return settings.TWO_FACTOR_REQUIRED and two_factor_role(user)


def two_factor_role(user) -> bool:
    return getattr(user, "role", None) in settings.TWO_FACTOR_ROLES


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def setup_device(user) -> TOTPDevice:
    """The device being set up (one unconfirmed device per user, kept until confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_("Authenticator app"),
                                           confirmed=False)
    return device


def confirm_device(*, user, device: TOTPDevice, token: str) -> bool:
    """The user typed a code from the app they just set up: make it their device."""
    if device.user_id != user.pk or not device.verify_token(_digits(token)):
        return False
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return True


def check_code(user, token: str) -> TOTPDevice | None:
    """The confirmed device that accepts this code (each code works once), else None."""
    return match_token(user, _digits(token))


def device_qr_svg(device: TOTPDevice) -> str:
    """The provisioning QR code as inline SVG (no image files, no request to anyone)."""
    import segno

    buffer = BytesIO()
    segno.make(device.config_url, error="m").save(buffer, kind="svg", scale=4, xmldecl=False,
                                                  svgns=True, title=_("QR code to scan"))
    return buffer.getvalue().decode()


def device_secret(device: TOTPDevice) -> str:
    """The key in base32, for typing into an app by hand."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def _digits(token) -> str:
    return "".join(ch for ch in str(token or "") if ch.isdigit())[:8]
