"""The reports' tests read calls too: the north team's PBX account of the telephony tests."""

from tests.telephony.conftest import pbx_account  # noqa: F401
