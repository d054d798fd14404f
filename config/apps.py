"""Third-party apps under Russian names in the admin: their own configs leave the app's label
(AXES, OTP_TOTP) or an English name the admin's index shows in capitals."""

from auditlog.apps import AuditlogConfig
from axes.apps import AppConfig as AxesAppConfig
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.apps import DefaultConfig as TotpConfig
from guardian.apps import GuardianConfig


class AuditLog(AuditlogConfig):
    verbose_name = _("Change log")


class Axes(AxesAppConfig):
    verbose_name = _("Login attempts")


class Totp(TotpConfig):
    verbose_name = _("Two-factor authentication")


class Guardian(GuardianConfig):
    verbose_name = _("Object permissions")
