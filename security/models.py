import uuid

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

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
    # Where the team works: its head's weekly digest comes on Monday at 9:00 there.
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Moscow")

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self):
        return self.name

    def clean(self):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError({"time_zone": _("Unknown time zone “%(zone)s”.") % {
                "zone": self.time_zone}}) from None


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

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+",
                             verbose_name=_("user"))
    contact = models.ForeignKey(
        "crm.Contact", null=True, on_delete=models.SET_NULL, related_name="+",
                                                                                              verbose_name=_("contact")
    )
    point = models.ForeignKey(
        "crm.ContactPoint", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    field = models.CharField(max_length=20, verbose_name=_("field"))
    reason = models.CharField(_("reason"), max_length=500)
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("IP address"))
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True,
                                      verbose_name=_("created at"))

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
        TEAM_ACTIVITY = "team_activity", _("Team activity")

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
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="exports",
                             verbose_name=_("user"))
    resource = models.CharField(max_length=20, choices=Resource.choices, verbose_name=_("resource"))
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.CSV,
                              verbose_name=_("format"))
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, verbose_name=_("status"))
    row_count = models.PositiveIntegerField(default=0, verbose_name=_("rows"))
    capped = models.BooleanField(default=False, verbose_name=_("cut at the limit"))
    file_path = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True,
                                      verbose_name=_("created at"))
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


# --- Tamper-evident logs ---------------------------------------------------------------------


class ChainHead(models.Model):
    """The last link of one hash chain: appending locks this row, so links are written one
    after another, and a record deleted from the end of a chain shows as a head pointing past
    the last record."""

    name = models.CharField(max_length=30, primary_key=True)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="")

    def __str__(self):
        return f"{self.name} @ {self.seq}"


class ChainedRecord(models.Model):
    """A row of an append-only log. Each carries the hash of the previous one (`prev_hash`)
    and its own hash over its content and that link (security.audit.audit_chain), so an altered,
    inserted or deleted row breaks the chain where `manage.py verify_audit` finds it.

    The application's database role needs INSERT and SELECT on these tables, never UPDATE or
    DELETE; on PostgreSQL a trigger refuses both anyway (migration 0003)."""

    seq = models.BigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        abstract = True
        ordering = ["seq"]

    # The fields the hash covers, in order; a subclass lists its own.
    HASHED_FIELDS: tuple[str, ...] = ()


class AccessRecord(ChainedRecord):
    """One read of client data by a member of staff: what, by whom, from where, through
    which surface. Written in one batch per request (security.audit.access_log)."""

    class Surface(models.TextChoices):
        HTML = "html", _("Web pages")
        API = "api", _("API")
        WEBSOCKET = "ws", _("Live updates")
        FILE = "file", _("File download")
        EXPORT = "export", _("Export")

    class Action(models.TextChoices):
        VIEW = "view", _("Card viewed")
        LIST = "list", _("Listed")
        SEARCH = "search", _("Search result")
        TIMELINE = "timeline", _("Timeline read")
        PLAYBACK = "playback", _("Recording played")
        DOWNLOAD = "download", _("File downloaded")
        REVEAL = "reveal", _("Masked value revealed")
        EXPORT = "export", _("Exported")
        SUBSCRIBE = "subscribe", _("Live updates subscribed")
        NOT_FOUND = "not_found", _("Not found (refused)")
        REFUSED = "refused", _("Revoked credential refused")
        BLOCKED = "blocked", _("Sending blocked (foreign messenger)")

    at = models.DateTimeField(db_index=True)
    # No foreign keys: a log row is never touched again, not even when a user or a contact
    # is deleted or erased; the ids stay as they were read.
    user_id = models.BigIntegerField(null=True, db_index=True)
    username = models.CharField(max_length=150, blank=True)
    surface = models.CharField(max_length=10, choices=Surface.choices)
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.BigIntegerField(null=True)
    contact_id = models.BigIntegerField(null=True, db_index=True)
    path = models.CharField(max_length=300, blank=True)
    # Text, not an inet: the hash covers the address exactly as written.
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    HASHED_FIELDS = ("at", "user_id", "username", "surface", "action", "object_type",
                     "object_id", "contact_id", "path", "ip", "user_agent", "detail")

    class Meta(ChainedRecord.Meta):
        verbose_name = _("access record")
        verbose_name_plural = _("access log")
        indexes = [models.Index(fields=["user_id", "at"]),
                   models.Index(fields=["contact_id", "at"])]

    def __str__(self):
        return f"#{self.seq} {self.username} {self.action} {self.object_type}:{self.object_id}"


class ChangeSeal(ChainedRecord):
    """The fingerprint of one django-auditlog entry, chained: the change log itself has no
    chain, so its rows are sealed here as they are written (security.audit.audit_chain). A lawful
    redaction (a client's erasure) seals the entry again, with the reason; the latest seal of
    an entry is the one it must match."""

    entry_id = models.BigIntegerField(db_index=True)
    digest = models.CharField(max_length=64)
    reason = models.CharField(max_length=200, blank=True)

    HASHED_FIELDS = ("entry_id", "digest", "reason")

    class Meta(ChainedRecord.Meta):
        verbose_name = _("change seal")
        verbose_name_plural = _("change seals")

    def __str__(self):
        return f"#{self.seq} entry {self.entry_id}"


# --- Anomaly rules and alerts ----------------------------------------------------------------


class RuleSetting(models.Model):
    """A rule's threshold and response as the security officer set them; a rule without a
    row uses its defaults (security.audit.rules.RULES)."""

    class Response(models.TextChoices):
        ALERT = "alert", _("Alert only")
        SUSPEND = "suspend", _("Alert and suspend the account")

    rule = models.CharField(_("rule"), max_length=40, primary_key=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    threshold = models.PositiveIntegerField(_("threshold"))
    window_minutes = models.PositiveIntegerField(_("window, minutes"))
    response = models.CharField(_("response"), max_length=10, choices=Response.choices,
                                default=Response.ALERT)

    class Meta:
        verbose_name = _("rule setting")
        verbose_name_plural = _("rule settings")

    def __str__(self):
        return self.rule


class Alert(models.Model):
    """A rule fired for a user: what it saw (`evidence`: the access-log records, objects and
    clients involved), and what the security officer did about it."""

    class Status(models.TextChoices):
        # "Open" alone is a deal's status ("in progress" in Russian); an alert is "new".
        OPEN = "open", pgettext_lazy("alert status", "Open")
        IN_REVIEW = "in_review", _("In review")
        RESOLVED = "resolved", _("Resolved")
        DISMISSED = "dismissed", _("False positive")

    rule = models.CharField(_("rule"), max_length=40, db_index=True)
    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.PROTECT,
                             related_name="alerts")
    raised_at = models.DateTimeField(_("raised"), default=timezone.now, db_index=True)
    count = models.PositiveIntegerField(_("events"))
    threshold = models.PositiveIntegerField(_("threshold"))
    window_minutes = models.PositiveIntegerField(_("window, minutes"))
    evidence = models.JSONField(_("evidence"), default=dict)
    suspended = models.BooleanField(_("account suspended"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.OPEN, db_index=True)
    assignee = models.ForeignKey(User, verbose_name=_("assignee"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="assigned_alerts")
    resolved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolution = models.TextField(_("resolution comment"), blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        indexes = [models.Index(fields=["user", "rule", "-raised_at"])]

    def __str__(self):
        return f"{self.rule}: {self.user} ({self.raised_at:%Y-%m-%d %H:%M})"


class KnownAddress(models.Model):
    """An address a privileged account has signed in from (the new-IP rule's baseline)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    ip = models.CharField(max_length=45)
    first_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "ip"], name="known_address_unique")]

    def __str__(self):
        return f"{self.user}: {self.ip}"


# --- Incidents -------------------------------------------------------------------------------


class Incident(models.Model):
    """A suspected leak or misuse, opened from alerts. 152-FZ gives the operator 24 hours from
    detection to notify the regulator and 72 hours to report the investigation's results;
    the clocks run from `detected_at`. The evidence is frozen as a range of the access log
    and the hash of its last record, which the chain ties to every record before it."""

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("incident status", "Open")
        CLOSED = "closed", pgettext_lazy("incident status", "Closed")

    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("what happened"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.OPEN, db_index=True)
    alerts = models.ManyToManyField(Alert, verbose_name=_("alerts"), related_name="incidents",
                                    blank=True)
    subjects = models.ManyToManyField(User, verbose_name=_("accounts involved"),
                                      related_name="+", blank=True)
    opened_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    detected_at = models.DateTimeField(_("detected"))
    evidence_from_seq = models.BigIntegerField(_("first access record"), null=True)
    evidence_to_seq = models.BigIntegerField(_("last access record"), null=True)
    evidence_hash = models.CharField(_("hash of the last record"), max_length=64, blank=True)
    evidence_frozen_at = models.DateTimeField(null=True, blank=True)
    affected_clients = models.JSONField(_("affected clients"), default=list, blank=True)
    regulator_notified_at = models.DateTimeField(_("regulator notified"), null=True,
                                                 blank=True)
    results_reported_at = models.DateTimeField(_("investigation results reported"), null=True,
                                               blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")

    def __str__(self):
        return f"#{self.pk} {self.title}"


class IncidentEvent(models.Model):
    """One step on an incident's timeline: opened, evidence frozen, a containment step, the
    regulator notified, a note, closed."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(User, null=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=30)
    text = models.TextField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M}"


class AutomationPause(models.Model):
    """While a row is active, no automated message leaves (out-of-office replies, campaigns,
    bots): containment pauses them all at once. Replies a person writes still go."""

    paused_at = models.DateTimeField(default=timezone.now)
    paused_by = models.ForeignKey(User, null=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=300)
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")

    def __str__(self):
        return f"paused {self.paused_at:%Y-%m-%d %H:%M}"
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
