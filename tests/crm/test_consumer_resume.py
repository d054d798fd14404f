"""An open deal card catches up by itself when the server's link to the live events (its
Redis connection) was down a while: the websocket, still open, is told so. On a real
redis-server, killed and started again on the same port."""

import asyncio
import signal

import pytest

from crm import consumers
from tests.crm.test_consumers import connect
from tests.redis_server import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_socket_is_told_to_catch_up_once_the_events_flow_again(
    anna, settings, monkeypatch, tmp_path
):
    redis = RedisServer(tmp_path).start()
    try:
        settings.CHANNEL_LAYERS = {"default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{redis.port}/0"]}}}
        monkeypatch.setattr(consumers, "HEARTBEAT_SECONDS", 0.2)
        communicator, connected = await connect(anna)
        assert connected
        await asyncio.sleep(0.6)  # heartbeats go round: nothing to tell
        assert await communicator.receive_nothing(timeout=0.1)

        redis.stop(signal.SIGKILL)
        await asyncio.sleep(1)  # beats lost meanwhile, as events would be
        redis.start()
        assert await communicator.receive_json_from(timeout=15) == {"type": "events.resumed"}
        await communicator.disconnect()
    finally:
        redis.stop(signal.SIGKILL)
