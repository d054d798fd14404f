from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """Turn the services' Django exceptions into DRF's: 400 with field errors, or 403."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=_validation_detail(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(detail=str(exc) or None)
    return drf_exception_handler(exc, context)


def _validation_detail(exc: DjangoValidationError) -> dict:
    # Django says "__all__" for errors of no one field (model.clean, constraints); DRF clients
    # expect the same key as the serializers' own: "non_field_errors".
    non_field = api_settings.NON_FIELD_ERRORS_KEY
    if not hasattr(exc, "error_dict"):
        return {non_field: exc.messages}
    return {
        non_field if field == NON_FIELD_ERRORS else field: messages
        for field, messages in exc.message_dict.items()
    }
