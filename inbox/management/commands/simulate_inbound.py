"""`manage.py simulate_inbound --channel NAME --from NAME --text TEXT`: play a client.

For a messenger (Telegram, WhatsApp, MAX or VK) it posts a realistic delivery of the
channel's provider, signed with the channel's own secret, to the channel's own webhook:
through Django's test client by default (no network, no server needed), or over HTTP to a
running server with `--url http://127.0.0.1:8000`. For an e-mail channel it puts a realistic
multipart mail (text, HTML, a signature, a file) into the channel's mailbox, as its mail
server would, and reads the mailbox. The same `--from` name is always the same client, so a
second message lands in the first one's conversation.
"""

import base64
import json
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import Client

from core import webhooks
from core.webhooks import Delivery
from inbox.models import Channel, InboundEvent, Message
from inbox.providers.base import WEBHOOK_KINDS, InboundMessage, provider_for


def _host() -> str:
    """A host name this deployment accepts (the in-process request passes ALLOWED_HOSTS)."""
    return next((h for h in settings.ALLOWED_HOSTS
                 if h and "*" not in h and not h.startswith(".")), "localhost")


class Command(BaseCommand):
    help = ("Post a text message from a made-up client to a messenger channel's own webhook "
            "(Telegram, WhatsApp, MAX, VK), or mail it into an e-mail channel's mailbox.")

    def add_arguments(self, parser):
        parser.add_argument("--channel", required=True, help="The channel's name.")
        parser.add_argument("--from", dest="sender", required=True,
                            help="The client's name as the messenger shows it.")
        parser.add_argument("--text", required=True)
        parser.add_argument("--url", default="",
                            help="Post over HTTP to this server (e.g. http://127.0.0.1:8000) "
                                 "instead of in process.")

    def handle(self, *args, channel, sender, text, url, **options):
        messengers = Channel.objects.filter(kind__in=(*WEBHOOK_KINDS, Channel.Kind.EMAIL))
        found = messengers.filter(name=channel).first()
        if found is None:
            names = ", ".join(messengers.values_list("name", flat=True)) or "none"
            raise CommandError(f"No messenger channel named {channel!r} (there are: {names}).")
        if found.kind == Channel.Kind.EMAIL:
            self._mail(found, sender, text)
            return
        if not found.webhook_secret:
            raise CommandError(f"Channel {channel!r} has no webhook secret: set one first.")
        provider = provider_for(found)
        body, headers = provider.simulated_delivery(sender=sender, text=text)
        path = webhooks.url_path(found.kind, found.uuid)
        if url:
            status = self._post_http(url.rstrip("/") + path, body, headers)
        else:
            status = Client().post(path, data=body, content_type="application/json",
                                   headers=headers, SERVER_NAME=_host()).status_code
        received = provider.read(Delivery(headers=headers, body=body, form={}, path=""))
        self.stdout.write(f"POST {path} ({found.get_kind_display()}, event "
                          f"{received.event_id}) -> HTTP {status}")
        if status != 200:
            raise CommandError("The webhook refused the delivery.")
        self._report(found, received.event_id, provider.parse(json.loads(body)))

    def _mail(self, channel: Channel, sender: str, text: str) -> None:
        from inbox import mailboxes
        from inbox.providers.base import ProviderError
        from inbox.providers.mail import parse as mail_parse

        if not hasattr(channel, "mailbox"):
            raise CommandError(f"Channel {channel!r} has no mailbox set up.")
        provider = provider_for(channel)
        raw = provider.simulated_mail(sender=sender, text=text)
        try:
            provider.deliver_to_mailbox(raw)
        except ProviderError as exc:
            raise CommandError(f"The mailbox refused the mail: {exc.message}") from None
        mailbox = channel.mailbox
        self.stdout.write(f"Mailed {mailbox.address} ({mailbox.folder}) from {sender}")
        stored = mailboxes.mailbox_check(channel_id=channel.pk)
        mailbox.refresh_from_db()
        if mailbox.last_error:
            raise CommandError(f"The mailbox could not be read: {mailbox.last_error}")
        self.stdout.write(f"Read the mailbox: {stored} new")
        event_id = mail_parse.mail_key(raw, mail_parse.message_id_of(raw))
        self._report(channel, event_id, provider.parse(
            {"raw": base64.b64encode(raw).decode()}))

    def _post_http(self, target: str, body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(
            target, data=body, method="POST",
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code
        except urllib.error.URLError as e:
            raise CommandError(f"Cannot reach {target}: {e.reason}") from None

    def _report(self, channel: Channel, event_id: str, parsed: list) -> None:
        event = InboundEvent.objects.filter(channel=channel, provider_event_id=event_id).first()
        if event is None:
            self.stdout.write("The event is not in this database (posted to another server?).")
            return
        self.stdout.write(f"Event #{event.pk}: {event.status}"
                          + (f" ({event.error})" if event.error else ""))
        external_ids = [item.external_id for item in parsed if isinstance(item, InboundMessage)]
        message = (Message.objects.filter(channel=channel, external_id__in=external_ids)
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
