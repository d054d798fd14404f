"""The production install, proven end to end: what `pip install .` alone (the Dockerfile's
install, no test extras) carries must run every production process.

    scripts/test-services.sh .venv/bin/python scripts/production_smoke.py --runtime-venv DIR

DIR is a virtualenv holding only `pip install .` (`make smoke-production` builds one). From it,
with CRM_MODE=production on the PostgreSQL and Redis of DATABASE_URL and REDIS_URL: the
Dockerfile's build steps (compiled translations, collectstatic), `migrate`, then the compose
file's web (gunicorn), ws (uvicorn), worker and beat (Celery). Then, as Telegram and a manager
would:

1. a Telegram update is posted to the channel's webhook (answer 200);
2. the worker processes it: a contact, a lead deal and the message in its conversation;
3. the manager's websocket (session cookie, subscribed to that deal) is open, and a reply is
   posted through the REST API with a token (answer 201);
4. the worker sends it to a local fake of the Bot API (sendMessage with the reply's text), the
   message is stored as sent, and its status change reaches the websocket.

Exits 1 with the processes' logs when any step does not happen within its time. This script
itself runs with the test virtualenv (it reuses the fake Bot API of the tests).
"""

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import Stack, stack_env  # noqa: E402 (after the path is set)
from tests.inbox.fake_bot_api import FakeBotApi  # noqa: E402

TOKEN = "123456:SMOKE-token"
STEP_TIMEOUT = 60


class SmokeFailed(Exception):
    pass


def wait_for(what: str, check, timeout: float = STEP_TIMEOUT, stack: Stack | None = None):
    deadline = time.monotonic() + timeout
    while True:
        if stack is not None:
            stack.check_alive()
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise SmokeFailed(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)


def build_steps(python: Path, env: dict) -> None:
    """The Dockerfile's steps after `pip install .`, with the runtime interpreter."""
    for argv in ([str(python), "scripts/compile_messages.py"],
                 [str(python), "manage.py", "collectstatic", "--noinput", "-v", "0"]):
        subprocess.run(argv, cwd=ROOT, env=env, check=True)


def setup_data(bot_api: FakeBotApi) -> dict:
    import django

    django.setup()
    from django.contrib.auth.models import Group

    from inbox.models import Channel
    from security import roles
    from security.models import Team, User

    team = Team.objects.create(name="smoke")
    password = secrets.token_urlsafe()
    manager = User.objects.create_user("smoke_manager", password=password, team=team)
    manager.groups.add(Group.objects.get(name=roles.MANAGER))
    channel = Channel.objects.create(
        kind=Channel.Kind.TELEGRAM, name="smoke telegram", team=team, credentials=TOKEN,
        webhook_secret=secrets.token_urlsafe(32), api_base_url=bot_api.base_url,
    )
    return {"channel": channel, "manager": manager, "password": password}


def telegram_update(text: str) -> dict:
    update = json.loads((ROOT / "tests/inbox/fixtures/telegram/message_text.json").read_text())
    update["update_id"] = 910_000_001
    update["message"]["text"] = text
    # Telegram numbers a chat's messages in both directions from one sequence; the fake Bot
    # API numbers its sent messages from 100.
    update["message"]["message_id"] = 7
    return update


def inbound_message(channel):
    from django.db import close_old_connections

    from inbox.models import Message

    close_old_connections()
    return (Message.objects.filter(channel=channel, direction=Message.Direction.INBOUND)
            .select_related("conversation").first())


async def reply_round_trip(stack: Stack, data: dict, conversation) -> None:
    """Open the deal card's websocket, reply through the API, and wait for the fake Bot API
    to get the text and the websocket to hear that the reply was sent."""
    import httpx
    from websockets.asyncio.client import connect

    base = f"http://127.0.0.1:{stack.web_port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        # A browser's session for the websocket: the login page, as a manager logs in.
        login = await http.get("/login/")
        csrf = login.cookies.get("csrftoken")
        answer = await http.post("/login/", data={
            "username": data["manager"].username, "password": data["password"],
            "csrfmiddlewaretoken": csrf}, headers={"Referer": f"{base}/login/"})
        if answer.status_code not in (200, 302) or "sessionid" not in http.cookies:
            raise SmokeFailed(f"login: HTTP {answer.status_code}, no session")
        cookie = f"sessionid={http.cookies['sessionid']}"

        deal = conversation.deal_id
        async with connect(f"ws://127.0.0.1:{stack.ws_port}/ws/",
                           origin=f"http://127.0.0.1:{stack.ws_port}",
                           additional_headers={"Cookie": cookie}) as ws:
            await ws.send(json.dumps({"subscribe": "deal", "id": deal}))
            subscribed = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if subscribed != {"subscribed": "deal", "id": deal}:
                raise SmokeFailed(f"websocket: subscribing to deal {deal}: {subscribed}")

            token = await http.post("/api/v1/auth/token/", json={
                "username": data["manager"].username, "password": data["password"]})
            if token.status_code != 200:
                raise SmokeFailed(f"token: HTTP {token.status_code} {token.text[:200]}")
            text = "Добрый день! Счёт во вложении — <b>не тег</b>"
            posted = await http.post(
                f"/api/v1/conversations/{conversation.pk}/messages/", json={"text": text},
                headers={"Authorization": f"Token {token.json()['token']}"})
            if posted.status_code != 201:
                raise SmokeFailed(f"reply: HTTP {posted.status_code} {posted.text[:200]}")
            message_id = posted.json()["id"]
            print(f"reply posted through the API (201), message {message_id}")

            async def status_sent():
                while True:
                    event = json.loads(await ws.recv())
                    if (event.get("type") == "message.status"
                            and event.get("message") == message_id
                            and event.get("status") == "sent"):
                        return event

            await asyncio.wait_for(status_sent(), STEP_TIMEOUT)
            print("the websocket heard the reply's status: sent")
    return message_id, text


def run(runtime_venv: Path, keep: bool) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="crm-smoke-"))
    env = stack_env(tmp)
    # The proxy terminates TLS in production; here the requests reach gunicorn over plain
    # HTTP, where a browser would not send a Secure cookie back.
    env.update(SESSION_COOKIE_SECURE="false")
    bin_dir = runtime_venv / "bin"
    stack = Stack(env, tmp, bin_dir=bin_dir)
    bot_api = FakeBotApi(token=TOKEN).start()
    os.environ.update(env)  # this process reads the same database with the same keys
    try:
        build_steps(bin_dir / "python", env)
        stack.migrate()
        stack.start()
        print(f"production processes up from {runtime_venv}: web :{stack.web_port}, "
              f"ws :{stack.ws_port}, worker, beat")
        data = setup_data(bot_api)
        channel = data["channel"]

        import httpx

        answer = httpx.post(f"http://127.0.0.1:{stack.web_port}/hooks/telegram/{channel.uuid}/",
                            json=telegram_update("Здравствуйте! Нужен счёт на 20 ноутбуков"),
                            headers={"X-Telegram-Bot-Api-Secret-Token": channel.webhook_secret},
                            timeout=30)
        if answer.status_code != 200:
            raise SmokeFailed(f"webhook: HTTP {answer.status_code}")
        print("webhook answered 200")
        inbound = wait_for("the worker processing the update", lambda: inbound_message(channel),
                           stack=stack)
        if inbound.conversation.deal_id is None:
            raise SmokeFailed("the inbound message has no deal")
        print(f"processed: message {inbound.pk} in deal {inbound.conversation.deal_id}")

        message_id, text = asyncio.run(reply_round_trip(stack, data, inbound.conversation))
        sent = wait_for("sendMessage at the fake Bot API", lambda: bot_api.calls("sendMessage"))
        if sent[0].body.get("text") != text:
            raise SmokeFailed(f"sendMessage carried {sent[0].body.get('text')!r}")
        from inbox.models import Message

        status = Message.objects.get(pk=message_id).status
        if status != Message.Status.SENT:
            raise SmokeFailed(f"the reply is stored as {status}")
        print("sendMessage reached the fake Bot API with the reply's text; stored as sent")
        stack.check_alive()
        print("production smoke: OK")
        return 0
    except (SmokeFailed, subprocess.CalledProcessError, SystemExit, TimeoutError) as error:
        print(f"production smoke FAILED: {error!r}", file=sys.stderr)
        for log in sorted(tmp.glob("*.log")):
            print(f"--- {log.name} (last 40 lines)", file=sys.stderr)
            print("\n".join(log.read_text(errors="replace").splitlines()[-40:]), file=sys.stderr)
        return 1
    finally:
        stack.stop()
        bot_api.stop()
        if not keep:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runtime-venv", type=Path, required=True,
                        help="a virtualenv with only `pip install .`")
    parser.add_argument("--keep", action="store_true", help="keep the logs and media folder")
    args = parser.parse_args()
    return run(args.runtime_venv.resolve(), args.keep)


if __name__ == "__main__":
    sys.exit(main())
