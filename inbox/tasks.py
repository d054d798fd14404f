"""Celery tasks of the inbox: thin, they load the row and call the service."""

import logging

from celery import shared_task

from core import deliveries, providers
from inbox import services
from inbox.models import InboundEvent

logger = logging.getLogger("inbox")


@shared_task(name="inbox.process_event")
def process_event(event_id: int) -> str:
    return deliveries.process(InboundEvent, event_id, services.event_process)


@shared_task(bind=True, name="inbox.drain_events")
def drain_events(self) -> int:
    """Process what the webhooks stored (queued by them while no drain is at work)."""
    if self.request.is_eager:
        # No worker (embedded mode, tests): inside the webhook's request, so no waiting.
        return services.events_drain(linger=0, pause=0)
    return services.events_drain()


@shared_task(name="inbox.sweep_events")
def sweep_events() -> int:
    """Queue the events nobody processed (invariant 6: a stored event is never lost)."""
    return services.events_sweep()


@shared_task(name="inbox.sync_templates")
def sync_templates() -> dict[str, int]:
    """Every WhatsApp channel's approved templates, as its account lists them now (hourly):
    a template approved or withdrawn at Meta shows in the card within the hour."""
    from inbox.models import Channel
    from inbox.providers.base import ProviderError

    synced = {}
    for channel in Channel.objects.filter(kind=Channel.Kind.WHATSAPP, is_active=True) \
            .exclude(business_account_id=""):
        try:
            synced[channel.name] = services.templates_sync(channel=channel)["templates"]
        except ProviderError as error:
            logger.warning("channel %s: templates not synced: %s", channel.pk, error.message)
    return synced


@shared_task(name="inbox.poll_mailboxes")
def poll_mailboxes() -> int:
    """Queue a read of every active mailbox (every EMAIL_POLL_SECONDS)."""
    from inbox.models import Channel

    channels = list(Channel.objects.filter(kind=Channel.Kind.EMAIL, is_active=True,
                                           mailbox__isnull=False).values_list("pk", flat=True))
    for pk in channels:
        check_mailbox.delay(pk)
    return len(channels)


@shared_task(name="inbox.check_mailbox")
def check_mailbox(channel_id: int) -> int:
    """Store a mailbox's new mail (one read of a mailbox at a time; a read already at work
    makes this one a no-op)."""
    from inbox import mailboxes

    return mailboxes.mailbox_check(channel_id=channel_id)


@shared_task(name="inbox.sweep_sends")
def sweep_sends() -> dict[str, int]:
    """Queue again the replies whose send task was lost, fail those cut off mid-send."""
    return services.sends_sweep()


# --- Outbound ---------------------------------------------------------------------------------

SEND_MAX_RETRIES = 8


def _send_step(message_id: int, attempt: int | None, retries: int, max_retries: int):
    """One try. None when done (sent, failed, or nothing to do); else (countdown, counts):
    try again in `countdown` s, `counts` telling whether that try uses up a retry."""
    from inbox.models import Message

    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return None
    try:
        services.message_send(message=message, attempt=attempt)
    except services.ChatBusy as exc:
        # Waiting for the chat's turn is not a failure: it does not use up the retries.
        return exc.wait, False
    except providers.ProviderError as exc:
        if retries >= max_retries:
            logger.warning("giving up on message %s: %s", message_id, exc.message)
            services.message_send_gave_up(message=message, reason=exc.message)
            return None
        return providers.backoff(retries, exc.retry_after), True
    return None


def _due_in(message_id: int, seconds: float) -> None:
    """The retry's task is due then: until a while after it, the sweeper leaves it be."""
    from datetime import timedelta

    from django.utils import timezone

    from inbox.models import Message

    Message.objects.filter(pk=message_id).update(
        send_due_at=timezone.now() + timedelta(seconds=seconds))


def _attempts(message_id: int) -> int | None:
    from inbox.models import Message

    return Message.objects.filter(pk=message_id).values_list("attempts", flat=True).first()


@shared_task(bind=True, name="inbox.send_message", max_retries=SEND_MAX_RETRIES,
             acks_late=True)
def send_message(self, message_id: int, attempt: int | None = None, busy: int = 0):
    """`busy`: how many of the retries so far were only waits for the chat's turn."""
    retries = self.request.retries - busy
    while True:
        step = _send_step(message_id, attempt, retries, self.max_retries)
        if step is None:
            return
        countdown, counts = step
        retries += counts
        busy += not counts
        attempt = _attempts(message_id)
        if not self.request.is_eager:
            _due_in(message_id, countdown)
            raise self.retry(args=(message_id, attempt, busy), countdown=countdown,
                             max_retries=self.request.retries + 1)
        # No worker (embedded mode, tests): wait here rather than retrying at once.
        providers.eager_wait(countdown)


@shared_task(name="inbox.campaign_dispatch", acks_late=True)
def campaign_dispatch(campaign_id: int) -> None:
    from inbox import campaigns

    campaigns.campaign_dispatch(campaign_id=campaign_id)


# --- End of Outbound --------------------------------------------------------------------------


# --- Attachments ------------------------------------------------------------------------------

FETCH_MAX_RETRIES = 6
# Without a worker, a retry waits inside the request that stored the message: one, briefly.
FETCH_EAGER_MAX_RETRIES = 1


@shared_task(bind=True, name="inbox.fetch_attachments", max_retries=FETCH_MAX_RETRIES,
             acks_late=True)
def fetch_attachments(self, message_id: int) -> None:
    """Fetch the files of an inbound message from the provider and store them encrypted.
    Never raises (but to retry): without a worker it runs inside the processing of the
    webhook event, which must not be marked failed because a file was not downloaded."""
    from django.utils.translation import gettext as _

    from inbox import attachments

    providers.run_with_retries(
        self, lambda: attachments.fetch_message(message_id=message_id),
        gave_up=lambda reason: attachments.fetch_gave_up(message_id=message_id, reason=reason),
        eager_max_retries=FETCH_EAGER_MAX_RETRIES, what=f"the files of message {message_id}",
        unexpected=_("The file could not be stored."),
    )
