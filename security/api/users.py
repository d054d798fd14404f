"""The users API, for admins: `GET users/` and `POST/DELETE users/{id}/offboard/`.

Anyone but an admin gets 403 on the list and 404 on a user's route (the object routes of the
API answer outsiders 404, whatever the object). The rules are in security/offboarding.py.
"""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.parsers import UntrustedJSONParser
from core.api.views import validated
from security import accounts, offboarding
from security.models import Offboarding, User

USER_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH,
                           description="The id of the employee who leaves.")


class IsAdminRole(BasePermission):
    def has_permission(self, request, view):
        return offboarding.can_offboard(request.user)


class UserSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(source="get_full_name")
    role = serializers.CharField(allow_null=True, help_text="`manager`, `sales_head`, "
                                 "`marketer`, `support`, `security_officer`, `admin` or null.")
    team = serializers.IntegerField(source="team_id", allow_null=True)
    team_name = serializers.CharField(source="team.name", allow_null=True, default=None)
    active = serializers.BooleanField(source="is_active")
    suspended = serializers.BooleanField(source="is_suspended",
                                         help_text="Suspended until reinstated.")
    offboarded = serializers.BooleanField(source="is_offboarded")

    class Meta:
        model = User
        fields = ["id", "username", "full_name", "role", "team", "team_name", "active",
                  "suspended", "offboarded"]
        read_only_fields = fields


class UserListView(generics.ListAPIView):
    permission_classes = [IsAuthenticated, IsAdminRole]
    serializer_class = UserSerializer

    def get_queryset(self):
        return accounts.user_list()

    @extend_schema(
        operation_id="users_list",
        summary="Every account (admins only)",
        description="Active accounts first. Other roles get 403.",
        responses={200: UserSerializer(many=True),
                   403: OpenApiResponse(description="Not an admin.")},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class MovedSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.IntegerField())


class ReportSerializer(serializers.Serializer):
    moved = serializers.DictField(
        child=MovedSerializer(), help_text="Per kind (`deals`, `contacts`, `companies`, "
        "`tasks`, `conversations`, `extensions`, `shares`): how many and their ids. For a "
        "scheduled offboarding: what would move, as of when it was scheduled.")
    sessions_ended = serializers.IntegerField(required=False)
    tokens_revoked = serializers.IntegerField(required=False)


class OffboardingSerializer(serializers.ModelSerializer):
    report = ReportSerializer()
    status = serializers.ChoiceField(choices=Offboarding.Status.choices)

    class Meta:
        model = Offboarding
        fields = ["id", "user", "successor", "by", "status", "created_at", "scheduled_for",
                  "done_at", "cancelled_at", "error", "report"]
        read_only_fields = fields


class OffboardRequestSerializer(serializers.Serializer):
    successor = serializers.IntegerField(
        help_text="Who takes over: an active manager, sales head or admin.")
    at = serializers.DateTimeField(
        required=False, allow_null=True, default=None,
        help_text="ISO 8601 with a time zone, in the future: the last day. Omit to offboard "
        "now.")


def _leaver(request, pk) -> User:
    if not offboarding.can_offboard(request.user):
        raise Http404("no such user")
    return get_object_or_404(User, pk=pk)


class UserOffboardView(APIView):
    parser_classes = [UntrustedJSONParser]

    @extend_schema(
        operation_id="users_offboard",
        summary="Offboard an employee to a successor, now or at a set time",
        description="Now: their deals (with their team), contacts, companies, open tasks, "
        "conversations and PBX extensions go to the successor, their deal shares are revoked, "
        "a handover note is left on each deal, and their account, sessions, API token and "
        "open pages end, all at once; the answer is the report (200). With `at`: scheduled "
        "for that time (202), cancellable with DELETE until then.",
        parameters=[USER_ID],
        request=OffboardRequestSerializer,
        responses={
            200: OffboardingSerializer,
            202: OffboardingSerializer,
            400: OpenApiResponse(description="No such successor, one who cannot own deals, "
                                 "a past time, or an offboarding already done or scheduled."),
            404: OpenApiResponse(description="No such user, or you are not an admin."),
        },
    )
    def post(self, request, pk):
        leaver = _leaver(request, pk)
        body = validated(OffboardRequestSerializer, request.data)
        successor = User.objects.filter(pk=body["successor"]).first()
        if successor is None:
            raise serializers.ValidationError({"successor": ["No such user."]})
        done = offboarding.offboard_user(leaver, successor, by=request.user,
                                         at=body["at"])
        code = status.HTTP_200_OK if done.status == Offboarding.Status.DONE else (
            status.HTTP_202_ACCEPTED)
        return Response(OffboardingSerializer(done).data, status=code)

    @extend_schema(
        operation_id="users_offboard_cancel",
        summary="Cancel an employee's scheduled offboarding",
        parameters=[USER_ID],
        responses={204: None, 404: OpenApiResponse(
            description="No such user, none scheduled, or you are not an admin.")},
    )
    def delete(self, request, pk):
        leaver = _leaver(request, pk)
        scheduled = offboarding.scheduled_offboarding(user=leaver)
        if scheduled is None:
            raise Http404("no scheduled offboarding")
        offboarding.offboarding_cancel(scheduled, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
