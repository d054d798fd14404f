"""Fixtures of telephony's outbound half: the local fake Mango API, a PBX account aimed at it
with two lines (the north team's and a general one), anna's extension, and an answered call of
anna's client on anna's deal. Test modules import them: `from tests.telephony.fixtures_outbound
import *`."""

import pytest

from telephony.models import Call, Extension, PbxAccount, PbxLine
from tests.telephony.fake_mango import FakeMango

__all__ = ["fake_mango_api", "mango_account", "north_line", "general_line", "anna_extension",
           "anna_call", "olga_call", "CLIENT_NUMBER", "make_call"]

CLIENT_NUMBER = "+79161234567"  # anna_contact's phone, as the PBX sends it


@pytest.fixture
def fake_mango_api():
    fake = FakeMango().start()
    yield fake
    fake.stop()


@pytest.fixture
def mango_account(north, fake_mango_api):
    return PbxAccount.objects.create(
        name="Mango", team=north, api_key=fake_mango_api.api_key,
        api_salt=fake_mango_api.api_salt, api_base_url=fake_mango_api.base_url,
    )


@pytest.fixture
def general_line(mango_account):
    # Created first: the first line is the fallback, so picking the team's line is tested.
    return PbxLine.objects.create(account=mango_account, number="+74950000001", name="Общий")


@pytest.fixture
def north_line(mango_account, north, general_line):
    return PbxLine.objects.create(account=mango_account, number="+74951234567", name="Север",
                                  team=north)


@pytest.fixture
def anna_extension(mango_account, anna):
    return Extension.objects.create(account=mango_account, extension="101", user=anna)


def make_call(account, deal, *, entry_id="MToxMDA1NzU5MzoxMjM6NDU2", number=CLIENT_NUMBER,
              direction=Call.Direction.INBOUND, **fields):
    fields = {"answered": True, "talk_seconds": 42, **fields}
    return Call.objects.create(
        account=account, entry_id=entry_id, direction=direction, state=Call.State.ENDED,
        client_number=number, line_number="74951234567",
        extension="101", manager=deal.owner, contact=deal.contact, deal=deal, **fields,
    )


@pytest.fixture
def anna_call(mango_account, anna_deal):
    return make_call(mango_account, anna_deal)


@pytest.fixture
def olga_call(mango_account, olga_deal):
    return make_call(mango_account, olga_deal, entry_id="MToxMDA1NzU5Mzo5OTk6MDAx",
                     number="+79035550011")
