"""Posting a provider's delivery to a channel's webhook, signed as that provider signs it (through
the test client, or over HTTP to a running server), reading the fixtures of
tests/inbox/fixtures/<kind>/, and a manager's reply from the card, sent."""

import hashlib
import hmac
import json
import threading
import time
from pathlib import Path

import httpx
from django.test import Client, TestCase
from django.urls import reverse

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(kind: str, name: str) -> dict:
    return json.loads((FIXTURES / kind / f"{name}.json").read_text())


def signed_headers(channel, body: bytes, *, secret: str | None = None) -> dict[str, str]:
    """The headers the channel's provider puts on `body` (Django test client's META names);
    `secret` instead of the channel's own to sign wrongly."""
    secret = channel.webhook_secret if secret is None else secret
    if channel.kind == "whatsapp":
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"HTTP_X_HUB_SIGNATURE_256": f"sha256={signature}"}
    if channel.kind == "max":
        return {"HTTP_X_MAX_BOT_API_SECRET": secret}
    if channel.kind == "telegram":
        return {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret}
    return {}  # VK: the secret is inside the body


def deliver(channel, payload: dict | None = None, *, raw: bytes | None = None,
            secret: str | None = None, headers: dict | None = None, on_commit: bool = True):
    """POST a delivery as the provider does. Tests run inside a transaction that never
    commits, so the callbacks queued after commit (the processing task, live events) run
    here."""
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    meta = signed_headers(channel, body, secret=secret) if headers is None else headers
    url = reverse("webhook", args=[channel.kind, channel.uuid])
    if not on_commit:
        return Client().post(url, data=body, content_type="application/json", **meta)
    with TestCase.captureOnCommitCallbacks(execute=True):
        return Client().post(url, data=body, content_type="application/json", **meta)


def deliver_over_http(base_url: str, channel, payload: dict) -> float:
    """POST it as the provider does, over real HTTP from another thread (the test's thread
    runs Playwright's event loop). Returns time.monotonic() when the answer came."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    # signed_headers speaks the test client's META names: HTTP_X_HUB_SIGNATURE_256...
    headers = {name[5:].replace("_", "-"): value
               for name, value in signed_headers(channel, body).items()}
    result: dict = {}

    def run():
        try:
            response = httpx.post(f"{base_url}/hooks/{channel.kind}/{channel.uuid}/",
                                  content=body, timeout=20,
                                  headers={"Content-Type": "application/json", **headers})
            result.update(done=time.monotonic(), status=response.status_code)
        except Exception as e:  # re-raised in the test
            result["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    if "error" in result:
        raise result["error"]
    assert result.get("status") == 200, result
    return result["done"]


def reply_from_card(conversation, text="Добрый день!"):
    """The conversation's manager replies from the card; the send runs (the task queued after
    commit), and the message is returned as it ended."""
    from inbox import services

    with TestCase.captureOnCommitCallbacks(execute=True):
        message = services.message_reply(conversation=conversation, by=conversation.assignee,
                                         text=text)
    message.refresh_from_db()
    return message
