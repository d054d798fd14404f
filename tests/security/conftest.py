"""The inbox's fixtures, for the incident tests that switch a channel off or pause its
automatic replies."""

from tests.inbox.conftest import fake_bot_api, telegram_channel  # noqa: F401
