"""Deal shares in the API: `GET/POST deals/{id}/shares/`, `DELETE deals/{id}/shares/{user_id}/`.

As everywhere in the API the deal is fetched through `crm.selectors.deal_get` before the
body is read, so an outsider gets 404 on every route; a user who sees the deal but may not
share it gets 403 from the service (core/api/errors.py turns PermissionDenied into 403).
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.parsers import UntrustedJSONParser
from core.api.views import validated
from crm import selectors, sharing

DEAL_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH,
                           description="The deal's id.")
USER_ID = OpenApiParameter("user_id", OpenApiTypes.INT, OpenApiParameter.PATH,
                           description="The id of the colleague the deal is shared with.")
ACCESS_HELP = "`read`: see the deal, its client and its timeline; `edit`: also change them."


class DealShareSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user.pk", help_text="The colleague's user id.")
    user_name = serializers.CharField(source="user.__str__")
    access = serializers.ChoiceField(choices=list(sharing.ACCESS_LABELS), help_text=ACCESS_HELP)
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="When the share ends by itself; null: until revoked."
    )
    granted_by = serializers.IntegerField(source="granted_by.pk", allow_null=True)
    granted_by_name = serializers.CharField(source="granted_by.__str__", allow_null=True)
    granted_at = serializers.DateTimeField()


class DealShareWriteSerializer(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True),
        help_text="An active manager or sales head, not you and not the deal's owner.",
    )
    access = serializers.ChoiceField(choices=list(sharing.ACCESS_LABELS), help_text=ACCESS_HELP)
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None,
        help_text="In the future, with a time zone; omit or null to share until revoked.",
    )


_NOT_VISIBLE = OpenApiResponse(description="No such deal visible to you (or no such share).")
_NOT_SHARER = OpenApiResponse(
    description="You see the deal but are not its owner, their sales head or the admin."
)


class DealSharesView(APIView):
    parser_classes = [UntrustedJSONParser]

    @extend_schema(
        operation_id="deals_shares_list",
        summary="Who a deal is shared with",
        description="Live shares only: an expired share grants nothing and is not listed.",
        parameters=[DEAL_ID],
        responses={200: DealShareSerializer(many=True), 404: _NOT_VISIBLE},
    )
    def get(self, request, pk):
        deal = selectors.deal_get(user=request.user, pk=pk)
        return Response(DealShareSerializer(sharing.deal_shares(deal=deal), many=True).data)

    @extend_schema(
        operation_id="deals_shares_create",
        summary="Share a deal with a colleague",
        description="For reading or editing, until `expires_at` or until revoked. Sharing "
        "again with the same colleague replaces the access and the expiry. Recorded on the "
        "deal's timeline.",
        parameters=[DEAL_ID],
        request=DealShareWriteSerializer,
        responses={
            201: DealShareSerializer,
            400: OpenApiResponse(description="Not an eligible colleague, or a past expiry."),
            403: _NOT_SHARER,
            404: _NOT_VISIBLE,
        },
    )
    def post(self, request, pk):
        deal = selectors.deal_get(user=request.user, pk=pk)
        body = validated(DealShareWriteSerializer, request.data)
        share = sharing.deal_share(deal=deal, by=request.user, **body)
        return Response(DealShareSerializer(share).data, status=status.HTTP_201_CREATED)


class DealShareDetailView(APIView):
    @extend_schema(
        operation_id="deals_shares_destroy",
        summary="Revoke a share",
        description="The colleague loses the deal at once (and its live updates). Recorded on "
        "the deal's timeline.",
        parameters=[DEAL_ID, USER_ID],
        responses={204: None, 403: _NOT_SHARER, 404: _NOT_VISIBLE},
    )
    def delete(self, request, pk, user_id):
        deal = selectors.deal_get(user=request.user, pk=pk)
        if not sharing.deal_can_share(user=request.user, deal=deal):
            raise PermissionDenied(_("Only the owner, their sales head or the admin share a deal."))
        share = sharing.deal_share_get(deal=deal, user_id=user_id)
        sharing.deal_unshare(deal=deal, user=share.user, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
