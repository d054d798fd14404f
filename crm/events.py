"""Realtime events, built in one place and sent only after the transaction commits.

Who receives an event is a security decision: an event goes to the group of one deal
(`deal.<id>`), and the consumer only lets a user join a deal's group after the same
visibility check as the deal card. Events carry ids, never client content: the browser
fetches the rendered fragment through the ordinary, access-checked view.
"""

import hashlib

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def deal_group(deal_id: int) -> str:
    return f"deal.{deal_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def session_group(session_key: str) -> str:
    # A digest: group names travel through Redis and logs, session keys must not.
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def _send_all(items: list[tuple[str, dict]]) -> None:
    """One trip into the channel layer for all of them: each async_to_sync call costs a
    thread, an event loop and a Redis connection, more than the sends themselves."""
    layer = get_channel_layer()
    if layer is None or not items:
        return

    async def send():
        for group, event in items:
            await layer.group_send(group, {"type": "crm.event", "event": event})

    async_to_sync(send)()


class _Batch:
    """The events of one transaction, sent together when it commits."""

    def __init__(self):
        self.items: list[tuple[str, dict]] = []

    def __call__(self):
        _send_all(self.items)


def send_after_commit(group: str, event: dict) -> None:
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _send_all([(group, event)])
        return
    # Join the batch this transaction already has (an event of a savepoint rolled back later
    # may still go out: harmless, events carry ids and the page fetches through the views).
    for _savepoints, callback, _robust in connection.run_on_commit:
        if isinstance(callback, _Batch):
            callback.items.append((group, event))
            return
    batch = _Batch()
    batch.items.append((group, event))
    transaction.on_commit(batch)


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
