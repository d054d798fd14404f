import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from guardian.models import UserObjectPermissionBase

from security import roles


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    head = models.ForeignKey(
        "security.User",
        verbose_name=_("head"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="headed_teams",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self):
        return self.name


class User(AbstractUser):
    """A member of staff. The role is the user's group (see security.roles)."""

    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )
    phone_extension = models.CharField(_("PBX extension"), max_length=20, blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["username"]

    def __str__(self):
        return self.get_full_name() or self.username

    @cached_property
    def role(self) -> str | None:
        """The user's role; superusers act as admins. One role per user by design."""
        if self.is_superuser:
            return roles.ADMIN
        names = {g.name for g in self.groups.all()}
        for role in roles.ROLES[::-1]:  # the most privileged wins if several were set by hand
            if role in names:
                return role
        return None

    @property
    def role_label(self) -> str:
        return roles.ROLE_LABELS.get(self.role, _("No role"))

    @cached_property
    def headed_team_ids(self) -> list[int]:
        return list(self.headed_teams.values_list("id", flat=True))


# --- Explicit sharing ------------------------------------------------------------------------


class DealUserObjectPermission(UserObjectPermissionBase):
    """A deal shared with one colleague: django-guardian's direct foreign-key model (the
    generic one joins through content types and does not scale).

    A read share is the `crm.view_deal` permission; an edit share adds `crm.change_deal`.
    Both rows of one share carry the same expiry; an expired row grants nothing.
    """

    content_object = models.ForeignKey(
        "crm.Deal", on_delete=models.CASCADE, related_name="user_shares"
    )
    granted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = _("deal share")
        verbose_name_plural = _("deal shares")
        indexes = [
            # "deals shared with me": the visibility rule's second branch.
            models.Index(fields=["user", "permission", "content_object"], name="deal_share_user"),
            models.Index(fields=["expires_at"], name="deal_share_expiry"),
        ]


# --- Field policy ----------------------------------------------------------------------------


class FieldPolicy(models.Model):
    """How one role sees one kind of contact detail; a role without a row gets the default
    in security.masking.DEFAULT_POLICY. Edited by the admin in the Django admin."""

    class Field(models.TextChoices):
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("E-mail")

    class Mode(models.TextChoices):
        FULL = "full", _("Full")
        LAST4 = "last4", _("Masked, last four digits shown")
        MASKED = "masked", _("Masked")
        HIDDEN = "hidden", _("Hidden")

    role = models.CharField(_("role"), max_length=30, choices=list(roles.ROLE_LABELS.items()))
    field = models.CharField(_("field"), max_length=20, choices=Field.choices)
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices)

    class Meta:
        verbose_name = _("field policy")
        verbose_name_plural = _("field policies")
        constraints = [
            models.UniqueConstraint(fields=["role", "field"], name="field_policy_unique"),
        ]

    def __str__(self):
        return f"{self.role}: {self.field} = {self.mode}"


class FieldReveal(models.Model):
    """One masked value shown in full, with the reason the user typed. Append-only."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(
        "crm.Contact", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    point = models.ForeignKey(
        "crm.ContactPoint", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    field = models.CharField(max_length=20)
    reason = models.CharField(_("reason"), max_length=500)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("revealed value")
        verbose_name_plural = _("revealed values")
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self):
        return f"{self.user} revealed {self.field} at {self.created_at:%Y-%m-%d %H:%M}"


# --- Exports ---------------------------------------------------------------------------------


class ExportRequest(models.Model):
    """Every export asked for, allowed or not: who, what, how many rows, and the file's fate.

    The file is kept encrypted under MEDIA_ROOT for at most 15 minutes and deleted after the
    one download; the row stays as the record."""

    class Resource(models.TextChoices):
        DEALS = "deals", _("Deals")
        CONTACTS = "contacts", _("Contacts")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    class Status(models.TextChoices):
        DENIED = "denied", _("Denied")
        READY = "ready", _("Ready to download")
        DOWNLOADED = "downloaded", _("Downloaded")
        EXPIRED = "expired", _("Expired")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="exports")
    resource = models.CharField(max_length=20, choices=Resource.choices)
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.CSV)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    row_count = models.PositiveIntegerField(default=0)
    capped = models.BooleanField(default=False)
    file_path = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self):
        return f"{self.resource} ({self.format}) by {self.user}: {self.status}"


# --- Accounts: sessions, revoked credentials, suspensions ------------------------------------


class UserSession(models.Model):
    """Whose a database session is, recorded at login (security.accounts), so cutting a user
    off deletes exactly their sessions instead of decoding every session in the table. The
    row goes with its session (logout, expiry, a new key after a password change)."""

    session = models.OneToOneField(
        "sessions.Session", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user"], name="user_session_user")]

    def __str__(self):
        # Never the key: this text can reach logs.
        return f"session of user {self.user_id}"


class RevokedCredential(models.Model):
    """A session key or API token taken from a user who was cut off, kept as a SHA-256 digest
    (never the key), so a later request presenting it is recognised, refused and logged."""

    class Kind(models.TextChoices):
        SESSION = "session", _("Session")
        TOKEN = "token", _("API token")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=20)
    revoked_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("revoked credential")
        verbose_name_plural = _("revoked credentials")

    def __str__(self):
        return f"{self.kind} of user {self.user_id} ({self.reason})"


class Suspension(models.Model):
    """An account suspended (inactive, sessions and tokens gone) until an admin or a security
    officer reinstates it. Rows stay as the history; the open one has no `lifted_at`."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="suspensions")
    reason = models.CharField(_("reason"), max_length=500)
    suspended_at = models.DateTimeField(_("suspended"), default=timezone.now)
    # None: suspended by a rule (an alert), not by a person.
    suspended_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lifted_at = models.DateTimeField(_("reinstated"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-suspended_at"]
        verbose_name = _("suspension")
        verbose_name_plural = _("suspensions")
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=models.Q(lifted_at__isnull=True),
                                    name="one_open_suspension_per_user"),
        ]

    def __str__(self):
        return f"{self.user} suspended at {self.suspended_at:%Y-%m-%d %H:%M}"


# --- Offboarding -----------------------------------------------------------------------------


class Offboarding(models.Model):
    """An employee's last day: everything they own handed to a successor and their access cut
    off (security.offboarding), at once or at `scheduled_for`. `report` lists what moved."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Failed")

    user = models.ForeignKey(User, verbose_name=_("employee"), on_delete=models.PROTECT,
                             related_name="offboardings")
    successor = models.ForeignKey(User, verbose_name=_("successor"), on_delete=models.PROTECT,
                                  related_name="+")
    # None: run from the command line or by the scheduler for nobody in particular.
    by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL,
                           related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    scheduled_for = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    # {"moved": {"deals": {"count": 2, "ids": [...]}, ...}, "sessions_ended": 1,
    #  "tokens_revoked": 1}
    report = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("offboarding")
        verbose_name_plural = _("offboardings")
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=models.Q(status="scheduled"),
                                    name="one_scheduled_offboarding_per_user"),
        ]
        indexes = [models.Index(fields=["status", "scheduled_for"], name="offboarding_due")]

    def __str__(self):
        return f"{self.user} → {self.successor} ({self.status})"
