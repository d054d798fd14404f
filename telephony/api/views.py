"""Telephony in the REST API v1: `calls/`, `calls/{id}/` and `calls/click-to-call/`.

Calls are visible exactly when their deal is (telephony.selectors.calls_visible_to); one
outside that answers 404. Click-to-call fetches the deal through crm.selectors.deal_get (404
to whoever may not see it) before anything else; telephony.click_to_call's refusals leave as
403 (a read-only share) and 400 (no extension, no client phone), core/api/errors.py.
"""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.parsers import UntrustedJSONParser
from core.api.throttles import ListThrottle
from core.api.views import ID_REGEX, ValidatingMixin
from crm import selectors as crm_selectors
from security.audit import access_log
from security.audit.access_log import Action
from telephony import click_to_call, selectors
from telephony.api import serializers as s
from telephony.models import Call

TAGS = ["telephony"]
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH,
                                description="The call's id.")


@extend_schema(tags=TAGS)
class CallViewSet(ValidatingMixin, viewsets.GenericViewSet):
    """Calls through the company's PBX, visible exactly when their deal is: your deals' (a
    sales head: the team's; admins: all) and those of deals shared with you."""

    queryset = Call.objects.none()  # the model, for the schema; reads use selectors
    serializer_class = s.CallSerializer
    lookup_value_regex = ID_REGEX
    parser_classes = [UntrustedJSONParser]
    filter_backends: list = []
    throttle_classes = [ListThrottle]

    @extend_schema(
        summary="List calls",
        description="Newest first. "
        f"{settings.API_PAGE_SIZE} per page by default, at most {settings.API_MAX_PAGE_SIZE}.",
        parameters=[s.CallFilterSerializer],
    )
    def list(self, request):
        filters = self.validated(s.CallFilterSerializer, request.query_params.dict())
        calls = selectors.calls_visible_to(request.user)
        if "deal" in filters:
            # Within the visible set: another's deal id gives an empty list, as an unused one.
            calls = calls.filter(deal_id=filters["deal"])
        if filters.get("direction"):
            calls = calls.filter(direction=filters["direction"])
        if filters.get("answered") is not None:
            calls = calls.filter(answered=filters["answered"])
        calls = (calls.select_related("manager", "contact__team")
                 .prefetch_related("recordings").order_by("-started_at", "-id"))
        page = self.paginate_queryset(calls)
        access_log.read(page, action=Action.LIST)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="Get a call", parameters=[ID_PARAMETER],
                   responses={200: s.CallSerializer,
                              404: OpenApiResponse(description="No such call visible to you.")})
    def retrieve(self, request, pk):
        call = selectors.call_get(user=request.user, pk=pk)
        access_log.read(call, action=Action.VIEW)
        return Response(self.get_serializer(call).data)

    @extend_schema(
        operation_id="calls_click_to_call",
        summary="Call a deal's client from your extension",
        description="The PBX rings your extension, then dials the deal's client (their first "
        "phone) from the company's line of the deal's team; you never see the number. The "
        "command is queued (202); its `status` follows live on the deal's websocket "
        "(`call.callback`).",
        request=s.ClickToCallSerializer,
        responses={
            202: s.CallbackCommandSerializer,
            400: OpenApiResponse(description="You have no extension, the deal has no client "
                                 "or the client no phone, or a call is being connected."),
            403: OpenApiResponse(description="The deal is shared with you for reading only."),
            404: OpenApiResponse(description="No such deal visible to you."),
        },
    )
    @action(detail=False, methods=["post"], url_path="click-to-call", url_name="click-to-call")
    def click_to_call(self, request):
        data = self.validated(s.ClickToCallSerializer, request.data)
        deal = crm_selectors.deal_get(user=request.user, pk=data["deal"])
        command = click_to_call.click_to_call(deal=deal, by=request.user)
        command.refresh_from_db()  # without a worker it may be sent already
        return Response(s.CallbackCommandSerializer(command).data,
                        status=status.HTTP_202_ACCEPTED)
