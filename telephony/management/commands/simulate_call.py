"""`manage.py simulate_call [--answered | --missed] [--from +7...] [--url URL]`: play Mango.

Posts a realistic call, signed with the account's key and salt as Mango signs, to the demo PBX
account's own webhooks: a client calls the north team's line and anna's extension rings
(`--extension` for another); answered, it talks and ends with a recording
(events/record/added last), missed, it rings out. Through Django's test client by default (no
network, no server needed), or over HTTP to a running server with
`--url http://127.0.0.1:8000`, pausing between events (`--pause`) so the pop-up can be seen.
`--from` is the client's number; by default that of one of anna's clients with an open deal.
"""

import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import Client

from core import webhooks
from crm.models import ContactPoint, Deal
from security import masking
from telephony.models import Call, CallEvent, Extension, PbxAccount
from telephony.providers.mango import is_phone_number, normalize_number, sign


def _host() -> str:
    """A host name this deployment accepts (the in-process request passes ALLOWED_HOSTS)."""
    return next((h for h in settings.ALLOWED_HOSTS
                 if h and "*" not in h and not h.startswith(".")), "localhost")


def _sip(extension: str) -> str:
    return f"sip:ext{extension}@vpbx400000000.mangosip.ru"


def call_events(*, entry_id: str, number: str, line: str, extension: str, answered: bool,
                start: int, talk: int = 47) -> list[tuple[str, dict]]:
    """Mango's requests for one incoming call, in the order it sends them."""
    caller = {"number": number.lstrip("+")}
    callee = {"extension": extension, "number": _sip(extension),
              "line_number": line.lstrip("+")}
    call_id = f"{entry_id}-1"

    def leg(seq, state, at, **extra):
        return "events/call", {
            "entry_id": entry_id, "call_id": call_id, "timestamp": at, "seq": seq,
            "call_state": state, "location": "abonent", "from": caller, "to": callee, **extra,
        }

    events = [leg(1, "Appeared", start + 1)]
    end = start + 8 + talk if answered else start + 30
    if answered:
        events += [leg(2, "Connected", start + 8), leg(3, "Disconnected", end,
                                                        disconnect_reason=1110)]
    else:
        events.append(leg(2, "Disconnected", end, disconnect_reason=1120))
    events.append(("events/summary", {
        "entry_id": entry_id, "call_direction": 1, "from": caller,
        "to": {k: v for k, v in callee.items() if k != "line_number"},
        "line_number": line.lstrip("+"), "create_time": start, "forward_time": start + 1,
        "talk_time": start + 8 if answered else 0, "end_time": end,
        "entry_result": 1 if answered else 0, "disconnect_reason": 1110 if answered else 1120,
    }))
    if answered:
        recording_id = f"{entry_id}-rec"
        events += [
            ("events/recording", {"recording_id": recording_id, "recording_state": "Completed",
                                  "entry_id": entry_id, "call_id": call_id,
                                  "extension": extension, "timestamp": end + 1}),
            ("events/record/added", {"entry_id": entry_id, "recording_id": recording_id,
                                     "call_id": call_id, "timestamp": end + 2}),
        ]
    return events


class Command(BaseCommand):
    help = ("Play an incoming call (answered with a recording, or missed) against the demo "
            "PBX account's webhooks, signed as Mango signs.")

    def add_arguments(self, parser):
        outcome = parser.add_mutually_exclusive_group()
        outcome.add_argument("--answered", action="store_true",
                             help="Answered, with a recording (the default).")
        outcome.add_argument("--missed", action="store_true", help="Rings out unanswered.")
        parser.add_argument("--from", dest="number", default="",
                            help="The client's number (default: one of anna's clients).")
        parser.add_argument("--extension", default="",
                            help="The extension that rings (default: anna's).")
        parser.add_argument("--account", default="",
                            help="The PBX account's name (default: the only or first active).")
        parser.add_argument("--url", default="",
                            help="Post over HTTP to this server (e.g. http://127.0.0.1:8000) "
                                 "instead of in process.")
        parser.add_argument("--pause", type=float, default=None,
                            help="Seconds between events (default: 2 over HTTP, 0 in process).")

    def handle(self, *args, missed, number, extension, account, url, pause, **options):
        found = self._account(account)
        if not found.api_key or not found.api_salt:
            raise CommandError(f"PBX account {found.name!r} has no API key and salt: set them.")
        extension = extension or self._extension_of(found, "anna")
        number = normalize_number(number) if number else self._demo_number()
        if not is_phone_number(number):
            raise CommandError("--from needs a phone number such as +79161234567.")
        line = found.lines.order_by("id").values_list("number", flat=True).first()
        if not line:
            raise CommandError(f"PBX account {found.name!r} has no corporate line.")
        entry_id = f"SIM{secrets.token_hex(8)}"
        events = call_events(entry_id=entry_id, number=number, line=line, extension=extension,
                             answered=not missed, start=int(time.time()) - 60)
        if pause is None:
            pause = 2.0 if url else 0.0
        self.stdout.write(
            f"{'Missed' if missed else 'Answered'} call from "
            f"{masking.mask_phone(number, masking.LAST4)} to line {line}, extension {extension}")
        base = webhooks.url_path(found.provider, found.uuid)
        for position, (path, payload) in enumerate(events):
            if position and pause:
                time.sleep(pause)
            text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            form = {"vpbx_api_key": found.api_key, "sign": sign(found.api_key, text,
                                                                found.api_salt),
                    "json": text}
            status = (self._post_http(url.rstrip("/") + base + path, form) if url
                      else Client().post(base + path, form, SERVER_NAME=_host()).status_code)
            self.stdout.write(f"POST {base}{path} -> HTTP {status}")
            if status != 200:
                raise CommandError("The webhook refused the event.")
        self._report(found, entry_id)

    def _account(self, name: str) -> PbxAccount:
        accounts = PbxAccount.objects.filter(is_active=True)
        if name:
            accounts = accounts.filter(name=name)
        found = accounts.order_by("created_at", "id").first()
        if found is None:
            raise CommandError("No active PBX account" + (f" named {name!r}" if name else "")
                               + ": run `manage.py seed_demo` or add one in the admin.")
        return found

    def _extension_of(self, account: PbxAccount, username: str) -> str:
        found = (Extension.objects.filter(account=account, user__username=username)
                 .values_list("extension", flat=True).first())
        if found is None:
            raise CommandError(f"{username} has no extension on {account.name!r}: "
                               "pass --extension.")
        return found

    def _demo_number(self) -> str:
        """A phone of one of anna's clients with an open deal: the call lands on that deal."""
        point = (ContactPoint.objects.filter(
            kind=ContactPoint.Kind.PHONE,
            contact__deals__owner__username="anna", contact__deals__status=Deal.Status.OPEN,
        ).order_by("contact_id", "id").first())
        if point is None:
            raise CommandError("No client of anna's with a phone and an open deal: pass --from.")
        return point.value

    def _post_http(self, target: str, form: dict) -> int:
        request = urllib.request.Request(
            target, data=urllib.parse.urlencode(form).encode(), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code
        except urllib.error.URLError as e:
            raise CommandError(f"Cannot reach {target}: {e.reason}") from None

    def _report(self, account: PbxAccount, entry_id: str) -> None:
        call = (Call.objects.filter(account=account, entry_id=entry_id)
                .select_related("deal", "manager").first())
        if call is None:
            self.stdout.write("The call is not in this database (posted to another server?).")
            return
        failed = CallEvent.objects.filter(account=account, status=CallEvent.Status.FAILED,
                                          payload__contains=entry_id)
        for event in failed:
            self.stdout.write(f"Event #{event.pk} ({event.kind}) failed: {event.error}")
        outcome = (f"answered, {call.talk_seconds} s" if call.answered else "missed")
        self.stdout.write(
            f"Call #{call.pk}: {call.get_state_display()}, {outcome}; manager "
            f"{call.manager.username if call.manager else '-'}; deal "
            f"#{call.deal_id or '-'}" + (f" owned by {call.deal.owner.username}"
                                        if call.deal else ""))
