"""The company's cloud PBX: accounts, their corporate lines and extensions, and the calls.

A call is one `entry_id` of the PBX (all its legs); it is matched to the client's contact by
the blind index of the phone number (the number itself is stored encrypted), to the open deal,
and to the manager by extension. Its facts appear on the deal's timeline as the `call` kind,
so crm/ knows nothing of this app. What the PBX sends is kept as received (CallEvent) before
it is answered, as the inbox does with messenger updates.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField


class PbxAccount(models.Model):
    class Provider(models.TextChoices):
        MANGO = "mango", "Mango Office"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.CharField(_("provider"), max_length=20, choices=Provider.choices,
                                default=Provider.MANGO)
    name = models.CharField(_("name"), max_length=100, unique=True)
    team = models.ForeignKey(
        "security.Team", verbose_name=_("team"), on_delete=models.PROTECT,
        related_name="pbx_accounts",
        help_text=_("Calls from unknown numbers on lines without a team become its leads."),
    )
    # Mango's vpbx_api_key and vpbx_api_salt: both sign every request, in both directions.
    api_key = EncryptedTextField(_("API key"), purpose="pbx_api_key", blank=True)
    api_salt = EncryptedTextField(_("API salt"), purpose="pbx_api_salt", blank=True)
    api_base_url = models.URLField(_("API base URL"), blank=True,
                                   help_text=_("Empty for the provider's public API."))
    # Working time for the "call back" task of a missed call (core.hours format).
    business_hours = models.JSONField(_("business hours"), default=dict, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Moscow")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("PBX account")
        verbose_name_plural = _("PBX accounts")

    def __str__(self):
        return self.name

    def clean(self):
        from core.hours import validate_business_hours

        validate_business_hours(self.business_hours, self.time_zone)


class PbxLine(models.Model):
    """A corporate number of the account; click-to-call calls out from one."""

    account = models.ForeignKey(PbxAccount, on_delete=models.CASCADE, related_name="lines")
    number = models.CharField(_("number"), max_length=20, help_text=_("E.164, e.g. +74951234567"))
    name = models.CharField(_("name"), max_length=100, blank=True)
    team = models.ForeignKey("security.Team", verbose_name=_("team"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="pbx_lines",
                             help_text=_("New clients calling this line become its leads."))

    class Meta:
        verbose_name = _("corporate line")
        verbose_name_plural = _("corporate lines")
        constraints = [models.UniqueConstraint(fields=["account", "number"],
                                               name="pbx_line_unique_per_account")]

    def __str__(self):
        return self.name or self.number


class Extension(models.Model):
    """An internal number of the PBX and the user who answers it."""

    account = models.ForeignKey(PbxAccount, on_delete=models.CASCADE, related_name="extensions")
    extension = models.CharField(_("extension"), max_length=20)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="extensions")

    class Meta:
        verbose_name = _("extension")
        verbose_name_plural = _("extensions")
        constraints = [models.UniqueConstraint(fields=["account", "extension"],
                                               name="pbx_extension_unique_per_account")]

    def __str__(self):
        return self.extension


class Call(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", _("Incoming")
        OUTBOUND = "out", _("Outgoing")
        INTERNAL = "internal", _("Internal")

    class State(models.TextChoices):
        RINGING = "ringing", _("Ringing")
        TALKING = "talking", _("Talking")
        ENDED = "ended", _("Ended")

    account = models.ForeignKey(PbxAccount, on_delete=models.PROTECT, related_name="calls",
                                verbose_name=_("PBX account"))
    entry_id = models.CharField(max_length=100)
    direction = models.CharField(max_length=10, choices=Direction.choices,
                                 verbose_name=_("direction"))
    state = models.CharField(max_length=10, choices=State.choices, default=State.RINGING,
                             verbose_name=_("state"))
    # The client's number, encrypted, and its blind index (the ContactPoint phone index, so a
    # call finds its contact by exact match).
    client_number = EncryptedTextField(purpose="call_client_number", blank=True)
    client_number_index = models.CharField(max_length=64, blank=True, db_index=True)
    line_number = models.CharField(max_length=20, blank=True)
    extension = models.CharField(max_length=20, blank=True, verbose_name=_("extension"))
    manager = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="calls",
                                                                                                verbose_name=_("manager"))
    contact = models.ForeignKey("crm.Contact", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="calls")
    deal = models.ForeignKey("crm.Deal", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="calls", verbose_name=_("deal"))
    started_at = models.DateTimeField(default=timezone.now, verbose_name=_("started at"))
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    talk_seconds = models.PositiveIntegerField(default=0, verbose_name=_("talk seconds"))
    answered = models.BooleanField(default=False, verbose_name=_("answered"))
    # From the PBX's summary: the final word on the call (events may arrive out of order).
    summarized = models.BooleanField(default=False)
    disconnect_reason = models.CharField(max_length=50, blank=True)
    # The highest `seq` applied per leg: {"<call_id>": seq}.
    leg_seqs = models.JSONField(default=dict, blank=True)
    # Per leg, what its newest applied event left: {"<call_id>": {"state", "extension",
    # "at", "connected_at"}} (unix seconds). Who rang, who answered last, what is still live.
    legs = models.JSONField(default=dict, blank=True)
    # This call made its contact and lead deal (a new client): who answers may still take them.
    lead_created = models.BooleanField(default=False)
    # The "call back" task of a missed incoming call: made once per call.
    # A missed incoming call: when someone first called the client back (an outgoing call to
    # the same number); the team page counts the ones called back within the callback time.
    called_back_at = models.DateTimeField(null=True, blank=True)
    callback_task = models.ForeignKey("crm.Task", null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        constraints = [models.UniqueConstraint(fields=["account", "entry_id"],
                                               name="call_entry_unique_per_account")]
        indexes = [
            models.Index(fields=["deal", "-started_at"]),
            models.Index(fields=["manager", "-started_at"]),
        ]

    def __str__(self):
        # Never the number: this text lands in logs and the change history.
        return f"{self.get_direction_display()} #{self.pk}"

    def save(self, *args, **kwargs):
        self.client_number_index = self.index_of(self.client_number)
        super().save(*args, **kwargs)

    @cached_property
    def line(self) -> "PbxLine | None":
        """The corporate line the call came through (telephony.holdings' timeline prefetch
        sets it for a page of calls; one entry rendered alone looks it up here)."""
        if not self.line_number:
            return None
        return PbxLine.objects.filter(account_id=self.account_id,
                                      number=self.line_number).first()

    @property
    def line_label(self) -> str:
        """How the call's line reads everywhere (the deal card, live or reloaded): its name,
        else its number."""
        line = self.line
        return (line.name if line is not None and line.name else "") or self.line_number

    @staticmethod
    def index_of(number: str) -> str:
        """The phone blind index of crm.ContactPoint, so calls and contacts meet."""
        from crm.models import ContactPoint

        return ContactPoint.index_of(ContactPoint.Kind.PHONE, number) if number else ""


class Recording(models.Model):
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="recordings")
    recording_id = models.CharField(max_length=200)
    # Relative to MEDIA_ROOT; the bytes are encrypted (core.crypto.encrypt_bytes). The
    # provider's one-time download link is never stored.
    file_path = models.CharField(max_length=300, blank=True)
    mime_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    fetch_error = models.CharField(max_length=300, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("recording")
        verbose_name_plural = _("recordings")
        constraints = [models.UniqueConstraint(fields=["call", "recording_id"],
                                               name="recording_unique_per_call")]

    def __str__(self):
        return f"Recording #{self.pk}"


class CallEvent(models.Model):
    """A PBX request as received (events/call, events/summary, events/recording,
    events/record/added, result/callback), stored before it is answered."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey(PbxAccount, on_delete=models.PROTECT, related_name="events",
                                verbose_name=_("PBX account"))
    kind = models.CharField(max_length=30,
                            verbose_name=_("kind"))  # "call", "summary", "recording", ...
    # What makes a delivery the same delivery: "<call_id>:<seq>", the entry id...
    dedupe_key = models.CharField(max_length=200, verbose_name=_("dedupe key"))
    payload = models.TextField()  # the `json` field exactly as received
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED,
                              verbose_name=_("status"))
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    received_at = models.DateTimeField(default=timezone.now, db_index=True,
                                       verbose_name=_("received at"))
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("PBX event")
        verbose_name_plural = _("PBX events")
        constraints = [models.UniqueConstraint(fields=["account", "kind", "dedupe_key"],
                                               name="call_event_unique_per_account")]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self):
        return f"{self.account} {self.kind} {self.dedupe_key} ({self.status})"


class CallbackCommand(models.Model):
    """Click-to-call: the PBX rings the manager's extension, then dials the client from a
    corporate line; the result arrives later at result/callback."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Calling")
        OK = "ok", _("Connected")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey(PbxAccount, on_delete=models.PROTECT, related_name="commands")
    command_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                             related_name="callback_commands")
    deal = models.ForeignKey("crm.Deal", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="callback_commands")
    contact = models.ForeignKey("crm.Contact", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="callback_commands")
    # The number to dial, encrypted; the manager never sees it.
    to_number = EncryptedTextField(purpose="callback_to_number")
    extension = models.CharField(max_length=20)
    line_number = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    result_code = models.CharField(max_length=20, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("click-to-call command")
        verbose_name_plural = _("click-to-call commands")

    def __str__(self):
        return f"Callback {self.command_id} ({self.status})"
