"""Mango's side of the inbound tests: realistic events, signed and posted as Mango does.

`post(account, path, json_text)` sends the form `vpbx_api_key, sign, json` to the account's
webhook base + path. The recorded scenarios in fixtures/mango/*.json are lists of requests
`{"path", "json", "sign"}`, signed with API_KEY and API_SALT (regenerate them with
`python -m tests.telephony.mango_events` after changing a builder below).
"""

import hashlib
import json
from pathlib import Path

from django.test import Client, TestCase

API_KEY = "vpbx-test-key-4f1c2a"
API_SALT = "vpbx-test-salt-9b7e31"
LINE_NORTH = "+74951234567"
LINE_SOUTH = "+78123334455"
KNOWN_CLIENT = "79161234567"  # anna_contact's phone, as Mango writes numbers
NEW_CLIENT = "79035550199"
T0 = 1795417200  # Monday 2026-11-23 10:00 in Moscow
T_EVENING = 1795445400  # the same day 17:50 in Moscow, 10 minutes before closing
FIXTURES = Path(__file__).parent / "fixtures" / "mango"


def sign(json_text: str, *, key: str = API_KEY, salt: str = API_SALT) -> str:
    return hashlib.sha256(f"{key}{json_text}{salt}".encode()).hexdigest()


def encode(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def url(account, path: str) -> str:
    return f"/hooks/mango/{account.uuid}/{path}"


def post(account, path: str, json_text: str, *, key: str = API_KEY, signature: str | None = None,
         on_commit: bool = True, client: Client | None = None):
    """POST one request as Mango does. Tests run in a transaction that never commits, so the
    callbacks queued after commit (the processing task, live events) run here."""
    form = {"vpbx_api_key": key, "sign": sign(json_text) if signature is None else signature,
            "json": json_text}
    client = client or Client()
    if not on_commit:
        return client.post(url(account, path), form)
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url(account, path), form)


def post_payload(account, path: str, payload: dict, **kwargs):
    return post(account, path, encode(payload), **kwargs)


def scenario(name: str) -> list[dict]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def play(account, requests: list[dict]) -> list[int]:
    statuses = []
    for request in requests:
        statuses.append(post(account, request["path"], request["json"],
                             signature=request["sign"]).status_code)
    return statuses


# --- Builders --------------------------------------------------------------------------------


def sip(name: str) -> str:
    return f"sip:{name}@vpbx400123456.mangosip.ru"


def leg(*, entry_id: str, call_id: str, seq: int, state: str, at: int, caller: dict,
        callee: dict, reason: int | None = None, location: str = "abonent") -> tuple[str, dict]:
    payload = {
        "entry_id": entry_id, "call_id": call_id, "timestamp": at, "seq": seq,
        "call_state": state, "location": location, "from": caller, "to": callee,
    }
    if state == "Disconnected":
        payload["disconnect_reason"] = reason or 1110
    return "events/call", payload


def summary(*, entry_id: str, direction: int, caller: dict, callee: dict, line: str,
            created: int, talk: int, end: int, reason: int = 1110) -> tuple[str, dict]:
    return "events/summary", {
        "entry_id": entry_id, "call_direction": direction, "from": caller, "to": callee,
        "line_number": line, "create_time": created, "forward_time": created + 1,
        "talk_time": talk, "end_time": end, "entry_result": 1 if talk else 0,
        "disconnect_reason": reason,
    }


def incoming(*, entry_id: str, number: str, line: str, extension: str, at: int,
             answered: bool, talk: int = 125, recording_id: str = "") -> list[tuple[str, dict]]:
    """A client calls a line; one extension rings, answers (or not), the call ends."""
    caller = {"number": number}
    callee = {"extension": extension, "number": sip(f"ext{extension}"),
              "line_number": line.lstrip("+")}
    call_id = f"{entry_id}-leg1"
    events = [leg(entry_id=entry_id, call_id=call_id, seq=1, state="Appeared", at=at + 1,
                  caller=caller, callee=callee)]
    if answered:
        events += [
            leg(entry_id=entry_id, call_id=call_id, seq=2, state="Connected", at=at + 8,
                caller=caller, callee=callee),
            leg(entry_id=entry_id, call_id=call_id, seq=3, state="Disconnected",
                at=at + 8 + talk, caller=caller, callee=callee),
        ]
    else:
        events.append(leg(entry_id=entry_id, call_id=call_id, seq=2, state="Disconnected",
                          at=at + 31, caller=caller, callee=callee, reason=1120))
    events.append(summary(
        entry_id=entry_id, direction=1, caller=caller,
        callee={k: v for k, v in callee.items() if k != "line_number"}, line=line.lstrip("+"),
        created=at, talk=at + 8 if answered else 0, end=at + 8 + talk if answered else at + 31,
        reason=1110 if answered else 1120,
    ))
    if recording_id:
        events += [
            ("events/recording", {"recording_id": recording_id, "recording_state": "Completed",
                                  "entry_id": entry_id, "call_id": call_id,
                                  "extension": extension, "timestamp": at + 9 + talk}),
            ("events/record/added", {"entry_id": entry_id, "recording_id": recording_id,
                                     "call_id": call_id, "timestamp": at + 10 + talk}),
        ]
    return events


def outgoing(*, entry_id: str, number: str, line: str, extension: str, at: int,
             command_id: str, talk: int = 64) -> list[tuple[str, dict]]:
    """Click-to-call: the PBX rings the manager's extension, then dials the client from the
    corporate line; the command's result arrives at result/callback."""
    caller = {"extension": extension, "number": sip(f"ext{extension}")}
    callee = {"number": number, "line_number": line.lstrip("+")}
    call_id = f"{entry_id}-leg1"
    return [
        ("result/callback", {"command_id": command_id, "result": 1000}),
        leg(entry_id=entry_id, call_id=call_id, seq=1, state="Appeared", at=at + 1,
            caller=caller, callee=callee),
        leg(entry_id=entry_id, call_id=call_id, seq=2, state="Connected", at=at + 12,
            caller=caller, callee=callee),
        leg(entry_id=entry_id, call_id=call_id, seq=3, state="Disconnected", at=at + 12 + talk,
            caller=caller, callee=callee),
        summary(entry_id=entry_id, direction=2, caller=caller,
                callee={"number": number}, line=line.lstrip("+"),
                created=at, talk=at + 12, end=at + 12 + talk),
    ]


def transfer(*, entry_id: str, number: str, line: str, at: int) -> list[tuple[str, dict]]:
    """anna (101) answers and transfers the client to ivan (102), who takes the call."""
    caller = {"number": number}

    def to(extension):
        return {"extension": extension, "number": sip(f"ext{extension}"),
                "line_number": line.lstrip("+")}

    first, second = f"{entry_id}-leg1", f"{entry_id}-leg2"
    return [
        leg(entry_id=entry_id, call_id=first, seq=1, state="Appeared", at=at + 1, caller=caller,
            callee=to("101")),
        leg(entry_id=entry_id, call_id=first, seq=2, state="Connected", at=at + 5, caller=caller,
            callee=to("101")),
        leg(entry_id=entry_id, call_id=first, seq=3, state="OnHold", at=at + 40, caller=caller,
            callee=to("101")),
        leg(entry_id=entry_id, call_id=second, seq=1, state="Appeared", at=at + 41,
            caller=caller, callee=to("102")),
        leg(entry_id=entry_id, call_id=second, seq=2, state="Connected", at=at + 47,
            caller=caller, callee=to("102")),
        leg(entry_id=entry_id, call_id=first, seq=4, state="Disconnected", at=at + 48,
            caller=caller, callee=to("101"), reason=1190),
        leg(entry_id=entry_id, call_id=second, seq=3, state="Disconnected", at=at + 200,
            caller=caller, callee=to("102")),
        summary(entry_id=entry_id, direction=1, caller=caller,
                callee={"extension": "102", "number": sip("ext102")}, line=line.lstrip("+"),
                created=at, talk=at + 5, end=at + 200),
    ]


def signed(events: list[tuple[str, dict]]) -> list[dict]:
    out = []
    for path, payload in events:
        text = encode(payload)
        out.append({"path": path, "json": text, "sign": sign(text)})
    return out


SCENARIOS = {
    "answered_incoming": lambda: incoming(
        entry_id="MToxMDAwMTIzNDo1MDE6MTAx", number=KNOWN_CLIENT, line=LINE_NORTH,
        extension="101", at=T0, answered=True, recording_id="MToxMDAwMTIzNDo1MDE6cmVj"),
    "missed_incoming": lambda: incoming(
        entry_id="MToxMDAwMTIzNDo1MDI6MTAx", number=NEW_CLIENT, line=LINE_NORTH,
        extension="101", at=T_EVENING, answered=False),
    "outgoing_click_to_call": lambda: outgoing(
        entry_id="MToxMDAwMTIzNDo1MDM6MTAx", number=KNOWN_CLIENT, line=LINE_NORTH,
        extension="101", at=T0 + 3600, command_id="7c9e6679-7425-40de-944b-e07fc1f90ae7"),
    "transfer": lambda: transfer(
        entry_id="MToxMDAwMTIzNDo1MDQ6MTAy", number=KNOWN_CLIENT, line=LINE_NORTH,
        at=T0 + 7200),
}


if __name__ == "__main__":
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, build in SCENARIOS.items():
        (FIXTURES / f"{name}.json").write_text(
            json.dumps(signed(build()), ensure_ascii=False, indent=2) + "\n")
        print("wrote", name)
