"""Input and output shapes of the telephony API.

A call's client number is shown as the field policy lets the requester see the client's phone
(security.masking: full, `+7 *** ***-45-67`, or left out when hidden), never raw to a role
that sees phones masked. A click-to-call command never shows the number it dials.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.serializers import UserRefSerializer
from security import masking
from telephony.models import Call, CallbackCommand


class CallContactSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class CallSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    direction = serializers.ChoiceField(choices=Call.Direction.choices, read_only=True)
    state = serializers.ChoiceField(choices=Call.State.choices, read_only=True)
    started_at = serializers.DateTimeField(read_only=True)
    answered_at = serializers.DateTimeField(read_only=True, allow_null=True)
    ended_at = serializers.DateTimeField(read_only=True, allow_null=True)
    talk_seconds = serializers.IntegerField(read_only=True)
    answered = serializers.BooleanField(read_only=True)
    deal = serializers.IntegerField(source="deal_id", read_only=True, allow_null=True)
    contact = CallContactSerializer(read_only=True, allow_null=True)
    manager = UserRefSerializer(read_only=True, allow_null=True)
    line_number = serializers.CharField(
        read_only=True, help_text="The company's line the call came in on or went out from."
    )
    client_number = serializers.SerializerMethodField(
        help_text="The client's number as your role sees the client's phones: full, masked "
        "(`+7 *** ***-45-67`), or empty when hidden.",
    )
    has_recording = serializers.SerializerMethodField(
        help_text="A recording is stored; the deal card plays it."
    )

    @extend_schema_field(serializers.CharField())
    def get_client_number(self, call) -> str:
        user = self.context["request"].user
        return masking.present_value(user=user, contact=call.contact, kind=masking.PHONE,
                                     value=call.client_number)

    @extend_schema_field(serializers.BooleanField())
    def get_has_recording(self, call) -> bool:
        # The list view's prefetch of `recordings` is used.
        return any(recording.file_path for recording in call.recordings.all())


class CallFilterSerializer(serializers.Serializer):
    deal = serializers.IntegerField(
        required=False, min_value=1,
        help_text="Only the calls of this deal (none for a deal you may not see).",
    )
    direction = serializers.ChoiceField(choices=Call.Direction.choices, required=False)
    answered = serializers.BooleanField(required=False, allow_null=True, default=None,
                                        help_text="Only answered (true) or missed (false) calls.")


class ClickToCallSerializer(serializers.Serializer):
    deal = serializers.IntegerField(min_value=1, help_text="The deal whose client to call.")


class CallbackCommandSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    command_id = serializers.UUIDField(read_only=True, help_text="The PBX's command id.")
    status = serializers.ChoiceField(
        choices=CallbackCommand.Status.choices, read_only=True,
        help_text="`queued` -> `sent` (your phone rings, then the client's) -> `ok`, or "
        "`failed` with `error`.",
    )
    deal = serializers.IntegerField(source="deal_id", read_only=True, allow_null=True)
    extension = serializers.CharField(read_only=True, help_text="Your extension, rung first.")
    line_number = serializers.CharField(read_only=True,
                                        help_text="The company's line the client sees.")
    result_code = serializers.CharField(read_only=True, help_text="The PBX's result code.")
    error = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
