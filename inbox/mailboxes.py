"""Reading an e-mail channel's mailbox: each new mail stored once as an inbound event, then
marked seen (the drain makes messages of the events as it does of webhook deliveries).

The folder is read by UID from where the last read stopped (`Mailbox.last_uid`, valid with
its UIDVALIDITY). A batch of mails is fetched with BODY.PEEK (which leaves them unseen),
stored as inbound events and committed (the event's unique key is the Message-ID, so a mail
read twice is stored once), and only then marked seen on the server and the cursor moved past
it. A connection dropped or a worker killed anywhere in between reads the batch again next
time and stores nothing twice. When the server's UIDVALIDITY changes (the folder was
recreated, the server migrated) the folder is read again from the start, under the same rule.
"""

import logging
import threading
import time

from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from core import marks
from inbox.models import Channel, Mailbox
from inbox.providers.base import ProviderError, provider_for
from inbox.providers.mail import imap

logger = logging.getLogger("inbox.mail")

# Mails fetched per round trip, stored per transaction.
BATCH = 50
# A read of a mailbox holds this mark, so overlapping polls (a slow server, IDLE and the beat)
# read it one at a time; a mark whose read died expires.
MARK_SECONDS = 300


def mailbox_check(*, channel_id: int) -> int:
    """Store the mailbox's new mail; how many were new (0 when another read is at work). A
    server's refusal is kept on the mailbox for the admin, and the next poll tries again."""
    mark = f"inbox:mailbox:{channel_id}"
    if not marks.add(mark, MARK_SECONDS):
        return 0
    try:
        return sync(Channel.objects.select_related("mailbox").get(pk=channel_id))
    except ProviderError as exc:
        logger.warning("mailbox of channel %s not read: %s", channel_id, exc.message)
        Mailbox.objects.filter(channel_id=channel_id).update(last_error=exc.message[:500],
                                                             checked_at=timezone.now())
        return 0
    finally:
        marks.drop(mark)


def sync(channel: Channel, *, batch: int | None = None) -> int:
    """Store the mails that came since the last read, `batch` (BATCH) per round trip; how
    many were new. Raises ProviderError."""
    from inbox.services import event_receive

    mailbox = channel.mailbox
    provider = provider_for(channel)
    batch = batch or BATCH
    stored = 0
    with provider.opened() as folder:
        if mailbox.uidvalidity != folder.uidvalidity:
            if mailbox.uidvalidity is not None:
                logger.warning("mailbox %s: UIDVALIDITY changed (%s -> %s); reading the "
                               "folder again", mailbox.pk, mailbox.uidvalidity,
                               folder.uidvalidity)
            mailbox.uidvalidity, mailbox.last_uid = folder.uidvalidity, 0
            Mailbox.objects.filter(pk=mailbox.pk).update(uidvalidity=folder.uidvalidity,
                                                         last_uid=0)
        uids = folder.new_uids(mailbox.last_uid)
        for start in range(0, len(uids), batch):
            chunk = uids[start:start + batch]
            with transaction.atomic():
                for fetched in folder.fetch(chunk):
                    event_id, event_type, payload = provider.delivery(
                        uidvalidity=folder.uidvalidity, fetched=fetched)
                    stored += event_receive(channel=channel, provider_event_id=event_id,
                                            event_type=event_type, payload=payload)
            # Stored and committed: only now seen on the server, and the cursor past them.
            folder.mark_seen(chunk)
            Mailbox.objects.filter(pk=mailbox.pk, uidvalidity=folder.uidvalidity).update(
                last_uid=chunk[-1])
            mailbox.last_uid = chunk[-1]
    Mailbox.objects.filter(pk=mailbox.pk).update(checked_at=timezone.now(), last_error="")
    return stored


# --- IDLE: new mail read as it arrives -------------------------------------------------------

# How long one wait for the server lasts: a watcher told to stop does within this.
IDLE_WAIT_SECONDS = 5
RETRY_MAX_SECONDS = 300


def watch(channel_id: int, *, stop: threading.Event) -> None:
    """Keep an IDLE session on a mailbox's folder and read the mailbox as soon as the server
    announces mail (`manage.py mailbox_idle` runs one per mailbox; the beat's poll stays the
    safety net). What came while nobody watched is read first; a dropped connection is
    reopened after a growing pause. Returns when `stop` is set, or at once for a server
    without IDLE (polled only)."""
    try:
        _watch(channel_id, stop=stop)
    finally:
        connection.close()  # the thread's own database connection


def _watch(channel_id: int, *, stop: threading.Event) -> None:
    pause = 1.0
    while not stop.is_set():
        try:
            channel = Channel.objects.select_related("mailbox").get(
                pk=channel_id, is_active=True, kind=Channel.Kind.EMAIL)
            mailbox = channel.mailbox
            if mailbox.server != Mailbox.Server.IMAP:
                return
            mailbox_check(channel_id=channel_id)
            with imap.connected(mailbox) as client:
                if not client.has_capability("IDLE"):
                    logger.info("mailbox %s: the server has no IDLE; polled only", mailbox.pk)
                    return
                idler = imap.Idler(client, mailbox.folder)
                since, pause = time.monotonic(), 1.0
                while not stop.is_set():
                    if idler.wait(IDLE_WAIT_SECONDS):
                        idler.pause()
                        mailbox_check(channel_id=channel_id)
                        close_old_connections()
                        idler.resume()
                    elif time.monotonic() - since > imap.Idler.RENEW_SECONDS:
                        idler.pause()
                        idler.resume()
                        since = time.monotonic()
                idler.pause()
        except (Channel.DoesNotExist, Mailbox.DoesNotExist):
            return
        except Exception as exc:  # a dropped connection, a server restarting: try again
            logger.warning("mailbox of channel %s: IDLE interrupted: %r", channel_id, exc)
        finally:
            close_old_connections()
        stop.wait(pause)
        pause = min(pause * 2, RETRY_MAX_SECONDS)
