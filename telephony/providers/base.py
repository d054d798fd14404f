"""The interface every cloud PBX provider implements, and the normalized events it yields.

Mango Office first; Zadarma, UIS and Sipuni share the shape (PROTOCOLS.md): a call id, from
and to, an extension, ring -> answer -> end, a summary, a recording fetched later. A provider
verifies a request, parses it into these events, and makes the outgoing calls (click-to-call,
recording download), classifying its errors as permanent or retryable like the inbox's.
"""

from dataclasses import dataclass
from datetime import datetime
from importlib import import_module

from core.providers import ProviderError  # noqa: F401 (one error type for every provider)
from core.webhooks import WebhookProvider

__all__ = ["CallLegEvent", "CallSummary", "RecordingReady", "CallbackResult", "PbxProvider",
           "ProviderError", "provider_for"]


@dataclass(frozen=True)
class Party:
    extension: str = ""  # an internal number of the PBX
    number: str = ""  # an outside number, E.164 when it is one


@dataclass(frozen=True)
class CallLegEvent:
    """One state change of one leg of a call (events/call)."""

    entry_id: str  # the whole call
    call_id: str  # this leg
    seq: int  # order within the leg: events may arrive out of order
    state: str  # "appeared", "connected", "on_hold", "disconnected"
    at: datetime
    caller: Party
    callee: Party
    line_number: str = ""
    disconnect_reason: str = ""


@dataclass(frozen=True)
class CallSummary:
    """The PBX's final word on a call (events/summary)."""

    entry_id: str
    direction: str  # "in", "out", "internal"
    caller: Party
    callee: Party
    line_number: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    talk_seconds: int
    disconnect_reason: str = ""


@dataclass(frozen=True)
class RecordingReady:
    """A recording of the call can be downloaded (events/record/added)."""

    entry_id: str
    recording_id: str


@dataclass(frozen=True)
class CallbackResult:
    """The outcome of a click-to-call command (result/callback)."""

    command_id: str
    ok: bool
    code: str


NormalizedCallEvent = CallLegEvent | CallSummary | RecordingReady | CallbackResult


class PbxProvider(WebhookProvider):
    """One PBX account's adapter. Built per account: `provider_for(account)`. Inbound, it
    checks and reads webhook deliveries (core.webhooks: `verify`, `read`, the event's kind
    as its type) and turns a stored one into normalized events (`parse`)."""

    kind: str = ""
    max_body_bytes: int = 200_000

    def __init__(self, account):
        self.account = account

    def parse(self, kind: str, payload: dict) -> list[NormalizedCallEvent]:
        """Normalized events; an empty list for what we do not handle."""
        raise NotImplementedError

    def start_callback(self, *, command_id: str, extension: str, to_number: str,
                       line_number: str = "") -> None:
        raise NotImplementedError

    def fetch_recording(self, recording_id: str) -> tuple[bytes, str]:
        """The recording's bytes and MIME type."""
        raise NotImplementedError


PROVIDERS = {
    "mango": "telephony.providers.mango.MangoProvider",
}


def provider_for(account) -> PbxProvider:
    module_name, _dot, class_name = PROVIDERS[account.provider].rpartition(".")
    return getattr(import_module(module_name), class_name)(account)
