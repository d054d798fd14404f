"""The search finds calls too: the north team's PBX account, lines and extensions of the
telephony tests."""

from tests.telephony.conftest import (  # noqa: F401
    north_pbx_line,
    pbx_account,
    pbx_extensions,
    south_pbx_line,
)
