"""The mail servers of the e-mail tests: the real Dovecot that scripts/test-services.sh starts
(TEST_IMAP_URL; any user name logs in with TEST_IMAP_PASSWORD and has a mailbox of its own),
and an SMTP server (aiosmtpd) that delivers what it is given into the recipients' Dovecot
mailboxes, as a company's mail server would."""

import imaplib
import os
import uuid
from urllib.parse import urlparse

from aiosmtpd.controller import Controller

from tests.redis_server import free_port


def imap_address() -> tuple[str, int]:
    url = os.environ.get("TEST_IMAP_URL")
    if not url:
        raise RuntimeError("TEST_IMAP_URL is not set: run the tests through "
                           "scripts/test-services.sh (make test), which starts Dovecot")
    parsed = urlparse(url)
    return parsed.hostname, parsed.port


def imap_password() -> str:
    return os.environ.get("TEST_IMAP_PASSWORD", "test-password")


def new_address(name: str = "box", domain: str = "crm.test") -> str:
    """A fresh address whose Dovecot mailbox is empty (its user name is the address)."""
    return f"{name}-{uuid.uuid4().hex[:12]}@{domain}"


def imap_login(address: str) -> imaplib.IMAP4:
    host, port = imap_address()
    client = imaplib.IMAP4(host, port)
    client.login(address, imap_password())
    return client


def deliver(address: str, raw: bytes, folder: str = "INBOX") -> None:
    """Put a mail into a mailbox as a server's delivery does (unseen)."""
    client = imap_login(address)
    try:
        status, answer = client.append(folder, None, None, raw)
        assert status == "OK", answer
    finally:
        client.logout()


def mailbox_messages(address: str, folder: str = "INBOX") -> list[tuple[bytes, bool]]:
    """Every mail in a folder, with whether it is seen."""
    client = imap_login(address)
    try:
        client.select(folder, readonly=True)
        _status, data = client.uid("search", None, "ALL")
        found = []
        for uid in data[0].split():
            _status, parts = client.uid("fetch", uid, "(FLAGS BODY.PEEK[])")
            flags, raw = parts[0][0], parts[0][1]
            found.append((raw, b"\\Seen" in flags))
        return found
    finally:
        client.logout()


class _Delivering:
    def __init__(self, relay):
        self.relay = relay

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # A recipient the "remote server" does not know, for the tests of a refusal.
        if address.lower().startswith("refuse-me@"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.relay.received.append(envelope)
        for recipient in envelope.rcpt_tos:
            local, _at, domain = recipient.lower().partition("@")
            deliver(f"{local.partition('+')[0]}@{domain}", envelope.original_content)
        return "250 Message accepted for delivery"


class SmtpRelay:
    """An SMTP server on 127.0.0.1 that delivers every mail into its recipients' mailboxes
    (a plus-address into the mailbox of the address without its tag)."""

    def __init__(self):
        self.received = []
        self.port = free_port()
        self.controller = Controller(_Delivering(self), hostname="127.0.0.1", port=self.port)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()
