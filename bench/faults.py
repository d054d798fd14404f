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

Experiments (`--only <text>`: those whose name holds it). Inbound: the worker killed
(SIGKILL, its pool with it), Redis stopped and started again, Redis killed (SIGKILL) and
started again, PostgreSQL stopped and started again, gunicorn's workers killed mid-request,
every update delivered three times at once.
Outbound: replies posted while Redis is down, the provider down for 20 s, the provider
refusing until the retries run out, the worker killed while sends are in flight (a reply
the provider may have got ends "failed, may have been delivered", never sent twice).
Telephony: 40 calls' events posted twice, reversed and shuffled, in concurrent pairs.
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
    from inbox.models import InboundEvent, Message

    channel = info["channel"]
    ids = {str(i) for i in acked}
    while True:
        events = _db_retry(lambda: dict(
            InboundEvent.objects.filter(channel=channel, provider_event_id__in=ids)
            .values_list("provider_event_id", "status")))
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


# --- Outbound: replies through the REST API ---------------------------------------------------


def _reply_target(info):
    from inbox.models import ChannelIdentity, Conversation

    conversation = (Conversation.objects.filter(channel=info["channel"])
                    .select_related("identity").first())
    if conversation is None:
        raise SystemExit("no conversation to reply in: run the inbound experiments first")
    ChannelIdentity.objects.filter(pk=conversation.identity_id).update(is_unreachable=False)
    return conversation


def post_replies(stack, info, conversation, texts, answers: Counter, *,
                 parallel: int = 1) -> set[str]:
    """Post each reply once (a manager does not retype a reply the page took); the texts
    answered 201."""
    import httpx

    url = (f"http://127.0.0.1:{stack.web_port}/api/v1/conversations/"
           f"{conversation.pk}/messages/")
    headers = {"Authorization": f"Token {info['token']}"}

    def post(text):
        with httpx.Client(timeout=30) as http:
            try:
                status = http.post(url, json={"text": text}, headers=headers).status_code
            except Exception:
                status = "error"
        answers[status] += 1
        return text if status == 201 else None

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return set(pool.map(post, texts)) - {None}


def outbound_outcome(name, conversation, texts, acked, answers, bot_api,
                     fault_ended: float, settle: float = SETTLE_AFTER_FAULT) -> dict:
    """Every reply answered 201 must end sent or failed (a failure says why: given up, or
    interrupted and maybe delivered), and the provider must get each text at most once."""
    from inbox.models import Message

    deadline = fault_ended + settle
    while True:
        states = _db_retry(lambda: dict(
            Message.objects.filter(conversation=conversation, text__in=texts)
            .values_list("text", "status")))
        if all(status in ("sent", "failed") for status in states.values()) \
                or time.monotonic() > deadline:
            break
        time.sleep(1)
    # Delivered: the provider took it (200). A refused try (a 500, a 429) delivered nothing.
    calls = Counter(call.body.get("text") for call in bot_api.calls("sendMessage")
                    if call.status == 200)
    settled = all(status in ("sent", "failed") for status in states.values())
    unknown = _db_retry(lambda: Message.objects.filter(
        conversation=conversation, text__in=texts, delivery_unknown=True).count())
    return {
        "experiment": name, "sent": len(texts), "answers": dict(answers),
        "stored": len(states), "processed": sum(1 for s in states.values() if s == "sent"),
        "failed": sum(1 for s in states.values() if s == "failed"),
        "maybe_delivered": unknown,
        "doubled": sum(1 for text in texts if calls[text] > 1),
        "lost": sum(1 for text in acked if text not in states),
        "stuck": sum(1 for s in states.values() if s not in ("sent", "failed")),
        "settled_s": round(time.monotonic() - fault_ended, 1) if settled else None,
    }


def _texts(count: int) -> list[str]:
    return [f"Ответ {secrets.token_hex(4)}" for _ in range(count)]


def restart_postgres(stack, redis):
    """PostgreSQL stopped (fast: connections cut) and started 5 s later. Needs the cluster's
    directory: scripts/test-services.sh exports TEST_PG_DATA and TEST_PG_BIN."""
    import subprocess

    data, pg_bin = os.environ.get("TEST_PG_DATA"), os.environ.get("TEST_PG_BIN")
    if not (data and pg_bin):
        raise SystemExit("TEST_PG_DATA / TEST_PG_BIN not set: run through "
                         "scripts/test-services.sh")
    as_pg = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    opts = Path(data, "postmaster.opts").read_text().split(None, 1)[1]  # what it runs with
    subprocess.run([*as_pg, f"{pg_bin}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                   check=True, capture_output=True)
    time.sleep(5)
    subprocess.run([*as_pg, f"{pg_bin}/pg_ctl", "-D", data, "-l", f"{data}/server.log", "-w",
                    "-o", opts.replace(f'"-D" "{data}"', "").strip(), "start"],
                   check=True, capture_output=True)


def kill_web_workers(stack, redis):
    """Every gunicorn worker killed mid-request, twice, 3 s apart; the master forks new
    ones (the master itself is the supervisor's)."""
    for _round in range(2):
        master = stack.procs["web"].pid
        for pid in _children(master):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(3)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def experiment_replies_redis_down(stack, redis, info, bot_api, count: int = 10):
    """Replies posted while Redis is down, all in one chat: the sweeper queues them within
    its period of Redis being back, then the chat takes one a second (Telegram's per-chat
    limit), in order: N replies settle about N seconds after that."""
    conversation, texts, answers = _reply_target(info), _texts(count), Counter()
    redis.stop()
    acked = post_replies(stack, info, conversation, texts, answers)
    redis.start()
    return outbound_outcome("replies while Redis is down", conversation, texts, acked, answers,
                            bot_api, time.monotonic())


def experiment_provider_down(stack, redis, info, bot_api, count: int = 20, down: float = 20):
    """The Bot API answers 500 to every send for `down` seconds: the retries send each reply
    once it is back."""
    conversation, texts, answers = _reply_target(info), _texts(count), Counter()
    bot_api.fail_next("500", times=100_000, method="sendMessage")
    acked = post_replies(stack, info, conversation, texts, answers, parallel=4)
    time.sleep(down)
    bot_api._failures.clear()
    return outbound_outcome(f"provider down {down:.0f} s", conversation, texts, acked,
                            answers, bot_api, time.monotonic())


def experiment_retries_exhausted(stack, redis, info, bot_api, count: int = 3):
    """The Bot API keeps answering 429 (retry after 1 s): each reply fails when its retries
    run out (9 tries), with the reason, and none is sent. The chat's replies go in order, so
    the last one's tries begin when the one before has given up."""
    conversation, texts, answers = _reply_target(info), _texts(count), Counter()
    bot_api.fail_next("429", times=100_000, method="sendMessage")
    acked = post_replies(stack, info, conversation, texts, answers, parallel=4)
    result = outbound_outcome("retries exhausted (429 forever)", conversation, texts, acked,
                              answers, bot_api, time.monotonic(), settle=120)
    bot_api._failures.clear()
    return result


def experiment_worker_killed_mid_send(stack, redis, info, bot_api, count: int = 10):
    """The provider takes 5 s to answer; the worker is killed while sends are in flight. A
    reply the provider got must end "failed, may have been delivered" (never sent again by
    itself), the others sent once."""
    conversation, texts, answers = _reply_target(info), _texts(count), Counter()
    bot_api.send_delay = 5.0
    acked = post_replies(stack, info, conversation, texts, answers, parallel=4)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
            call.body.get("text") in texts for call in bot_api.calls("sendMessage")):
        time.sleep(0.2)
    stack.kill("worker")  # the supervisor starts it again
    bot_api.send_delay = 0.0
    # A text cut off mid-attempt is given up TEXT_CUT_OFF_AFTER (30 s) after it began, when
    # no provider call can still be running, at the next sweep: within the usual bound.
    return outbound_outcome("worker killed mid-send", conversation, texts, acked, answers,
                            bot_api, time.monotonic(), settle=SETTLE_AFTER_FAULT)


# --- Telephony: Mango's events doubled, reversed, shuffled, in concurrent pairs -----------------


def experiment_calls(stack, info, calls: int = 40) -> dict:
    """Every event of `calls` calls posted twice: the first copy of each call's events in
    reverse order, the second shuffled, the two copies of each event at the same moment from
    two threads; each answer but 200 posted again a second later, as Mango does. Exactly
    `calls` calls must result, each with its summary and talk time."""
    import random

    import httpx

    from telephony.models import Call, Extension, PbxAccount, PbxLine
    from tests.telephony import mango_events as mango

    account = PbxAccount.objects.create(
        name=f"faults {secrets.token_hex(3)}", team=info["manager"].team,
        api_key=mango.API_KEY, api_salt=mango.API_SALT, api_base_url="http://127.0.0.1:9/")
    line = f"+7495{random.randrange(10**6, 10**7)}"
    PbxLine.objects.create(account=account, number=line, name="Отдел продаж",
                           team=info["manager"].team)
    Extension.objects.create(account=account, extension="101", user=info["manager"])
    base = f"http://127.0.0.1:{stack.web_port}/hooks/mango/{account.uuid}/"
    rng = random.Random(7)
    requests = []
    for n in range(calls):
        events = mango.incoming(entry_id=f"faults-{account.pk}-{n}", number=f"7916{n:07d}",
                                line=line, extension="101", at=mango.T0 + n * 300,
                                answered=n % 3 != 0, talk=30 + n)
        shuffled = events[:]
        rng.shuffle(shuffled)
        requests += list(zip(reversed(events), shuffled, strict=True))
    answers: Counter = Counter()

    def deliver_one(path_payload):
        path, payload = path_payload
        text = mango.encode(payload)
        form = {"vpbx_api_key": mango.API_KEY, "sign": mango.sign(text), "json": text}
        with httpx.Client(timeout=30) as http:
            for _try in range(60):
                try:
                    status = http.post(base + path, data=form).status_code
                except Exception:
                    status = "error"
                answers[status] += 1
                if status == 200:
                    return
                time.sleep(1)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(deliver_one, [event for pair in requests for event in pair]))
    deadline = time.monotonic() + SETTLE_AFTER_FAULT
    while True:
        rows = _db_retry(lambda: list(Call.objects.filter(account=account).values_list(
            "entry_id", "summarized")))
        done = [entry for entry, finished in rows if finished]
        if len(done) >= calls or time.monotonic() > deadline:
            break
        time.sleep(1)
    entries = Counter(entry for entry, _finished in rows)
    return {
        "experiment": f"{calls} calls' events twice, reversed, shuffled, in pairs",
        "sent": sum(len(pair) for pair in requests), "answers": dict(answers),
        "stored": len(entries), "processed": len(done),
        "doubled": sum(1 for count in entries.values() if count > 1),
        "lost": calls - len(entries),
        "stuck": len(entries) - len(done),
        "settled_s": round(time.monotonic() - started, 1) if len(done) == calls else None,
    }


def _db_retry(read, tries: int = 30):
    """A read from this script's own connection, across a PostgreSQL restart."""
    from django.db import InterfaceError, OperationalError, close_old_connections, connection

    for attempt in range(tries):
        close_old_connections()
        try:
            return read()
        except (OperationalError, InterfaceError):
            connection.close()
            if attempt == tries - 1:
                raise
            time.sleep(1)


def report(results: list[dict], restarts: Counter) -> bool:
    columns = ["experiment", "sent", "answers", "stored", "processed", "failed",
               "maybe_delivered", "doubled", "lost", "stuck", "settled_s"]
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
    parser.add_argument("--only", default="", help="run only the experiments whose name "
                        "holds this text (the outbound ones need an inbound one first)")
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
            ("PostgreSQL stopped, started 5 s later", restart_postgres, 1),
            ("gunicorn's workers killed mid-request", kill_web_workers, 1),
            ("every update three times at once", None, 3),
        ]
        first_id = 500_000_000
        wanted = args.only.lower()
        for name, fault, copies in plan:
            if wanted and wanted not in name.lower() and name != "no fault":
                continue
            result = experiment_inbound(name, stack, redis, info, args, first_id,
                                        fault=fault, copies=copies)
            print(result)
            results.append(result)
            first_id += args.updates
        for experiment in (experiment_replies_redis_down, experiment_provider_down,
                           experiment_retries_exhausted, experiment_worker_killed_mid_send,
                           experiment_calls):
            if wanted and wanted not in (experiment.__doc__ or "").lower() + \
                    experiment.__name__:
                continue
            result = (experiment(stack, info) if experiment is experiment_calls
                      else experiment(stack, redis, info, bot_api))
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
