"""The OpenAPI schema's inspector: drf-spectacular's, declaring the error answers.

(Not in core/api/docs.py: DRF imports this class while drf_spectacular.views, which the docs
import, is still loading.)
"""

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

# DRF's error bodies (core/api/errors.py turns the services' errors into DRF's).
_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_FIELD_ERRORS = {
    "type": "object",
    "description": "Messages by field name (`non_field_errors` for the whole body), nested as "
    "the body is (by index for a list's items); `detail` alone for a body that is not JSON.",
    "additionalProperties": {},
}
ERROR_SCHEMAS = {"Error": _DETAIL, "FieldErrors": _FIELD_ERRORS}

_DEFAULT_DESCRIPTIONS = {
    "400": "Invalid input: the messages say what, by field.",
    "401": "No credentials, or a token that is unknown or revoked.",
    "403": "Your role may not do this (with session auth: also a missing CSRF token).",
    "404": "No such object visible to you (or no such page).",
    "429": "Too many requests: wait as long as `Retry-After` says.",
}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's, declaring the error answers every operation may give, each with
    DRF's body, so the schema says what a client really receives:

    - 400 where there is input: a body, a query parameter, or a change the services refuse;
    - 401 and 403 where authentication is required;
    - 404 where the path names an object, and on paged lists (a page past the last);
    - 429 where a throttle of the view counts this action (core.api.throttles).

    A view's own declaration of an error keeps its description; the body is added if missing.
    """

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_codes(operation):
            responses.setdefault(code, {"description": _DEFAULT_DESCRIPTIONS[code]})
        for code, response in responses.items():
            if code.startswith("4") and not response.get("content"):
                schema = self._error_schema("FieldErrors" if code == "400" else "Error")
                response["content"] = {"application/json": {"schema": schema}}
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_codes(self, operation) -> list[str]:
        parameters = operation.get("parameters", [])
        query = {p["name"] for p in parameters if p["in"] == "query"}
        codes = []
        if "requestBody" in operation or query or self.method not in ("GET", "HEAD"):
            codes.append("400")
        security = operation.get("security", [])
        if security and {} not in security:
            codes += ["401", "403"]
        if any(p["in"] == "path" for p in parameters) or query & {"page", "cursor"}:
            codes.append("404")
        if any(getattr(t, "limits", lambda view: True)(self.view)
               for t in self.view.get_throttles()):
            codes.append("429")
        return codes

    def _error_schema(self, name: str) -> dict:
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.SCHEMA, object=name, schema=ERROR_SCHEMAS[name]
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _insert_field_validators(self, field, schema):
        # drf-spectacular says "or empty" of a formatted string whose field allows blank on
        # input; a read-only field does not say so, its model field does. ("" is no URI.)
        super()._insert_field_validators(field, schema)
        if schema.get("type") == "string" and "format" in schema and _blank_in_model(field):
            outer = {"readOnly", "writeOnly", "nullable", "deprecated", "description", "title"}
            inner = {k: schema.pop(k) for k in list(schema) if k not in outer}
            schema["oneOf"] = [inner, {"type": "string", "maxLength": 0}]


def _blank_in_model(field) -> bool:
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not isinstance(field, serializers.CharField) or "." in field.source:
        return False
    try:
        return model._meta.get_field(field.source).blank
    except FieldDoesNotExist:
        return False
