"""The one websocket consumer (`/ws/`).

A browser subscribes to the pages it shows (`{"subscribe": "deal", "id": 7}`); the consumer
joins the deal's group only if the deal passes the same selector as the deal card, and
answers `{"error": "not_found"}` otherwise. Every user is also in their own group for
personal events (later: screen pops, forced logout), and each socket in its session's group:
logging out (`session.ended`) closes it with code 4401.

The socket lives under the page's session rules (security.middleware.session_refusal, read
afresh through security.websocket.socket_session): at connect, on every subscription and at
every heartbeat. A session that is gone or idle closes it with 4401 (an idle one is ended,
as a page ends it); a role that must pass two-factor and has not, with 4403.

A change that may take a deal away (`deal.access_changed`: a share revoked or expired, the
owner or team changed; `access.changed`: the user's role, teams or account changed) makes the
socket check its deals again, as the user is now, and leave the group of each one it lost,
telling the browser `{"type": "deal.access_lost", "deal": id}`.

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
from crm.selectors import deals_visible_to, team_members
from security.audit import access_log
from security.audit.access_log import Action, Surface
from security.middleware import Refusal
from security.websocket import SocketSession, socket_session

logger = logging.getLogger("events")

MAX_SUBSCRIPTIONS = 50
HEARTBEAT_SECONDS = 20
# A browser's frames are subscriptions: `{"subscribe": "deal", "id": 7}`.
MAX_FRAME_BYTES = 4096
# The close code for "not logged in (any more)": the page's script does not reconnect.
SESSION_ENDED = 4401
# A role that must pass two-factor has not, in this session (the pages send it there).
TWO_FACTOR_PENDING = 4403
CLOSE_CODES = {Refusal.ANONYMOUS: SESSION_ENDED, Refusal.IDLE: SESSION_ENDED,
               Refusal.TWO_FACTOR: TWO_FACTOR_PENDING}
# The open socket's session key opens no session any more, as after a password change gave
# the login a new key: the page's script reconnects with the cookie it has now, and a connect
# that finds no session closes with 4401.
SESSION_GONE = 4001


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.groups_joined: set[str] = set()
        self.deals: set[int] = set()
        self.teams: set[int] = set()
        # Accepted before a refusal, so that the browser sees the code (a refused handshake
        # is a bare 1006): the page's script stops on 4401.
        await self.accept()
        checked = await self._session()
        if checked.refusal is not None:
            await self.close(code=CLOSE_CODES[checked.refusal])
            return
        self.user = checked.user
        await self._join(events.user_group(self.user.pk))
        session = self.scope.get("session")
        if session is not None and session.session_key:
            await self._join(events.session_group(session.session_key))
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
            try:
                if not await self._session_holds():
                    return
            except Exception as e:  # the database away: pages fail too; the next beat decides
                logger.warning("websocket session not checked: %r", e)
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
            elif not await self._session_holds():
                return
            elif await self._subscription_allowed(object_id):
                await self._join(events.deal_group(object_id))
                self.deals.add(object_id)
                await self.send_json({"subscribed": "deal", "id": object_id})
            else:
                await self.send_json({"error": "not_found", "subscribe": "deal", "id": object_id})
            return
        if topic == "team" and isinstance(object_id, int):
            # A team's wallboard (reports' /team/live/): its head's and the director's.
            if len(self.groups_joined) > MAX_SUBSCRIPTIONS:
                await self.send_json({"error": "too_many_subscriptions"})
            elif not await self._session_holds():
                return
            elif await self._team_allowed(object_id):
                await self._join(events.team_group(object_id))
                self.teams.add(object_id)
                await self.send_json({"subscribed": "team", "id": object_id})
            else:
                await self.send_json({"error": "not_found", "subscribe": "team", "id": object_id})
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
            if event.get("deal") in self.deals:
                await self._recheck_deals({event["deal"]})
            return
        if event.get("type") == "access.changed":
            await self._recheck_deals(set(self.deals))
            await self._recheck_teams()
            return
        await self.send_json(event)

    async def _recheck_deals(self, deal_ids: set[int]):
        """Access to these deals may have gone: check the session and the deals again as the
        user is now, and leave at once the group of each deal no longer visible, so no
        further event of it arrives."""
        if not await self._session_holds():
            return
        lost = deal_ids - await self._visible(deal_ids)
        for deal_id in sorted(lost):
            group = events.deal_group(deal_id)
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.discard(group)
            self.deals.discard(deal_id)
            await self.send_json({"type": "deal.access_lost", "deal": deal_id})

    async def _recheck_teams(self):
        """A head who no longer heads a team stops hearing its wallboard at once."""
        for team_id in sorted(self.teams):
            if not await self._team_allowed(team_id):
                group = events.team_group(team_id)
                await self.channel_layer.group_discard(group, self.channel_name)
                self.groups_joined.discard(group)
                self.teams.discard(team_id)
                await self.send_json({"type": "team.access_lost", "team": team_id})

    async def _session_holds(self) -> bool:
        """The page's session rules, again: False (and the socket closed) when they refuse.
        The user is read afresh with the session: a role or team changed since counts."""
        checked = await self._session()
        if checked.refusal is not None:
            await self.close(code=CLOSE_CODES[checked.refusal] if checked.found else SESSION_GONE)
            return False
        self.user = checked.user
        return True

    @database_sync_to_async
    def _session(self) -> SocketSession:
        return socket_session(self.scope)

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
    def _team_allowed(self, team_id: int) -> bool:
        """The team's head, or the director: whoever reviews its people."""
        return team_members(user=self.user).filter(team_id=team_id).exists()

    @database_sync_to_async
    def _visible(self, deal_ids: set[int]) -> set[int]:
        return set(deals_visible_to(self.user).filter(pk__in=deal_ids).values_list("pk", flat=True))
