"""Faults on the production stack: is anything lost, doubled or stuck? (`make faults`; not in CI)

    make faults
    scripts/test-services.sh .venv/bin/python bench/faults.py --updates 300 --rate 50

The compose file's processes (bench/stack.py: gunicorn, uvicorn, a Celery worker and beat,
CRM_MODE=production) on the PostgreSQL of DATABASE_URL and a redis-server of this script's
own (append-only, as in production), with a supervisor that starts again any process that
exits within 2 s, as compose's restart policy and deploy/systemd do. A Telegram channel aims
at a local fake Bot API. Each experiment:

- inbound: `--updates` Telegram updates posted at `--rate` per second, every answer but 200
  re-sent a second later, as Telegram does; the fault strikes a third of the way through;
- outbound: replies posted through the REST API while the fault lasts.

Then it waits for everything to settle (at most the sweepers' period plus 30 s after the fault
ended) and counts, from the database and the fake Bot API: sent, answers by status, stored,
processed, doubled (more than one message for one update, or more than one sendMessage for one
reply), lost (acknowledged and never processed, or answered 201 and never sent nor failed),
stuck (not settled in time), and the time to settle. Exits 1 when anything is lost, doubled or
stuck.

Experiments: the worker killed (SIGKILL, its pool with it), Redis stopped and started again,
Redis killed (SIGKILL) and started again, every update delivered three times at once, and
replies posted while Redis is down. Still to come: PostgreSQL restarts, gunicorn workers
killed, a worker killed mid-send, the provider down, telephony's duplicates and reordering.
"""

import argparse
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import Stack, stack_env  # noqa: E402
from tests.inbox.fake_bot_api import FakeBotApi  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

SETTLE_AFTER_FAULT = 30 + 30  # the sweepers' period, plus 30 s
FIRST_CHAT = 920_000_000


class Supervisor(threading.Thread):
    """Starts again whatever exited, 2 s later (Restart=always, RestartSec=2)."""

    def __init__(self, stack: Stack):
        super().__init__(daemon=True)
        self.stack, self.restarts = stack, Counter()
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(2):
            for name in self.stack.restart_dead():
                self.restarts[name] += 1


# --- Setup through the ORM -------------------------------------------------------------------


def setup(bot_api: FakeBotApi) -> dict:
    import django

    django.setup()
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from inbox.models import Channel
    from security import roles
    from security.models import Team, User

    team = Team.objects.create(name=f"faults-{secrets.token_hex(3)}")
    manager = User.objects.create_user(f"faults_{secrets.token_hex(3)}", team=team,
                                       password=secrets.token_urlsafe())
    manager.groups.add(Group.objects.get(name=roles.MANAGER))
    channel = Channel.objects.create(
        kind=Channel.Kind.TELEGRAM, name=f"faults {team.name}", team=team,
        credentials=bot_api.token, webhook_secret=secrets.token_urlsafe(24),
        api_base_url=bot_api.base_url)
    return {"channel": channel, "manager": manager,
            "token": Token.objects.create(user=manager).key}


def update(update_id: int, chat: int, text: str) -> bytes:
    body = json.loads((ROOT / "tests/inbox/fixtures/telegram/message_text.json").read_text())
    body["update_id"] = update_id
    message = body["message"]
    message["message_id"] = update_id
    message["text"] = text
    message["chat"]["id"] = message["from"]["id"] = chat
    return json.dumps(body, ensure_ascii=False).encode()


# --- Load -------------------------------------------------------------------------------------


def deliver(http, url: str, secret: str, body: bytes, answers: Counter,
            give_up: float = 180) -> bool:
    """Post until the answer is 200, a second between tries, as Telegram does."""
    deadline = time.monotonic() + give_up
    while time.monotonic() < deadline:
        try:
            status = http.post(url, content=body, headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": secret}).status_code
        except Exception:
            status = "error"
        answers[status] += 1
        if status == 200:
            return True
        time.sleep(1)
    return False


def send_updates(stack, info, *, first_id: int, count: int, rate: float, copies: int = 1,
                 fault=None) -> tuple[Counter, list[int]]:
    import httpx

    url = f"http://127.0.0.1:{stack.web_port}/hooks/telegram/{info['channel'].uuid}/"
    secret = info["channel"].webhook_secret
    answers: Counter = Counter()
    acked: list[int] = []
    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(max_workers=40) as pool:
        futures = []
        started = time.monotonic()
        for n in range(count):
            if fault is not None and n == count // 3:
                threading.Thread(target=fault, daemon=True).start()
            due = started + n / rate
            time.sleep(max(0.0, due - time.monotonic()))
            update_id = first_id + n
            body = update(update_id, FIRST_CHAT + n % 20, f"Сообщение {update_id}")
            for _copy in range(copies):
                futures.append((update_id, pool.submit(deliver, http, url, secret, body,
                                                       answers)))
        for update_id, future in futures:
            if future.result():
                acked.append(update_id)
    return answers, sorted(set(acked))


def inbound_outcome(info, acked: list[int], fault_ended: float, deadline: float) -> dict:
    from django.db import close_old_connections

    from inbox.models import InboundEvent, Message

    channel = info["channel"]
    ids = {str(i) for i in acked}
    while True:
        close_old_connections()
        events = dict(InboundEvent.objects.filter(channel=channel, provider_event_id__in=ids)
                      .values_list("provider_event_id", "status"))
        processed = sum(1 for status in events.values() if status == "processed")
        if processed == len(ids) or time.monotonic() > deadline:
            break
        time.sleep(1)
    settled = time.monotonic() - fault_ended
    texts = Counter(Message.objects.filter(channel=channel, direction="in")
                    .values_list("text", flat=True))
    wanted = {f"Сообщение {i}" for i in acked}
    return {
        "stored": len(events), "processed": processed,
        "doubled": sum(1 for text in wanted if texts[text] > 1),
        "lost": sum(1 for text in wanted if texts[text] == 0 and
                    events.get(text.split()[-1]) == "processed"),
        "stuck": len(ids) - processed,
        "settled_s": round(settled, 1) if processed == len(ids) else None,
    }


# --- Experiments -----------------------------------------------------------------------------


def experiment_inbound(name, stack, redis, info, args, first_id, *, fault=None, copies=1):
    fault_ended = {"at": time.monotonic()}

    def strike():
        fault(stack, redis)
        fault_ended["at"] = time.monotonic()

    answers, acked = send_updates(stack, info, first_id=first_id, count=args.updates,
                                  rate=args.rate, copies=copies,
                                  fault=strike if fault else None)
    if fault is None:
        fault_ended["at"] = time.monotonic()
    outcome = inbound_outcome(info, acked, fault_ended["at"],
                              fault_ended["at"] + SETTLE_AFTER_FAULT)
    return {"experiment": name, "sent": args.updates * copies,
            "answers": dict(answers), **outcome}


def kill_worker(stack, redis):
    stack.kill("worker")  # the supervisor starts it again


def restart_redis(sig):
    def fault(stack, redis):
        redis.stop(sig)
        time.sleep(5)
        redis.start()
    return fault


def experiment_replies_redis_down(stack, redis, info, bot_api, count: int = 20):
    import httpx
    from django.db import close_old_connections

    from inbox.models import ChannelIdentity, Conversation, Message

    deal_conversation = (Conversation.objects.filter(channel=info["channel"])
                         .select_related("identity").first())
    if deal_conversation is None:
        raise SystemExit("no conversation to reply in: run the inbound experiments first")
    ChannelIdentity.objects.filter(pk=deal_conversation.identity_id).update(is_unreachable=False)
    url = (f"http://127.0.0.1:{stack.web_port}/api/v1/conversations/"
           f"{deal_conversation.pk}/messages/")
    headers = {"Authorization": f"Token {info['token']}"}
    answers: Counter = Counter()
    texts = [f"Ответ {secrets.token_hex(4)}" for _ in range(count)]
    redis.stop()
    with httpx.Client(timeout=30) as http:
        for text in texts:
            answers[http.post(url, json={"text": text}, headers=headers).status_code] += 1
    redis.start()
    fault_ended = time.monotonic()
    deadline = fault_ended + SETTLE_AFTER_FAULT
    while True:
        close_old_connections()
        states = dict(Message.objects.filter(conversation=deal_conversation, text__in=texts)
                      .values_list("text", "status"))
        if all(status in ("sent", "failed") for status in states.values()) \
                or time.monotonic() > deadline:
            break
        time.sleep(1)
    calls = Counter(call.body.get("text") for call in bot_api.calls("sendMessage"))
    settled = all(status in ("sent", "failed") for status in states.values())
    return {
        "experiment": "replies while Redis is down", "sent": count, "answers": dict(answers),
        "stored": len(states), "processed": sum(1 for s in states.values() if s == "sent"),
        "doubled": sum(1 for text in texts if calls[text] > 1),
        "lost": sum(1 for text in texts if text not in states),
        "stuck": sum(1 for s in states.values() if s not in ("sent", "failed")),
        "settled_s": round(time.monotonic() - fault_ended, 1) if settled else None,
    }


def report(results: list[dict], restarts: Counter) -> bool:
    columns = ["experiment", "sent", "answers", "stored", "processed", "doubled", "lost",
               "stuck", "settled_s"]
    print()
    print(" | ".join(columns))
    print(" | ".join("---" for _ in columns))
    for row in results:
        print(" | ".join(str(row.get(column)) for column in columns))
    print(f"\nsupervisor restarts: {dict(restarts) or 'none'}")
    return all(row["doubled"] == 0 and row["lost"] == 0 and row["stuck"] == 0
               for row in results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=300, help="updates per experiment")
    parser.add_argument("--rate", type=float, default=50, help="updates per second")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="crm-faults-"))
    redis = RedisServer(tmp, appendonly=True).start()
    env = stack_env(tmp)
    env["REDIS_URL"] = redis.url
    os.environ.update(env)
    stack = Stack(env, tmp)
    bot_api = FakeBotApi().start()
    supervisor = Supervisor(stack)
    results = []
    try:
        stack.migrate()
        stack.start()
        supervisor.start()
        info = setup(bot_api)
        print(f"stack up (logs in {tmp}); {args.updates} updates at {args.rate}/s each")
        plan = [
            ("no fault", None, 1),
            ("worker killed", kill_worker, 1),
            ("Redis stopped, started 5 s later", restart_redis(signal.SIGTERM), 1),
            ("Redis killed, started 5 s later", restart_redis(signal.SIGKILL), 1),
            ("every update three times at once", None, 3),
        ]
        first_id = 500_000_000
        for name, fault, copies in plan:
            result = experiment_inbound(name, stack, redis, info, args, first_id,
                                        fault=fault, copies=copies)
            print(result)
            results.append(result)
            first_id += args.updates
        result = experiment_replies_redis_down(stack, redis, info, bot_api)
        print(result)
        results.append(result)
    finally:
        supervisor.stopped.set()
        stack.stop()
        redis.stop()
        bot_api.stop()
    ok = report(results, supervisor.restarts)
    print("\nall settled with nothing lost, doubled or stuck" if ok else "\nFAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
