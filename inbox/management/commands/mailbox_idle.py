"""`manage.py mailbox_idle`: read every IMAP mailbox as soon as mail arrives (IMAP IDLE).

One thread per active e-mail channel on an IMAP server (inbox.mailboxes.watch); channels
added later are picked up within a minute. The beat's poll (EMAIL_POLL_SECONDS) keeps reading
every mailbox too, so a mailbox whose server has no IDLE, or a watcher that is restarting,
loses nothing; the two never store a mail twice. Runs until interrupted (SIGTERM, Ctrl-C).
"""

import signal
import threading

from django.core.management.base import BaseCommand

from inbox import mailboxes
from inbox.models import Channel, Mailbox

RESCAN_SECONDS = 60


class Command(BaseCommand):
    help = "Read the e-mail channels' mailboxes as soon as mail arrives (IMAP IDLE)."

    def handle(self, *args, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_args: stop.set())
        watchers: dict[int, threading.Thread] = {}
        while not stop.is_set():
            for pk in Channel.objects.filter(
                    kind=Channel.Kind.EMAIL, is_active=True,
                    mailbox__server=Mailbox.Server.IMAP).values_list("pk", flat=True):
                if pk not in watchers or not watchers[pk].is_alive():
                    watchers[pk] = threading.Thread(
                        target=mailboxes.watch, args=(pk,), kwargs={"stop": stop},
                        name=f"mailbox-idle-{pk}", daemon=True)
                    watchers[pk].start()
                    self.stdout.write(f"watching the mailbox of channel {pk}")
            stop.wait(RESCAN_SECONDS)
        for watcher in watchers.values():
            watcher.join(timeout=mailboxes.IDLE_WAIT_SECONDS + 5)
