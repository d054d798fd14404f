"""The website chat's public endpoints, called by the widget on the company's site.

- `GET /widget/<public key>.js`: the widget's script with the channel's settings.
- `POST /widget/<public key>/messages/` `{"id": "<uuid>", "token"?, "name"?, "text"}`: a
  visitor's message, stored as an InboundEvent before the answer and processed by the same
  pipeline as a Telegram update (inbox.services.event_receive -> inbox.tasks.drain_events).
  Answers `{"token", "id", "duplicate"}`; the first message gets the visitor's token.
- `GET /widget/<public key>/messages/` with `Authorization: Bearer <token>`: the visitor's
  own history (a header, not the query string: URLs end up in access logs).

No session, no CSRF token: the caller is a browser on another site, allowed by the channel's
list of site origins (exact match; CORS is answered for those only). A wrong or missing Origin
is refused (403) and logged, an unknown or inactive channel is 404, and every address has a
budget per channel (429 past it).
"""

import json
import logging
import uuid
from functools import lru_cache, wraps
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from core.untrusted import BodyTooLarge, UntrustedJSON, request_json
from inbox import services, website
from inbox.models import Channel
from inbox.providers.base import provider_for
from inbox.providers.website import payload_text
from security import ratelimit
from security.requests import client_ip

logger = logging.getLogger("inbox.widget")

CONFIG_PLACEHOLDER = "/*CRM_WIDGET_CONFIG*/{}"
# JSON put into a script stays data: nothing in it can close a tag or end the line.
_JS_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026",
               0x2028: "\\u2028", 0x2029: "\\u2029"}


# --- Checks shared by the endpoints -----------------------------------------------------------


def _request_origin(request) -> str:
    """The site the request comes from: the Origin header; for a same-origin GET, which
    browsers send without one, this server's own origin (then it must be listed too)."""
    origin = request.headers.get("Origin")
    if origin:
        return origin
    if request.headers.get("Sec-Fetch-Site") == "same-origin":
        return f"{request.scheme}://{request.get_host()}"
    return ""


def _rate_limited(request, channel: Channel) -> int:
    """0 when the request may go on, else the seconds until the current window ends."""
    return ratelimit.spend(f"widget:{channel.pk}:{client_ip(request) or '-'}",
                           *ratelimit.parse_rate(settings.WIDGET_RATE))


def _cors(response, origin: str):
    response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    return response


def _error(origin: str, status: int, code: str, detail: str):
    return _cors(JsonResponse({"error": code, "detail": detail}, status=status), origin)


def widget_endpoint(view):
    """The channel of the key (else 404), an allowed site (else 403), the address's budget
    (else 429), CORS on the answer; OPTIONS is the browser's preflight."""

    @wraps(view)
    def wrapper(request, public_key):
        channel = website.channel_for_key(public_key)
        if channel is None:
            raise Http404
        origin = _request_origin(request)
        if not website.origin_allowed(channel, origin):
            logger.warning("website chat %s: %s refused from origin %r (address %s)",
                           channel.pk, request.method, origin[:200], client_ip(request))
            return JsonResponse({"error": "origin_not_allowed",
                                 "detail": _("This site may not use this chat.")}, status=403)
        if request.method == "OPTIONS":
            response = _cors(HttpResponse(status=204), origin)
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
            response["Access-Control-Max-Age"] = "600"
            return response
        wait = _rate_limited(request, channel)
        if wait:
            response = _error(origin, 429, "rate_limited",
                              _("Too many messages. Please wait a little."))
            response["Retry-After"] = str(wait)
            return response
        with translation.override(settings.LANGUAGE_CODE):
            return _cors(view(request, channel, origin), origin)

    return csrf_exempt(never_cache(wrapper))


def _bearer(request) -> str:
    scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


# --- The script -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _script_source() -> str:
    path = finders.find("js/widget.js")
    if not path:
        raise RuntimeError("static/js/widget.js is missing")
    return Path(path).read_text()


def _widget_strings() -> dict:
    return {
        "open": _("Chat with us"),
        "title": _("Online chat"),
        "close": _("Close"),
        "greeting": _("Hello! Ask your question, we will answer here."),
        "name": _("Your name (optional)"),
        "placeholder": _("Your message…"),
        "send": _("Send"),
        "you": _("You"),
        "manager": _("Manager"),
        "failed": _("The message was not sent. Please try again."),
        "rate_limited": _("Too many messages. Please wait a little."),
        "too_long": _("The message is too long."),
    }


def widget_config(request, channel: Channel) -> dict:
    base = request.build_absolute_uri("/").rstrip("/")
    ws_base = "ws" + base[4:] if base.startswith("http") else base
    return {
        "key": channel.public_key,
        "messages_url": base + reverse("widget:messages", args=[channel.public_key]),
        "socket_url": f"{ws_base}/ws/widget/{channel.public_key}/",  # config/routing.py
        "title": channel.name,
        "text_limit": website.TEXT_LIMIT,
        "strings": _widget_strings(),
    }


def _script_of(request, channel: Channel) -> str:
    config = json.dumps(widget_config(request, channel), ensure_ascii=False)
    config = config.translate(_JS_ESCAPES)
    return _script_source().replace(CONFIG_PLACEHOLDER, config, 1)


@require_GET
def widget_script(request, public_key):
    """The script a <script> tag loads: such a request carries no Origin, so the site is
    checked on the Origin or the Referer when the browser sends one (a page of a site that
    is not listed gets no widget); the calls the widget then makes are checked strictly."""
    channel = website.channel_for_key(public_key)
    if channel is None:
        raise Http404
    origin = request.headers.get("Origin") or website.origin_of(
        request.headers.get("Referer", ""))
    if origin and not website.origin_allowed(channel, origin):
        logger.warning("website chat %s: script refused to origin %r (address %s)",
                       channel.pk, origin[:200], client_ip(request))
        return HttpResponse(status=403)
    if _rate_limited(request, channel):
        return HttpResponse(status=429)
    with translation.override(settings.LANGUAGE_CODE):
        response = HttpResponse(_script_of(request, channel),
                                content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Content-Type-Options"] = "nosniff"
    if origin:
        _cors(response, origin)
    return response


# --- Messages ---------------------------------------------------------------------------------


@require_http_methods(["GET", "POST", "OPTIONS"])
@widget_endpoint
def widget_messages(request, channel: Channel, origin: str):
    if request.method == "POST":
        return _message_post(request, channel, origin)
    token = _bearer(request)
    if not website.token_valid(channel, token):
        return JsonResponse({"error": "unknown_token", "detail": _("Unknown visitor.")},
                            status=403)
    return JsonResponse({"messages": website.visitor_history(channel, token)},
                        json_dumps_params={"ensure_ascii": False})


def _message_post(request, channel: Channel, origin: str):
    provider = provider_for(channel)
    try:
        data = request_json(request, max_bytes=provider.max_body_bytes)
    except BodyTooLarge:
        return JsonResponse({"error": "too_large", "detail": _("The message is too long.")},
                            status=413)
    except UntrustedJSON:
        return JsonResponse({"error": "malformed_json",
                             "detail": _("The request body is not valid JSON.")}, status=400)
    problem = _invalid(data)
    if problem:
        return JsonResponse({"error": "invalid", "detail": problem}, status=400)
    message_id = str(uuid.UUID(data["id"]))
    token = data.get("token") or website.token_for_first_message(channel, message_id)
    if not website.token_valid(channel, token):
        return JsonResponse({"error": "unknown_token", "detail": _("Unknown visitor.")},
                            status=403)
    payload = provider.inbound_payload(
        visitor=website.visitor_id(channel, token), message_id=message_id,
        text=data["text"].strip(),
        name=(data.get("name") or "").strip()[:website.NAME_LIMIT], origin=origin,
    )
    created = services.event_receive(
        channel=channel, provider_event_id=provider.event_id(payload),
        event_type=provider.event_type(payload), payload=payload_text(payload),
    )
    return JsonResponse({"token": token, "id": message_id, "duplicate": not created},
                        status=202 if created else 200)


def _invalid(data) -> str:
    """What is wrong with a message from the widget, in words; "" when nothing is."""
    if not isinstance(data, dict):
        return _("Send a JSON object.")
    try:
        uuid.UUID(str(data.get("id")))
    except ValueError:
        return _('"id" must be a UUID chosen by the widget for this message.')
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        return _('"text" must be a non-empty string.')
    if len(text) > website.TEXT_LIMIT:
        return _("The message is too long.")
    if data.get("token") is not None and not isinstance(data.get("token"), str):
        return _('"token" must be a string.')
    if data.get("name") is not None and not isinstance(data.get("name"), str):
        return _('"name" must be a string.')
    return ""


# --- The demo site ----------------------------------------------------------------------------


def demo_site(request):
    """A made-up company's page with the demo website channel's widget (embedded mode)."""
    from inbox.demo import DEMO_WEBSITE

    if not settings.EMBEDDED:
        raise Http404
    channel = Channel.objects.filter(kind=Channel.Kind.WEBSITE, name=DEMO_WEBSITE["name"],
                                     is_active=True).exclude(public_key="").first()
    if channel is None:
        raise Http404
    return render(request, "inbox/demo_site.html", {
        "channel": channel,
        "script_url": reverse("widget:script", args=[channel.public_key]),
    })
