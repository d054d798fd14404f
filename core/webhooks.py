"""One webhook view for every provider: `/hooks/<kind>/<channel uuid>/[<path>]`.

The view finds the channel the URL names (404 when unknown or switched off), refuses a body
over the provider's limit (413) before reading it, checks that the provider sent it (403,
logged, nothing stored), reads the provider's id and type of the delivery (400 when it cannot:
malformed, too deep, an id too long), stores it once (a repeated delivery is a no-op) and
answers 200 at once. The work happens later in the app's worker task (invariant 6: a provider
is acknowledged only for what is stored). Update types nobody handles are stored and answered
200 like the rest, so the provider does not retry them forever.

A provider only verifies, reads, parses and sends (`WebhookProvider`); the app that owns the
channel registers, per kind, how to find a channel, its provider, and where a delivery is
stored (`register`, from its AppConfig.ready()). A new provider needs its module and one
registration, nothing here.

Some providers ask more of the URL than "200 once stored": WhatsApp checks it with a GET
(`hub.challenge`, answered by `WebhookProvider.handshake`), VK posts a confirmation request
that is answered with a code and stored nowhere (`read` returns an `Answer`), and VK retries
any delivery not answered "ok" (`Received.answer`).
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    HttpResponseNotAllowed,
)
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.untrusted import BodyTooLarge, UntrustedJSON, request_body

logger = logging.getLogger("webhooks")

# The stores' unique keys hold ids up to this long; a longer one is no provider's.
MAX_EVENT_ID = 100


@dataclass(frozen=True)
class Delivery:
    """One request as a provider sent it."""

    headers: Mapping[str, str]
    body: bytes
    form: Mapping[str, str]  # the fields of a form post (Mango signs its form), else empty
    path: str  # what follows the channel's uuid: "" or, for Mango, "events/call" and such


@dataclass(frozen=True)
class Received:
    """What is stored of a delivery: the provider's id of it (repeats share it), its type,
    and the payload as text."""

    event_id: str
    event_type: str
    payload: str
    answer: str = ""  # the body of the 200 (VK wants "ok"); empty for most providers


@dataclass(frozen=True)
class Answer:
    """A delivery that is a question about the URL itself (VK's confirmation): answered with
    `text`, never stored."""

    text: str


class WebhookProvider:
    """The inbound half every provider implements."""

    max_body_bytes: int = 1_000_000
    # The paths the provider appends to the channel's URL (Mango: "events/call"...); only ""
    # for providers that post to the URL they were given.
    webhook_paths: tuple[str, ...] = ("",)

    def verify(self, delivery: Delivery) -> bool:
        """Is this request from the provider? Must be False when no secret is configured."""
        raise NotImplementedError

    def read(self, delivery: Delivery) -> "Received | Answer":
        """The delivery's id, type and payload; ValueError (UntrustedJSON is one) when it is
        malformed."""
        raise NotImplementedError

    def handshake(self, query: Mapping[str, str]) -> str | None:
        """A GET to the webhook URL: the text that proves we own it (WhatsApp's
        `hub.challenge`), or None when the request is not the provider's (403). Providers
        that never GET the URL leave it alone (405)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Receiver:
    """How an app takes its channels' deliveries."""

    channel: Callable[[object], object]  # the active channel of a uuid, or Http404
    provider: Callable[[object], WebhookProvider]
    store: Callable[[object, Received], object]  # one idempotent INSERT


_RECEIVERS: dict[str, Receiver] = {}


def register(kind: str, receiver: Receiver) -> None:
    _RECEIVERS[kind] = receiver


def kinds() -> list[str]:
    return sorted(_RECEIVERS)


def url_path(kind: str, channel_uuid) -> str:
    """The path to give the provider (Mango appends its events/call and the rest to it)."""
    return reverse("webhook", args=[kind, channel_uuid])


def _handshake(request, kind: str, channel_uuid, provider: WebhookProvider) -> HttpResponse:
    try:
        answer = provider.handshake(request.GET)
    except NotImplementedError:
        return HttpResponseNotAllowed(["POST"])
    if answer is None:
        logger.warning("webhook %s %s: handshake refused from %s", kind, channel_uuid,
                       request.META.get("REMOTE_ADDR"))
        return HttpResponseForbidden()
    return HttpResponse(answer, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request, kind: str, channel_uuid, path: str = ""):
    receiver = _RECEIVERS.get(kind)
    if receiver is None:
        raise Http404
    channel = receiver.channel(channel_uuid)
    provider = receiver.provider(channel)
    path = path.rstrip("/")  # a trailing slash is forgiven
    if path not in provider.webhook_paths:
        raise Http404
    if request.method == "GET":
        return _handshake(request, kind, channel_uuid, provider)
    try:
        body = request_body(request, max_bytes=provider.max_body_bytes)
    except BodyTooLarge as e:
        logger.warning("webhook %s %s: refused, %s", kind, channel_uuid, e)
        return HttpResponse(status=413)
    delivery = Delivery(headers=request.headers, body=body, form=request.POST, path=path)
    if not provider.verify(delivery):
        logger.warning("webhook %s %s: wrong or missing signature from %s", kind,
                       channel_uuid, request.META.get("REMOTE_ADDR"))
        return HttpResponseForbidden()
    try:
        received = provider.read(delivery)
        if isinstance(received, Answer):
            return HttpResponse(received.text, content_type="text/plain; charset=utf-8")
        if not received.event_id or len(received.event_id) > MAX_EVENT_ID:
            raise UntrustedJSON(f"an event id of {len(received.event_id)} characters")
    except (ValueError, TypeError) as e:
        logger.warning("webhook %s %s: malformed delivery refused: %s", kind, channel_uuid, e)
        return HttpResponseBadRequest()
    receiver.store(channel, received)
    return HttpResponse(received.answer, status=200, content_type="text/plain; charset=utf-8")
