"""The website visitor's websocket (`/ws/widget/<public key>/`).

Not the staff socket: no session, and not behind AllowedHostsOriginValidator (the visitor's
page is on the company's site, not on this host). Instead the Origin must be one of the
channel's sites, else the handshake is refused. The first message must carry the visitor's
token, `{"token": "..."}` (not the query string, which access logs keep); the socket then joins
that visitor's group only, and receives the replies sent to them:
`{"type": "message", "message": {"id", "direction": "out", "text", "at"}}`.
"""

import asyncio
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from core.untrusted import UntrustedJSON, parse_json
from inbox import website
from inbox.providers.website import visitor_group

logger = logging.getLogger("inbox.widget")

TOKEN_WAIT_SECONDS = 10
# The widget's one frame carries its token: a few hundred bytes.
MAX_FRAME_BYTES = 4096
CLOSE_UNKNOWN_TOKEN = 4403


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


class WidgetConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self):
        key = self.scope["url_route"]["kwargs"].get("public_key", "")
        origin = _header(self.scope, b"origin")
        self.channel_row = await database_sync_to_async(website.channel_for_key)(key)
        if self.channel_row is None or not website.origin_allowed(self.channel_row, origin):
            logger.warning("website chat socket refused: key known=%s, origin %r",
                           self.channel_row is not None, origin[:200])
            await self.close()
            return
        await self.accept()
        self._deadline = asyncio.get_running_loop().call_later(
            TOKEN_WAIT_SECONDS, lambda: asyncio.ensure_future(self._no_token()))

    async def _no_token(self):
        if self.group is None:
            await self.close(code=CLOSE_UNKNOWN_TOKEN)

    async def disconnect(self, code):
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if self.group is not None:
            return  # the widget only listens once it has joined
        try:
            token = parse_json(text_data or "", max_bytes=MAX_FRAME_BYTES).get("token")
        except (UntrustedJSON, AttributeError):
            token = None
        if not website.token_valid(self.channel_row, token):
            await self.close(code=CLOSE_UNKNOWN_TOKEN)
            return
        self._deadline.cancel()
        self.group = visitor_group(website.visitor_id(self.channel_row, token))
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send(text_data=json.dumps({"type": "ready"}))

    async def widget_message(self, event):
        message = event["message"]
        await self.send(text_data=json.dumps({"type": "message", "message": {
            "id": message["id"], "direction": message["direction"], "text": message["text"],
            "at": message["at"],
        }}, ensure_ascii=False))
