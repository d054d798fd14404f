"""Exports through the API: ask for one, then fetch its file once. The rules are in
security/exports.py; roles without the export permission get 403 and their attempt is
recorded, whatever the body."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from core.api.parsers import UntrustedJSONParser
from security import exports
from security.models import ExportRequest
from security.requests import client_ip
from security.views.exports import export_response


class ExportCreateSerializer(serializers.Serializer):
    resource = serializers.ChoiceField(choices=ExportRequest.Resource.choices)
    format = serializers.ChoiceField(choices=ExportRequest.Format.choices, default="csv")
    filters = serializers.DictField(
        required=False,
        help_text="The list's filters. Deals: `q`, `status`, `stage`, `owner`, `sort` (as in "
        "`GET /deals/`); contacts: `q`. An unknown name or a bad value is a 400.",
    )


class ExportSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField(
        help_text="GET it once, before `expires_at`, with the same credentials."
    )

    class Meta:
        model = ExportRequest
        fields = ["id", "status", "resource", "format", "filters", "row_count", "capped",
                  "created_at", "expires_at", "download_url"]
        read_only_fields = fields

    def get_download_url(self, export) -> str:
        return reverse(
            "api:export-download", args=[export.pk], request=self.context.get("request")
        )


class ExportCreateView(APIView):
    parser_classes = [UntrustedJSONParser]

    @extend_schema(
        operation_id="exports_create",
        summary="Export deals or contacts to a CSV or XLSX file",
        description="Sales heads (their team's) and admins only. The rows are those of the "
        "list with the same filters, at most EXPORT_MAX_ROWS (`capped` tells when the list "
        "was longer), contact details as your role sees them. The file names you and the "
        "time, and can be downloaded once within 15 minutes. Every request is recorded; "
        "other roles get 403.",
        request=ExportCreateSerializer,
        responses={
            201: ExportSerializer,
            400: OpenApiResponse(description="Unknown resource, format or filter."),
            403: OpenApiResponse(description="Your role may not export (the attempt is "
                                 "recorded)."),
        },
        examples=[OpenApiExample(
            "Open deals", request_only=True,
            value={"resource": "deals", "format": "xlsx", "filters": {"status": "open"}},
        )],
    )
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
        # The service checks the permission before the body, so a refused attempt is
        # recorded even when its body is nonsense.
        export = exports.export_request(
            user=request.user, resource=body.get("resource"), fmt=body.get("format", "csv"),
            filters=body.get("filters"), ip=client_ip(request),
        )
        data = ExportSerializer(export, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class IgnoreClientContentNegotiation(BaseContentNegotiation):
    """The file is sent as it is, whatever the client accepts; errors as JSON."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ExportDownloadView(APIView):
    content_negotiation_class = IgnoreClientContentNegotiation

    @extend_schema(
        operation_id="exports_download",
        summary="Download an export's file (once)",
        description="Only its requester, once, within 15 minutes; then the file is deleted "
        "and this answers 404, as it does for anyone else's export.",
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, exports.CONTENT_TYPES["xlsx"]): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such export of yours, already downloaded, "
                                 "or expired."),
        },
    )
    def get(self, request, export_id):
        return export_response(*exports.export_download(user=request.user, export_id=export_id))
