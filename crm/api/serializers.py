"""Input and output shapes of the API.

Input serializers only parse and validate: the views hand `validated_data` to a service as
its keyword arguments, so nothing here writes to the database, and every field of an input
serializer (by its `source`) is a parameter its service takes (tests/crm/test_api.py).
Output serializers are read-only. Every field that takes the id of a client object looks it
up among the objects the requester may see, so an id of somebody else's contact answers
"object does not exist" exactly like an id that was never used, and is never linked silently.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import UserRefSerializer
from crm import selectors, services
from crm.models import Company, Contact, ContactPoint, Deal, Note, Stage, Task, TimelineEntry
from crm.timeline import kind_for
from security import masking

MAX_POINTS = 20
MAX_TAGS = 50


@extend_schema_field(OpenApiTypes.INT)
class VisibleRelatedField(serializers.PrimaryKeyRelatedField):
    """A primary key looked up in `visible_to(request.user)`, one of crm.selectors' rules."""

    def __init__(self, visible_to, **kwargs):
        self.visible_to = visible_to
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        return self.visible_to(getattr(request, "user", None))


# Ids in a request body name only what the requester may link: records they may change
# (never one seen through a read share) and people they may hand work to.


def _deals(**kwargs):
    return VisibleRelatedField(selectors.deals_editable_by, **kwargs)


def _contacts(**kwargs):
    return VisibleRelatedField(selectors.contacts_editable_by, **kwargs)


def _companies(**kwargs):
    return VisibleRelatedField(selectors.companies_editable_by, **kwargs)


def _owners(**kwargs):
    return VisibleRelatedField(lambda user: selectors.owner_candidates(user=user), **kwargs)


def _assignees(**kwargs):
    return VisibleRelatedField(lambda user: selectors.assignable_users(user=user), **kwargs)


# --- Auth ------------------------------------------------------------------------------------


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    otp = serializers.CharField(required=False, help_text="The current code of the user's "
                                "authenticator app, for roles that require two-factor.")


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


# --- Shared ----------------------------------------------------------------------------------


class ContactPointSerializer(serializers.Serializer):
    """One phone or e-mail as the field policy lets the requester see it."""

    id = serializers.IntegerField(read_only=True)
    value = serializers.CharField(
        source="display", read_only=True,
        help_text="Full, or masked (`+7 *** ***-45-67`, `i***@mail.ru`) by your role's policy.",
    )
    label = serializers.CharField(read_only=True)
    is_primary = serializers.BooleanField(read_only=True)
    masked = serializers.BooleanField(
        read_only=True, help_text="True when `value` is masked: reveal it with a reason."
    )


# --- Companies -------------------------------------------------------------------------------


class CompanySerializer(serializers.ModelSerializer):
    class Meta:
        model = Company
        fields = [
            "id", "name", "inn", "industry", "website", "address", "owner", "team",
            "created_at", "updated_at",
        ]
        read_only_fields = fields


class CompanyWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    inn = serializers.CharField(max_length=12, required=False, allow_blank=True)
    industry = serializers.CharField(max_length=100, required=False, allow_blank=True)
    website = serializers.URLField(max_length=200, required=False, allow_blank=True)
    address = serializers.CharField(max_length=300, required=False, allow_blank=True)


class CompanyFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, help_text="Name or exact INN.")


# --- Contacts --------------------------------------------------------------------------------


class ContactSerializer(serializers.ModelSerializer):
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    phones = serializers.SerializerMethodField()
    emails = serializers.SerializerMethodField()

    class Meta:
        model = Contact
        fields = [
            "id", "name", "position", "company", "owner", "team", "source", "tags",
            "phones", "emails", "created_at", "updated_at",
        ]
        read_only_fields = fields

    def _points(self, contact, kind):
        # As the field policy lets the requester see them (security.masking); the list
        # view's prefetch of `points` is used.
        user = self.context["request"].user
        points = masking.present_points(user=user, contact=contact, kind=kind)
        return ContactPointSerializer(points, many=True).data

    @extend_schema_field(ContactPointSerializer(many=True))
    def get_phones(self, contact):
        return self._points(contact, ContactPoint.Kind.PHONE)

    @extend_schema_field(ContactPointSerializer(many=True))
    def get_emails(self, contact):
        return self._points(contact, ContactPoint.Kind.EMAIL)


def _normalized(values, normalize):
    # The services normalize again when they save; validating here lets the error name
    # the field (`phones` or `emails`) that holds the bad value.
    errors = []
    for value in values:
        if not value.strip():
            continue
        try:
            normalize(value)
        except DjangoValidationError as e:
            errors.extend(e.messages)
    if errors:
        raise serializers.ValidationError(errors)
    return values


class ContactCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    position = serializers.CharField(max_length=150, required=False, allow_blank=True)
    company = _companies(required=False, allow_null=True)
    source = serializers.ChoiceField(choices=Contact.Source.choices, required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=MAX_TAGS,
        help_text="Tag names; unknown names are created.",
    )
    phones = serializers.ListField(
        child=serializers.CharField(max_length=50, allow_blank=True), required=False,
        max_length=MAX_POINTS, help_text="Phone numbers, stored in E.164; the first is primary.",
    )
    emails = serializers.ListField(
        child=serializers.CharField(max_length=254, allow_blank=True), required=False,
        max_length=MAX_POINTS, help_text="E-mail addresses; the first is primary.",
    )

    def validate_phones(self, values):
        return _normalized(values, services.phone_normalize)

    def validate_emails(self, values):
        return _normalized(values, services.email_normalize)


class ContactUpdateSerializer(ContactCreateSerializer):
    """Phones and e-mails are added and removed one by one (services.contact_update): most
    users see them masked and could not send the whole list back."""

    phones = serializers.ListField(
        child=serializers.CharField(max_length=50, allow_blank=True), required=False,
        max_length=MAX_POINTS, source="add_phones", help_text="Phone numbers to add.",
    )
    emails = serializers.ListField(
        child=serializers.CharField(max_length=254, allow_blank=True), required=False,
        max_length=MAX_POINTS, source="add_emails", help_text="E-mail addresses to add.",
    )
    remove_points = serializers.ListField(
        child=serializers.IntegerField(), required=False, max_length=MAX_POINTS,
        source="remove_point_ids",
        help_text="Ids of phones or e-mails (from `phones[].id`) to remove.",
    )


class ContactFilterSerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False, allow_blank=True, help_text="Part of the name or the company name."
    )


# --- Deals -----------------------------------------------------------------------------------


class DealSerializer(serializers.ModelSerializer):
    class Meta:
        model = Deal
        fields = [
            "id", "title", "amount", "currency", "pipeline", "stage", "status", "loss_reason",
            "owner", "team", "contact", "company", "next_step", "expected_close", "closed_at",
            "created_at", "updated_at", "last_activity_at",
        ]
        read_only_fields = fields


class DealWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False
    )
    currency = serializers.ChoiceField(choices=Deal.Currency.choices, required=False)
    stage = serializers.PrimaryKeyRelatedField(
        queryset=Stage.objects.select_related("pipeline"), required=False,
        help_text="On create: the stage (and so the pipeline) to start in; default: the first "
        "stage of the owner's pipeline. On update: a stage of the deal's pipeline.",
    )
    owner = _owners(
        required=False,
        help_text="Another owner than yourself needs the permission to reassign deals.",
    )
    contact = _contacts(required=False, allow_null=True)
    company = _companies(required=False, allow_null=True)
    next_step = serializers.CharField(max_length=300, required=False, allow_blank=True)
    expected_close = serializers.DateField(required=False, allow_null=True)


class DealFilterSerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False, allow_blank=True, help_text="Part of the title, contact or company name."
    )
    status = serializers.ChoiceField(choices=Deal.Status.choices, required=False)
    stage = serializers.IntegerField(required=False, min_value=1)
    owner = serializers.IntegerField(
        required=False, min_value=1, help_text="Owner's id; sales heads and admins only."
    )
    sort = serializers.ChoiceField(
        choices=list(selectors.DEAL_SORTS), required=False, default="activity"
    )


class DealMoveSerializer(serializers.Serializer):
    stage = serializers.PrimaryKeyRelatedField(queryset=Stage.objects.select_related("pipeline"))


class DealCloseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Deal.Status.choices)
    loss_reason = serializers.CharField(
        max_length=300, required=False, allow_blank=True, default="",
        help_text="Required when the status is lost.",
    )


class NoteSerializer(serializers.ModelSerializer):
    author = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Note
        fields = ["id", "deal", "text", "author", "created_at"]
        read_only_fields = fields


class NoteWriteSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=10_000)


# --- Timeline --------------------------------------------------------------------------------


class TimelineEntrySerializer(serializers.ModelSerializer):
    actor = UserRefSerializer(read_only=True, allow_null=True)
    data = serializers.SerializerMethodField(
        help_text="Depends on the kind: e.g. note_id and text for a note, from and to for a "
        "stage change."
    )

    class Meta:
        model = TimelineEntry
        fields = ["id", "kind", "occurred_at", "actor", "data"]
        read_only_fields = fields

    def get_data(self, entry) -> dict:
        return kind_for(entry.kind).serialize(entry)


class TimelinePageSerializer(serializers.Serializer):
    next = serializers.URLField(
        allow_null=True, read_only=True, help_text="The next (older) page, or null."
    )
    results = TimelineEntrySerializer(many=True, read_only=True)


class TimelineQuerySerializer(serializers.Serializer):
    before = serializers.IntegerField(
        required=False, min_value=1, help_text="Only entries older than this entry id."
    )
    page_size = serializers.IntegerField(required=False, min_value=1)


# --- Tasks -----------------------------------------------------------------------------------


class TaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = [
            "id", "title", "assignee", "created_by", "due_at", "deal", "contact", "done",
            "done_at", "is_overdue", "created_at", "updated_at",
        ]
        read_only_fields = fields


class TaskWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    assignee = _assignees(
        required=False, help_text="Default: the deal's owner, else yourself."
    )
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    deal = _deals(required=False, allow_null=True)
    contact = _contacts(
        required=False, allow_null=True, help_text="Default: the deal's contact."
    )


class TaskFilterSerializer(serializers.Serializer):
    done = serializers.BooleanField(required=False, allow_null=True, default=None)
    deal = _deals(required=False)
