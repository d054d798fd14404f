"""The REST API, v1. Thin: parse with a serializer, read through crm.selectors, write through
crm.services, render with a serializer.

Objects are always fetched with the selectors' `*_get(user=..., pk=...)`, which answer 404 to
anyone outside the visibility rule, before any input is looked at; so an outsider learns
nothing, whatever the route or the body. Role-level refusals come from the services as
PermissionDenied and leave as 403 (core/api/errors.py).
"""

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from core.api.parsers import UntrustedJSONParser
from core.api.throttles import TokenThrottle
from core.api.views import ID_REGEX, ValidatingMixin
from crm import selectors, services
from crm.api import serializers as s
from security import login_protection
from security.audit import access_log, rules
from security.audit.access_log import Action
from security.requests import client_ip

ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


class TokenObtainView(APIView):
    """Trade a username and password for the user's API token."""

    # A stale or wrong `Authorization` header must not stand in the way of getting a new token.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle]
    parser_classes = [UntrustedJSONParser]

    @extend_schema(
        request=s.TokenRequestSerializer,
        responses={
            200: s.TokenSerializer,
            403: OpenApiResponse(description="Your role requires two-factor authentication "
                                 "and you have not set it up yet."),
        },
        auth=[],
        operation_id="auth_token",
        summary="Obtain an API token",
        description="Send it back as `Authorization: Token <token>`. Wrong credentials and "
        "inactive accounts get 400; after too many failures the username is locked out for "
        "a while from that address (429). Roles that require two-factor authentication (in "
        "production: admin, security officer, sales head) also send `otp`, the current code "
        "of their authenticator app (400 without it, 403 before they set one up).",
    )
    def post(self, request):
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        try:
            serializer.is_valid(raise_exception=True)
        finally:
            # django-axes marks a locked-out attempt on the request it was handed (DRF's
            # wrapper): pass the mark on to Django's, whose middleware answers 429.
            for mark in ("axes_locked_out", "axes_credentials"):
                if mark in vars(request):
                    setattr(request._request, mark, vars(request)[mark])
        user = serializer.validated_data["user"]
        if login_protection.two_factor_required(user):
            # A token is a login that lasts: the roles that need a second factor pass it here.
            if login_protection.confirmed_device(user) is None:
                raise PermissionDenied(_(
                    "Your role requires two-factor authentication: set it up in the web "
                    "app first (the two-factor page), then send its code as `otp`."))
            if login_protection.check_code(user, request.data.get("otp")) is None:
                raise ValidationError({"otp": [_(
                    "Send the current code from your authenticator app as `otp`.")]})
        token, _created = Token.objects.get_or_create(user=user)
        # A token issued is a login: the new-address rule hears of it as of a web login.
        rules.on_login(user=user, ip=client_ip(request))
        return Response({"token": token.key})


class ServiceViewSet(ValidatingMixin, viewsets.GenericViewSet):
    # list, retrieve, create and partial update (PATCH), each through a selector or a service.
    # A subclass names its serializers, its selectors (`visible`, `fetch`, `list_for`) and its
    # services (`create_service`, `update_service`, which takes the object as `object_name`).
    # The validated data goes to the service as keyword arguments, so each input serializer's
    # fields are parameters of its own service, no more (tests/crm/test_api.py checks).
    # (A comment, not a docstring: the schema would show a docstring to API users as every
    # operation's description.)

    lookup_value_regex = ID_REGEX
    parser_classes = [UntrustedJSONParser]
    filter_backends: list = []
    output_serializer: type[s.serializers.Serializer]
    create_serializer: type[s.serializers.Serializer]
    update_serializer: type[s.serializers.Serializer]
    filter_serializer: type[s.serializers.Serializer] | None = None
    object_name: str

    def get_serializer_class(self):
        if self.action == "create":
            return self.create_serializer
        if self.action == "partial_update":
            return self.update_serializer
        return self.output_serializer

    def get_queryset(self):
        return self.visible(self.request.user)

    def get_object(self):
        return self.fetch(user=self.request.user, pk=self.kwargs["pk"])

    def filters(self) -> dict:
        if self.filter_serializer is None:
            return {}
        # A plain dict: in a QueryDict DRF reads a missing boolean as false.
        return self.validated(self.filter_serializer, self.request.query_params.dict())

    def render(self, obj, serializer_class=None, **kwargs):
        serializer_class = serializer_class or self.output_serializer
        return serializer_class(obj, context=self.get_serializer_context(), **kwargs).data

    def list(self, request):
        filters = self.filters()
        page = self.paginate_queryset(self.list_for(request.user, **filters))
        access_log.read(page, action=Action.SEARCH if filters.get("q") else Action.LIST)
        return self.get_paginated_response(self.render(page, many=True))

    def retrieve(self, request, pk):
        obj = self.get_object()
        access_log.read(obj, action=Action.VIEW)
        return Response(self.render(obj))

    def create(self, request):
        data = self.validated(self.create_serializer, request.data)
        obj = self.create_service(by=request.user, **data)
        return Response(self.render(obj), status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk):
        obj = self.get_object()
        data = self.validated(self.update_serializer, request.data, partial=True)
        obj = self.update_service(by=request.user, **{self.object_name: obj}, **data)
        obj.refresh_from_db()
        return Response(self.render(obj))


def crud_schema(view):
    """The schema of a ServiceViewSet, from its serializers: what goes in and what comes out
    of each action."""
    name = view.object_name
    plural = view.plural
    filters = view.filter_serializer
    return extend_schema_view(
        list=extend_schema(summary=f"List {plural}", parameters=[filters] if filters else None),
        retrieve=extend_schema(summary=f"Get a {name}", parameters=[ID_PARAMETER]),
        create=extend_schema(summary=f"Create a {name}", request=view.create_serializer,
                             responses={201: view.output_serializer}),
        partial_update=extend_schema(
            summary=f"Change a {name}", parameters=[ID_PARAMETER],
            request=view.update_serializer, responses={200: view.output_serializer},
        ),
    )(view)


@crud_schema
class CompanyViewSet(ServiceViewSet):
    """Companies you may see: your own and those of your deals and contacts (a sales head: the
    team's; marketing, support and admins: all)."""

    object_name, plural = "company", "companies"
    output_serializer = s.CompanySerializer
    create_serializer = update_serializer = s.CompanyWriteSerializer
    filter_serializer = s.CompanyFilterSerializer
    visible = staticmethod(selectors.companies_visible_to)
    fetch = staticmethod(selectors.company_get)
    create_service = staticmethod(services.company_create)
    update_service = staticmethod(services.company_update)

    def list_for(self, user, q=""):
        return selectors.company_list(user=user, q=q)


@crud_schema
class ContactViewSet(ServiceViewSet):
    """Contacts you may see: your own and those of your deals (a sales head: the team's;
    marketing, support and admins: all). Phones and e-mails are read as the field policy
    shows them (masked for most roles; `POST contacts/{id}/reveal/` shows one in full), and
    written as lists of strings: on create the contact's list, on update values to add, with
    `remove_points` (ids) to remove."""

    object_name, plural = "contact", "contacts"
    output_serializer = s.ContactSerializer
    create_serializer = s.ContactCreateSerializer
    update_serializer = s.ContactUpdateSerializer
    filter_serializer = s.ContactFilterSerializer
    visible = staticmethod(selectors.contacts_visible_to)
    fetch = staticmethod(selectors.contact_get)
    create_service = staticmethod(services.contact_create)
    update_service = staticmethod(services.contact_update)

    def list_for(self, user, q=""):
        return selectors.contact_list(user=user, q=q).prefetch_related("points", "tags")


@crud_schema
class DealViewSet(ServiceViewSet):
    """Deals you may see: your own and those shared with you (a sales head: also the team's;
    admins: all). Status changes go through `close`, stage changes through `move` or `stage`."""

    object_name, plural = "deal", "deals"
    output_serializer = s.DealSerializer
    create_serializer = update_serializer = s.DealWriteSerializer
    filter_serializer = s.DealFilterSerializer
    visible = staticmethod(selectors.deals_visible_to)
    fetch = staticmethod(selectors.deal_get)
    create_service = staticmethod(services.deal_create)
    update_service = staticmethod(services.deal_update)

    def list_for(self, user, **filters):
        return selectors.deal_list_pages(user=user, filters=selectors.DealFilters(**filters))

    @extend_schema(
        operation_id="deals_timeline",
        summary="A deal's timeline, newest first",
        parameters=[ID_PARAMETER, s.TimelineQuerySerializer],
        responses={200: s.TimelinePageSerializer},
        description="Pages through `next` (a cursor: entries older than the last one shown); "
        f"{settings.API_PAGE_SIZE} entries by default, at most {settings.API_MAX_PAGE_SIZE}.",
    )
    @action(detail=True, methods=["get"])
    def timeline(self, request, pk):
        deal = self.get_object()
        access_log.read(deal, action=Action.TIMELINE)
        query = self.validated(s.TimelineQuerySerializer, request.query_params.dict())
        size = min(query.get("page_size", settings.API_PAGE_SIZE), settings.API_MAX_PAGE_SIZE)
        # One entry more than shown tells whether an older page exists.
        entries = selectors.deal_timeline(deal=deal, before=query.get("before"), limit=size + 1)
        more, entries = len(entries) > size, entries[:size]
        next_url = None
        if more:
            next_url = replace_query_param(request.build_absolute_uri(), "before", entries[-1].pk)
        return Response({
            "next": next_url,
            "results": self.render(entries, s.TimelineEntrySerializer, many=True),
        })

    @extend_schema(
        operation_id="deals_notes_create",
        summary="Add an internal note to a deal",
        parameters=[ID_PARAMETER],
        request=s.NoteWriteSerializer,
        responses={201: s.NoteSerializer},
    )
    @action(detail=True, methods=["post"])
    def notes(self, request, pk):
        deal = self.get_object()
        data = self.validated(s.NoteWriteSerializer, request.data)
        note = services.note_add(by=request.user, deal=deal, text=data["text"])
        return Response(self.render(note, s.NoteSerializer), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="deals_move",
        summary="Move a deal to another stage of its pipeline",
        parameters=[ID_PARAMETER],
        request=s.DealMoveSerializer,
        responses={200: s.DealSerializer},
    )
    @action(detail=True, methods=["post"])
    def move(self, request, pk):
        deal = self.get_object()
        data = self.validated(s.DealMoveSerializer, request.data)
        deal = services.deal_move(deal=deal, stage=data["stage"], by=request.user)
        deal.refresh_from_db()
        return Response(self.render(deal))

    @extend_schema(
        operation_id="deals_close",
        summary="Win, lose (with a reason) or reopen a deal",
        parameters=[ID_PARAMETER],
        request=s.DealCloseSerializer,
        responses={200: s.DealSerializer},
    )
    @action(detail=True, methods=["post"])
    def close(self, request, pk):
        deal = self.get_object()
        data = self.validated(s.DealCloseSerializer, request.data)
        deal = services.deal_close(deal=deal, by=request.user, **data)
        deal.refresh_from_db()
        return Response(self.render(deal))


@crud_schema
class TaskViewSet(ServiceViewSet):
    """Tasks assigned to you or on deals you may see."""

    object_name, plural = "task", "tasks"
    output_serializer = s.TaskSerializer
    create_serializer = update_serializer = s.TaskWriteSerializer
    filter_serializer = s.TaskFilterSerializer
    visible = staticmethod(selectors.tasks_visible_to)
    fetch = staticmethod(selectors.task_get)
    create_service = staticmethod(services.task_create)
    update_service = staticmethod(services.task_update)

    def list_for(self, user, done=None, deal=None):
        return selectors.task_list(user=user, done=done, deal=deal)

    @extend_schema(
        operation_id="tasks_complete",
        summary="Mark a task done",
        parameters=[ID_PARAMETER],
        request=None,
        responses={200: s.TaskSerializer},
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk):
        task = services.task_complete(task=self.get_object(), by=request.user)
        return Response(self.render(task))
