"""Mango Office VPBX: the inbound half (the sign of a request, parsing its events) and the
door to the outbound half, `telephony.providers.mango_client.MangoClient`, imported when
first used.

Every request, both ways, is a form POST of `vpbx_api_key`, `sign` and `json`, with
`sign = sha256_hex(vpbx_api_key + json + vpbx_api_salt)` over the json string exactly as
sent (PROTOCOLS.md). Mango appends the event's path to the webhook base the account is
configured with: events/call, events/summary, events/recording, events/record/added and
result/callback.
"""

import hashlib
import hmac
import re
from datetime import UTC, datetime

import phonenumbers

from core.untrusted import parse_json
from core.webhooks import Delivery, Received
from telephony.providers.base import (
    CallbackResult,
    CallLegEvent,
    CallSummary,
    NormalizedCallEvent,
    Party,
    PbxProvider,
    RecordingReady,
)

# The path Mango appends to the webhook base -> the kind a CallEvent is stored under.
PATH_KINDS = {
    "events/call": "call",
    "events/summary": "summary",
    "events/recording": "recording",
    "events/record/added": "record_added",
    "result/callback": "callback",
}

CALL_STATES = {
    "Appeared": "appeared",
    "Connected": "connected",
    "OnHold": "on_hold",
    "Disconnected": "disconnected",
}
DIRECTIONS = {0: "internal", 1: "in", 2: "out"}
CALLBACK_OK = 1000
REGION = "RU"


def sign(api_key: str, json_text: str, api_salt: str) -> str:
    return hashlib.sha256(f"{api_key}{json_text}{api_salt}".encode()).hexdigest()


def normalize_number(raw) -> str:
    """An outside number in E.164 (`+74951234567`); Mango sends `74951234567`. What is not a
    valid phone number (a SIP address, "anonymous") is kept as it came, stripped."""
    text = str(raw or "").strip()
    if not text:
        return ""
    digits = re.sub(r"\D", "", text)
    candidate = text
    if not text.startswith("+") and len(digits) == 11 and digits[0] == "7":
        candidate = "+" + digits  # Mango's usual form: the country code without the plus
    try:
        number = phonenumbers.parse(candidate, REGION)
    except phonenumbers.NumberParseException:
        return text[:50]
    if not phonenumbers.is_valid_number(number):
        return text[:50]
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_phone_number(value: str) -> bool:
    """Is this a normalized outside number (E.164), as opposed to a SIP address or nothing?"""
    return bool(re.fullmatch(r"\+\d{8,15}", value or ""))


def _when(timestamp) -> datetime:
    return datetime.fromtimestamp(int(timestamp), tz=UTC)


def _party(data) -> Party:
    data = data if isinstance(data, dict) else {}
    return Party(extension=str(data.get("extension") or "").strip()[:20],
                 number=normalize_number(data.get("number")))


def _require(payload: dict, *names: str) -> None:
    for name in names:
        if payload.get(name) in (None, ""):
            raise ValueError(f"{name} is missing")


class MangoProvider(PbxProvider):
    kind = "mango"
    # An event is a few hundred bytes; a summary with every field well under 10 kB.
    max_body_bytes = 64_000

    # --- Inbound ---------------------------------------------------------------------------

    webhook_paths = tuple(PATH_KINDS)

    def verify(self, delivery: Delivery) -> bool:
        """Both the key and the sign must match; an account without its key and salt
        accepts nothing."""
        return self.form_signed(delivery.form)

    def form_signed(self, form) -> bool:
        key = self.account.api_key or ""
        salt = self.account.api_salt or ""
        given_key = form.get("vpbx_api_key") or ""
        given_sign = (form.get("sign") or "").lower()
        text = form.get("json")
        if not key or not salt or not given_key or not given_sign or text is None:
            return False
        expected = sign(key, text, salt)
        # Both compared, always: no early exit that tells which one was wrong.
        key_ok = hmac.compare_digest(given_key.encode(), key.encode())
        sign_ok = hmac.compare_digest(given_sign.encode(), expected.encode())
        return key_ok and sign_ok

    def read(self, delivery: Delivery) -> Received:
        kind = PATH_KINDS[delivery.path]
        text = delivery.form.get("json") or ""
        payload = parse_json(text, max_bytes=self.max_body_bytes)
        return Received(event_id=self.dedupe_key(kind, payload), event_type=kind, payload=text)

    def dedupe_key(self, kind: str, payload: dict) -> str:
        """What makes two deliveries the same one; ValueError for a payload without it."""
        if not isinstance(payload, dict):
            raise ValueError("the json is not an object")
        if kind == "call":
            _require(payload, "call_id", "entry_id", "seq")
            return f"{payload['call_id']}:{int(payload['seq'])}"
        if kind == "summary":
            _require(payload, "entry_id")
            return str(payload["entry_id"])
        if kind == "record_added":
            _require(payload, "recording_id")
            return str(payload["recording_id"])
        if kind == "recording":
            _require(payload, "recording_id")
            return f"{payload['recording_id']}:{payload.get('recording_state') or ''}"
        if kind == "callback":
            _require(payload, "command_id")
            return str(payload["command_id"])
        raise ValueError(f"unknown kind {kind!r}")

    def parse(self, kind: str, payload: dict) -> list[NormalizedCallEvent]:
        if kind == "call":
            state = CALL_STATES.get(payload.get("call_state"))
            if state is None:
                return []
            to = payload.get("to") if isinstance(payload.get("to"), dict) else {}
            return [CallLegEvent(
                entry_id=str(payload["entry_id"]),
                call_id=str(payload["call_id"]),
                seq=int(payload["seq"]),
                state=state,
                at=_when(payload.get("timestamp") or 0),
                caller=_party(payload.get("from")),
                callee=_party(to),
                line_number=normalize_number(to.get("line_number")),
                disconnect_reason=str(payload.get("disconnect_reason") or "")[:50],
            )]
        if kind == "summary":
            direction = DIRECTIONS.get(int(payload.get("call_direction", -1)))
            if direction is None:
                return []
            to = payload.get("to") if isinstance(payload.get("to"), dict) else {}
            created = int(payload.get("create_time") or 0)
            talk = int(payload.get("talk_time") or 0)
            end = int(payload.get("end_time") or 0) or max(created, talk)
            return [CallSummary(
                entry_id=str(payload["entry_id"]),
                direction=direction,
                caller=_party(payload.get("from")),
                callee=_party(to),
                line_number=normalize_number(payload.get("line_number")
                                             or to.get("line_number")),
                started_at=_when(created),
                # talk_time is when the talk began; 0 when nobody answered.
                answered_at=_when(talk) if talk else None,
                ended_at=_when(end),
                talk_seconds=max(end - talk, 0) if talk else 0,
                disconnect_reason=str(payload.get("disconnect_reason") or "")[:50],
            )]
        if kind == "record_added":
            _require(payload, "entry_id")
            return [RecordingReady(entry_id=str(payload["entry_id"]),
                                   recording_id=str(payload["recording_id"]))]
        if kind == "callback":
            code = str(payload.get("result", ""))
            return [CallbackResult(command_id=str(payload["command_id"]),
                                   ok=code == str(CALLBACK_OK), code=code[:20])]
        # events/recording tells the recording's progress; record/added is the one we act on.
        return []

    # --- Outbound: the VPBX API client -----------------------------------------------------

    def _client(self):
        from telephony.providers.mango_client import MangoClient

        return MangoClient(self.account)

    def start_callback(self, *, command_id: str, extension: str, to_number: str,
                       line_number: str = "") -> None:
        return self._client().start_callback(command_id=command_id, extension=extension,
                                             to_number=to_number, line_number=line_number)

    def fetch_recording(self, recording_id: str) -> tuple[bytes, str]:
        return self._client().fetch_recording(recording_id)
