from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.parsers import UntrustedJSONParser
from core.api.views import validated
from crm import selectors
from security.requests import client_ip
from security.reveal import RevealLimitReached, point_reveal


class RevealRequestSerializer(serializers.Serializer):
    point = serializers.IntegerField(help_text="The id of the phone or e-mail (`phones[].id`).")
    reason = serializers.CharField(max_length=500, help_text="Why you need the full value.")


class ContactRevealView(APIView):
    parser_classes = [UntrustedJSONParser]

    @extend_schema(
        operation_id="contacts_reveal",
        summary="Show one masked phone or e-mail in full",
        description="Recorded with the reason; at most REVEAL_LIMIT_PER_HOUR an hour (429).",
        request=RevealRequestSerializer,
        responses={
            200: inline_serializer("RevealedValue", {"value": serializers.CharField()}),
            400: OpenApiResponse(description="No reason, or a reason too short."),
            404: OpenApiResponse(description="No such contact or point visible to you."),
            429: OpenApiResponse(description="Too many reveals in the last hour."),
        },
    )
    def post(self, request, pk):
        contact = selectors.contact_get(user=request.user, pk=pk)
        body = validated(RevealRequestSerializer, request.data)
        try:
            value = point_reveal(
                user=request.user, contact=contact, point_id=body["point"],
                reason=body["reason"], ip=client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
            )
        except ValidationError as e:
            return Response(e.message_dict, status=status.HTTP_400_BAD_REQUEST)
        except RevealLimitReached as e:
            raise Throttled(wait=e.retry_after) from e
        return Response({"value": value})
