"""E-mail on real servers: a mailbox of 10,000 mails read into the CRM, then new mail under IDLE.

    make bench-mail                      # throwaway PostgreSQL, Redis and Dovecot
    BENCH_MAILS=2000 make bench-mail     # smaller

1. Fills a fresh Dovecot mailbox with BENCH_MAILS mails as clients send them (plain text,
   multipart text and HTML, one in ten with a small PDF; 1,000 different senders, a third of
   them answering in a thread), then reads the mailbox the way the worker does
   (inbox.mailboxes.sync: fetched in batches, stored as inbound events, marked seen) while the
   drain makes messages of them and stores the files, in this one process (tasks run eagerly:
   no second worker helps). Prints the time until every mail is a message in a deal card.
2. Watches the mailbox under IMAP IDLE (inbox.mailboxes.watch, as `manage.py mailbox_idle`)
   and delivers BENCH_LIVE more mails one by one, timing each from its delivery to its message
   stored (what the open card then shows over the websocket: ~10 ms more, see the e2e test).

Not run in CI.
"""

import email.utils
import imaplib
import os
import random
import statistics
import sys
import threading
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CRM_VAR_DIR", "/tmp/crm-bench-var")
os.environ.setdefault("DEBUG", "0")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402

from inbox import mailboxes  # noqa: E402
from inbox.models import Attachment, Channel, InboundEvent, Mailbox, Message  # noqa: E402
from security import roles  # noqa: E402
from security.models import Team, User  # noqa: E402

MAILS = int(os.environ.get("BENCH_MAILS", 10_000))
LIVE = int(os.environ.get("BENCH_LIVE", 20))
PASSWORD = os.environ.get("TEST_IMAP_PASSWORD", "test-password")
TARGET_IMPORT_SECONDS = 120
TARGET_LIVE_SECONDS = 5


def imap_server() -> tuple[str, int]:
    url = os.environ.get("TEST_IMAP_URL")
    if not url:
        raise SystemExit("run through scripts/test-services.sh (make bench-mail): no Dovecot")
    parsed = urlparse(url)
    return parsed.hostname, parsed.port


def a_mail(rnd: random.Random, n: int, to: str) -> bytes:
    sender = rnd.randrange(1000)
    message = EmailMessage()
    message["From"] = f"Клиент {sender} <client{sender}@client{sender % 97}.example>"
    message["To"] = to
    message["Subject"] = rnd.choice(["Счёт", "Заказ", "Вопрос по доставке", "Договор",
                                     "Коммерческое предложение"]) + f" №{n % 500}"
    message["Date"] = email.utils.formatdate(time.time() - (MAILS - n) * 60, localtime=True)
    message["Message-ID"] = f"<bench.{n}.{uuid.uuid4().hex[:8]}@client{sender % 97}.example>"
    if n % 3 == 0 and n > 10:
        message["In-Reply-To"] = f"<bench.{n - 3}@elsewhere.example>"
    text = ("Добрый день!\n\nПришлите, пожалуйста, счёт на 20 коробок и сроки доставки.\n\n"
            f"-- \nКлиент {sender}\n+7 900 000-00-{sender % 100:02d}\n")
    message.set_content(text)
    if n % 2 == 0:
        message.add_alternative(f"<p>{text.replace(chr(10), '<br>')}</p>", subtype="html")
    if n % 10 == 0:
        message.add_attachment(b"%PDF-1.4\n" + bytes(rnd.randrange(256) for _ in range(4000)),
                               maintype="application", subtype="pdf", filename="реквизиты.pdf")
    return message.as_bytes()


def deliver(address: str, raws: list[bytes]) -> None:
    host, port = imap_server()
    client = imaplib.IMAP4(host, port)
    client.login(address, PASSWORD)
    for raw in raws:
        client.append("INBOX", None, None, raw)
    client.logout()


def setup() -> Channel:
    call_command("migrate", "--noinput", verbosity=0)
    if User.objects.exclude(username__startswith="mailbench").exists():
        raise SystemExit("this database holds real data; run the bench on a throwaway one")
    call_command("flush", "--noinput", verbosity=0)
    call_command("migrate", "--noinput", verbosity=0)  # the roles' groups again
    team = Team.objects.create(name="bench")
    for number in range(5):
        manager = User.objects.create_user(f"mailbench{number}", password="x", team=team)
        manager.groups.add(Group.objects.get(name=roles.MANAGER))
    channel = Channel.objects.create(kind=Channel.Kind.EMAIL, name="bench mail", team=team)
    host, port = imap_server()
    address = f"bench-{uuid.uuid4().hex[:8]}@crm.test"
    Mailbox.objects.create(channel=channel, address=address, username=address,
                           password=PASSWORD, imap_host=host, imap_port=port,
                           imap_security="none", smtp_host="127.0.0.1", smtp_security="none")
    return channel


def main() -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    channel = setup()
    address = channel.mailbox.address
    rnd = random.Random(18)
    raws = [a_mail(rnd, n, address) for n in range(MAILS)]
    started = time.monotonic()
    deliver(address, raws)
    print(f"{MAILS} mails ({sum(map(len, raws)) / 1e6:.1f} MB) delivered into Dovecot in "
          f"{time.monotonic() - started:.1f} s")

    started = time.monotonic()
    stored = mailboxes.mailbox_check(channel_id=channel.pk)
    while InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).exists():
        from inbox.services import events_drain

        events_drain(linger=0, pause=0)
    elapsed = time.monotonic() - started
    messages = Message.objects.filter(channel=channel).count()
    files = Attachment.objects.exclude(file_path="").count()
    print(f"import: {stored} mails read, {messages} messages in "
          f"{Channel.objects.get(pk=channel.pk).conversations.count()} conversations, "
          f"{files} files stored, in {elapsed:.1f} s ({messages / elapsed:.0f} mails/s; "
          f"target < {TARGET_IMPORT_SECONDS} s)")
    assert messages == MAILS, f"{messages} messages for {MAILS} mails"

    stop = threading.Event()
    watcher = threading.Thread(target=mailboxes.watch, args=(channel.pk,),
                               kwargs={"stop": stop}, daemon=True)
    watcher.start()
    time.sleep(1)
    delays = []
    for n in range(LIVE):
        raw = a_mail(rnd, MAILS + n, address)
        message_id = email.message_from_bytes(raw)["Message-ID"].strip("<>")
        delivered = time.monotonic()
        deliver(address, [raw])
        while not Message.objects.filter(channel=channel, external_id=message_id).exists():
            if time.monotonic() - delivered > 30:
                raise SystemExit("a live mail did not arrive within 30 s")
            time.sleep(0.01)
        delays.append(time.monotonic() - delivered)
        time.sleep(rnd.uniform(0.2, 1.0))
    stop.set()
    watcher.join(timeout=10)
    delays.sort()
    print(f"IDLE: {LIVE} mails, delivery -> message stored: median "
          f"{statistics.median(delays) * 1000:.0f} ms, p95 "
          f"{delays[int(len(delays) * 0.95) - 1] * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms "
          f"(target < {TARGET_LIVE_SECONDS} s)")


if __name__ == "__main__":
    main()
