"""The one entry point for JSON from outside (provider webhooks, the website widget and
forms, the API, websockets): bounded in size, depth and number length, and failing only with
UntrustedJSON (a ValueError), which callers turn into a 400.

Python's json module alone raises RecursionError on `[[[[...` a few thousand deep (a 500, or a
dead worker, where callers expected ValueError), and reads numbers of any length.
"""

import json
import math

MAX_DEPTH = 64
MAX_NUMBER_CHARS = 40  # an int64 has 19 digits, a double's text rarely more than 25


class UntrustedJSON(ValueError):
    pass


def _number(text: str, convert):
    if len(text) > MAX_NUMBER_CHARS:
        raise UntrustedJSON(f"a number of {len(text)} characters")
    value = convert(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise UntrustedJSON("a number out of range")
    return value


def _refuse_constant(name: str):
    raise UntrustedJSON(f"{name} is not JSON")


def _shape_refused(value, limit: int) -> str:
    """Why `value` is refused ("" if it is not): nested past `limit`, or a NUL character in
    a key or string, which PostgreSQL stores neither in text nor in jsonb (a body kept before
    it is validated field by field, a provider's event, would end in a 500). Iterative: the
    depth is what is being checked."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "a NUL character (\\u0000) in a string"
        elif isinstance(item, dict | list):
            if depth > limit:
                return f"nested deeper than {limit}"
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
    return ""


def parse_json(data: bytes | str, *, max_bytes: int, max_depth: int = MAX_DEPTH):
    """The value in `data` (UTF-8 JSON), or UntrustedJSON saying what is wrong with it."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > max_bytes:
        raise UntrustedJSON(f"{size} bytes, more than {max_bytes}")
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UntrustedJSON("not UTF-8") from e
    try:
        value = json.loads(text, parse_int=lambda t: _number(t, int),
                           parse_float=lambda t: _number(t, float),
                           parse_constant=_refuse_constant)
    except RecursionError as e:
        raise UntrustedJSON("nested too deeply") from e
    except UntrustedJSON:
        raise
    except ValueError as e:  # JSONDecodeError, and int()'s digit limit
        raise UntrustedJSON(str(e)) from e
    refused = _shape_refused(value, max_depth)
    if refused:
        raise UntrustedJSON(refused)
    return value


class BodyTooLarge(UntrustedJSON):
    pass


def request_body(request, *, max_bytes: int) -> bytes:
    """The request's body, refused before it is read when its Content-Length is too large."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        raise BodyTooLarge(f"{declared} bytes declared, more than {max_bytes}")
    body = request.body
    if len(body) > max_bytes:
        raise BodyTooLarge(f"{len(body)} bytes, more than {max_bytes}")
    return body


def request_json(request, *, max_bytes: int):
    """The request's JSON body: BodyTooLarge (answer 413) or UntrustedJSON (400) otherwise."""
    return parse_json(request_body(request, max_bytes=max_bytes), max_bytes=max_bytes)
