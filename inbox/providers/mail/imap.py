"""IMAP (imapclient): a connection to a mailbox, a folder read by UID, a copy appended. How far
a mailbox has been read and what is stored of it is the inbox's (inbox/mailboxes.py)."""

import logging
import socket
import ssl
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from core.providers import ProviderError

logger = logging.getLogger("inbox.mail")

TIMEOUT = 30  # seconds for connecting and for any one answer


def max_mail_bytes() -> int:
    """A mail larger than this is stored by its headers and text only: its files stay on the
    server (the card says so)."""
    return getattr(settings, "EMAIL_MAX_MESSAGE_BYTES", 30 * 1024 * 1024)


def _error(exc: Exception, action: str) -> ProviderError:
    if isinstance(exc, LoginError):
        return ProviderError(f"{action}: the server refused the login ({exc})", permanent=True)
    if isinstance(exc, socket.gaierror):
        return ProviderError(f"{action}: no such server ({exc})", permanent=True)
    if isinstance(exc, ssl.SSLError):
        return ProviderError(f"{action}: TLS failed ({exc})", permanent=True)
    return ProviderError(f"{action}: {exc}", permanent=False)


@contextmanager
def connected(mailbox):
    """A logged-in IMAP connection to the mailbox, closed afterwards. Raises ProviderError."""
    client = None
    try:
        context = ssl.create_default_context()
        client = IMAPClient(mailbox.imap_host, port=mailbox.imap_port,
                            ssl=mailbox.imap_security == "ssl", ssl_context=context,
                            timeout=TIMEOUT, use_uid=True)
        if mailbox.imap_security == "starttls":
            client.starttls(context)
        client.login(mailbox.username, mailbox.password)
    except (IMAPClientError, OSError) as exc:
        if client is not None:
            _close(client)
        raise _error(exc, "IMAP") from exc
    try:
        yield client
    except (IMAPClientError, OSError) as exc:
        raise _error(exc, "IMAP") from exc
    finally:
        _close(client)


def _close(client) -> None:
    try:
        client.logout()
    except Exception:
        try:
            client.shutdown()
        except Exception:
            pass


def test_connection(mailbox) -> str:
    """What the server says of the settings: the folder's size, or ProviderError."""
    with connected(mailbox) as client:
        info = client.select_folder(mailbox.folder, readonly=True)
        count = info.get(b"EXISTS", 0)
        idle = client.has_capability("IDLE")
    return f"IMAP: {mailbox.folder}, {count} messages" + (", IDLE" if idle else "")


@dataclass(frozen=True)
class FetchedMail:
    uid: int
    raw: bytes
    size: int
    headers_only: bool  # larger than the CRM takes: its headers only


class FolderReader:
    """One folder of a logged-in connection, read by UID."""

    def __init__(self, client, folder: str):
        self.client = client
        info = client.select_folder(folder)
        self.uidvalidity = int(info.get(b"UIDVALIDITY", 0))

    def new_uids(self, after_uid: int) -> list[int]:
        # "N:*" always matches the newest mail, even one below N: keep only the new ones.
        return sorted(uid for uid in self.client.search(["UID", f"{after_uid + 1}:*"])
                      if uid > after_uid)

    def fetch(self, uids: list[int]) -> list[FetchedMail]:
        """The mails (BODY.PEEK: they stay unseen), in UID order; a mail over
        max_mail_bytes() by its headers; one expunged meanwhile left out."""
        limit = max_mail_bytes()
        sizes = {uid: data.get(b"RFC822.SIZE", 0)
                 for uid, data in self.client.fetch(uids, ["RFC822.SIZE"]).items()}
        small = [uid for uid in uids if sizes.get(uid, 0) <= limit]
        large = [uid for uid in uids if uid in sizes and uid not in small]
        bodies = {uid: data.get(b"BODY[]") for uid, data in
                  (self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}).items()}
        if large:
            bodies.update({uid: data.get(b"BODY[HEADER]") for uid, data in
                           self.client.fetch(large, ["BODY.PEEK[HEADER]"]).items()})
        return [FetchedMail(uid=uid, raw=bodies[uid], size=sizes.get(uid, len(bodies[uid])),
                            headers_only=uid in large)
                for uid in uids if bodies.get(uid) is not None]

    def mark_seen(self, uids: list[int]) -> None:
        self.client.add_flags(uids, [b"\\Seen"], silent=True)


class Idler:
    """IDLE (RFC 2177) on a folder of a logged-in connection: the server tells of new mail as
    it arrives. Servers end an IDLE after 30 minutes; `renew` before that."""

    RENEW_SECONDS = 25 * 60

    def __init__(self, client, folder: str):
        self.client = client
        client.select_folder(folder, readonly=True)
        client.idle()

    def wait(self, seconds: float) -> bool:
        """True when the server announced new mail within `seconds`."""
        responses = self.client.idle_check(timeout=seconds)
        return any(len(response) > 1 and response[1] in (b"EXISTS", b"RECENT")
                   for response in responses)

    def pause(self) -> None:
        self.client.idle_done()

    def resume(self) -> None:
        self.client.idle()


@contextmanager
def opened(mailbox):
    """The mailbox's folder, read by UID (FolderReader), on a logged-in connection."""
    with connected(mailbox) as client:
        yield FolderReader(client, mailbox.folder)


def fetch_raw(mailbox, uid: int) -> bytes:
    """One mail's whole bytes, by UID (a file of a mail stored by its headers only)."""
    with connected(mailbox) as client:
        client.select_folder(mailbox.folder, readonly=True)
        data = client.fetch([uid], ["BODY.PEEK[]"]).get(uid)
    if not data:
        raise ProviderError("the mail is no longer in the folder", permanent=True)
    return data[b"BODY[]"]


def append(mailbox, folder: str, raw: bytes, *, seen: bool = True) -> None:
    """Put a copy of a mail in a folder (our reply in Sent; a test's delivery in INBOX)."""
    with connected(mailbox) as client:
        client.append(folder, raw, flags=[b"\\Seen"] if seen else [])
