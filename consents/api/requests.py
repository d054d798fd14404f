"""Data subjects' requests in the REST API v1: `subject-requests/` (list, register),
`subject-requests/{id}/`, `.../{id}/extend/` and `.../{id}/close/`.

Who (consents.selectors): admins and security officers see and answer every request; managers
and sales heads register and see requests of the contacts they see (404 for any other) and
answer them, except erasure requests, which only an admin or a security officer answers (403).
Closing an erasure request without refusing it erases the client: the body must say so with
`"confirm_erasure": true`.
"""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from consents import selectors, services
from consents.models import SubjectRequest
from core.api.serializers import UserRefSerializer
from core.api.throttles import ListThrottle
from core.api.views import ID_REGEX, validated
from security.audit import access_log
from security.models import AccessRecord

TAGS = ["subject requests"]
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH,
                                description="The request's id.")
_NOT_FOUND = OpenApiResponse(description="No such request, or not one you may see.")


class SubjectRequestSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    contact = serializers.IntegerField(source="contact_id", read_only=True)
    kind = serializers.ChoiceField(choices=SubjectRequest.Kind.choices, read_only=True)
    source = serializers.ChoiceField(choices=SubjectRequest.Source.choices, read_only=True)
    details = serializers.CharField(read_only=True)
    status = serializers.ChoiceField(choices=SubjectRequest.Status.choices, read_only=True)
    received_at = serializers.DateTimeField(read_only=True)
    due_date = serializers.DateField(
        read_only=True, help_text="The answer is due by this date: 10 working days after "
        "receipt (the production calendar), 15 once extended.")
    overdue = serializers.SerializerMethodField()
    extended = serializers.BooleanField(read_only=True)
    extension_reason = serializers.CharField(read_only=True)
    registered_by = UserRefSerializer(read_only=True, allow_null=True)
    handled_by = UserRefSerializer(read_only=True, allow_null=True)
    closed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    response = serializers.CharField(read_only=True)
    erasure = serializers.SerializerMethodField(
        help_text="The id of the erasure this request ran, if any.")

    def get_overdue(self, request) -> bool:
        return selectors.is_overdue(request)

    def get_erasure(self, request) -> int | None:
        record = request.erasures.order_by("-at").first()
        return record.pk if record else None


class SubjectRequestCreateSerializer(serializers.Serializer):
    contact = serializers.IntegerField(min_value=1, help_text="The client's contact id.")
    kind = serializers.ChoiceField(choices=SubjectRequest.Kind.choices)
    details = serializers.CharField(required=False, allow_blank=True, max_length=5000,
                                    help_text="What the client asked, in their words.")


class SubjectRequestFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SubjectRequest.Status.choices, required=False)
    overdue = serializers.BooleanField(required=False, allow_null=True, default=None,
                                       help_text="Open and past the due date.")


class ExtendSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000,
                                   help_text="The reason the client is told (152-FZ).")


class CloseSerializer(serializers.Serializer):
    response = serializers.CharField(max_length=10_000,
                                     help_text="The answer given to the client.")
    refused = serializers.BooleanField(required=False, default=False)
    confirm_erasure = serializers.BooleanField(
        required=False, default=False,
        help_text="Required for an erasure request answered (not refused): the client is "
        "erased at once, irreversibly.")




@extend_schema(tags=TAGS)
class SubjectRequestViewSet(viewsets.GenericViewSet):
    """Requests of data subjects (152-FZ art. 14, 20, 21), due first."""

    queryset = SubjectRequest.objects.none()  # the model, for the schema; reads use selectors
    serializer_class = SubjectRequestSerializer
    lookup_value_regex = ID_REGEX
    filter_backends: list = []

    def get_throttles(self):
        return [ListThrottle()] if self.action == "list" else super().get_throttles()

    def _get(self, pk) -> SubjectRequest:
        request = selectors.subject_request_get(user=self.request.user, pk=pk)
        access_log.read(request, action=AccessRecord.Action.VIEW)
        return request

    def _render(self, request, code=status.HTTP_200_OK) -> Response:
        return Response(SubjectRequestSerializer(request).data, status=code)

    @extend_schema(
        summary="List subject requests",
        description="Admins and security officers: all; managers and sales heads: those of "
        "the contacts they see; anyone else 403. By due date; "
        f"{settings.API_PAGE_SIZE} per page by default, at most {settings.API_MAX_PAGE_SIZE}.",
        parameters=[SubjectRequestFilterSerializer],
        responses={200: SubjectRequestSerializer(many=True), 403: OpenApiResponse()},
    )
    def list(self, request):
        if not selectors.can_use_subject_requests(request.user):
            raise PermissionDenied
        filters = validated(SubjectRequestFilterSerializer, request.query_params.dict())
        found = selectors.subject_request_list(user=request.user,
                                               status=filters.get("status", ""),
                                               overdue=filters.get("overdue"))
        page = self.paginate_queryset(found)
        access_log.read(page, action=AccessRecord.Action.LIST)
        return self.get_paginated_response(SubjectRequestSerializer(page, many=True).data)

    @extend_schema(
        summary="Register a subject request",
        description="For a contact you see (404 otherwise). Answers the request with its "
        "`due_date`.",
        request=SubjectRequestCreateSerializer,
        responses={201: SubjectRequestSerializer, 400: OpenApiResponse(), 404: _NOT_FOUND},
    )
    def create(self, request):
        if not selectors.can_use_subject_requests(request.user):
            raise PermissionDenied
        data = validated(SubjectRequestCreateSerializer, request.data)
        contact = selectors.subject_request_contact(user=request.user, pk=data["contact"])
        created = services.subject_request_register(
            contact=contact, kind=data["kind"], source=SubjectRequest.Source.STAFF,
            details=data.get("details", ""), by=request.user)
        return self._render(created, status.HTTP_201_CREATED)

    @extend_schema(summary="Read a subject request", parameters=[ID_PARAMETER],
                   responses={200: SubjectRequestSerializer, 404: _NOT_FOUND})
    def retrieve(self, request, pk):
        return self._render(self._get(pk))

    @extend_schema(
        operation_id="subject_requests_extend",
        summary="Extend a request by 5 working days, once, with the reason",
        parameters=[ID_PARAMETER], request=ExtendSerializer,
        responses={200: SubjectRequestSerializer, 400: OpenApiResponse(), 404: _NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def extend(self, request, pk):
        found = self._get(pk)
        data = validated(ExtendSerializer, request.data)
        return self._render(services.subject_request_extend(request=found, by=request.user,
                                                            reason=data["reason"]))

    @extend_schema(
        operation_id="subject_requests_close",
        summary="Answer a request (an erasure request answered erases the client)",
        parameters=[ID_PARAMETER], request=CloseSerializer,
        responses={200: SubjectRequestSerializer, 400: OpenApiResponse(),
                   403: OpenApiResponse(description="An erasure request, and you are not an "
                                        "admin or a security officer."),
                   404: _NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def close(self, request, pk):
        found = self._get(pk)
        data = validated(CloseSerializer, request.data)
        if not selectors.may_answer(user=request.user, request=found):
            raise PermissionDenied
        if (found.kind == SubjectRequest.Kind.ERASURE and not data["refused"]
                and not data["confirm_erasure"]):
            raise serializers.ValidationError({"confirm_erasure": [
                "Answering this request erases the client at once, irreversibly: confirm "
                "with true."]})
        closed = services.subject_request_close(request=found, by=request.user,
                                                response=data["response"],
                                                refused=data["refused"])
        return self._render(closed)
