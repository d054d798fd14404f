"""Telephony fixtures: the north team's Mango account (signing key and salt known to the
tests), its corporate lines (north's, and a south one), and extensions: head_north 100,
anna 101, ivan 102, olga 201."""

import pytest

from telephony.models import Extension, PbxAccount, PbxLine
from tests.telephony.mango_events import API_KEY, API_SALT, LINE_NORTH, LINE_SOUTH


@pytest.fixture
def pbx_account(north):
    return PbxAccount.objects.create(
        name="Mango Office", team=north, api_key=API_KEY, api_salt=API_SALT,
        # Nothing inbound calls out; a stray request would fail fast here.
        api_base_url="http://127.0.0.1:9/",
        business_hours={day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        time_zone="Europe/Moscow",
    )


@pytest.fixture
def north_pbx_line(pbx_account, north):
    return PbxLine.objects.create(account=pbx_account, number=LINE_NORTH, name="Отдел продаж",
                                  team=north)


@pytest.fixture
def south_pbx_line(pbx_account, south):
    return PbxLine.objects.create(account=pbx_account, number=LINE_SOUTH, name="Юг", team=south)


@pytest.fixture
def pbx_extensions(pbx_account, north_pbx_line, south_pbx_line, anna, ivan, olga, head_north):
    return {
        user.username: Extension.objects.create(account=pbx_account, extension=number, user=user)
        for number, user in (("100", head_north), ("101", anna), ("102", ivan), ("201", olga))
    }
