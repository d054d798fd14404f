"""`GET /api/v1/consents/?contact=<id>`: a contact's consent per purpose and the history;
`POST /api/v1/consents/`: a grant or withdrawal recorded by a manager, evidence required.

The contact is fetched through `crm.selectors.contact_get` before anything else: 404 for a
contact the user may not see, 403 (from the check below) for one seen read-only. Reading the
history is a read of client data (the access log)."""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from consents import selectors, services
from consents.models import ConsentEvent
from core.api.parsers import UntrustedJSONParser
from core.api.views import validated
from crm import selectors as crm_selectors
from security.audit import access_log
from security.audit.access_log import Action


class ConsentStateSerializer(serializers.Serializer):
    purpose = serializers.CharField(source="purpose.code", help_text="The purpose's code.")
    purpose_title = serializers.CharField(source="purpose.title")
    state = serializers.SerializerMethodField(
        help_text="`granted`, `withdrawn`, or `never_asked`.")
    since = serializers.DateTimeField(allow_null=True)

    def get_state(self, obj) -> str:
        if obj.granted is None:
            return "never_asked"
        return "granted" if obj.granted else "withdrawn"


class ConsentEventSerializer(serializers.Serializer):
    seq = serializers.IntegerField(source="event.seq", help_text="Its place in the ledger.")
    at = serializers.DateTimeField(source="event.at")
    purpose = serializers.CharField(source="purpose.code", allow_null=True)
    kind = serializers.ChoiceField(source="event.kind", choices=ConsentEvent.Kind.choices)
    source = serializers.ChoiceField(source="event.source", choices=ConsentEvent.Source.choices)
    text_version = serializers.IntegerField(source="event.text_version", allow_null=True)
    text_sha256 = serializers.CharField(source="event.text_sha256")
    recorded_by = serializers.IntegerField(source="event.recorded_by_id", allow_null=True)
    evidence = serializers.DictField(
        allow_null=True, help_text="What proves it; null once the client's data was erased.")


class ConsentsSerializer(serializers.Serializer):
    contact = serializers.IntegerField()
    states = ConsentStateSerializer(many=True)
    history = ConsentEventSerializer(many=True, help_text="Newest first.")


class EvidenceSerializer(serializers.Serializer):
    document = serializers.CharField(required=False, allow_blank=True, max_length=300,
                                     help_text="The signed consent: its number or file.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000,
                                 help_text="How the client said it: the call, the message.")


class ConsentWriteSerializer(serializers.Serializer):
    contact = serializers.IntegerField(help_text="A contact you may change.")
    purpose = serializers.SlugRelatedField(
        slug_field="code", queryset=selectors.purposes_needing_consent(),
        help_text="The code of an active purpose that needs consent.")
    kind = serializers.ChoiceField(choices=ConsentEvent.Kind.choices)
    evidence = EvidenceSerializer(help_text="`document` or `note`, at least one.")
    text_version = serializers.IntegerField(
        required=False, min_value=1, help_text="The consent text's version the client agreed "
        "to (a grant); default: the current one.")


CONTACT = OpenApiParameter("contact", OpenApiTypes.INT, OpenApiParameter.QUERY, required=True,
                           description="The contact's id.")
_NOT_VISIBLE = OpenApiResponse(description="No such contact visible to you.")


def _consents(contact) -> dict:
    access_log.read(contact, action=Action.VIEW, detail={"consents": "history"})
    return {"contact": contact.pk,
            "states": selectors.consent_overview(contact=contact),
            "history": selectors.consent_history(contact_id=contact.pk)}


class ConsentsView(APIView):
    parser_classes = [UntrustedJSONParser]

    @extend_schema(
        operation_id="consents_list",
        summary="A contact's consents and their history",
        description="Each active purpose that needs consent with the contact's state, and "
        "every event of the consent ledger for the contact (who, when, source, the text "
        "version and its hash, the evidence).",
        parameters=[CONTACT],
        responses={200: ConsentsSerializer,
                   400: OpenApiResponse(description="`contact` is missing or not a number."),
                   404: _NOT_VISIBLE},
    )
    def get(self, request):
        try:
            contact_id = int(request.query_params["contact"])
        except (KeyError, ValueError):
            raise ValidationError({"contact": [_("Give the contact's id.")]}) from None
        contact = crm_selectors.contact_get(user=request.user, pk=contact_id)
        return Response(ConsentsSerializer(_consents(contact)).data)

    @extend_schema(
        operation_id="consents_create",
        summary="Record a consent or a withdrawal",
        description="As said to a manager (source `manager`), with what proves it. Appended "
        "to the ledger; a withdrawal stops the contact's queued campaign messages at once.",
        request=ConsentWriteSerializer,
        responses={201: ConsentsSerializer,
                   400: OpenApiResponse(description="No evidence, unknown purpose or text."),
                   403: OpenApiResponse(description="You see the contact but may not change "
                                                    "it."),
                   404: _NOT_VISIBLE},
    )
    def post(self, request):
        contact_id = request.data.get("contact") if isinstance(request.data, dict) else None
        if not isinstance(contact_id, int) or isinstance(contact_id, bool):
            raise ValidationError({"contact": [_("Give the contact's id.")]})
        contact = crm_selectors.contact_get(user=request.user, pk=contact_id)
        if not crm_selectors.contact_can_edit(user=request.user, contact=contact):
            raise PermissionDenied(_("You may look at this contact but not change it."))
        data = validated(ConsentWriteSerializer, request.data)
        services.consent_record(
            contact=contact, purpose=data["purpose"], kind=data["kind"],
            source=ConsentEvent.Source.MANAGER, by=request.user,
            evidence=dict(data["evidence"]), text_version=data.get("text_version"))
        return Response(ConsentsSerializer(_consents(contact)).data,
                        status=status.HTTP_201_CREATED)
