from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import UserObjectPermissionBase

from core.crypto import blind_index
from core.fields import EncryptedTextField
from core.search import document_field


class TimeStamped(models.Model):
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


class Company(TimeStamped):
    name = models.CharField(_("name"), max_length=200)
    inn = models.CharField(_("INN"), max_length=12, blank=True, help_text=_("Taxpayer number"))
    search_document = document_field("name", "inn", names=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    website = models.URLField(_("website"), blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="companies",
    )
    team = models.ForeignKey(
        "security.Team", verbose_name=_("team"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="companies",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("company")
        verbose_name_plural = _("companies")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("company_detail", args=[self.pk])


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self):
        return self.name


class Contact(TimeStamped):
    class Source(models.TextChoices):
        MANUAL = "manual", _("Entered by hand")
        WEBSITE = "website", _("Website")
        PHONE = "phone", _("Phone call")
        EMAIL = "email", _("E-mail")
        TELEGRAM = "telegram", _("Telegram")
        WHATSAPP = "whatsapp", _("WhatsApp")
        MAX = "max", _("MAX")
        VK = "vk", _("VK")
        REFERRAL = "referral", _("Referral")
        EXHIBITION = "exhibition", _("Exhibition")
        IMPORT = "import", _("Import")

    name = models.CharField(_("full name"), max_length=200)
    search_document = document_field("name", names=True)
    position = models.CharField(_("position"), max_length=150, blank=True)
    company = models.ForeignKey(
        Company, verbose_name=_("company"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="contacts",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="contacts",
    )
    team = models.ForeignKey(
        "security.Team", verbose_name=_("team"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="contacts",
    )
    source = models.CharField(
        _("source"), max_length=20, choices=Source.choices, default=Source.MANUAL
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="contacts")
    # Merged into another card (crm/merge.py): out of every list, its records there; an undo
    # within 30 days brings it back.
    merged_into = models.ForeignKey("self", verbose_name=_("merged into"), null=True,
                                    blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["name"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("contact_detail", args=[self.pk])


class ContactPoint(models.Model):
    """One phone number or e-mail address of a contact, each its own row.

    Phones are stored in E.164 (`+79161234567`), e-mails with the domain lower-cased; the
    services normalize. `value` is encrypted in the database (core.fields) and cannot be
    filtered on; `value_index` is its blind index, kept by `save()`, and every lookup, dedupe
    and constraint goes through it.
    """

    class Kind(models.TextChoices):
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("E-mail")

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="points")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    value = EncryptedTextField(_("value"), max_length=254, purpose="contact_point")
    value_index = models.CharField(max_length=64, editable=False)
    label = models.CharField(_("label"), max_length=50, blank=True)
    is_primary = models.BooleanField(_("primary"), default=False)
    # Where the value came from, for what may be sent to it (consents.privacy: a privacy link
    # goes only to an address the client used to reach us, never to one staff just typed):
    # when the client last reached us from it (a website form that created the contact, an
    # inbound e-mail), and when staff last added or changed it.
    client_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    staff_set_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["kind", "-is_primary", "id"]
        verbose_name = _("contact point")
        verbose_name_plural = _("contact points")
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "kind", "value_index"], name="contact_point_unique_per_contact"
            ),
        ]
        # Every lookup names the kind, so this one index serves them all.
        indexes = [models.Index(fields=["kind", "value_index"], name="contact_point_lookup")]

    def __str__(self):
        # Not the value: audit logs and admin messages store this text in clear.
        return f"{self.get_kind_display()} #{self.pk}"

    def save(self, *args, update_fields=None, **kwargs):
        if update_fields is None or {"kind", "value"} & set(update_fields):
            index_fields = self.compute_blind_indexes()
            if update_fields is not None:
                update_fields = {*update_fields, *index_fields}
        super().save(*args, update_fields=update_fields, **kwargs)

    @staticmethod
    def index_of(kind: str, normalized_value: str) -> str:
        """The blind index of a normalized value. E-mails are matched without regard to case
        (mail servers ignore it), though the value keeps the case it was typed in."""
        if kind == ContactPoint.Kind.EMAIL:
            normalized_value = normalized_value.lower()
        return blind_index(kind, normalized_value)

    def compute_blind_indexes(self) -> list[str]:
        """Set the index fields from the plain values; `rotate_keys --reindex` calls it too."""
        self.value_index = self.index_of(self.kind, self.value)
        return ["value_index"]


class Pipeline(models.Model):
    name = models.CharField(_("name"), max_length=100)
    team = models.ForeignKey(
        "security.Team", verbose_name=_("team"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="pipelines",
        help_text=_("Leave empty for a pipeline shared by all teams."),
    )
    is_default = models.BooleanField(_("default"), default=False)

    class Meta:
        ordering = ["-is_default", "name"]
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_pipeline"
            ),
        ]

    def __str__(self):
        return self.name


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    probability = models.PositiveSmallIntegerField(
        _("probability, %"), default=0, validators=[MinValueValidator(0)]
    )

    class Meta:
        ordering = ["pipeline", "position", "id"]
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="stage_name_unique"),
            models.CheckConstraint(
                condition=Q(probability__lte=100), name="stage_probability_at_most_100"
            ),
        ]

    def __str__(self):
        return self.name


class Deal(TimeStamped):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    class Currency(models.TextChoices):
        RUB = "RUB", "₽ RUB"
        USD = "USD", "$ USD"
        EUR = "EUR", "€ EUR"
        CNY = "CNY", "¥ CNY"

    title = models.CharField(_("title"), max_length=200)
    search_document = document_field("title", names=True)
    amount = models.DecimalField(
        _("amount"), max_digits=14, decimal_places=2, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    currency = models.CharField(
        _("currency"), max_length=3, choices=Currency.choices, default=Currency.RUB
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals",
                                 verbose_name=_("pipeline"))
    stage = models.ForeignKey(
        Stage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="deals"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    loss_reason = models.CharField(_("loss reason"), max_length=300, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"),
        on_delete=models.PROTECT, related_name="deals",
    )
    team = models.ForeignKey(
        "security.Team", verbose_name=_("team"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="deals",
    )
    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="deals",
    )
    company = models.ForeignKey(
        Company, verbose_name=_("company"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="deals",
    )
    next_step = models.CharField(_("next step"), max_length=300, blank=True)
    expected_close = models.DateField(_("expected close"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    last_activity_at = models.DateTimeField(_("last activity"), default=timezone.now)
    # Since when it has been in its stage (created in it, moved to it, reopened in it): the
    # funnel's deals stuck in a stage.
    stage_since = models.DateTimeField(_("in the stage since"), null=True, blank=True)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        permissions = [
            ("reassign_deal", _("Can reassign deals to another owner")),
            ("export_deals", _("Can export deals and contacts")),
        ]
        indexes = [
            # The admin's (and a director's) first page: every deal by last activity.
            models.Index(fields=["-last_activity_at", "-id"], name="deal_activity"),
            models.Index(fields=["owner", "-last_activity_at"]),
            models.Index(fields=["team", "-last_activity_at"]),
            models.Index(fields=["stage", "status"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="lost") | Q(loss_reason=""), name="loss_reason_only_when_lost"
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("deal_detail", args=[self.pk])


class Task(TimeStamped):
    title = models.CharField(_("task"), max_length=300)
    search_document = document_field("title")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("assignee"),
        on_delete=models.PROTECT, related_name="tasks",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    deal = models.ForeignKey(
        Deal, verbose_name=_("deal"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="tasks",
    )
    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="tasks",
    )
    done = models.BooleanField(_("done"), default=False)
    done_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        ordering = ["done", "due_at", "id"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        indexes = [models.Index(fields=["assignee", "done", "due_at"])]

    def __str__(self):
        return self.title

    @property
    def is_overdue(self) -> bool:
        return not self.done and self.due_at is not None and self.due_at < timezone.now()


class Note(models.Model):
    """An internal note: staff only, never sent to the client."""

    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="notes"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(_("note"), max_length=10_000)
    search_document = document_field("text")
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        constraints = [
            models.CheckConstraint(
                condition=Q(deal__isnull=False) | Q(contact__isnull=False),
                name="note_has_deal_or_contact",
            ),
        ]

    def __str__(self):
        # Not the text: this string is copied into the change log as the object's name.
        return f"Note #{self.pk}"


class TimelineEntry(models.Model):
    """One item of a deal's chronological feed.

    Any app adds entries through `crm.services.timeline_add` and registers how its kind is
    shown (`crm.timeline.register_kind`), so messages and calls plug in without changes
    here. An entry points at its source row and copies no client content, so erasing the
    source erases what the timeline shows.
    """

    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="timeline"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="timeline"
    )
    kind = models.CharField(max_length=40)
    occurred_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    source_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    source_id = models.PositiveBigIntegerField(null=True, blank=True)
    source = GenericForeignKey("source_type", "source_id")
    # Non-personal facts about the event (stage names, old and new owner ids).
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["deal", "-occurred_at", "-id"]),
            models.Index(fields=["contact", "-occurred_at", "-id"]),
            models.Index(fields=["source_type", "source_id"]),
            # The deals' owner history (crm.rollups.owner_history): the reports ask who
            # owned which deals when, among millions of entries of other kinds.
            models.Index(fields=["deal", "occurred_at"], condition=Q(kind="owner_changed"),
                         name="timeline_owner_changes"),
        ]

    def __str__(self):
        return f"{self.kind} @ {self.occurred_at:%Y-%m-%d %H:%M}"


# --- Explicit sharing ------------------------------------------------------------------------


class DealUserObjectPermission(UserObjectPermissionBase):
    """A deal shared with one colleague: django-guardian's direct foreign-key model (the
    generic one joins through content types and does not scale).

    A read share is the `crm.view_deal` permission; an edit share adds `crm.change_deal`.
    Both rows of one share carry the same expiry; an expired row grants nothing.
    """

    content_object = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="user_shares")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
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


# --- Mentions --------------------------------------------------------------------------------


class Mention(models.Model):
    """A colleague named as @username in a note or a private note (crm.mentions): their
    "Mentions" list, and the live notice they got. Only someone who sees the record is ever
    mentioned; whether they still do is checked again when the list is read."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mentions"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    entry = models.ForeignKey(TimelineEntry, on_delete=models.CASCADE, related_name="mentions")
    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at", "-id"], name="mention_user")]
        constraints = [
            models.UniqueConstraint(fields=["entry", "user"], name="mention_once_per_entry"),
        ]

    def __str__(self):
        return f"Mention #{self.pk}"


class ContactMerge(models.Model):
    """Two cards of one client made one (crm/merge.py): what moved from `duplicate` to `kept`,
    app by app ({"inbox.conversation": [ids]}), so an undo within 30 days moves it back."""

    kept = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges_in")
    duplicate = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges_out")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                           related_name="+")
    at = models.DateTimeField(default=timezone.now)
    moved = models.JSONField(default=dict)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("contact merge")
        verbose_name_plural = _("contact merges")

    def __str__(self):
        return f"{self.duplicate_id} -> {self.kept_id}"


# --- Rollups ---------------------------------------------------------------------------------

# The first-response histogram's upper bounds, in working minutes: a response of 4 minutes
# counts in the "5" bucket, and a median reads "at most 5 minutes". One more bucket holds the
# responses over the last bound.
RESPONSE_BUCKETS = (1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120, 240, 480, 1440)


class ActivityDay(models.Model):
    """One person's recorded work on one day (in TIME_ZONE), per channel: the figures of the
    sales head's view, kept up to date by the services that record the work, in the same
    transactions (crm/rollups.py), and rebuilt from the raw rows by `manage.py rebuild_rollups`.

    `channel` is a messenger's kind, "phone" for calls, or "" for what belongs to no channel
    (deals, tasks); deals' amounts are summed per `currency` ("" on the other rows)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    day = models.DateField()
    channel = models.CharField(max_length=20, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    # Messages: the clients' (not a machine's), and the replies sent (typed here or sent from
    # the messenger's own app), and the conversations a client started.
    inbound = models.IntegerField(default=0)
    outbound = models.IntegerField(default=0)
    conversations_started = models.IntegerField(default=0)
    # First responses: a client's wait (from their first unanswered message to the reply that
    # reached them), in working minutes of the channel's business hours.
    responses = models.IntegerField(default=0)
    responses_within_sla = models.IntegerField(default=0)
    response_le_1 = models.IntegerField(default=0)
    response_le_2 = models.IntegerField(default=0)
    response_le_3 = models.IntegerField(default=0)
    response_le_5 = models.IntegerField(default=0)
    response_le_10 = models.IntegerField(default=0)
    response_le_15 = models.IntegerField(default=0)
    response_le_20 = models.IntegerField(default=0)
    response_le_30 = models.IntegerField(default=0)
    response_le_45 = models.IntegerField(default=0)
    response_le_60 = models.IntegerField(default=0)
    response_le_90 = models.IntegerField(default=0)
    response_le_120 = models.IntegerField(default=0)
    response_le_240 = models.IntegerField(default=0)
    response_le_480 = models.IntegerField(default=0)
    response_le_1440 = models.IntegerField(default=0)
    response_over = models.IntegerField(default=0)
    # Calls, by the day they began.
    calls_answered = models.IntegerField(default=0)
    calls_missed = models.IntegerField(default=0)
    calls_outgoing = models.IntegerField(default=0)
    # Missed incoming calls whose client we called back within the callback time.
    calls_called_back = models.IntegerField(default=0)
    talk_seconds = models.IntegerField(default=0)
    # Tasks and deals.
    tasks_done = models.IntegerField(default=0)
    deals_created = models.IntegerField(default=0)
    deals_won = models.IntegerField(default=0)
    deals_won_amount = models.DecimalField(max_digits=18, decimal_places=2,
                                           default=Decimal("0"))
    # Of those, the deals worked in the CRM (a client touch recorded in the 30 days before the
    # win, crm.selectors.deals_not_worked_in_crm): what the KPIs count.
    deals_won_in_crm = models.IntegerField(default=0)
    deals_won_in_crm_amount = models.DecimalField(max_digits=18, decimal_places=2,
                                                  default=Decimal("0"))
    deals_lost = models.IntegerField(default=0)
    deals_lost_amount = models.DecimalField(max_digits=18, decimal_places=2,
                                            default=Decimal("0"))

    class Meta:
        verbose_name = _("activity rollup")
        verbose_name_plural = _("activity rollups")
        constraints = [
            models.UniqueConstraint(fields=["user", "day", "channel", "currency"],
                                    name="activity_day_unique"),
        ]
        # A team's period: by day, then the people.
        indexes = [models.Index(fields=["day", "user"], name="activity_day_period")]

    def __str__(self):
        return f"{self.user_id} {self.day} {self.channel or '-'}"


# How long a deal stayed in a stage, in days: the funnel's histogram, as RESPONSE_BUCKETS.
STAY_BUCKETS = (1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90)


class StageDay(models.Model):
    """A pipeline stage's movement on one day, per person (the deal's owner at the time):
    the funnel's figures, kept by the deal services from the deals' stage history (their
    timeline) and rebuilt from it (crm/rollups.py)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    day = models.DateField()
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    entered = models.IntegerField(default=0)  # came into the stage (created in it, moved in)
    advanced = models.IntegerField(default=0)  # left it for a later stage, or won in it
    moved_back = models.IntegerField(default=0)  # left it for an earlier stage
    won = models.IntegerField(default=0)
    lost = models.IntegerField(default=0)
    # The stays that ended that day (left, won or lost), by length in days.
    stays = models.IntegerField(default=0)
    stay_le_1 = models.IntegerField(default=0)
    stay_le_2 = models.IntegerField(default=0)
    stay_le_3 = models.IntegerField(default=0)
    stay_le_5 = models.IntegerField(default=0)
    stay_le_7 = models.IntegerField(default=0)
    stay_le_10 = models.IntegerField(default=0)
    stay_le_14 = models.IntegerField(default=0)
    stay_le_21 = models.IntegerField(default=0)
    stay_le_30 = models.IntegerField(default=0)
    stay_le_45 = models.IntegerField(default=0)
    stay_le_60 = models.IntegerField(default=0)
    stay_le_90 = models.IntegerField(default=0)
    stay_over = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("stage rollup")
        verbose_name_plural = _("stage rollups")
        constraints = [
            models.UniqueConstraint(fields=["user", "day", "stage"], name="stage_day_unique"),
        ]
        indexes = [models.Index(fields=["pipeline", "day"], name="stage_day_period")]

    def __str__(self):
        return f"{self.user_id} {self.day} {self.stage_id}"
