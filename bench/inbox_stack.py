"""Benchmark of inbound Telegram messages on the production stack, webhook to deal card.

    make bench-inbox                                   # 300 msg/s for 5 minutes (the target)
    BENCH_ARGS="--mix" make bench-inbox                # the same, a quarter per messenger
    scripts/test-services.sh .venv/bin/python bench/inbox_stack.py --duration 20

Starts the processes of docker-compose.yml with its commands and settings (CRM_MODE=production,
`migrate`, gunicorn config.wsgi with the `web` service's workers, uvicorn config.asgi for
`/ws/`, one Celery worker and one beat) on the PostgreSQL and Redis given by DATABASE_URL and
REDIS_URL (scripts/test-services.sh starts throwaway ones). No reverse proxy: the load goes
straight to gunicorn and the websocket straight to uvicorn. Then:

1. setup, through the ORM: a team, a manager, a Telegram channel (webhook secret, Bot API base
   URL aimed at a local fake that must never be called: inbound only), a session of the
   manager; the first message of each of `--chats` clients goes through the webhook and
   creates their contact, deal and conversation (warm-up, not counted);
2. a websocket logged in as the manager subscribes to all those deals, as open deal cards
   do (another socket, like another tab, past the consumer's limit of ~50 per socket);
3. open-loop load: realistic Telegram text updates (some replying to an earlier message),
   with the secret header, posted at `--rate` per second for `--duration` seconds over
   `--connections` keep-alive connections (Telegram's default max_connections is 40); the
   ack latency runs from the moment a request was due, so a server that falls behind
   shows it (a request still unsent `--give-up` s after it was due is dropped and counted);
   each `timeline.entry` event's arrival is recorded;
4. once every event arrived (or none for `--drain-quiet` s, or after `--drain-limit` s),
   through the database: entry -> message -> update, giving webhook-to-websocket latency
   (from the moment the update was due) and the losses: non-200 answers, updates acked but
   processed without a message, messages whose event never reached the websocket; updates
   still queued then are reported as late;
5. the same rate on `/bench/ack/` of the same gunicorn (a bare view that parses the JSON and
   commits one row; bench.stack_urls, never a product route), for the ratio; then each of
   the two at full speed for `--capacity` seconds (closed loop), for the ceiling.

`--mix`: Telegram, WhatsApp, MAX and VK updates in equal shares of the same total rate (in
turn: one of each every four requests), each to its own channel of the same team through its
provider's webhook and signing (Telegram's and MAX's secret headers, WhatsApp's HMAC-SHA256 of
each body with the app secret, VK's secret inside the body), `--chats` split between the
four (chat c is the (c mod 4)th kind's); every channel's API base URL is the fake. The report
adds a line per kind.

Prints a table and the CPU each component used per message. `--strict`: exit 1 when a target
is missed (300 msg/s with zero loss, ack p99 <= 25 ms, end-to-end p99 <= 150 ms). Refuses a
database that holds anything but an earlier run's data. Not run in CI.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import secrets
import sys
import tempfile
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import (  # noqa: E402 (after the path is set)
    WEB_WORKERS,
    WORKER_CONCURRENCY,
    WS_WORKERS,
    Stack,
    stack_env,
)

TARGET_RATE, TARGET_ACK_P99, TARGET_E2E_P99 = 300, 25.0, 150.0
PREFIX = "bench_"
FIRST_CHAT_ID = 810_000_000
FIRST_UPDATE_ID = 300_000_000
# The messengers of --mix, in the order their updates take turns (and chats are dealt out).
KINDS = ("telegram", "whatsapp", "max", "vk")
WHATSAPP_NUMBER_ID, WHATSAPP_DISPLAY_NUMBER = "106540352242922", "74950000000"
MAX_BOT_ID = 590_000_001
VK_GROUP_ID = 229_876_543

TEXTS = [
    "Здравствуйте! Сколько стоит поставка 10 серверов?",
    "Добрый день, пришлите, пожалуйста, счёт на оплату.",
    "Когда сможете привезти? Нам нужно до пятницы.",
    "Спасибо, получили. Бухгалтерия оплатит завтра.",
    "А есть ли скидка при заказе от 50 штук?",
    "Ок",
    "Перезвоните мне после обеда, пожалуйста, сейчас на совещании.",
    "Договор подписали, скан отправлю сегодня вечером. Оригинал курьером на следующей неделе.",
    "Подскажите, а гарантия распространяется на блоки питания?",
    "Можно ли заменить модель на ту, что мы обсуждали в прошлый раз?",
]
NAMES = [("Мария", "Иванова"), ("Пётр", "Смирнов"), ("Анна", ""), ("Игорь", "Кузнецов"),
         ("Ольга", "Попова"), ("Дмитрий", "Соколов"), ("Елена", "Лебедева"), ("Сергей", "")]


# --- The fake Bot API ------------------------------------------------------------------------


class FakeBotApi:
    """The channels' API base URL (the Bot API's; with --mix also Graph's, MAX's and VK's):
    inbound only, so any call is counted as a surprise."""

    def __init__(self):
        self.calls: list[str] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                calls.append(f"{self.command} {self.path}")
                self.send_response(500)
                self.end_headers()

            do_GET = do_POST = _any

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


# --- CPU accounting --------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()  # fields from the state on


def group_cpu(pgid: int) -> float:
    """CPU seconds of a process group, finished children included (their parents reaped
    them: cutime/cstime)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat(entry.name)
        if fields and int(fields[2]) == pgid:
            total += sum(int(f) for f in fields[11:15])
    return total / TICKS


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and its children (PostgreSQL: the postmaster and its
    backends, each of which is a session leader of its own)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat(entry.name)
        if fields and (int(entry.name) == root or int(fields[1]) == root):
            total += sum(int(f) for f in fields[11:15])
    return total / TICKS


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICKS, sum(values[:8]) / TICKS


class CpuMeter:
    """CPU seconds per component between two snapshots: our processes by group; PostgreSQL by
    its postmaster's children; Redis by its own figure. Only when they run on this machine."""

    def __init__(self, stack: Stack, postmaster: int | None, redis_client):
        self.stack, self.postmaster, self.redis = stack, postmaster, redis_client

    def snapshot(self) -> dict:
        snap = {name: group_cpu(proc.pid) for name, proc in self.stack.procs.items()}
        if self.postmaster:
            snap["postgres"] = tree_cpu(self.postmaster)
        try:
            info = self.redis.info("cpu")
            snap["redis"] = info["used_cpu_sys"] + info["used_cpu_user"]
        except Exception:  # a remote or odd Redis: leave it out
            pass
        usage = os.times()
        snap["load generator"] = usage.user + usage.system
        snap["_pg"] = pg_activity()
        snap["_machine"], snap["_total"] = machine_cpu()
        return snap

    @staticmethod
    def delta(before: dict, after: dict) -> dict:
        delta = {k: after[k] - before[k] for k in after if k in before and k != "_pg"}
        delta["_pg"] = tuple(a - b for a, b in zip(after["_pg"], before["_pg"], strict=True))
        return delta


def pg_activity() -> tuple[int, int]:
    """(transactions, sessions opened) so far in the bench's database."""
    from django.db import close_old_connections, connection

    close_old_connections()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()" if connection.pg_version >= 150000
                           else "SELECT 1")
            cursor.execute("SELECT xact_commit + xact_rollback, sessions FROM pg_stat_database "
                           "WHERE datname = current_database()")
            return tuple(cursor.fetchone())
    finally:
        connection.close()


# --- Setup through the ORM (outside the event loop) ------------------------------------------


def setup_data(args, bot_api: FakeBotApi) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from bench.stack_urls import CREATE_TABLE, TABLE
    from inbox.models import Channel
    from security import roles
    from security.models import Team, User

    if connection.vendor != "postgresql":
        raise SystemExit("bench/inbox_stack.py measures the production stack: PostgreSQL")
    if (User.objects.exclude(username__startswith=PREFIX).exists()
            or Channel.objects.exclude(name__startswith=PREFIX).exists()):
        raise SystemExit("this database holds data the bench did not create; run it on a "
                         "throwaway one (make bench-inbox starts one)")
    if User.objects.exists():
        call_command("flush", "--noinput", verbosity=0)  # an earlier run's data
    with connection.cursor() as cursor:
        cursor.execute(CREATE_TABLE)
        cursor.execute(f"TRUNCATE {TABLE}")
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    team = Team.objects.create(name=f"{PREFIX}team")
    manager = User.objects.create_user(f"{PREFIX}manager", password=secrets.token_urlsafe(),
                                       team=team, first_name="Bench")
    manager.groups.add(Group.objects.get(name=roles.MANAGER))
    # Each kind's settings as its provider reads them; no business account ID for WhatsApp,
    # so the hourly template sync leaves the channel alone.
    settings_of = {
        "telegram": {"credentials": "123456:bench-token-never-used",
                     "webhook_secret": secrets.token_urlsafe(32)},
        "whatsapp": {"credentials": "bench-token-never-used",
                     "webhook_secret": secrets.token_hex(16),  # the Meta app's secret
                     "handshake_secret": secrets.token_urlsafe(16),
                     "account_id": WHATSAPP_NUMBER_ID},
        "max": {"credentials": "bench-token-never-used",
                "webhook_secret": secrets.token_urlsafe(32)},
        "vk": {"credentials": "bench-token-never-used", "webhook_secret": secrets.token_hex(16),
               "handshake_secret": secrets.token_hex(4), "account_id": str(VK_GROUP_ID)},
    }
    channels = {}
    for kind in KINDS if args.mix else KINDS[:1]:
        channel = Channel.objects.create(kind=kind, name=f"{PREFIX}{kind}", team=team,
                                         api_base_url=bot_api.base_url, **settings_of[kind])
        channels[kind] = {"pk": channel.pk, "path": f"/hooks/{kind}/{channel.uuid}/",
                          "secret": channel.webhook_secret}
    browser = Client()
    browser.force_login(manager)  # a real session row, as a login makes
    fields = _stat(backend)
    return {
        "channels": channels,  # kind -> pk, webhook path, secret; in the order of KINDS
        "kinds": {channel["pk"]: kind for kind, channel in channels.items()},
        "session_cookie": f"{settings.SESSION_COOKIE_NAME}="
                          f"{browser.cookies[settings.SESSION_COOKIE_NAME].value}",
        "postmaster": int(fields[1]) if fields else None,  # None: not on this machine
        "pg_version": connection.pg_version,
    }


def wait_warm_up(first: list[tuple[int, str]], timeout: float = 180) -> list[int]:
    """The deal of each chat, once every first message ((channel, message id) of each chat)
    has been processed."""
    from django.db import close_old_connections

    from inbox.models import Message

    deadline = time.monotonic() + timeout
    chats = len(first)
    while True:
        close_old_connections()
        rows = {(channel, external_id): deal for channel, external_id, deal in
                Message.objects.filter(channel_id__in={c for c, _e in first},
                                       external_id__in=[e for _c, e in first])
                .values_list("channel_id", "external_id", "conversation__deal_id")}
        if len(rows) == chats and all(rows.values()):
            return [rows[key] for key in first]
        if time.monotonic() > deadline:
            raise SystemExit(f"warm-up: {len(rows)} of {chats} first messages processed "
                             f"after {timeout:.0f} s; see the worker's log")
        time.sleep(0.5)


# --- Updates, as each messenger posts them ---------------------------------------------------


class Request(NamedTuple):
    """One webhook request: where, the provider's headers, the body, and for correlation
    ((channel, message's external id), (channel, provider's event id)); None: no message."""

    path: str
    headers: str
    body: bytes
    tag: tuple[tuple[int, str], tuple[int, str]] | None
    kind: str


class Source:
    """Realistic text updates of one messenger's channel, from the chats given to it; about a
    tenth reply to one of the chat's last messages. `first[chat]`: the id of its first
    message (the warm-up's)."""

    kind = ""

    def __init__(self, channel: dict, rnd: random.Random):
        self.channel_pk, self.path, self.secret = (channel["pk"], channel["path"],
                                                   channel["secret"])
        self.rnd = rnd
        self.first: dict[int, str] = {}

    def request(self, chat: int, body: bytes, message_id: str, event_id: str,
                headers: str) -> Request:
        self.first.setdefault(chat, message_id)
        return Request(self.path, headers, body,
                       ((self.channel_pk, message_id), (self.channel_pk, event_id)), self.kind)


def _name(chat: int) -> tuple[str, str]:
    return NAMES[chat % len(NAMES)]


class TelegramUpdates(Source):
    """Private chats' text messages, update_id increasing."""

    kind = "telegram"

    def __init__(self, channel: dict, rnd: random.Random):
        super().__init__(channel, rnd)
        self.headers = f"X-Telegram-Bot-Api-Secret-Token: {self.secret}\r\n"
        self.next_update = FIRST_UPDATE_ID
        self.next_message: dict[int, int] = {}

    def make(self, chat: int) -> Request:
        chat_id = FIRST_CHAT_ID + chat
        message_id = self.next_message.get(chat, 1)
        self.next_message[chat] = message_id + 1
        first, last = _name(chat)
        person = {"id": chat_id, "first_name": first}
        if last:
            person["last_name"] = last
        person["username"] = f"client{chat}"
        message = {
            "message_id": message_id,
            "from": {"id": chat_id, "is_bot": False, **person, "language_code": "ru"},
            "chat": {**person, "type": "private"},
            "date": int(time.time()),
            "text": self.rnd.choice(TEXTS),
            "entities": [],
        }
        if message_id > 1 and self.rnd.random() < 0.1:
            earlier = self.rnd.randint(max(1, message_id - 5), message_id - 1)
            message["reply_to_message"] = {
                "message_id": earlier, "from": message["from"], "chat": message["chat"],
                "date": message["date"] - 60, "text": "…",
            }
        update = {"update_id": self.next_update, "message": message}
        self.next_update += 1
        return self.request(chat, json.dumps(update, ensure_ascii=False).encode(),
                            f"{chat_id}:{message_id}", str(update["update_id"]), self.headers)


class WhatsAppDeliveries(Source):
    """Cloud API deliveries of one text message each, compact JSON as Meta posts it, signed
    X-Hub-Signature-256 (HMAC-SHA256 of the body with the app secret); the sender is a
    Russian mobile number (wa_id), the message a wamid, which is also the delivery's id."""

    kind = "whatsapp"

    def __init__(self, channel: dict, rnd: random.Random):
        super().__init__(channel, rnd)
        self.key = self.secret.encode()
        self.count = 0
        self.recent: dict[int, deque] = {}

    def make(self, chat: int) -> Request:
        wa_id = f"7916{1_000_000 + chat}"
        self.count += 1
        # Meta's layout: a header, the sender's number, a 20-character key.
        wamid = "wamid." + base64.b64encode(
            b"\x1c\x18\x0b" + wa_id.encode() + b"\x15\x02\x00\x12\x18\x14"
            + f"3EB0{self.count:016X}".encode() + b"\x00").decode()
        message = {"from": wa_id, "id": wamid, "timestamp": str(int(time.time())),
                   "type": "text", "text": {"body": self.rnd.choice(TEXTS)}}
        recent = self.recent.setdefault(chat, deque(maxlen=5))
        if recent and self.rnd.random() < 0.1:
            message = {"context": {"from": wa_id, "id": self.rnd.choice(recent)}, **message}
        recent.append(wamid)
        delivery = {"object": "whatsapp_business_account", "entry": [{
            "id": "102290129340398", "changes": [{"value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": WHATSAPP_DISPLAY_NUMBER,
                             "phone_number_id": WHATSAPP_NUMBER_ID},
                "contacts": [{"profile": {"name": " ".join(filter(None, _name(chat)))},
                              "wa_id": wa_id}],
                "messages": [message],
            }, "field": "messages"}]}]}
        body = json.dumps(delivery, ensure_ascii=False, separators=(",", ":")).encode()
        signature = hmac.new(self.key, body, hashlib.sha256).hexdigest()
        return self.request(chat, body, wamid, wamid,
                            f"X-Hub-Signature-256: sha256={signature}\r\n")


class MaxUpdates(Source):
    """message_created updates of dialogs with the bot, with the subscription's secret
    header; the message's mid (hex chat id and seq, as MAX makes them) is also the update's
    id."""

    kind = "max"

    def __init__(self, channel: dict, rnd: random.Random):
        super().__init__(channel, rnd)
        self.headers = f"X-Max-Bot-Api-Secret: {self.secret}\r\n"
        self.count = 0
        self.recent: dict[int, deque] = {}

    def make(self, chat: int) -> Request:
        chat_id, user_id = 123_000_000 + chat, 401_000_000 + chat
        now = int(time.time() * 1000)
        self.count += 1
        seq = (now << 16) + (self.count & 0xFFFF)
        mid = f"mid.{chat_id:016x}{seq:016x}"
        text = self.rnd.choice(TEXTS)
        first, last = _name(chat)
        sender = {"user_id": user_id, "first_name": first,
                  **({"last_name": last} if last else {}), "is_bot": False,
                  "last_activity_time": now - 2000, "name": " ".join(filter(None, (first, last)))}
        message = {"recipient": {"chat_id": chat_id, "chat_type": "dialog",
                                 "user_id": MAX_BOT_ID},
                   "timestamp": now, "body": {"mid": mid, "seq": seq, "text": text},
                   "sender": sender}
        recent = self.recent.setdefault(chat, deque(maxlen=5))
        if recent and self.rnd.random() < 0.1:
            earlier_mid, earlier_seq = self.rnd.choice(recent)
            message["link"] = {"type": "reply", "sender": sender, "message": {
                "mid": earlier_mid, "seq": earlier_seq, "text": "…"}}
        recent.append((mid, seq))
        update = {"message": message, "timestamp": now, "user_locale": "ru",
                  "update_type": "message_created"}
        return self.request(chat, json.dumps(update, ensure_ascii=False).encode(), mid, mid,
                            self.headers)


class VkCallbacks(Source):
    """Callback API message_new of the community's dialogs, the secret in the body; message
    ids count up across the community, conversation_message_id per dialog, a random 40-hex
    event_id per callback."""

    kind = "vk"

    def __init__(self, channel: dict, rnd: random.Random):
        super().__init__(channel, rnd)
        self.next_id = 1_000
        self.next_in_chat: dict[int, int] = {}
        self.recent: dict[int, deque] = {}

    def make(self, chat: int) -> Request:
        user = 712_000_000 + chat
        now = int(time.time())
        message_id, self.next_id = self.next_id, self.next_id + 1
        number = self.next_in_chat.get(chat, 1)
        self.next_in_chat[chat] = number + 1
        message = {"date": now, "from_id": user, "id": message_id, "out": 0,
                   "attachments": [], "conversation_message_id": number,
                   "fwd_messages": [], "important": False, "is_hidden": False,
                   "peer_id": user, "random_id": 0, "text": self.rnd.choice(TEXTS)}
        recent = self.recent.setdefault(chat, deque(maxlen=5))
        if recent and self.rnd.random() < 0.1:
            earlier_id, earlier_number = self.rnd.choice(recent)
            message["reply_message"] = {
                "date": now - 60, "from_id": user, "text": "…", "attachments": [],
                "conversation_message_id": earlier_number, "peer_id": user, "id": earlier_id}
        recent.append((message_id, number))
        event_id = f"{self.rnd.getrandbits(160):040x}"
        callback = {"group_id": VK_GROUP_ID, "type": "message_new", "event_id": event_id,
                    "v": "5.199", "object": {"message": message, "client_info": {
                        "button_actions": ["text", "vkpay", "open_app", "location",
                                           "open_link", "callback"],
                        "keyboard": True, "inline_keyboard": True, "carousel": True,
                        "lang_id": 0}},
                    "secret": self.secret}
        return self.request(chat, json.dumps(callback, ensure_ascii=False).encode(),
                            str(message_id), event_id, "")


SOURCES = {"telegram": TelegramUpdates, "whatsapp": WhatsAppDeliveries, "max": MaxUpdates,
           "vk": VkCallbacks}


class Traffic:
    """The updates of `chats` chats over the channels set up (one, or the four of --mix):
    chat c belongs to the (c mod n)th channel; the channels take turns, each time a random
    chat of the channel's writes, so each kind gets an equal share of the requests."""

    def __init__(self, channels: dict, chats: int, seed: int = 4):
        self.rnd = random.Random(seed)
        self.chats = chats
        self.sources = [SOURCES[kind](channel, self.rnd) for kind, channel in channels.items()]
        n = len(self.sources)
        self.chats_of = [range(i, chats, n) for i in range(n)]
        self.turn = 0

    def make(self, chat: int) -> Request:
        return self.sources[chat % len(self.sources)].make(chat)

    def random(self) -> Request:
        i = self.turn % len(self.sources)
        self.turn += 1
        return self.sources[i].make(self.rnd.choice(self.chats_of[i]))

    def first_messages(self) -> list[tuple[int, str]]:
        """(channel, message id) of each chat's first message, in the order of the chats."""
        n = len(self.sources)
        return [(self.sources[c % n].channel_pk, self.sources[c % n].first[c])
                for c in range(self.chats)]


# --- HTTP load (raw asyncio: the generator must cost little next to the server) ------------


class Connection:
    """One HTTP/1.1 keep-alive connection; reopened when the server closes it (gunicorn's sync
    workers close after every response, as a proxy's upstream connection would see)."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, headers: str) -> int:
        for _attempt in range(2):
            fresh = self.writer is None
            if fresh:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                self.writer.write(
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                    f"{headers}Connection: keep-alive\r\n\r\n".encode() + body
                )
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed")
                status = int(status_line.split()[1])
                length, close = 0, False
                while (line := await self.reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "connection" and "close" in value.lower():
                        close = True
                if length:
                    await self.reader.readexactly(length)
                if close:
                    self.close()
                return status
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if fresh:  # not a stale keep-alive: a real failure
                    raise
        raise ConnectionError("unreachable")


GAVE_UP, NO_ANSWER = -1, 0  # statuses of requests never sent, and of failed connections
STATUS_NAMES = {GAVE_UP: "never sent, server > --give-up s behind",
                NO_ANSWER: "no answer"}


class Phase:
    """Results of one load phase: per request (due, sent, answered, status, kind)."""

    def __init__(self, name: str):
        self.name = name
        self.rows: list[tuple[float, float, float, int, str]] = []
        # accepted update's (channel, message id) -> (when it was due, (channel, event id))
        self.tags: dict[tuple[int, str], tuple[float, tuple[int, str]]] = {}
        self.started = self.ended = self.drained = 0.0

    @property
    def ok(self) -> list[tuple[float, float, float, int, str]]:
        return [r for r in self.rows if r[3] == 200]

    def accepted_per_s(self, kind: str | None = None) -> float:
        ok = [r for r in self.ok if kind is None or r[4] == kind]
        if not ok:
            return 0.0
        return len(ok) / (max(r[2] for r in ok) - self.started)

    def ack_ms(self, kind: str | None = None) -> list[float]:
        return sorted((r[2] - r[0]) * 1000 for r in self.ok if kind is None or r[4] == kind)

    def lag_ms(self) -> list[float]:
        return sorted((r[1] - r[0]) * 1000 for r in self.rows)

    def errors(self) -> dict:
        counts: dict = {}
        for r in self.rows:
            if r[3] != 200:
                name = STATUS_NAMES.get(r[3], f"HTTP {r[3]}")
                counts[name] = counts.get(name, 0) + 1
        return counts


async def _send(conn: Connection, request: Request, due: float, phase: Phase, loop) -> int:
    sent = loop.time()
    try:
        status = await asyncio.wait_for(conn.post(request.path, request.body, request.headers),
                                        30)
    except (TimeoutError, OSError, ValueError, IndexError):
        conn.close()
        status = NO_ANSWER  # refused, reset, timed out or garbled: not accepted
    phase.rows.append((due, sent, loop.time(), status, request.kind))
    return status


async def open_loop(port: int, make_request, *, rate: float, duration: float,
                    connections: int, phase: Phase, give_up: float = 60) -> Phase:
    """`rate` requests a second, each due at its time whatever the server does; a request
    that finds every connection busy waits for one, and its latency counts from when it was
    due (no coordinated omission). One still unsent `give_up` s after it was due is dropped
    and counted as not accepted."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    total = int(rate * duration)

    async def schedule():
        phase.started = start = loop.time() + 0.05
        for i in range(total):
            due = start + i / rate
            if (delay := due - loop.time()) > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((due, make_request()))
        for _ in range(connections):
            queue.put_nowait(None)

    async def connection():
        conn = Connection(port)
        while (job := await queue.get()) is not None:
            due, request = job
            if loop.time() - due > give_up:  # keeps a run on a stalled server finite
                phase.rows.append((due, loop.time(), loop.time(), GAVE_UP, request.kind))
                continue
            if await _send(conn, request, due, phase, loop) == 200 and request.tag:
                phase.tags[request.tag[0]] = (due, request.tag[1])
        conn.close()

    await asyncio.gather(schedule(), *(connection() for _ in range(connections)))
    phase.ended = loop.time()
    return phase


async def closed_loop(port: int, make_request, *, duration: float, connections: int,
                      phase: Phase) -> Phase:
    """As fast as the server answers, `connections` requests in flight: the ceiling."""
    loop = asyncio.get_running_loop()
    phase.started = loop.time()
    deadline = phase.started + duration

    async def connection():
        conn = Connection(port)
        while loop.time() < deadline:
            await _send(conn, make_request(), loop.time(), phase, loop)
        conn.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    phase.ended = loop.time()
    return phase


# --- The deal card: websocket ----------------------------------------------------------------


class DealCards:
    """Websockets of the manager subscribed to the deals; records each timeline entry's
    first arrival."""

    def __init__(self, port: int, cookie: str, deals: list[int]):
        self.url = f"ws://127.0.0.1:{port}/ws/"
        self.origin = f"http://127.0.0.1:{port}"
        self.cookie, self.deals = cookie, deals
        self.arrivals: dict[int, float] = {}
        self.other_events = 0
        self.repeated = 0  # an entry that reached the deal cards again
        self.sockets = []
        self.tasks = []

    async def open(self) -> None:
        """Subscribe to every deal, opening another socket (another tab) whenever the
        consumer's subscription limit is reached."""
        from websockets.asyncio.client import connect

        ws = None
        for deal in self.deals:
            for _attempt in range(2):
                if ws is None:
                    ws = await connect(self.url, origin=self.origin, max_queue=None,
                                       additional_headers={"Cookie": self.cookie})
                    self.sockets.append(ws)
                await ws.send(json.dumps({"subscribe": "deal", "id": deal}))
                answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if answer.get("subscribed") == "deal" and answer.get("id") == deal:
                    break
                if answer.get("error") != "too_many_subscriptions" or _attempt:
                    raise SystemExit(f"websocket: subscribing to deal {deal}: {answer}")
                ws = None
        self.tasks = [asyncio.create_task(self._listen(ws)) for ws in self.sockets]

    async def _listen(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        loop = asyncio.get_running_loop()
        try:
            async for raw in ws:
                at = loop.time()
                event = json.loads(raw)
                if event.get("type") == "timeline.entry":
                    if event["entry"] in self.arrivals:
                        self.repeated += 1
                    self.arrivals.setdefault(event["entry"], at)
                else:
                    self.other_events += 1
        except ConnectionClosed:
            pass

    async def drain(self, expected: int, quiet: float, limit: float) -> None:
        """Wait for `expected` entries, or until none came for `quiet` s (or `limit` s)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        seen, last_change = len(self.arrivals), loop.time()
        while len(self.arrivals) < expected and loop.time() < deadline:
            await asyncio.sleep(0.2)
            if len(self.arrivals) != seen:
                seen, last_change = len(self.arrivals), loop.time()
            elif loop.time() - last_change > quiet:
                break

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)


# --- Correlation through the database --------------------------------------------------------


def snapshot(channel_pks: list[int]) -> dict:
    """What the database holds now: messages, their timeline entries, the events' status;
    messages and events keyed by (channel, the provider's id)."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import close_old_connections

    from crm.models import TimelineEntry
    from inbox.models import InboundEvent, Message

    close_old_connections()
    try:
        events = InboundEvent.objects.filter(channel_id__in=channel_pks)
        entries: dict[int, int] = {}
        repeated_entries: dict[int, int] = {}  # a message's entries after its first
        for source_id, pk in TimelineEntry.objects.filter(
                kind="message", source_type=ContentType.objects.get_for_model(Message),
        ).values_list("source_id", "pk"):
            if source_id in entries:
                repeated_entries[source_id] = repeated_entries.get(source_id, 0) + 1
            entries.setdefault(source_id, pk)
        return {
            "events": {(channel, event_id): status for channel, event_id, status in
                       events.values_list("channel_id", "provider_event_id", "status")},
            # How long each stored update waited for its processing to commit (ms).
            "processing": {(channel, event_id): (done - received).total_seconds() * 1000
                           for channel, event_id, received, done in events.filter(
                               processed_at__isnull=False).values_list(
                               "channel_id", "provider_event_id", "received_at",
                               "processed_at")},
            "messages": {(channel, external_id): pk for channel, external_id, pk in
                         Message.objects.filter(channel_id__in=channel_pks)
                         .values_list("channel_id", "external_id", "pk")},
            "entries": entries,
            "repeated_entries": repeated_entries,
        }
    finally:
        close_old_connections()


def correlate(db: dict, accepted: dict[tuple[int, str], tuple[float, tuple[int, str]]],
              arrivals: dict[int, float], kinds: dict[int, str]) -> dict:
    """update -> message -> entry -> websocket: end-to-end latencies, losses, and updates
    still waiting in the queue when the wait ended (late, not lost); in total and per kind
    of channel (`kinds`: channel -> kind), where a lost or late update counts as never."""
    e2e, no_message, no_event, late = [], 0, 0, 0
    e2e_by_due = {}
    by_kind = {kind: {"e2e": [], "lost": 0, "late": 0, "repeated": 0}
               for kind in kinds.values()}
    processing = sorted(db["processing"][event] for _due, event in accepted.values()
                        if event in db["processing"])
    for key, (due, event) in accepted.items():
        of_kind = by_kind[kinds[key[0]]]
        message = db["messages"].get(key)
        if message is None:
            if db["events"].get(event) == "received":
                late += 1
                of_kind["late"] += 1
            else:
                no_message += 1
                of_kind["lost"] += 1
            of_kind["e2e"].append(float("inf"))
            continue
        of_kind["repeated"] += db["repeated_entries"].get(message, 0)
        at = arrivals.get(db["entries"].get(message))
        if at is None:
            no_event += 1
            of_kind["lost"] += 1
            of_kind["e2e"].append(float("inf"))
            continue
        e2e.append((at - due) * 1000)
        e2e_by_due[due] = e2e[-1]
        of_kind["e2e"].append(e2e[-1])
    for of_kind in by_kind.values():
        of_kind["e2e"].sort()
    statuses: dict[str, int] = {}
    for status in db["events"].values():
        statuses[status] = statuses.get(status, 0) + 1
    return {"e2e": sorted(e2e), "no_message": no_message, "no_event": no_event, "late": late,
            "event_statuses": statuses, "processing": processing, "e2e_by_due": e2e_by_due,
            "by_kind": by_kind}


def write_trace(path: str, main: "Phase", e2e_by_due: dict[float, float],
                mix: bool = False) -> None:
    """One CSV row per webhook request, in the order they were due: when (s from the start),
    ack and webhook-to-websocket latency (ms; empty when it has none), status (and with
    --mix, the kind). For finding when the tail happens (stalls, periodic jobs) rather than
    only how long it is."""
    with open(path, "w") as out:
        out.write(f"due_s,ack_ms,ws_ms,status{',kind' if mix else ''}\n")
        for due, _sent, answered, status, kind in sorted(main.rows):
            ws = e2e_by_due.get(due)
            out.write(f"{due - main.started:.4f},{(answered - due) * 1000:.2f},"
                      f"{'' if ws is None else f'{ws:.2f}'},{status}"
                      f"{',' + kind if mix else ''}\n")


# --- Report ----------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * q))]


def ms(value: float) -> str:
    """A latency; infinite for an update that never reached the deal card."""
    return "never" if value == float("inf") else f"{value:.1f}"


def _cpu_table(cpu: dict, messages: int, span: float) -> list[str]:
    busy = cpu.pop("_machine", 0) / max(cpu.pop("_total", 1), 1e-9)
    transactions, sessions = cpu.pop("_pg")
    lines = [f"  {name:<16} {seconds * 1000 / max(1, messages):>6.2f} ms/msg "
             f"{seconds / span * 100:>5.0f}% of a CPU"
             for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])]
    return [*lines, f"  (PostgreSQL: {transactions / max(1, messages):.1f} transactions and "
                    f"{sessions / max(1, messages):.2f} new sessions per message; the whole "
                    f"machine: {busy * 100:.0f}% busy, other users included)"]


def _kind_table(main: Phase, by_kind: dict, kinds: list[str]) -> str:
    """--mix: the main figures of each kind's share of the load."""
    lines = [f"\n{'per kind':<10} {'accepted msg/s':>24} {'ack p50/p99 ms':>16} "
             f"{'webhook->ws p50/p99 ms':>23} {'losses':>7} {'late':>5} {'dup':>4}"]
    for kind in kinds:
        rows = [r for r in main.rows if r[4] == kind]
        ok = sum(1 for r in rows if r[3] == 200)
        ack, e2e, of_kind = main.ack_ms(kind), by_kind[kind]["e2e"], by_kind[kind]
        accepted = f"{main.accepted_per_s(kind):.1f} ({ok} of {len(rows)})"
        lines.append(f"{kind:<10} {accepted:>24} "
                     f"{f'{pct(ack, 0.5):.1f} / {pct(ack, 0.99):.1f}':>16} "
                     f"{f'{ms(pct(e2e, 0.5))} / {ms(pct(e2e, 0.99))}':>23} "
                     f"{len(rows) - ok + of_kind['lost']:>7} {of_kind['late']:>5} "
                     f"{of_kind['repeated']:>4}")
    return "\n".join([*lines, "(losses: non-200 and accepted but never on the deal card; "
                               "dup: timeline entries beyond one per message)"])


def report(args, info: dict, runs: dict, stack: Stack, bot_api: FakeBotApi) -> bool:
    main, bare, caps, result = runs["main"], runs["bare"], runs["caps"], runs["result"]
    ack, bare_ack = main.ack_ms(), bare.ack_ms()
    # An accepted update that never reached the deal card counts as infinitely late.
    e2e = result["e2e"] + [float("inf")] * (result["no_message"] + result["no_event"]
                                            + result["late"])
    errors = main.errors()
    non_200 = sum(errors.values())
    losses = non_200 + result["no_message"] + result["no_event"]
    accepted = main.accepted_per_s()
    lags = main.lag_ms()
    pg = info["pg_version"]
    print(f"\nproduction stack: gunicorn config.wsgi {WEB_WORKERS} sync workers, uvicorn "
          f"config.asgi {WS_WORKERS} workers, celery worker -c {WORKER_CONCURRENCY}, beat; "
          f"PostgreSQL {pg // 10000}.{pg % 10000}, Redis; {os.cpu_count()} CPUs")
    kinds = list(info["channels"])
    if args.mix:
        per_kind = [len(range(i, args.chats, len(kinds))) for i in range(len(kinds))]
        what = (f"{args.rate:g} updates/s, mix: {', '.join(kinds)} ({args.rate / len(kinds):g}/s "
                f"each, in turn, each to its own channel, signed as its provider signs),")
        chats = f"{args.chats} chats ({', '.join(map(str, per_kind))}; "
    else:
        what, chats = f"{args.rate:g} Telegram updates/s", f"{args.chats} chats ("
    print(f"load: {what} for {args.duration:g} s over "
          f"{args.connections} connections from {chats}one deal each, all "
          f"subscribed on {args.sockets} websocket(s)); requests that found every connection "
          f"busy: {sum(1 for lag in lags if lag > 5)}, p99 wait {pct(lags, 0.99):.1f} ms")
    rows = [
        ("accepted msg/s", f">= {TARGET_RATE}", f"{accepted:.1f}",
         f"{len(main.ok)} of {len(main.rows)} answered 200"),
        ("webhook ack p50 ms", "", f"{pct(ack, 0.5):.1f}", ""),
        ("webhook ack p99 ms", f"<= {TARGET_ACK_P99:g}", f"{pct(ack, 0.99):.1f}",
         f"max {pct(ack, 1):.1f}"),
        ("webhook->ws p50 ms", "", ms(pct(e2e, 0.5)), ""),
        ("webhook->ws p99 ms", f"<= {TARGET_E2E_P99:g}", ms(pct(e2e, 0.99)),
         f"max {ms(pct(e2e, 1))}"),
        ("  stored->processed p50", "", ms(pct(result["processing"], 0.5)),
         f"p99 {ms(pct(result['processing'], 0.99))}: the drain's share of it (database "
         f"clock)"),
        ("losses", "0", f"{losses}",
         f"non-200 {non_200}{' ' + str(errors) if errors else ''}, acked but processed "
         f"without a message {result['no_message']}, message without ws event "
         f"{result['no_event']}"),
        ("late", "0", f"{result['late']}",
         f"accepted, still queued {args.drain_limit:g} s after the load at most "
         f"(--drain-limit)"),
        ("bare view ack p50 ms", "", f"{pct(bare_ack, 0.5):.1f}",
         f"/bench/ack/ at {args.rate:g}/s for {args.bare_duration:g} s: "
         f"{bare.accepted_per_s():.1f}/s accepted, {sum(bare.errors().values())} non-200"),
        ("bare view ack p99 ms", "", f"{pct(bare_ack, 0.99):.1f}", ""),
        ("ack webhook/bare", "", f"p50 x{pct(ack, 0.5) / pct(bare_ack, 0.5):.2f}",
         f"p99 x{pct(ack, 0.99) / pct(bare_ack, 0.99):.2f}"),
    ]
    if caps:
        bare_cap, hook_cap = caps["bare"].accepted_per_s(), caps["webhook"].accepted_per_s()
        rows.append(("ceiling req/s", "", f"{hook_cap:.0f}",
                     f"webhook; bare view {bare_cap:.0f}, x{hook_cap / bare_cap:.2f} "
                     f"(closed loop, {args.capacity:g} s each, {args.connections} connections)"))
    print(f"\n{'':<24} {'target':>8} {'result':>14}  notes")
    for name, target, value, note in rows:
        print(f"{name:<24} {target:>8} {value:>14}  {note}")
    if args.mix:
        print(_kind_table(main, result["by_kind"], kinds))

    span = main.drained - main.started
    print(f"\nCPU per accepted update, from the first request until the deal cards had "
          f"them ({span:.0f} s):")
    print("\n".join(_cpu_table(runs["cpu"], len(main.ok), span)))
    print(f"CPU per request of the bare view ({args.bare_duration:g} s):")
    print("\n".join(_cpu_table(runs["bare_cpu"], len(bare.ok), bare.ended - bare.started)))
    calls = "provider API calls (all four fakes)" if args.mix else "Bot API calls"
    repeated = (f"; entries repeated on the websocket: {result['repeated']}" if args.mix
                else "")
    print(f"event statuses: {result['event_statuses']}; other websocket events: "
          f"{result['other_events']}{repeated}; {calls}: {len(bot_api.calls)}; "
          f"logs in {stack.tmp}")

    met = (args.rate >= TARGET_RATE and accepted >= 0.99 * args.rate and losses == 0
           and result["late"] == 0
           and pct(ack, 0.99) <= TARGET_ACK_P99 and pct(e2e, 0.99) <= TARGET_E2E_P99)
    print(f"\ntargets (>= {TARGET_RATE} msg/s with zero loss, ack p99 <= "
          f"{TARGET_ACK_P99:g} ms, end-to-end p99 <= {TARGET_E2E_P99:g} ms): "
          f"{'met' if met else 'MISSED'}")
    return met


# --- Main ------------------------------------------------------------------------------------


async def run_load(args, info, stack: Stack, deals: list[int], traffic: Traffic,
                   cpu_meter: CpuMeter) -> dict:
    cards = DealCards(stack.ws_port, info["session_cookie"], deals)
    await cards.open()
    args.sockets = len(cards.sockets)
    print(f"websocket: {len(cards.sockets)} socket(s) subscribed to {len(deals)} deals")

    before = await asyncio.to_thread(cpu_meter.snapshot)
    main = await open_loop(stack.web_port, traffic.random, rate=args.rate, duration=args.duration,
                           connections=args.connections, phase=Phase("webhook"),
                           give_up=args.give_up)
    print(f"webhook phase done: {len(main.ok)} of {len(main.rows)} accepted; waiting for the "
          f"deal cards ({len(cards.arrivals)} events so far)")
    await cards.drain(len(main.tags), quiet=args.drain_quiet, limit=args.drain_limit)
    main.drained = asyncio.get_running_loop().time()
    # What the database holds when the wait ends; then a moment for the events of the last
    # messages committed, still on their way.
    db = await asyncio.to_thread(snapshot, list(info["kinds"]))
    after = await asyncio.to_thread(cpu_meter.snapshot)
    await asyncio.sleep(2)
    await cards.close()
    result = correlate(db, main.tags, cards.arrivals, info["kinds"])
    result["other_events"], result["repeated"] = cards.other_events, cards.repeated

    def bare_body():  # the same bodies, to a view that only stores them
        return traffic.random()._replace(path="/bench/ack/", headers="", tag=None)

    bare_before = await asyncio.to_thread(cpu_meter.snapshot)
    bare = await open_loop(stack.web_port, bare_body, rate=args.rate,
                           duration=args.bare_duration, connections=args.connections,
                           phase=Phase("bare"), give_up=args.give_up)
    bare_after = await asyncio.to_thread(cpu_meter.snapshot)
    caps = {}
    if args.capacity > 0:
        caps["bare"] = await closed_loop(stack.web_port, bare_body, duration=args.capacity,
                                         connections=args.connections,
                                         phase=Phase("bare ceiling"))
        caps["webhook"] = await closed_loop(stack.web_port, traffic.random,
                                            duration=args.capacity,
                                            connections=args.connections,
                                            phase=Phase("webhook ceiling"))
    return {"main": main, "bare": bare, "caps": caps, "result": result,
            "cpu": CpuMeter.delta(before, after),
            "bare_cpu": CpuMeter.delta(bare_before, bare_after)}


async def warm_up(args, stack: Stack, traffic: Traffic) -> None:
    phase = Phase("warm-up")
    chats = iter(range(args.chats))
    loop = asyncio.get_running_loop()

    async def connection():
        conn = Connection(stack.web_port)
        for chat in chats:
            await _send(conn, traffic.make(chat), loop.time(), phase, loop)
        for _ in range(20):  # and the bare view's code path
            await _send(conn, Request("/bench/ack/", "", b"{}", None, ""), loop.time(), phase,
                        loop)
        conn.close()

    await asyncio.gather(*(connection() for _ in range(min(8, args.chats))))
    if errors := phase.errors():
        raise SystemExit(f"warm-up: the webhook answered {errors}; see {stack.tmp}/web.log")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=300, help="updates per second")
    parser.add_argument("--duration", type=float, default=300, help="seconds of load")
    parser.add_argument("--chats", type=int, default=50,
                        help="client chats, each with its deal subscribed")
    parser.add_argument("--connections", type=int, default=40,
                        help="concurrent connections (Telegram's default max_connections)")
    parser.add_argument("--bare-duration", type=float, default=None,
                        help="seconds of the bare view at the same rate (default: the "
                             "duration, at most 60)")
    parser.add_argument("--capacity", type=float, default=10,
                        help="seconds of each closed-loop ceiling run (0: skip)")
    parser.add_argument("--drain-quiet", type=float, default=10,
                        help="stop waiting for websocket events after this many quiet s")
    parser.add_argument("--give-up", type=float, default=60,
                        help="drop a request still unsent this many s after it was due")
    parser.add_argument("--drain-limit", type=float, default=120,
                        help="wait at most this many s after the load for the deal cards")
    parser.add_argument("--mix", action="store_true",
                        help="Telegram, WhatsApp, MAX and VK updates in equal shares of the "
                             "rate, each to its own channel, --chats split between them")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--trace", metavar="CSV",
                        help="write each webhook request's times to this file")
    args = parser.parse_args()
    if args.bare_duration is None:
        args.bare_duration = min(args.duration, 60)
    if args.chats < 1 or args.rate <= 0 or args.duration <= 0 or args.connections < 1:
        parser.error("--chats, --rate, --duration and --connections must be positive")
    if args.mix and args.chats < len(KINDS):
        parser.error(f"--mix needs at least {len(KINDS)} --chats, one per kind")

    tmp = Path(tempfile.mkdtemp(prefix="crm-bench-inbox."))
    env = stack_env(tmp)
    os.environ.update(env)
    bot_api = FakeBotApi()
    stack = Stack(env, tmp, web_settings="bench.stack_settings")  # + /bench/ack/
    try:
        print(f"migrate, seed; logs in {tmp}")
        stack.migrate()
        info = setup_data(args, bot_api)
        stack.start()
        traffic = Traffic(info["channels"], args.chats)
        try:
            import uvloop
            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        runner(warm_up(args, stack, traffic))
        deals = wait_warm_up(traffic.first_messages())
        print(f"warm-up: {args.chats} chats have their deals; load: {args.rate:g}/s for "
              f"{args.duration:g} s")
        import redis

        cpu_meter = CpuMeter(stack, info["postmaster"], redis.Redis.from_url(env["REDIS_URL"]))
        runs = runner(run_load(args, info, stack, deals, traffic, cpu_meter))
        stack.check_alive()
        met = report(args, info, runs, stack, bot_api)
        if args.trace:
            write_trace(args.trace, runs["main"], runs["result"]["e2e_by_due"], args.mix)
    finally:
        stack.stop()
        bot_api.server.shutdown()
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
