"""Channels, the people behind them, conversations and their messages.

A conversation belongs to one channel and one client identity, and is attached to the
client's open deal: its messages appear on that deal's timeline (registered as the
`message` kind, so crm/ knows nothing of this app).
"""

import uuid

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core import crypto
from core.fields import EncryptedTextField
from core.search import document_field


class Channel(models.Model):
    class Kind(models.TextChoices):
        TELEGRAM = "telegram", "Telegram"
        WHATSAPP = "whatsapp", "WhatsApp"
        MAX = "max", "MAX"
        VK = "vk", "VK"
        WEBSITE = "website", _("Website chat")
        EMAIL = "email", _("E-mail")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100, unique=True)
    team = models.ForeignKey(
        "security.Team", verbose_name=_("team"), on_delete=models.PROTECT,
        related_name="channels",
        help_text=_("New clients of this channel become leads of this team."),
    )
    # The provider's credentials (a bot token, an access token), encrypted: never shown after
    # saving.
    credentials = EncryptedTextField(_("credentials"), purpose="channel_credentials",
                                     blank=True)
    # What the provider signs or authenticates its webhook calls with: Telegram's and MAX's
    # secret token, the WhatsApp app's secret (HMAC of the body), VK's `secret` field.
    webhook_secret = EncryptedTextField(_("webhook secret"), purpose="channel_webhook_secret",
                                        blank=True)
    # What the provider asks the URL to answer before it delivers: WhatsApp's verify token,
    # VK's confirmation code.
    handshake_secret = EncryptedTextField(
        _("verify token or confirmation code"), purpose="channel_handshake_secret", blank=True,
        help_text=_("WhatsApp: the verify token given to Meta; VK: the confirmation code the "
                    "community's Callback API settings show."),
    )
    account_id = models.CharField(
        _("account ID"), max_length=100, blank=True,
        help_text=_("WhatsApp: the phone number ID; VK: the community (group) ID."),
    )
    business_account_id = models.CharField(
        _("business account ID"), max_length=100, blank=True,
        help_text=_("WhatsApp: the WhatsApp Business Account ID (its message templates)."),
    )
    api_base_url = models.URLField(_("API base URL"), blank=True,
                                   help_text=_("Empty for the provider's public API."))
    # {"mon": [["09:00", "18:00"]], ...}; empty means always open.
    business_hours = models.JSONField(_("business hours"), default=dict, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Moscow")
    out_of_office_reply = models.TextField(_("out-of-office reply"), blank=True)
    first_response_minutes = models.PositiveIntegerField(
        _("first response within (working minutes)"), default=15,
        help_text=_("A client's first message is due an answer within this much working "
                    "time; overdue conversations are flagged."),
    )
    # Website chat: the key the embed snippet carries, and the sites allowed to use it.
    public_key = models.CharField(max_length=64, blank=True, db_index=True)
    allowed_origins = models.TextField(
        _("allowed site origins"), blank=True, help_text=_("One origin per line.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("channel")
        verbose_name_plural = _("channels")

    def __str__(self):
        return self.name

    @property
    def sends_files(self) -> bool:
        from inbox.providers.base import provider_for

        return provider_for(self).sends_files

    def clean(self):
        from core.hours import validate_business_hours

        validate_business_hours(self.business_hours, self.time_zone)


class Mailbox(models.Model):
    """An e-mail channel's mailbox: where its mail is read (IMAP) and sent from (SMTP), and
    how far it has been read (inbox/providers/mail/imap.py)."""

    class Security(models.TextChoices):
        SSL = "ssl", _("TLS (SSL)")
        STARTTLS = "starttls", "STARTTLS"
        NONE = "none", _("None (a server on this machine only)")

    class Server(models.TextChoices):
        IMAP = "imap", _("IMAP and SMTP servers")
        LOCAL = "local", _("A folder on this machine (the demo; nothing is really sent)")

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="mailbox")
    server = models.CharField(_("mail server"), max_length=10, choices=Server.choices,
                              default=Server.IMAP)
    address = models.EmailField(_("address"), help_text=_("The address clients write to."))
    username = models.CharField(_("user name"), max_length=254, blank=True)
    # A password or an app password, encrypted: never shown after saving.
    password = EncryptedTextField(_("password"), purpose="mailbox_password", blank=True)
    imap_host = models.CharField(_("IMAP server"), max_length=253, blank=True)
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_security = models.CharField(_("IMAP security"), max_length=10,
                                     choices=Security.choices, default=Security.SSL)
    folder = models.CharField(_("folder to read"), max_length=200, default="INBOX")
    smtp_host = models.CharField(_("SMTP server"), max_length=253, blank=True)
    smtp_port = models.PositiveIntegerField(_("SMTP port"), default=465)
    smtp_security = models.CharField(_("SMTP security"), max_length=10,
                                     choices=Security.choices, default=Security.SSL)
    sent_folder = models.CharField(
        _("folder for sent mail"), max_length=200, blank=True, default="Sent",
        help_text=_("A copy of every reply is put there; empty: no copy."))
    # How far the folder has been read: UIDs are only meaningful with their UIDVALIDITY; when
    # the server changes it the folder is read again from the start (the Message-ID keeps
    # each mail once).
    uidvalidity = models.BigIntegerField(null=True, blank=True, editable=False)
    last_uid = models.BigIntegerField(default=0, editable=False)
    checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, editable=False)

    class Meta:
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")

    def __str__(self):
        return self.address

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2] or "localhost"

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.server == self.Server.IMAP:
            missing = {name: _("Required for a mailbox on IMAP and SMTP servers.")
                       for name in ("username", "imap_host", "smtp_host")
                       if not getattr(self, name)}
            if missing:
                raise ValidationError(missing)


class ChannelIdentity(models.Model):
    """A client as one channel knows them (a Telegram chat id...), linked to a contact."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="identities")
    external_id = EncryptedTextField(purpose="channel_identity")
    external_id_index = models.CharField(max_length=64)
    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE,
                                related_name="identities")
    display_name = models.CharField(max_length=200, blank=True)
    is_unreachable = models.BooleanField(default=False)
    unreachable_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("channel identity")
        verbose_name_plural = _("channel identities")
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id_index"],
                                    name="identity_unique_per_channel"),
        ]

    def __str__(self):
        return f"{self.channel}: {self.display_name or self.pk}"

    def save(self, *args, **kwargs):
        self.external_id_index = self.index_of(self.channel, self.external_id)
        super().save(*args, **kwargs)

    @staticmethod
    def index_of(channel: Channel, external_id: str) -> str:
        return crypto.blind_index(f"{channel.kind}_id", str(external_id))


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="conversations")
    identity = models.ForeignKey(ChannelIdentity, on_delete=models.CASCADE,
                                 related_name="conversations")
    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE,
                                related_name="conversations")
    deal = models.ForeignKey("crm.Deal", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="conversations")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="conversations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_outbound_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    # Since when the client has been waiting for an answer (their first message since the
    # last reply that reached them): the first-response figures count from here.
    waiting_since = models.DateTimeField(null=True, blank=True)
    unread_count = models.PositiveIntegerField(default=0)
    # The client wrote last and no reply has been sent since ("unanswered first" in lists):
    # a reply clears it when the provider has taken it, not when it is queued, and a reply
    # that failed sets it again (the client got nothing).
    awaiting_reply = models.BooleanField(default=False)
    # The latest reply typed by someone failed and nothing was sent after it: the lists and
    # the deal card mark the conversation and offer the reply's Retry.
    last_reply_failed = models.BooleanField(default=False)
    # The start of the closed period for which the out-of-office reply was sent.
    out_of_office_sent_for = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_activity_at"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [
            models.Index(fields=["assignee", "-awaiting_reply", "-last_activity_at"]),
            models.Index(fields=["deal", "-last_activity_at"]),
        ]

    def __str__(self):
        return f"{self.channel} · {self.contact}"


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", _("From the client")
        OUTBOUND = "out", _("To the client")
        NOTE = "note", _("Private note")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        READ = "read", _("Read")
        FAILED = "failed", _("Failed")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="messages")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="messages")
    direction = models.CharField(max_length=5, choices=Direction.choices)
    # The provider's id of the message (Telegram: "<chat id>:<message id>"); empty until sent.
    external_id = models.CharField(max_length=100, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    # Whom the message counts for in the sales head's figures, fixed when it happens: a
    # client's message, the deal's owner when it came; a reply, its author (the deal's owner
    # for one sent from the messenger's own app).
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    # A reply that reached a waiting client: since when they had waited (its first-response
    # figure, taken back if the provider later reports the reply failed).
    answered_wait_since = models.DateTimeField(null=True, blank=True)
    text = models.TextField(blank=True, max_length=20_000)
    search_document = document_field("text")
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    edited_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Sent by the system (the out-of-office reply, a campaign), not typed by anyone.
    is_automatic = models.BooleanField(default=False)
    # The purpose an automated message is sent for (a campaign's): the send asks
    # consents.selectors.may_contact once more right before the provider call, so a consent
    # withdrawn while the message waited stops it. Empty for replies in a conversation.
    consent_purpose = models.ForeignKey("consents.Purpose", null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # A queued reply's send: when its task is due to run (queued, or a retry's countdown), and
    # since when an attempt has been at the provider (cleared when the provider answered). The
    # outbound sweeper (inbox.services.sends_sweep) re-queues a send whose task was lost and
    # marks one cut off mid-attempt as interrupted.
    send_due_at = models.DateTimeField(null=True, blank=True)
    sending_since = models.DateTimeField(null=True, blank=True)
    # Failed after its send was cut off at the provider: the client may have received it, so
    # sending it again needs the manager's word that they checked.
    delivery_unknown = models.BooleanField(default=False)
    # What the provider gets when it differs from what staff may read (`text`): a privacy
    # link is a bearer credential to the client's data, so the conversation shows "privacy
    # link sent" and the text with the link is kept encrypted only until it is sent.
    sealed_text = EncryptedTextField(blank=True, max_length=20_000, purpose="sealed_message")
    # An approved template sent instead of free text (WhatsApp outside the 24-hour window):
    # {"name", "language", "parameters"}; `text` holds what the client reads.
    template = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"],
                                    condition=~Q(external_id=""),
                                    name="message_external_id_unique_per_channel"),
        ]
        indexes = [
            models.Index(fields=["conversation", "-created_at", "-id"]),
            models.Index(fields=["send_due_at"], condition=Q(status="queued"),
                         name="message_queued_send_due"),
            # A person's messages of a period: the figures' drill-downs and rebuilds.
            models.Index(fields=["owner", "created_at"], name="message_owner_period"),
            # The newest messages holding a common word (search): walked until 20 match.
            models.Index(fields=["-created_at", "-id"], name="message_recent"),
        ]

    def __str__(self):
        return f"{self.get_direction_display()} #{self.pk}"

    @property
    def mail_details(self):
        """The MailDetails of an e-mail, None for any other message. For templates: `mail`, a
        reverse one-to-one, raises for a message without one, and a template answers each
        raise with a dir() of the message: 0.1 ms a message of the deal card's chat."""
        try:
            return self.mail
        except ObjectDoesNotExist:
            return None


class MailDetails(models.Model):
    """What an e-mail message has beyond its text: the envelope the card shows, the ids it
    threads on, its sanitized HTML (inbox/providers/mail/html.py) and the history folded
    under it."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="mail")
    mail_id = models.CharField(max_length=998)  # its Message-ID, without the brackets
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)  # ids separated by spaces
    subject = models.CharField(max_length=998, blank=True)
    search_document = document_field("subject")  # the search finds a mail by its subject
    # The normalized subject ("re: fwd: Invoice" -> "invoice"), hashed: the last way a reply
    # without ids finds its thread.
    subject_key = models.CharField(max_length=64, blank=True, db_index=True)
    # Addresses: personal data, encrypted as the identities' ids are.
    sender = EncryptedTextField(purpose="mail_address", blank=True)
    # Who wrote, as their mail program names them (a colleague of the client answering in
    # the thread is not the conversation's client).
    sender_name = models.CharField(max_length=200, blank=True)
    recipients = EncryptedTextField(purpose="mail_address", blank=True)  # "to" and "cc", JSON
    html = models.TextField(blank=True)
    quoted = models.TextField(blank=True)
    # The inline images' Content-IDs -> the attachment's part, for the HTML's cid: links.
    inline = models.JSONField(default=dict, blank=True)
    automatic = models.BooleanField(default=False)
    invitation = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = _("e-mail details")
        verbose_name_plural = _("e-mail details")

    def __str__(self):
        return self.subject or self.mail_id


class MessageTemplate(models.Model):
    """A template the provider approved for messages outside the reply window (WhatsApp's
    message templates), as last synced from the account."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(_("name"), max_length=512)
    language = models.CharField(_("language"), max_length=20)
    category = models.CharField(_("category"), max_length=30, blank=True)
    status = models.CharField(_("status"), max_length=30)
    # The body with its placeholders {{1}}, {{2}}...; `parameters` is how many it has.
    body = models.TextField(_("text"), blank=True)
    parameters = models.PositiveSmallIntegerField(default=0)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "language"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [models.UniqueConstraint(fields=["channel", "name", "language"],
                                               name="template_unique_per_channel")]

    def __str__(self):
        return f"{self.name} ({self.language})"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    # Relative to MEDIA_ROOT; the bytes are encrypted (core.crypto.encrypt_bytes).
    file_path = models.CharField(max_length=300, blank=True)
    name = models.CharField(max_length=255, blank=True)
    # The search finds a message by its files' names, as typed: `кп` finds `КП_Кедр.pdf`.
    search_document = document_field("name", names=True, file_names=True)
    mime_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=20, blank=True)  # photo, document, voice, video, sticker
    # The provider's id of the file, or its URL (MAX and VK hand out long signed URLs).
    provider_file_id = models.CharField(max_length=2000, blank=True)
    # Why the file could not be fetched from the provider (empty while pending or once stored).
    fetch_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self):
        return self.name or f"{self.kind} #{self.pk}"


class InboundEvent(models.Model):
    """A webhook delivery as received, stored before it is acknowledged (nothing is lost)."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        IGNORED = "ignored", _("Ignored (unknown type)")
        FAILED = "failed", _("Failed")

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="events",
                                verbose_name=_("channel"))
    provider_event_id = models.CharField(max_length=100, verbose_name=_("provider's event id"))
    event_type = models.CharField(max_length=50, blank=True, verbose_name=_("event type"))
    payload = models.TextField()  # the raw body, exactly as received
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED,
                              verbose_name=_("status"))
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    received_at = models.DateTimeField(default=timezone.now, db_index=True,
                                       verbose_name=_("received at"))
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("inbound event")
        verbose_name_plural = _("inbound events")
        constraints = [
            models.UniqueConstraint(fields=["channel", "provider_event_id"],
                                    name="inbound_event_unique_per_channel"),
        ]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self):
        return f"{self.channel} {self.provider_event_id} ({self.status})"


class CannedReply(models.Model):
    team = models.ForeignKey("security.Team", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="canned_replies",
                             help_text=_("Empty: for every team."), verbose_name=_("team"))
    title = models.CharField(_("title"), max_length=100)
    text = models.TextField(_("text"), max_length=4000)

    class Meta:
        ordering = ["title"]
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")

    def __str__(self):
        return self.title


# --- Campaigns (inbox/campaigns.py) -----------------------------------------------------------


class Campaign(models.Model):
    """One message to a segment of clients through a messenger channel, for one purpose: it
    goes only to those with a current consent to the purpose and a reachable identity on the
    channel; everyone else in the segment is recorded as excluded, with the reason."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        QUEUED = "queued", pgettext_lazy("campaign", "Queued")
        SENDING = "sending", _("Sending")
        DONE = "done", pgettext_lazy("campaign", "Done")
        CANCELLED = "cancelled", pgettext_lazy("campaign", "Cancelled")

    name = models.CharField(_("name"), max_length=200)
    purpose = models.ForeignKey("consents.Purpose", verbose_name=_("purpose"),
                                on_delete=models.PROTECT, related_name="campaigns")
    channel = models.ForeignKey(Channel, verbose_name=_("channel"), on_delete=models.PROTECT,
                                related_name="campaigns")
    text = models.TextField(_("text"), max_length=4096)
    # The segment: the author's visible contacts, those with this tag when one is given.
    tag = models.ForeignKey("crm.Tag", verbose_name=_("tag"), null=True, blank=True,
                            on_delete=models.PROTECT, related_name="+",
                            help_text=_("Empty: every client you can see."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.DRAFT, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="campaigns")
    team = models.ForeignKey("security.Team", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="campaigns")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self):
        return self.name


class CampaignRecipient(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", pgettext_lazy("campaign", "Queued")
        SENT = "sent", _("Sent")
        EXCLUDED = "excluded", _("Excluded")
        CANCELLED = "cancelled", pgettext_lazy("campaign", "Cancelled")
        FAILED = "failed", _("Failed")

    class Reason(models.TextChoices):
        NO_CONSENT = "no_consent", _("Never gave consent")
        WITHDRAWN = "withdrawn", _("Consent withdrawn")
        NO_IDENTITY = "no_identity", _("Not on this channel")
        UNREACHABLE = "unreachable", _("Cannot be reached on this channel")
        CAMPAIGN_CANCELLED = "campaign_cancelled", _("Campaign cancelled")
        PAUSED = "paused", _("Automated messages paused")
        SEND_FAILED = "send_failed", _("The provider refused the message")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE,
                                related_name="campaign_recipients")
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    message = models.OneToOneField(Message, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="campaign_recipient")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["campaign", "id"]
        verbose_name = _("campaign recipient")
        verbose_name_plural = _("campaign recipients")
        constraints = [models.UniqueConstraint(fields=["campaign", "contact"],
                                               name="campaign_recipient_unique")]
        indexes = [models.Index(fields=["contact", "status"])]

    def __str__(self):
        return f"{self.campaign_id}/{self.contact_id}: {self.status}"


class MessengerPolicy(models.Model):
    """The organisation's rules for messengers (one row; inbox/policy.py)."""

    # 584-FZ: Telegram and WhatsApp are foreign messengers; with this on, files and messages
    # carrying personal data or payment details do not go out through them.
    restrict_foreign = models.BooleanField(
        _("keep personal data off foreign messengers (584-FZ)"), default=False,
        help_text=_("Telegram and WhatsApp then refuse files and messages with phones, "
                    "e-mails, passport, card, INN, SNILS or bank details; the manager is "
                    "offered the client's domestic channel (MAX, VK, the website chat)."),
    )

    class Meta:
        verbose_name = _("messenger policy")
        verbose_name_plural = _("messenger policy")

    def __str__(self):
        return str(_("Messenger policy"))

    @classmethod
    def current(cls) -> "MessengerPolicy":
        """The saved policy, or the default one (nothing is written by reading it)."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)
