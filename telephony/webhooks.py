"""The PBX's webhooks: check the sign, store the raw request, answer 200 at once.

Mango posts to the account's webhook base (`/hooks/mango/<account uuid>/`) with the event's
path appended (events/call, events/summary, events/recording, events/record/added,
result/callback). The work happens in a Celery task (telephony.tasks.process_event), queued
after the event row commits: the PBX is acknowledged only for what is stored (invariant 6).
"""

import json
import logging

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from telephony import selectors, services
from telephony.providers.base import provider_for
from telephony.providers.mango import PATH_KINDS

logger = logging.getLogger("telephony.webhooks")


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def webhook_base_path(account) -> str:
    """The base URL path to give the PBX (it appends events/call and the rest)."""
    path = reverse("telephony:mango_webhook", args=[account.uuid, "events/call"])
    return path[: -len("events/call")]


@csrf_exempt
@require_POST
def mango_webhook(request, account_uuid, event_path):
    account = selectors.account_for_webhook(uuid=account_uuid)
    kind = PATH_KINDS[event_path]
    provider = provider_for(account)
    # Refuse a big body before reading it.
    if _content_length(request) > provider.max_body_bytes:
        logger.warning("webhook %s: body of %s bytes refused", account.uuid,
                       _content_length(request))
        return HttpResponse(status=413)
    if len(request.body) > provider.max_body_bytes:
        return HttpResponse(status=413)
    form = request.POST
    if not provider.verify(form):
        logger.warning("webhook %s %s: wrong or missing sign from %s", account.uuid, event_path,
                       request.META.get("REMOTE_ADDR"))
        return HttpResponseForbidden()
    text = form.get("json")
    try:
        payload = json.loads(text)
        dedupe_key = provider.dedupe_key(kind, payload)
    except (ValueError, TypeError) as e:
        logger.warning("webhook %s %s: malformed event refused: %s", account.uuid, event_path, e)
        return HttpResponseBadRequest()
    services.event_receive(account=account, kind=kind, dedupe_key=dedupe_key, payload=text)
    return HttpResponse(status=200)
