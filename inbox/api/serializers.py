"""Input and output shapes of the inbox API.

Output never carries a client's external id (a Telegram chat id, a website visitor's token),
a message's provider id, or an attachment's file path: those identify the client outside the
CRM or point into encrypted storage. Text is returned exactly as stored: it is JSON, and
whoever renders it escapes it.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import UserRefSerializer
from crm.api.serializers import VisibleRelatedField
from inbox.models import Channel, Conversation, Message
from inbox.selectors import messages_visible_to


class ChannelRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=Channel.Kind.choices, read_only=True)
    name = serializers.CharField(read_only=True)


class ContactRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class ConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    channel = ChannelRefSerializer(read_only=True)
    contact = ContactRefSerializer(read_only=True)
    deal = serializers.IntegerField(source="deal_id", read_only=True, allow_null=True)
    assignee = serializers.IntegerField(
        source="assignee_id", read_only=True, allow_null=True,
        help_text="The user who answers this chat (the deal's owner).",
    )
    status = serializers.ChoiceField(choices=Conversation.Status.choices, read_only=True)
    awaiting_reply = serializers.BooleanField(
        read_only=True, help_text="The client wrote last and nobody has answered yet."
    )
    unread_count = serializers.IntegerField(
        read_only=True, help_text="Client messages the assignee has not read."
    )
    first_response_due_at = serializers.DateTimeField(
        read_only=True, allow_null=True,
        help_text="When the first answer to the waiting client is due; null when none is.",
    )
    last_inbound_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_outbound_at = serializers.DateTimeField(read_only=True, allow_null=True)
    last_activity_at = serializers.DateTimeField(read_only=True)
    client_unreachable = serializers.BooleanField(
        source="identity.is_unreachable", read_only=True,
        help_text="The client cannot be reached in this channel (e.g. blocked the bot): "
        "replies fail.",
    )
    client_unreachable_reason = serializers.CharField(
        source="identity.unreachable_reason", read_only=True,
        help_text="The provider's reason, when `client_unreachable`.",
    )


class ConversationFilterSerializer(serializers.Serializer):
    mine = serializers.BooleanField(
        required=False, default=False, help_text="Only the conversations assigned to you."
    )
    awaiting = serializers.BooleanField(
        required=False, default=False, help_text="Only those waiting for an answer."
    )
    deal = serializers.IntegerField(
        required=False, min_value=1,
        help_text="Only the conversations of this deal (none for a deal you may not see).",
    )


class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    mime_type = serializers.CharField(read_only=True)
    size = serializers.IntegerField(read_only=True, help_text="Bytes.")
    kind = serializers.CharField(
        read_only=True, help_text="photo, document, voice, video or sticker."
    )


class MessageRetrySerializer(serializers.Serializer):
    confirm = serializers.BooleanField(
        required=False, default=False,
        help_text="Needed for a message whose send was cut off (`delivery_unknown`): the "
        "chat was checked and it should go again.",
    )


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    direction = serializers.ChoiceField(
        choices=Message.Direction.choices, read_only=True,
        help_text="`in`: from the client; `out`: to the client; `note`: a private note of "
        "the team, never sent to the client.",
    )
    text = serializers.CharField(read_only=True)
    author = serializers.SerializerMethodField(
        help_text="The colleague who wrote it; null for the client's messages and automatic "
        "ones."
    )
    is_automatic = serializers.BooleanField(
        read_only=True, help_text="Sent by the system (the out-of-office reply)."
    )
    reply_to = serializers.IntegerField(source="reply_to_id", read_only=True, allow_null=True)
    edited_at = serializers.DateTimeField(read_only=True, allow_null=True)
    status = serializers.CharField(
        read_only=True,
        help_text="`received` (inbound); `queued`, `sent`, `delivered`, `read` or `failed` "
        "(outbound); empty for a note.",
    )
    error = serializers.CharField(
        read_only=True, help_text="Why sending failed, as the provider put it."
    )
    delivery_unknown = serializers.BooleanField(
        read_only=True, help_text="Failed after its send was cut off at the provider: the "
        "client may have received it (a retry must be confirmed)."
    )
    created_at = serializers.DateTimeField(read_only=True)
    sent_at = serializers.DateTimeField(read_only=True, allow_null=True)
    attachments = AttachmentSerializer(many=True, read_only=True)

    @extend_schema_field(UserRefSerializer(allow_null=True))
    def get_author(self, message):
        # The client is the conversation's contact: `author` names colleagues only.
        if message.author_id is None:
            return None
        return UserRefSerializer(message.author).data


class MessagePageSerializer(serializers.Serializer):
    next = serializers.URLField(
        allow_null=True, read_only=True,
        help_text="The page of older messages, or null when this one reaches the start.",
    )
    results = MessageSerializer(many=True, read_only=True)


class MessageQuerySerializer(serializers.Serializer):
    before = serializers.PrimaryKeyRelatedField(
        required=False, queryset=Message.objects.none(),
        help_text="Only messages older than this message of the conversation (its id).",
    )
    page_size = serializers.IntegerField(required=False, min_value=1)

    def __init__(self, *args, conversation: Conversation | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if conversation is not None:
            self.fields["before"].queryset = conversation.messages.all()


class MessageWriteSerializer(serializers.Serializer):
    # The services say why an empty or too long text is refused (a reply's limit is the
    # channel's); this only bounds what is read at all, at what a message can hold.
    text = serializers.CharField(
        max_length=Message._meta.get_field("text").max_length, allow_blank=True,
        help_text="A reply holds at most 4096 characters (Telegram's limit), a note 20,000.",
    )
    reply_to = VisibleRelatedField(
        messages_visible_to,
        required=False, allow_null=True,
        help_text="The id of a message of this conversation that the reply answers; "
        "ignored for a private note.",
    )
    private = serializers.BooleanField(
        required=False, default=False,
        help_text="A private note for the team: kept on the deal, never sent to the client.",
    )
