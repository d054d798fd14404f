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


def _send(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, {"type": "crm.event", "event": event})


def send_after_commit(group: str, event: dict) -> None:
    transaction.on_commit(lambda: _send(group, event))


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
