"""Telephony's part of the demo (core.holdings: demo): the company's cloud PBX, a Mango account
of the north team with its corporate lines and an extension per sales person (`--json` lists
them), whose webhooks `manage.py simulate_call` plays. Its API base URL is this server's own
demo path, so nothing is ever sent to the real Mango Office with the demo's made-up key."""

import uuid
from datetime import timedelta

from django.contrib.contenttypes.models import ContentType

from crm.demo import demo_token, demo_url
from crm.management import demo_data as data
from crm.models import ContactPoint, Deal, TimelineEntry
from security.models import Team
from telephony.models import Call, Extension, PbxAccount, PbxLine

DEMO_PBX = {"name": "Mango Office (демо)", "team": "north"}


def demo_pbx_uuid() -> uuid.UUID:
    return uuid.UUID(hex=demo_token("pbx-account-uuid")[:32], version=4)


def demo_pbx_key() -> str:
    return demo_token("pbx-vpbx-api-key")[:32]


def demo_pbx_salt() -> str:
    return demo_token("pbx-vpbx-api-salt")[:32]


def describe() -> dict:
    return {"pbx": {
        "name": DEMO_PBX["name"],
        "webhook_base": f"{demo_url()}hooks/mango/{demo_pbx_uuid()}/",
        "vpbx_api_key": demo_pbx_key(),
        "vpbx_api_salt": demo_pbx_salt(),
        "lines": [{"number": number, "name": name, "team": team}
                  for number, name, team in data.PBX_LINES],
        "extensions": dict(data.PBX_EXTENSIONS),
    }}


def seed(builder) -> dict[str, int]:
    teams = {team.name: team for team in Team.objects.all()}
    account, created = PbxAccount.objects.get_or_create(
        name=DEMO_PBX["name"],
        defaults={
            "uuid": demo_pbx_uuid(), "team": teams[DEMO_PBX["team"]],
            "api_key": demo_pbx_key(), "api_salt": demo_pbx_salt(),
            "api_base_url": f"{demo_url()}demo/mango/vpbx/",
            "business_hours": {day: [["09:00", "19:00"]]
                               for day in ("mon", "tue", "wed", "thu", "fri")},
            "time_zone": "Europe/Moscow",
        },
    )
    if created:
        PbxLine.objects.bulk_create(
            PbxLine(account=account, number=number, name=name, team=teams.get(team))
            for number, name, team in data.PBX_LINES
        )
        Extension.objects.bulk_create(
            Extension(account=account, extension=extension, user=builder.users[username])
            for username, extension in data.PBX_EXTENSIONS.items()
        )
    return {"past calls": _history(builder, account)}


def _history(builder, account: PbxAccount) -> int:
    """Calls over the life of the deals of the PBX's team: clients calling in (mostly
    answered, some missed), managers calling out, on working days."""
    rng = builder.rng
    if Call.objects.filter(account=account).exists():
        return 0
    extension_of = {ext.user_id: ext.extension for ext in account.extensions.all()}
    phones = dict(ContactPoint.objects.filter(kind=ContactPoint.Kind.PHONE, is_primary=True)
                  .values_list("contact_id", "value"))
    calls = []
    for deal in (Deal.objects.filter(pk__in=[d.pk for d in builder.deals],
                                     team_id=account.team_id).order_by("pk")):
        number = phones.get(deal.contact_id)
        if not number:
            continue
        end = deal.closed_at or builder.now - timedelta(hours=2)
        for _ in range(rng.randint(0, 4)):
            started = builder.office_hours(deal.created_at
                                           + (end - deal.created_at) * rng.random())
            direction = rng.choice(["in", "out", "out"])
            answered = rng.random() < (0.8 if direction == "in" else 0.7)
            talk = rng.randint(40, 900) if answered else 0
            ring = timedelta(seconds=rng.randint(5, 25))
            calls.append(Call(
                account=account, entry_id=f"demo-history-{deal.pk}-{len(calls)}",
                direction=direction, state="ended", client_number=number,
                extension=extension_of.get(deal.owner_id, ""), manager_id=deal.owner_id,
                contact_id=deal.contact_id, deal=deal, started_at=started,
                answered_at=started + ring if answered else None,
                ended_at=started + ring + timedelta(seconds=talk), talk_seconds=talk,
                answered=answered, summarized=True, created_at=started))
            if direction == "in" and not answered and rng.random() < 0.7:
                # Mostly called back within the quarter of an hour the call-back task gives.
                back = calls[-1].ended_at + timedelta(minutes=rng.choice([4, 9, 12, 35, 80]))
                calls[-1].called_back_at = back
                talk = rng.randint(60, 300)
                calls.append(Call(
                    account=account, entry_id=f"demo-history-{deal.pk}-{len(calls)}",
                    direction="out", state="ended", client_number=number,
                    extension=extension_of.get(deal.owner_id, ""), manager_id=deal.owner_id,
                    contact_id=deal.contact_id, deal=deal, started_at=back,
                    answered_at=back + ring, ended_at=back + ring + timedelta(seconds=talk),
                    talk_seconds=talk, answered=True, summarized=True, created_at=back))
    for call in calls:  # the blind index of the number, as save() computes it
        call.client_number_index = Call.index_of(call.client_number)
    Call.objects.bulk_create(calls, batch_size=500)
    call_type = ContentType.objects.get_for_model(Call)
    TimelineEntry.objects.bulk_create([
        TimelineEntry(deal_id=call.deal_id, contact_id=call.contact_id, kind="call",
                      occurred_at=call.started_at, source_type=call_type, source_id=call.pk)
        for call in calls], batch_size=500)
    return len(calls)

