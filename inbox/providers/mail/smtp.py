"""Sending a mail from a mailbox over SMTP, with the server's refusals sorted as every provider's
are (core.providers): a 5xx answer is permanent and its text is what the manager reads; a 4xx,
a dropped connection or a timeout is retried."""

import logging
import smtplib
import socket
import ssl
from contextlib import contextmanager
from email.message import EmailMessage

from core.providers import ProviderError

logger = logging.getLogger("inbox.mail")

TIMEOUT = 30


def _reply_text(code: int, message: bytes | str) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return f"{code} {message}".strip()[:450]


@contextmanager
def _connected(mailbox):
    """A logged-in SMTP session (TLS from the start, or upgraded by STARTTLS)."""
    context = ssl.create_default_context()
    if mailbox.smtp_security == "ssl":
        server = smtplib.SMTP_SSL(mailbox.smtp_host, mailbox.smtp_port, timeout=TIMEOUT,
                                  context=context)
    else:
        server = smtplib.SMTP(mailbox.smtp_host, mailbox.smtp_port, timeout=TIMEOUT)
    with server:
        server.ehlo()
        if mailbox.smtp_security == "starttls":
            server.starttls(context=context)
            server.ehlo()
        if mailbox.password and server.has_extn("auth"):
            server.login(mailbox.username, mailbox.password)
        yield server


def send(mailbox, message: EmailMessage) -> None:
    """Hand `message` to the mailbox's SMTP server. Raises ProviderError."""
    try:
        with _connected(mailbox) as server:
            refused = server.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        code, reason = next(iter(exc.recipients.values()))
        raise ProviderError(f"SMTP: {_reply_text(code, reason)}", permanent=code >= 500,
                            client_unreachable=code >= 500, code=code) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise ProviderError(f"SMTP: the server refused the login: "
                            f"{_reply_text(exc.smtp_code, exc.smtp_error)}", permanent=True,
                            code=exc.smtp_code) from exc
    except smtplib.SMTPResponseException as exc:
        raise ProviderError(f"SMTP: {_reply_text(exc.smtp_code, exc.smtp_error)}",
                            permanent=exc.smtp_code >= 500, code=exc.smtp_code) from exc
    except socket.gaierror as exc:
        raise ProviderError(f"SMTP: no such server ({exc})", permanent=True) from exc
    except ssl.SSLError as exc:
        raise ProviderError(f"SMTP: TLS failed ({exc})", permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise ProviderError(f"SMTP: {exc}", permanent=False) from exc
    if refused:
        code, reason = next(iter(refused.values()))
        raise ProviderError(f"SMTP: {_reply_text(code, reason)}", permanent=code >= 500,
                            code=code)


def test_connection(mailbox) -> str:
    """The server's greeting after the login, or ProviderError."""
    try:
        with _connected(mailbox) as server:
            greeting = server.ehlo_resp or b""
    except smtplib.SMTPAuthenticationError as exc:
        raise ProviderError(f"SMTP: the server refused the login: "
                            f"{_reply_text(exc.smtp_code, exc.smtp_error)}",
                            permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise ProviderError(f"SMTP: {exc}", permanent=False) from exc
    first_line = greeting.decode("utf-8", "replace").splitlines()[0] if greeting else ""
    return f"SMTP: 250 {first_line}".strip()
