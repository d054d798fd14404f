"""Telephony's part of the demo (core.holdings: demo): the company's cloud PBX, a Mango account
of the north team with its corporate lines and an extension per sales person (`--json` lists
them), whose webhooks `manage.py simulate_call` plays. Its API base URL is this server's own
demo path, so nothing is ever sent to the real Mango Office with the demo's made-up key."""

import uuid

from crm.demo import demo_token, demo_url
from crm.management import demo_data as data
from security.models import Team
from telephony.models import Extension, PbxAccount, PbxLine

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
    return {}
