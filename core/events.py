"""Realtime events, built in one place and sent only after the transaction commits.

Who receives an event is a security decision: an event goes to the group of one deal
(`deal.<id>`), and the consumer only lets a user join a deal's group after the same
visibility check as the deal card. Events carry ids, never client content: the browser
fetches the rendered fragment through the ordinary, access-checked view.
"""

import asyncio
import hashlib
import logging
import os
import threading
import weakref

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger("events")


def deal_group(deal_id: int) -> str:
    return f"deal.{deal_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def team_group(team_id: int) -> str:
    """The team's live wallboard: pings that its figures changed, never client content."""
    return f"team.{team_id}"


def wallboard_changed(team_ids) -> None:
    """Tell the wallboards of these teams to fetch themselves again (after commit)."""
    for team_id in sorted({pk for pk in team_ids if pk}):
        send_after_commit(team_group(team_id), {"type": "wallboard.changed", "team": team_id})


def session_group(session_key: str) -> str:
    # A digest: group names travel through Redis and logs, session keys must not.
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


class _LayerLoop:
    """A long-lived event loop in a daemon thread of this process, for sends from synchronous
    code (Celery workers, gunicorn). async_to_sync runs each call in a new thread with a new
    loop, and channels_redis opens its Redis connections per loop: every batch of events paid
    for a thread, a loop and a connection, more than for the sends. Here the loop, and with it
    the layer's connection pool, live as long as the process (a forked child makes its own)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._loop = None
        self._pid = None

    def run(self, coroutine, timeout: float = 2):
        return asyncio.run_coroutine_threadsafe(coroutine, self._running()).result(timeout)

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                threading.Thread(target=self._loop.run_forever, name="channel-layer-sends",
                                 daemon=True).start()
            return self._loop


_layer_loop = _LayerLoop()


def layer_send(messages: list[tuple[str, dict]]) -> None:
    """Send channel-layer messages (group, message) now, in one trip."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return

    by_group: dict[str, list[dict]] = {}
    for group, message in messages:
        by_group.setdefault(group, []).append(message)

    async def send_in_order(group: str, group_messages: list[dict]):
        for message in group_messages:
            await layer.group_send(group, message)

    async def send():
        # The groups side by side (a few Redis round trips each), each group's in order.
        await asyncio.gather(*(send_in_order(group, group_messages)
                               for group, group_messages in by_group.items()))

    if isinstance(layer, InMemoryChannelLayer):
        # Its queues belong to the loop of the consumers reading them (embedded server,
        # tests): async_to_sync runs the send there when called from that loop's threads.
        async_to_sync(send)()
    else:
        _layer_loop.run(send())


def _send_all(items: list[tuple[str, dict]]) -> None:
    """Live events are best effort: a channel layer that is down or slow never fails the
    write that made them (the pages fetch what changed through the views)."""
    try:
        layer_send([(group, {"type": "crm.event", "event": event}) for group, event in items])
    except Exception as e:  # Redis down or frozen; logged, the write stands
        logger.warning("live events not sent (%d): %r", len(items), e)


class _Batch:
    """The events of one transaction, sent together when it commits."""

    def __init__(self):
        self.items: list[tuple[str, dict]] = []
        self.sent = False

    def __call__(self):
        self.sent = True
        _send_all(self.items)


# The batch of the transaction under way in this thread, by weak reference: Django's list of
# commit callbacks holds the batch until the transaction commits (then calls it) or rolls
# back (then drops it, and the batch is gone with it), so a live, unsent batch is always the
# current transaction's.
_current = threading.local()


def send_after_commit(group: str, event: dict) -> None:
    if not transaction.get_connection().in_atomic_block:
        _send_all([(group, event)])
        return
    ref = getattr(_current, "batch", None)
    batch = ref() if ref is not None else None
    if batch is None or batch.sent:
        batch = _Batch()
        transaction.on_commit(batch)
        _current.batch = weakref.ref(batch)
    # An event of a savepoint rolled back later may still go out: harmless, events carry ids
    # and the page fetches through the access-checked views.
    batch.items.append((group, event))


def timeline_entry_added(*, deal_id: int, entry_id: int, kind: str) -> None:
    send_after_commit(
        deal_group(deal_id),
        {"type": "timeline.entry", "deal": deal_id, "entry": entry_id, "kind": kind},
    )


def deal_changed(*, deal_id: int) -> None:
    send_after_commit(deal_group(deal_id), {"type": "deal.changed", "deal": deal_id})


def session_ended(*, session_key: str) -> None:
    """The session logged out: the sockets opened with it close (code 4401)."""
    send_after_commit(session_group(session_key), {"type": "session.ended"})


def deal_access_changed(*, deal_id: int, user_id: int | None = None) -> None:
    """Someone may have lost `deal_id`: the sockets of `user_id` (a share revoked), or every
    socket subscribed to the deal (its owner or team changed), check it again and leave its
    group if it is gone."""
    group = user_group(user_id) if user_id is not None else deal_group(deal_id)
    send_after_commit(group, {"type": "deal.access_changed", "deal": deal_id})


def access_changed(*, user_id: int) -> None:
    """`user_id`'s role, team, headed teams or account changed: their sockets check the
    session and every deal they follow again."""
    send_after_commit(user_group(user_id), {"type": "access.changed"})
