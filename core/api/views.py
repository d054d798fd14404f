"""What every API view shares: validating input through a serializer in one call."""


def validated(serializer_class, data, *, context: dict | None = None, **kwargs) -> dict:
    """The serializer's validated data, or DRF's 400 with the field errors."""
    serializer = serializer_class(data=data, context=context or {}, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ValidatingMixin:
    """For viewsets: `self.validated(SerializerClass, data)` with the view's context."""

    def validated(self, serializer_class, data, **kwargs) -> dict:
        return validated(serializer_class, data, context=self.get_serializer_context(), **kwargs)
