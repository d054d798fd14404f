"""Shared fixtures: two sales teams and one user of every role.

As in healthchecks' tests, most tests need an owner (`anna`), a teammate (`ivan`), the
team's head (`head_north`) and an outsider from the other team (`olga`).
"""

import os
from urllib.parse import urlparse

import pytest
from django.conf import settings

from config.env import redis_database, redis_pubsub_prefix
from security import roles
from security.models import Team
from tests.factories import make_contact, make_deal, make_user


def _redis_database_per_worker() -> None:
    """Parallel workers (pytest-xdist: gw0, gw1...) each get a Redis database of their own:
    every test starts by emptying the cache, which must not empty another worker's. The
    database of REDIS_URL is left to a run without workers. Settings are read before any
    conftest runs, so the URL is rewritten wherever it was copied; the cache and the channel
    layer connect on first use, after this."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not (worker.startswith("gw") and settings.REDIS_URL):
        return
    parsed = urlparse(settings.REDIS_URL)
    database = redis_database(settings.REDIS_URL) + 1 + int(worker[2:])
    url = parsed._replace(path=f"/{database}").geturl()
    settings.REDIS_URL = url
    settings.CACHES["default"]["LOCATION"] = url
    settings.CHANNEL_LAYERS["default"]["CONFIG"].update(hosts=[url],
                                                        prefix=redis_pubsub_prefix(url))


_redis_database_per_worker()

# Websocket tests reach the database from Channels' worker threads; persistent connections
# there would outlive the test and keep the test database from being dropped.
settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
# Real hashing costs ~0.3 s per user; tests create hundreds of users.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests run at any hour: the off-hours rule is tested on its own (tests/security/test_rules.py)
# and kept quiet elsewhere.
settings.STAFF_WORKING_HOURS = {}
# A provider call retried without a worker waits in process; tests count the tries instead.
settings.PROVIDER_EAGER_WAIT_MAX = 0


@pytest.fixture
def north(db):
    return Team.objects.create(name="north")


@pytest.fixture
def south(db):
    return Team.objects.create(name="south")


@pytest.fixture
def anna(north):
    return make_user("anna", roles.MANAGER, north)


@pytest.fixture
def ivan(north):
    return make_user("ivan", roles.MANAGER, north)


@pytest.fixture
def olga(south):
    return make_user("olga", roles.MANAGER, south)


@pytest.fixture
def head_north(north):
    head = make_user("head_north", roles.SALES_HEAD, north)
    north.head = head
    north.save()
    return type(head).objects.get(pk=head.pk)


@pytest.fixture
def director(db):
    return make_user("director", roles.ADMIN, is_staff=True)


@pytest.fixture
def marketer(db):
    return make_user("marketer", roles.MARKETER)


@pytest.fixture
def support(db):
    return make_user("support", roles.SUPPORT)


@pytest.fixture
def security_officer(db):
    return make_user("security", roles.SECURITY_OFFICER)


@pytest.fixture
def anna_contact(anna):
    return make_contact(
        anna, name="Пётр Смирнов", phones=["8 (916) 123-45-67"], emails=["Petr@Example.RU"]
    )


@pytest.fixture
def anna_deal(anna, anna_contact):
    return make_deal(anna, title="Поставка серверов", contact=anna_contact, amount=150000)


@pytest.fixture
def olga_deal(olga):
    return make_deal(olga, title="Южный склад", contact=make_contact(olga, name="Ирина Котова"))


@pytest.fixture
def provider_waits(monkeypatch):
    """The waits that retries of provider calls asked for, in seconds (not waited out)."""
    from core import providers

    waits: list[float] = []
    monkeypatch.setattr(providers, "eager_wait", waits.append)
    return waits


@pytest.fixture(autouse=True)
def _product_language():
    """Every test starts in the product's language: one that switched to English (a request
    with Accept-Language, translation.activate) must not leave it to the next one in its
    worker, where strings built in another thread would be Russian again."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The cache is the real Redis, shared by every test: start each one empty."""
    from django.core.cache import cache

    from security import masking
    from security.audit import rules

    cache.clear()
    masking.policy_changed()
    rules.settings_changed()
    yield
    cache.clear()
    masking.policy_changed()
    rules.settings_changed()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path_factory):
    """Files a test writes (exports, later attachments) go to a throwaway folder, not var/."""
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")


# --- E-mail: the real Dovecot of scripts/test-services.sh, an SMTP server in front of it ---


@pytest.fixture(scope="session")
def smtp_relay():
    from tests.inbox.mail_servers import SmtpRelay

    relay = SmtpRelay().start()
    yield relay
    relay.stop()


@pytest.fixture
def email_channel(north, anna, ivan, smtp_relay):
    from inbox.models import Channel, Mailbox
    from tests.inbox.mail_servers import imap_address, imap_password, new_address

    channel = Channel.objects.create(kind=Channel.Kind.EMAIL, name="Почта north", team=north)
    host, port = imap_address()
    address = new_address("sales")
    Mailbox.objects.create(
        channel=channel, address=address, username=address, password=imap_password(),
        imap_host=host, imap_port=port, imap_security="none", smtp_host="127.0.0.1",
        smtp_port=smtp_relay.port, smtp_security="none",
    )
    return channel
