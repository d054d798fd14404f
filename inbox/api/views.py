"""The inbox in the REST API v1: `conversations/`, `conversations/{id}/`,
`conversations/{id}/messages/` (GET the history, POST a reply or a private note) and
`conversations/{id}/messages/{message_id}/retry/`.

As in crm/api/views.py, the conversation is fetched through `inbox.selectors.conversation_get`
(404 to anyone who may not see its deal) before any input is read; writes go through
inbox.services, whose refusals (a deal shared for reading only) leave as 403 and whose
validation errors as 400 with field errors (core/api/errors.py).
"""

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from core.api.parsers import UntrustedJSONParser
from core.api.throttles import ListThrottle
from core.api.views import ID_REGEX, ValidatingMixin
from inbox import selectors, services
from inbox.api import serializers as s
from inbox.models import Conversation
from security.audit import access_log
from security.audit.access_log import Action

TAGS = ["inbox"]
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH,
                                description="The conversation's id.")
MESSAGE_ID_PARAMETER = OpenApiParameter("message_id", OpenApiTypes.INT, OpenApiParameter.PATH,
                                        description="The id of a message of the conversation.")
_NOT_VISIBLE = OpenApiResponse(description="No such conversation visible to you.")
_READ_ONLY = OpenApiResponse(description="The deal is shared with you for reading only.")


class InboxListThrottle(ListThrottle):
    """A conversation's history is paged like a deal's timeline: its GETs spend the same
    per-user list budget (core.api.throttles) as every other list."""

    def limits(self, view) -> bool:
        return getattr(view, "action", None) == "messages" or super().limits(view)


@extend_schema(tags=TAGS)
class ConversationViewSet(ValidatingMixin, viewsets.GenericViewSet):
    """Conversations with clients, visible exactly when their deal is: your deals' (a sales
    head: the team's; admins: all) and those of deals shared with you."""

    queryset = Conversation.objects.none()  # the model, for the schema; reads use selectors
    serializer_class = s.ConversationSerializer
    lookup_value_regex = ID_REGEX
    parser_classes = [UntrustedJSONParser]
    filter_backends: list = []
    throttle_classes = [InboxListThrottle]

    def get_object(self) -> Conversation:
        return selectors.conversation_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(
        summary="List conversations",
        description="Unanswered first (`awaiting_reply`), then by last activity. "
        f"{settings.API_PAGE_SIZE} per page by default, at most {settings.API_MAX_PAGE_SIZE}.",
        parameters=[s.ConversationFilterSerializer],
    )
    def list(self, request):
        # A plain dict: in a QueryDict DRF reads a missing boolean as false.
        filters = self.validated(s.ConversationFilterSerializer, request.query_params.dict())
        conversations = selectors.conversations_visible_to(request.user)
        if filters["mine"]:
            conversations = conversations.filter(assignee=request.user)
        if filters["awaiting"]:
            conversations = conversations.filter(awaiting_reply=True)
        if "deal" in filters:
            # Within the visible set: another's deal id gives an empty list, as an unused one.
            conversations = conversations.filter(deal_id=filters["deal"])
        conversations = conversations.select_related("channel", "identity", "contact").order_by(
            "-awaiting_reply", "-last_activity_at", "-id"
        )
        page = self.paginate_queryset(conversations)
        access_log.read(page, action=Action.LIST)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(summary="Get a conversation", parameters=[ID_PARAMETER],
                   responses={200: s.ConversationSerializer, 404: _NOT_VISIBLE})
    def retrieve(self, request, pk):
        conversation = self.get_object()
        access_log.read(conversation, action=Action.VIEW)
        return Response(self.get_serializer(conversation).data)

    @extend_schema(
        operation_id="conversations_messages_list",
        summary="A conversation's messages, newest last",
        description="The newest page first; older pages through `next` (a cursor: messages "
        f"older than the first one shown). {settings.API_PAGE_SIZE} messages by default, at "
        f"most {settings.API_MAX_PAGE_SIZE}. Private notes of the team are included "
        "(`direction` `note`).",
        parameters=[ID_PARAMETER, s.MessageQuerySerializer],
        responses={200: s.MessagePageSerializer, 404: _NOT_VISIBLE},
    )
    @action(detail=True, methods=["get"])
    def messages(self, request, pk):
        conversation = self.get_object()
        access_log.read(conversation, action=Action.TIMELINE)
        query = self.validated(s.MessageQuerySerializer, request.query_params.dict(),
                               conversation=conversation)
        size = min(query.get("page_size", settings.API_PAGE_SIZE), settings.API_MAX_PAGE_SIZE)
        before = query.get("before")
        # One message more than shown tells whether an older page exists.
        messages = selectors.message_list(conversation=conversation,
                                          before=before.pk if before else None, limit=size + 1)
        more, messages = len(messages) > size, messages[-size:]
        next_url = None
        if more:
            next_url = replace_query_param(request.build_absolute_uri(), "before", messages[0].pk)
        return Response({
            "next": next_url,
            "results": s.MessageSerializer(messages, many=True).data,
        })

    @extend_schema(
        operation_id="conversations_messages_create",
        summary="Reply to the client, or keep a private note",
        description="A reply is queued and sent through the channel (its `status` goes "
        "`queued` -> `sent`, or `failed` with the provider's `error`); a private note "
        "(`private: true`) stays on the deal for the team and is never sent.",
        parameters=[ID_PARAMETER],
        request=s.MessageWriteSerializer,
        responses={
            201: s.MessageSerializer,
            400: OpenApiResponse(description="Empty or too long text, or `reply_to` not a "
                                 "message of this conversation."),
            403: _READ_ONLY,
            404: _NOT_VISIBLE,
        },
    )
    @messages.mapping.post
    def message_create(self, request, pk):
        conversation = self.get_object()
        data = self.validated(s.MessageWriteSerializer, request.data)
        if data["private"]:
            message = services.message_note(conversation=conversation, by=request.user,
                                            text=data["text"])
        else:
            message = services.message_reply(conversation=conversation, by=request.user,
                                             text=data["text"], reply_to=data.get("reply_to"))
        # Sending may already have happened (embedded mode runs tasks in process).
        message.refresh_from_db()
        return Response(s.MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="conversations_messages_retry",
        summary="Send a failed reply again",
        parameters=[ID_PARAMETER, MESSAGE_ID_PARAMETER],
        request=s.MessageRetrySerializer,
        responses={
            200: s.MessageSerializer,
            400: OpenApiResponse(description="Only a reply that failed to send is retried; one "
                                 "whose send was cut off (`delivery_unknown`) needs "
                                 "`{\"confirm\": true}`."),
            403: _READ_ONLY,
            404: _NOT_VISIBLE,
        },
    )
    @action(detail=True, methods=["post"], url_path=r"messages/(?P<message_id>\d+)/retry",
            url_name="message-retry")
    def retry(self, request, pk, message_id):
        conversation = self.get_object()
        message = get_object_or_404(conversation.messages.all(), pk=message_id)
        data = self.validated(s.MessageRetrySerializer, request.data or {})
        message = services.message_retry(message=message, by=request.user,
                                         confirmed=data["confirm"])
        message.refresh_from_db()
        return Response(s.MessageSerializer(message).data)
