"""The security console in the REST API v1: `alerts/`, `alerts/{id}/` and `audit/access/`.

Security officers and admins only (security.selectors): anyone else gets 403 on the lists and
404 on an alert's id, as on any object route. Like the console's pages these show no client
content (contact ids, object types and ids, paths without their query string), and reading
them is not recorded in the access log (they are not client data).
"""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from core.api.serializers import UserRefSerializer
from core.api.throttles import ListThrottle
from core.api.views import ID_REGEX, validated
from security import selectors
from security.audit import alerts, rules
from security.models import AccessRecord, Alert

TAGS = ["security"]
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH,
                                description="The alert's id.")
_FORBIDDEN = OpenApiResponse(description="Not a security officer or an admin.")


class AlertUserSerializer(UserRefSerializer):
    username = serializers.CharField(read_only=True)


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    rule = serializers.ChoiceField(choices=list(rules.RULES), read_only=True)
    rule_title = serializers.SerializerMethodField()
    user = AlertUserSerializer(read_only=True, help_text="The user the rule fired for.")
    raised_at = serializers.DateTimeField(read_only=True)
    count = serializers.IntegerField(read_only=True, help_text="Events counted in the window.")
    threshold = serializers.IntegerField(read_only=True,
                                         help_text="The rule's threshold when it fired.")
    window_minutes = serializers.IntegerField(read_only=True)
    evidence = serializers.JSONField(
        read_only=True,
        help_text="What the rule saw: `records` (access-log seqs, see `audit/access/`), "
        "`objects` (`type:id`), `clients` (contact ids), `since`; deletions: "
        "`change_log_entries`; a new address: `ip` and `known`.",
    )
    suspended = serializers.BooleanField(read_only=True,
                                         help_text="The rule suspended the account.")
    status = serializers.ChoiceField(choices=Alert.Status.choices, read_only=True)
    assignee = AlertUserSerializer(read_only=True, allow_null=True)
    resolved_by = AlertUserSerializer(read_only=True, allow_null=True)
    resolved_at = serializers.DateTimeField(read_only=True, allow_null=True)
    resolution = serializers.CharField(read_only=True)

    def get_rule_title(self, alert) -> str:
        return alerts.rule_title(alert.rule)


class AlertFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Alert.Status.choices, required=False)
    rule = serializers.ChoiceField(choices=list(rules.RULES), required=False)
    user = serializers.IntegerField(required=False, min_value=1,
                                    help_text="The id of the user the alerts are about.")


class AccessRecordSerializer(serializers.Serializer):
    seq = serializers.IntegerField(read_only=True, help_text="The record's place in the chain.")
    at = serializers.DateTimeField(read_only=True)
    user_id = serializers.IntegerField(read_only=True, allow_null=True)
    username = serializers.CharField(read_only=True)
    surface = serializers.ChoiceField(choices=AccessRecord.Surface.choices, read_only=True)
    action = serializers.ChoiceField(choices=AccessRecord.Action.choices, read_only=True)
    object_type = serializers.CharField(read_only=True, help_text="`app.model`, e.g. "
                                        "`crm.deal`; empty for an event about no object.")
    object_id = serializers.IntegerField(read_only=True, allow_null=True)
    contact_id = serializers.IntegerField(read_only=True, allow_null=True,
                                          help_text="The client the read concerned.")
    path = serializers.SerializerMethodField(
        help_text="The request's path, without its query string (a search's query is "
        "client content)."
    )
    ip = serializers.CharField(read_only=True)
    user_agent = serializers.CharField(read_only=True)
    detail = serializers.JSONField(read_only=True)
    hash = serializers.CharField(read_only=True,
                                 help_text="The record's hash in the chain (verify_audit).")

    def get_path(self, record) -> str:
        return selectors.path_without_query(record.path)


class AccessFilterSerializer(serializers.Serializer):
    user = serializers.IntegerField(required=False, min_value=1, help_text="A user id.")
    contact = serializers.IntegerField(required=False, min_value=1,
                                       help_text="A client's contact id.")
    action = serializers.ChoiceField(choices=AccessRecord.Action.choices, required=False)
    since = serializers.DateTimeField(required=False, help_text="From this time, inclusive.")
    until = serializers.DateTimeField(required=False, help_text="Up to this time, inclusive.")

    def validate(self, data):
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise serializers.ValidationError({"until": "Before `since`."})
        return data




@extend_schema(tags=TAGS)
class AlertViewSet(viewsets.GenericViewSet):
    """Alerts raised by the anomaly rules, newest first."""

    queryset = Alert.objects.none()  # the model, for the schema; reads use selectors
    serializer_class = AlertSerializer
    lookup_value_regex = ID_REGEX
    filter_backends: list = []
    throttle_classes = [ListThrottle]

    @extend_schema(
        summary="List alerts",
        description="Security officers and admins only (403 for anyone else). Newest first; "
        f"{settings.API_PAGE_SIZE} per page by default, at most {settings.API_MAX_PAGE_SIZE}.",
        parameters=[AlertFilterSerializer],
        responses={200: AlertSerializer(many=True), 403: _FORBIDDEN},
    )
    def list(self, request):
        if not selectors.can_use_console(request.user):
            raise PermissionDenied
        filters = validated(AlertFilterSerializer, request.query_params.dict())
        found = selectors.alert_list(user=request.user, filters=selectors.AlertFilters(
            status=filters.get("status", ""), rule=filters.get("rule", ""),
            user=filters.get("user")))
        page = self.paginate_queryset(found.select_related("resolved_by"))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Get an alert", parameters=[ID_PARAMETER],
        responses={200: AlertSerializer,
                   404: OpenApiResponse(description="No such alert, or you are not a "
                                        "security officer or an admin.")},
    )
    def retrieve(self, request, pk):
        return Response(self.get_serializer(selectors.alert_get(user=request.user, pk=pk)).data)


class SeqCursorPagination(CursorPagination):
    """Newest first by the chain's seq. A cursor, not page numbers: the log grows while it is
    read (a page number would shift under the reader) and counting it costs a full scan."""

    ordering = "-seq"
    page_size = settings.API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = settings.API_MAX_PAGE_SIZE


@extend_schema(tags=TAGS)
class AccessLogView(ListAPIView):
    serializer_class = AccessRecordSerializer
    pagination_class = SeqCursorPagination
    filter_backends: list = []
    throttle_classes = [ListThrottle]
    # ListThrottle limits the actions named "list".
    action = "list"

    @extend_schema(
        operation_id="audit_access_list",
        summary="Search the access log",
        description="Every read of client data: who, what (object type and id, client's "
        "contact id), when, through which surface, from which address. Security officers "
        "and admins only (403 for anyone else). Newest first; follow `next` (a cursor); "
        f"{settings.API_PAGE_SIZE} per page by default, at most {settings.API_MAX_PAGE_SIZE}.",
        parameters=[AccessFilterSerializer],
        responses={200: AccessRecordSerializer(many=True), 403: _FORBIDDEN},
    )
    def get(self, request, *args, **kwargs):
        if not selectors.can_read_access_log(request.user):
            raise PermissionDenied
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = validated(AccessFilterSerializer, self.request.query_params.dict())
        user = filters.get("user")
        return selectors.access_records_search(user=self.request.user, filters=(
            selectors.AccessFilters(
                user=str(user) if user else "", contact=filters.get("contact"),
                action=filters.get("action", ""), since=filters.get("since"),
                until=filters.get("until"))))
