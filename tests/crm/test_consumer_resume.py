"""An open deal card catches up by itself when the server's link to the live events (its
Redis connection) was down a while: the websocket, still open, is told so. On a real
redis-server, killed and started again on the same port."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from crm import consumers
from tests.crm.test_consumers import connect

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self, directory):
        self.port, self.directory, self.process = _free_port(), directory, None

    def start(self):
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)

    def kill(self):
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()


async def test_a_socket_is_told_to_catch_up_once_the_events_flow_again(
    anna, settings, monkeypatch, tmp_path
):
    redis = Redis(tmp_path)
    redis.start()
    try:
        settings.CHANNEL_LAYERS = {"default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{redis.port}/0"]}}}
        monkeypatch.setattr(consumers, "HEARTBEAT_SECONDS", 0.2)
        communicator, connected = await connect(anna)
        assert connected
        await asyncio.sleep(0.6)  # heartbeats go round: nothing to tell
        assert await communicator.receive_nothing(timeout=0.1)

        redis.kill()
        await asyncio.sleep(1)  # beats lost meanwhile, as events would be
        redis.start()
        assert await communicator.receive_json_from(timeout=15) == {"type": "events.resumed"}
        await communicator.disconnect()
    finally:
        if redis.process.poll() is None:
            redis.kill()
