"""`manage.py simulate_inbound --channel NAME --from NAME --text TEXT`: play Telegram.

Posts a realistic update, with the channel's secret header, to the channel's own webhook:
through Django's test client by default (no network, no server needed), or over HTTP to a
running server with `--url http://127.0.0.1:8000`. The same `--from` name is always the same
Telegram user, so a second message lands in the first one's conversation.
"""

import hashlib
import json
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import Client

from core import webhooks
from inbox.models import Channel, InboundEvent, Message
from inbox.providers.telegram import SECRET_HEADER


def _host() -> str:
    """A host name this deployment accepts (the in-process request passes ALLOWED_HOSTS)."""
    return next((h for h in settings.ALLOWED_HOSTS
                 if h and "*" not in h and not h.startswith(".")), "localhost")


def telegram_user_id(name: str) -> int:
    """A stable, plausible Telegram user id for a name."""
    return 100_000_000 + int(hashlib.sha256(name.encode()).hexdigest()[:12], 16) % 900_000_000


def text_update(*, sender: str, text: str) -> dict:
    now = int(time.time())
    user_id = telegram_user_id(sender)
    first, _space, last = sender.partition(" ")
    person = {"id": user_id, "first_name": first}
    if last:
        person["last_name"] = last
    update_id = int(time.time() * 1000) % 2_000_000_000
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 1_000_000_000,
            "from": {**person, "is_bot": False, "language_code": "ru"},
            "chat": {**person, "type": "private"},
            "date": now,
            "text": text,
        },
    }


class Command(BaseCommand):
    help = "Post a Telegram text message from a made-up client to a channel's own webhook."

    def add_arguments(self, parser):
        parser.add_argument("--channel", required=True, help="The channel's name.")
        parser.add_argument("--from", dest="sender", required=True,
                            help="The client's name as Telegram shows it.")
        parser.add_argument("--text", required=True)
        parser.add_argument("--url", default="",
                            help="Post over HTTP to this server (e.g. http://127.0.0.1:8000) "
                                 "instead of in process.")

    def handle(self, *args, channel, sender, text, url, **options):
        found = Channel.objects.filter(name=channel, kind=Channel.Kind.TELEGRAM).first()
        if found is None:
            names = ", ".join(Channel.objects.filter(kind=Channel.Kind.TELEGRAM)
                              .values_list("name", flat=True)) or "none"
            raise CommandError(f"No Telegram channel named {channel!r} (there are: {names}).")
        if not found.webhook_secret:
            raise CommandError(f"Channel {channel!r} has no webhook secret: set one first.")
        update = text_update(sender=sender, text=text)
        body = json.dumps(update, ensure_ascii=False).encode()
        path = webhooks.url_path(found.kind, found.uuid)
        if url:
            status = self._post_http(url.rstrip("/") + path, body, found.webhook_secret)
        else:
            response = Client().post(
                path, data=body, content_type="application/json",
                headers={SECRET_HEADER: found.webhook_secret}, SERVER_NAME=_host(),
            )
            status = response.status_code
        self.stdout.write(f"POST {path} update_id={update['update_id']} -> HTTP {status}")
        if status != 200:
            raise CommandError("The webhook refused the update.")
        self._report(found, update)

    def _post_http(self, target: str, body: bytes, secret: str) -> int:
        request = urllib.request.Request(
            target, data=body, method="POST",
            headers={"Content-Type": "application/json", SECRET_HEADER: secret},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code
        except urllib.error.URLError as e:
            raise CommandError(f"Cannot reach {target}: {e.reason}") from None

    def _report(self, channel: Channel, update: dict) -> None:
        event = InboundEvent.objects.filter(
            channel=channel, provider_event_id=str(update["update_id"])
        ).first()
        if event is None:
            self.stdout.write("The event is not in this database (posted to another server?).")
            return
        self.stdout.write(f"Event #{event.pk}: {event.status}"
                          + (f" ({event.error})" if event.error else ""))
        chat_id = update["message"]["chat"]["id"]
        message = (Message.objects.filter(
            channel=channel, external_id=f"{chat_id}:{update['message']['message_id']}")
            .select_related("conversation__deal__owner").first())
        if message is None:
            self.stdout.write("No message yet: a worker will process the event.")
            return
        conversation = message.conversation
        deal = conversation.deal
        self.stdout.write(
            f"Message #{message.pk} in conversation #{conversation.pk}, "
            f"deal #{deal.pk if deal else '-'} owned by "
            f"{deal.owner.username if deal else '-'}"
        )
