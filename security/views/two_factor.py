"""The two-factor page: set up an authenticator app (a QR code and the key), or type its
code to finish logging in. Required for some roles in production
(security.middleware.SessionRulesMiddleware), offered to everyone."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from security import login_protection


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from the app"), max_length=12,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "autofocus": True}),
    )


def _next(request) -> str:
    url = request.POST.get("next") or request.GET.get("next") or "/"
    if url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return url
    return "/"


@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request):
    user = request.user
    device = login_protection.confirmed_device(user)
    # Replacing the app (a new phone) needs a session that passed the current one.
    setting_up = device is None or (request.GET.get("setup") == "1" and user.is_verified())
    if device is not None and user.is_verified() and not setting_up:
        return render(request, "registration/two_factor.html", {"enabled": True})
    form = CodeForm(request.POST or None)
    if setting_up:
        device = login_protection.setup_device(user)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        if setting_up:
            if login_protection.confirm_device(user=user, device=device, token=code):
                otp_login(request, device)
                messages.success(request, _("Two-factor authentication is on."))
                return redirect(_next(request))
        else:
            matched = login_protection.check_code(user, code)
            if matched is not None:
                otp_login(request, matched)
                return redirect(_next(request))
        form.add_error("code", _("The code is wrong or has expired. Type the code the app "
                                 "shows now."))
    return render(request, "registration/two_factor.html", {
        "form": form,
        "setting_up": setting_up,
        "required": login_protection.two_factor_required(user),
        # segno's SVG of the device's own URL: nothing from the request goes into it.
        "qr_svg": mark_safe(login_protection.device_qr_svg(device)) if setting_up else "",
        "secret": login_protection.device_secret(device) if setting_up else "",
        "next": _next(request),
    }, status=400 if form.errors else 200)
