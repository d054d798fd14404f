from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from core.untrusted import UntrustedJSON, parse_json


class UntrustedJSONParser(JSONParser):
    """DRF's JSON parser through core.untrusted: too deep, too long or malformed is a 400
    (DRF's own lets RecursionError through, a 500). So is a NUL character (`\\u0000`) in any
    key or string (core.untrusted: a refused export records what was asked, in jsonb)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
        data = stream.read(limit + 1) if stream is not None else b""
        try:
            value = parse_json(data, max_bytes=limit)
        except UntrustedJSON as e:
            raise ParseError(f"JSON parse error - {e}") from e
        return value

