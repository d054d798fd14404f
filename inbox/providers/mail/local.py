"""A mailbox in a folder on this machine (a Maildir under MAILDIR_ROOT), for the embedded demo:
`make run` has a working e-mail channel without any mail server or network. It reads as an
IMAP folder does (`FolderReader`'s interface: UIDs in arrival order, UIDVALIDITY, seen
flags), and what the demo "sends" is filed in its Sent folder. Production mailboxes are IMAP
and SMTP servers."""

import mailbox as maildir_lib
import re
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from core.providers import ProviderError


def path_of(address: str) -> Path:
    return Path(settings.MAILDIR_ROOT) / address.lower()


def _root(address: str) -> maildir_lib.Maildir:
    path = path_of(address)
    path.parent.mkdir(parents=True, exist_ok=True)
    return maildir_lib.Maildir(path, create=True)


_NAME = re.compile(r"^(\d+)\.M(\d+)P(\d+)Q(\d+)")


def _arrival(key: str) -> tuple:
    found = _NAME.match(key)
    return (tuple(int(part) for part in found.groups()) if found else (0, 0, 0, 0)), key


class LocalFolder:
    uidvalidity = 1  # a Maildir's names never change: its UIDs (positions) stay valid

    def __init__(self, address: str, folder: str = "INBOX"):
        root = _root(address)
        self.box = root if folder.upper() == "INBOX" else root.add_folder(folder)
        # Maildir names start with the delivery time, "<seconds>.M<microseconds>P<pid>Q<n>":
        # in that order (not as text: the microseconds are not zero-padded) they arrived.
        self.keys = sorted(self.box.keys(), key=_arrival)

    def new_uids(self, after_uid: int) -> list[int]:
        return list(range(after_uid + 1, len(self.keys) + 1))

    def fetch(self, uids: list[int]):
        from inbox.providers.mail.imap import FetchedMail

        found = []
        for uid in uids:
            if 0 < uid <= len(self.keys):
                raw = self.box.get_bytes(self.keys[uid - 1])
                found.append(FetchedMail(uid=uid, raw=raw, size=len(raw), headers_only=False))
        return found

    def mark_seen(self, uids: list[int]) -> None:
        for uid in uids:
            key = self.keys[uid - 1]
            message = self.box.get_message(key)
            message.set_subdir("cur")
            message.add_flag("S")
            self.box[key] = message

    def raw(self, uid: int) -> bytes:
        if not 0 < uid <= len(self.keys):
            raise ProviderError("the mail is no longer in the folder", permanent=True)
        return self.box.get_bytes(self.keys[uid - 1])


@contextmanager
def opened(mailbox):
    try:
        yield LocalFolder(mailbox.address, mailbox.folder)
    except OSError as exc:
        raise ProviderError(f"local mailbox: {exc}", permanent=False) from exc


def deliver(address: str, raw: bytes, folder: str = "INBOX") -> None:
    """File a mail into the folder (a delivery to the demo's mailbox, or our sent copy)."""
    root = _root(address)
    box = root if folder.upper() == "INBOX" else root.add_folder(folder)
    box.add(maildir_lib.MaildirMessage(raw))


def test_connection(mailbox) -> str:
    count = len(LocalFolder(mailbox.address, mailbox.folder).keys)
    return f"{path_of(mailbox.address)}: {count} messages"
