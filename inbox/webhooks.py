"""Provider webhooks: check the secret, store the raw delivery, answer 200 at once.

The work happens in a Celery task (inbox.tasks.drain_events), queued after the event row
commits: the provider is acknowledged only for what is stored (DESIGN.md, invariant 6), and
answers 200 to update types we do not handle so it does not retry them forever.
"""

import json
import logging

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from inbox import selectors, services
from inbox.models import Channel
from inbox.providers.base import provider_for

logger = logging.getLogger("inbox.webhooks")


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@csrf_exempt
@require_POST
def telegram_webhook(request, channel_uuid):
    channel = selectors.channel_for_webhook(kind=Channel.Kind.TELEGRAM, uuid=channel_uuid)
    provider = provider_for(channel)
    # Refuse a big body before reading it.
    if _content_length(request) > provider.max_body_bytes:
        logger.warning("webhook %s: body of %s bytes refused", channel.uuid,
                       _content_length(request))
        return HttpResponse(status=413)
    body = request.body
    if len(body) > provider.max_body_bytes:
        return HttpResponse(status=413)
    if not provider.verify(request.headers, body):
        logger.warning("webhook %s: wrong or missing secret from %s", channel.uuid,
                       request.META.get("REMOTE_ADDR"))
        return HttpResponseForbidden()
    try:
        text = body.decode()
        payload = json.loads(text)
        event_id = provider.event_id(payload)
    except (ValueError, UnicodeDecodeError) as e:
        logger.warning("webhook %s: malformed update refused: %s", channel.uuid, e)
        return HttpResponseBadRequest()
    services.event_receive(channel=channel, provider_event_id=event_id,
                           event_type=provider.event_type(payload),
                           payload=text)
    return HttpResponse(status=200)
