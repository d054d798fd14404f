"""Consents and data-subject rights (152-FZ).

A purpose of processing has its own versioned consent text: each purpose is a separate
consent document, never bundled with another. The consent ledger is append-only and
hash-chained (security.audit.audit_chain), like the access log; the current state per contact and
purpose is derived from it (ConsentState is a projection kept in the same transaction, so
"may we send?" is one indexed lookup). The evidence of each event (address, user agent,
message id) is encrypted under a key of the contact's own (SubjectKey): erasing the contact
deletes the key, and the evidence becomes unreadable without touching the ledger.
"""

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.fields import EncryptedTextField
from security.models import ChainedRecord


class Purpose(models.Model):
    class LegalBasis(models.TextChoices):
        CONSENT = "consent", _("Consent of the data subject (152-FZ art. 6 p. 1 item 1)")
        CONTRACT = "contract", _("Performance of a contract (art. 6 p. 1 item 5)")
        LEGAL_OBLIGATION = "legal_obligation", _("A legal obligation (art. 6 p. 1 item 2)")
        LEGITIMATE_INTEREST = "legitimate_interest", _(
            "Legitimate interests of the operator (art. 6 p. 1 item 7)")

    code = models.SlugField(_("code"), max_length=50, unique=True)
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    legal_basis = models.CharField(_("legal basis"), max_length=30, choices=LegalBasis.choices,
                                   default=LegalBasis.CONSENT)
    # Advertising needs prior consent (38-FZ art. 18) whatever else holds.
    is_advertising = models.BooleanField(_("advertising"), default=False)
    retention_days = models.PositiveIntegerField(
        _("retention, days"), default=3 * 365,
        help_text=_("How long data kept for this purpose stays after the purpose ends "
                    "(consent withdrawn, deal closed)."))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]
        verbose_name = _("purpose of processing")
        verbose_name_plural = _("purposes of processing")

    def __str__(self):
        return self.title

    @property
    def needs_consent(self) -> bool:
        return self.legal_basis == self.LegalBasis.CONSENT or self.is_advertising

    def current_text(self) -> "PurposeText | None":
        return self.texts.order_by("-version").first()


class PurposeText(models.Model):
    """One version of a purpose's consent text, as shown to the client. Never edited: a new
    wording is a new version, and each consent names the version (and its hash) it was
    given on."""

    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="texts")
    version = models.PositiveIntegerField(_("version"))
    text = models.TextField(_("consent text"))
    sha256 = models.CharField(max_length=64, editable=False)
    published_at = models.DateTimeField(_("published"), default=timezone.now)

    class Meta:
        ordering = ["purpose", "-version"]
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")
        constraints = [models.UniqueConstraint(fields=["purpose", "version"],
                                               name="purpose_text_version_unique")]

    def __str__(self):
        return f"{self.purpose.code} v{self.version}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("a published consent text is never changed: add a version")
        self.sha256 = hashlib.sha256(self.text.encode()).hexdigest()
        super().save(*args, **kwargs)


class ConsentEvent(ChainedRecord):
    """One entry of the consent ledger: granted or withdrawn, for one contact and purpose."""

    class Kind(models.TextChoices):
        GRANTED = "granted", _("Granted")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    class Source(models.TextChoices):
        WEBSITE_FORM = "website_form", _("Website form")
        MANAGER = "manager", _("Recorded by a manager")
        PRIVACY_CENTER = "privacy_center", _("Privacy center")
        IMPORT = "import", _("Import")
        MESSENGER = "messenger", _("Messenger")
        EMAIL_UNSUBSCRIBE = "unsubscribe", _("Unsubscribe by e-mail")

    at = models.DateTimeField(db_index=True, verbose_name=_("at"))
    # Ids, not foreign keys: a ledger row is never touched again (an erased contact keeps its
    # id on an anonymized row).
    contact_id = models.BigIntegerField(db_index=True, verbose_name=_("contact"))
    purpose_id = models.BigIntegerField(verbose_name=_("purpose"))
    kind = models.CharField(max_length=10, choices=Kind.choices, verbose_name=_("kind"))
    source = models.CharField(max_length=20, choices=Source.choices, verbose_name=_("source"))
    text_version = models.PositiveIntegerField(null=True, verbose_name=_("text version"))
    text_sha256 = models.CharField(max_length=64, blank=True)
    # The evidence (address, user agent, message id, page...) as JSON, encrypted under the
    # contact's SubjectKey.
    evidence = models.TextField(blank=True)
    recorded_by_id = models.BigIntegerField(null=True)

    HASHED_FIELDS = ("at", "contact_id", "purpose_id", "kind", "source", "text_version",
                     "text_sha256", "evidence", "recorded_by_id")

    class Meta(ChainedRecord.Meta):
        verbose_name = _("consent event")
        verbose_name_plural = _("consent ledger")
        indexes = [models.Index(fields=["contact_id", "purpose_id", "seq"])]

    def __str__(self):
        return f"#{self.seq} contact {self.contact_id} {self.kind} purpose {self.purpose_id}"


class ConsentState(models.Model):
    """The ledger's last word per contact and purpose (rebuilt from the ledger at will)."""

    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE,
                                related_name="consent_states")
    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="+")
    granted = models.BooleanField()
    since = models.DateTimeField()
    event_seq = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "purpose"],
                                               name="consent_state_unique")]
        indexes = [models.Index(fields=["purpose", "granted"])]

    def __str__(self):
        return f"contact {self.contact_id} / {self.purpose_id}: {self.granted}"


class SubjectKey(models.Model):
    """A contact's own data key: it encrypts what must outlive their erasure only as
    unreadable bytes (the consent evidence). Erasure deletes it."""

    contact_id = models.BigIntegerField(unique=True)
    key = EncryptedTextField(purpose="subject_key")

    def __str__(self):
        return f"key of contact {self.contact_id}"


# --- Website forms ---------------------------------------------------------------------------


def _site_key() -> str:
    import secrets

    return secrets.token_urlsafe(24)


class ConsentSite(models.Model):
    """A company website whose forms record consents through the public capture endpoint
    (consents/capture.py): its key is in the form's page, so it is public; the browser's
    Origin must be one of the site's, and every address has a budget."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    public_key = models.CharField(_("public key"), max_length=64, unique=True,
                                  default=_site_key, editable=False)
    allowed_origins = models.TextField(
        _("allowed site origins"), blank=True,
        help_text=_("One origin per line, e.g. https://example.ru (exact match)."))
    team = models.ForeignKey("security.Team", verbose_name=_("team"), on_delete=models.PROTECT,
                             related_name="consent_sites",
                             help_text=_("New clients from this site's forms become leads of "
                                         "this team."))
    # Double opt-in: anyone may type anyone's address into a form, so a consent given there
    # is on the ledger only once the address's owner follows the link mailed to it.
    double_opt_in = models.BooleanField(
        _("confirm by e-mail (double opt-in)"), default=True,
        help_text=_("The form's consents are recorded only when the link sent to the e-mail "
                    "given is followed; a form must then ask for an e-mail."))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("website with consent forms")
        verbose_name_plural = _("websites with consent forms")

    def __str__(self):
        return self.name


# --- Subject requests ------------------------------------------------------------------------


class SubjectRequest(models.Model):
    """A data subject's request: answered within 10 working days, extendable once by 5 with
    a reasoned notice (152-FZ art. 14, 20)."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access to their data")
        ERASURE = "erasure", _("Erasure")
        RECTIFICATION = "rectification", _("Correction")
        WITHDRAWAL = "withdrawal", _("Withdrawal of consent")

    class Status(models.TextChoices):
        RECEIVED = "received", pgettext_lazy("subject request", "Received")
        IN_PROGRESS = "in_progress", pgettext_lazy("subject request", "In progress")
        DONE = "done", pgettext_lazy("subject request", "Answered")
        REFUSED = "refused", pgettext_lazy("subject request", "Refused")

    class Source(models.TextChoices):
        PRIVACY_CENTER = "privacy_center", _("Privacy center")
        STAFF = "staff", _("Registered by staff")

    contact = models.ForeignKey("crm.Contact", on_delete=models.PROTECT,
                                related_name="subject_requests")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    details = models.TextField(_("what was asked"), blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.RECEIVED, db_index=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    due_date = models.DateField(_("due"))
    extended = models.BooleanField(_("extended"), default=False)
    extension_reason = models.TextField(_("reason for the extension"), blank=True)
    reminded_on = models.DateField(null=True, blank=True)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                      on_delete=models.PROTECT, related_name="+")
    handled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    response = models.TextField(_("response"), blank=True)

    class Meta:
        ordering = ["due_date", "id"]
        verbose_name = _("subject request")
        verbose_name_plural = _("subject requests")

    def __str__(self):
        return f"#{self.pk} {self.kind} (contact {self.contact_id}), due {self.due_date}"


class CalendarDay(models.Model):
    """An exception to the Monday-to-Friday week: a public holiday, or a Saturday made a
    working day by a transfer (the production calendar)."""

    date = models.DateField(_("date"), unique=True)
    is_working = models.BooleanField(_("working day"), default=False)
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar exception")
        verbose_name_plural = _("production calendar")

    def __str__(self):
        return f"{self.date}: {self.name or ('working' if self.is_working else 'holiday')}"


# --- Erasure and retention -------------------------------------------------------------------


class ErasureRecord(models.Model):
    """What one erasure did, table by table, and what it kept with the legal reason."""

    contact_id = models.BigIntegerField(db_index=True)
    request = models.ForeignKey(SubjectRequest, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="erasures")
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=100)  # subject request, retention, ...
    report = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")

    def __str__(self):
        return f"erasure of contact {self.contact_id} at {self.at:%Y-%m-%d %H:%M}"


class RetentionRule(models.Model):
    """How long one kind of data is kept, and what happens after (per purpose the period
    is the purpose's; these are the data types that outlive a purpose or have none)."""

    class DataType(models.TextChoices):
        MESSAGES = "messages", _("Message texts and files")
        RECORDINGS = "recordings", _("Call recordings")
        CALLS = "calls", _("Call metadata")
        INACTIVE_CONTACTS = "inactive_contacts", _(
            "Contacts without open deals or a current consent")
        ACCESS_LOG = "access_log", _("Access log")

    class Action(models.TextChoices):
        ANONYMIZE = "anonymize", _("Anonymize")
        DELETE = "delete", _("Delete")

    data_type = models.CharField(_("data"), max_length=30, choices=DataType.choices,
                                 unique=True)
    days = models.PositiveIntegerField(_("kept, days"))
    action = models.CharField(_("then"), max_length=10, choices=Action.choices)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["data_type"]
        verbose_name = _("retention rule")
        verbose_name_plural = _("retention rules")

    def __str__(self):
        return f"{self.data_type}: {self.days} days, {self.action}"


class PendingConsent(models.Model):
    """A website form's consents waiting for the owner of the e-mail given to confirm them
    (ConsentSite.double_opt_in): nothing of it is on the ledger, and no contact is made,
    until the link mailed to the address is followed (consents/confirmation.py). What the form
    sent and its evidence are kept encrypted; an unconfirmed one is deleted once expired."""

    site = models.ForeignKey(ConsentSite, on_delete=models.CASCADE, related_name="pending")
    # The link's token is mailed, never stored: its hash finds the row.
    token_hash = models.CharField(max_length=64, unique=True)
    email = EncryptedTextField(purpose="pending_consent")
    phone = EncryptedTextField(purpose="pending_consent", blank=True)
    name = EncryptedTextField(purpose="pending_consent", blank=True)
    purposes = models.JSONField()  # purpose codes
    text_versions = models.JSONField(default=dict, blank=True)
    evidence = EncryptedTextField(purpose="pending_consent")  # the form's request, JSON
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("consent awaiting confirmation")
        verbose_name_plural = _("consents awaiting confirmation")

    def __str__(self):
        return f"{self.site} #{self.pk}"
