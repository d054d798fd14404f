"""The one websocket consumer (`/ws/`).

A browser subscribes to the pages it shows (`{"subscribe": "deal", "id": 7}`); the consumer
joins the deal's group only if the deal passes the same selector as the deal card, and
answers `{"error": "not_found"}` otherwise. Every user is also in their own group for
personal events (later: screen pops, forced logout); a `deal.access_changed` event there
makes the consumer check the deal again and leave its group when the user lost it. And each
socket is in its session's group: logging out (`session.ended`) closes it with code 4401.

Events published while this process's connection to Redis was down never arrive (the pub/sub
layer keeps nothing). So every HEARTBEAT_SECONDS the socket sends itself a heartbeat through
the layer; when one does not come back, and later one does, the browser is told
`{"type": "events.resumed"}` and the page fetches what it may have missed, as after a
reconnect of its own socket.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core import events
from core.untrusted import UntrustedJSON, parse_json
from crm.selectors import deals_visible_to
from security.audit import access_log
from security.audit.access_log import Action, Surface

logger = logging.getLogger("events")

MAX_SUBSCRIPTIONS = 50
HEARTBEAT_SECONDS = 20
# A browser's frames are subscriptions: `{"subscribe": "deal", "id": 7}`.
MAX_FRAME_BYTES = 4096
# The close code for "not logged in (any more)": the page's script does not reconnect.
SESSION_ENDED = 4401


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=SESSION_ENDED)
            return
        self.user = user
        self.groups_joined: set[str] = set()
        await self._join(events.user_group(user.pk))
        session = self.scope.get("session")
        if session is not None and session.session_key:
            await self._join(events.session_group(session.session_key))
        await self.accept()
        self._beats_sent = self._beats_back = 0
        self._beats_lost = False
        self._heartbeat = asyncio.create_task(self._beat())

    async def disconnect(self, code):
        if getattr(self, "_heartbeat", None) is not None:
            self._heartbeat.cancel()
        for group in getattr(self, "groups_joined", set()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _beat(self):
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if self._beats_back < self._beats_sent:
                self._beats_lost = True  # the last one never came back through the layer
            self._beats_sent += 1
            try:
                await self.channel_layer.send(self.channel_name,
                                              {"type": "crm.heartbeat", "n": self._beats_sent})
            except Exception as e:  # Redis down: events published meanwhile are lost
                self._beats_lost = True
                logger.info("websocket heartbeat not sent: %r", e)

    async def crm_heartbeat(self, message):
        self._beats_back = max(self._beats_back, message.get("n", 0))
        if self._beats_lost:
            self._beats_lost = False
            await self.send_json({"type": "events.resumed"})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # A binary, malformed or oversized frame is answered, not a crash of the socket.
        try:
            content = parse_json(text_data or "", max_bytes=MAX_FRAME_BYTES)
        except UntrustedJSON:
            await self.send_json({"error": "bad_request"})
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            await self.send_json({"error": "bad_request"})
            return
        topic, object_id = content.get("subscribe"), content.get("id")
        if topic == "deal" and isinstance(object_id, int):
            if len(self.groups_joined) > MAX_SUBSCRIPTIONS:
                await self.send_json({"error": "too_many_subscriptions"})
            elif await self._subscription_allowed(object_id):
                await self._join(events.deal_group(object_id))
                await self.send_json({"subscribed": "deal", "id": object_id})
            else:
                await self.send_json({"error": "not_found", "subscribe": "deal", "id": object_id})
            return
        await self.send_json({"error": "bad_request"})

    async def dispatch(self, message):
        # Channels closes stale database connections before every handler: a hop to the
        # database thread for each message. Live events are forwarded without the database
        # (the rechecks that need it go through database_sync_to_async, which closes them
        # itself), and they are most of the traffic, a few per inbound message.
        if message.get("type") == "crm.event":
            await self.crm_event(message)
            return
        await super().dispatch(message)

    async def crm_event(self, message):
        event = message["event"]
        if event.get("type") == "session.ended":
            await self.close(code=SESSION_ENDED)
            return
        if event.get("type") == "deal.access_changed":
            await self._recheck_deal(event["deal"])
            return
        await self.send_json(event)

    async def _recheck_deal(self, deal_id: int):
        """Someone's access to a deal changed (a share revoked or expired): leave its group
        at once if the deal is no longer visible, so no further event of it arrives."""
        group = events.deal_group(deal_id)
        if group in self.groups_joined and not await self._may_see_deal(deal_id):
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.discard(group)
            await self.send_json({"type": "deal.access_lost", "deal": deal_id})

    async def _join(self, group: str):
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.add(group)

    @database_sync_to_async
    def _subscription_allowed(self, deal_id: int) -> bool:
        """The same rule as the deal card, and the same record in the access log: live
        updates of a deal are reads of it; a refusal counts as a probe."""
        deal = deals_visible_to(self.user).filter(pk=deal_id).first()
        if deal is None:
            access_log.event(action=Action.NOT_FOUND, user=self.user, surface=Surface.WEBSOCKET,
                             detail={"deal": deal_id})
            return False
        access_log.read(deal, action=Action.SUBSCRIBE, surface=Surface.WEBSOCKET, user=self.user)
        return True

    @database_sync_to_async
    def _may_see_deal(self, deal_id: int) -> bool:
        return deals_visible_to(self.user).filter(pk=deal_id).exists()
