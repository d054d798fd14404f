"""What every API view shares: validating input through a serializer in one call, and the
JSON 404 of a URL that names no route."""

from django.http import JsonResponse
from django.views import defaults
from rest_framework.exceptions import NotFound

# An object id in an API path: at most 19 digits (a bigint's), so a path of thousands of digits
# is a 404 from the resolver, never int()'s ValueError in the lookup. Longer ids within 19
# digits but past 2**63 - 1 find nothing (Django's out-of-range lookups).
ID_REGEX = r"\d{1,19}"


def validated(serializer_class, data, *, context: dict | None = None, **kwargs) -> dict:
    """The serializer's validated data, or DRF's 400 with the field errors."""
    serializer = serializer_class(data=data, context=context or {}, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ValidatingMixin:
    """For viewsets: `self.validated(SerializerClass, data)` with the view's context."""

    def validated(self, serializer_class, data, **kwargs) -> dict:
        return validated(serializer_class, data, context=self.get_serializer_context(), **kwargs)


def page_not_found(request, exception=None):
    """Django's 404 handler (config/urls.py). A URL under /api/ that names no route (an id
    that is not a number, a path that does not exist) answers as the API's own 404s do, in
    JSON; pages keep Django's."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": str(NotFound.default_detail)}, status=404)
    return defaults.page_not_found(request, exception)
