"""How a client's mail finds the conversation it answers (PROTOCOLS.md, "E-mail"): the ids in
In-Reply-To and References, then the plus-addressed reply-to our own mail carries
(`sales+<token>@company.ru`), then the normalized subject."""

import re

from django.utils.crypto import constant_time_compare, salted_hmac

from core import crypto

_TOKEN = re.compile(r"^c(\d{1,18})\.([0-9a-f]{16})$")
# Reply and forward prefixes of the mail clients our clients use, in the languages they use.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|ha|отв|ответ|пересл|переслано|fwd?\s*\[\d+\])"
    r"(?:\s*\[\d+\]|\s*\(\d+\))?\s*:\s*)+", re.IGNORECASE)


def _signature(conversation_pk: int) -> str:
    return salted_hmac("inbox.mail.reply-to", str(conversation_pk)).hexdigest()[:16]


def reply_token(conversation_pk: int) -> str:
    """The token of a conversation in our reply-to address (lower case: some servers fold
    the local part)."""
    return f"c{conversation_pk}.{_signature(conversation_pk)}"


def conversation_of_token(token: str) -> int | None:
    found = _TOKEN.match(token.strip().lower())
    if not found:
        return None
    pk = int(found.group(1))
    return pk if constant_time_compare(found.group(2), _signature(pk)) else None


def tagged_address(address: str, tag: str) -> str:
    """Our address plus a tag: `sales@company.ru` + `c12.ab…` -> `sales+c12.ab…@company.ru`."""
    user_part, _at, domain = address.partition("@")
    return f"{user_part}+{tag}@{domain}"


def token_in(addresses, own_address: str) -> str:
    """The token of the first of `addresses` that is our address plus a tag."""
    local, _at, domain = own_address.lower().partition("@")
    for address in addresses:
        their_local, _at, their_domain = address.lower().partition("@")
        head, plus, tag = their_local.partition("+")
        if plus and head == local and their_domain == domain:
            return tag
    return ""


def normalized_subject(subject: str) -> str:
    """ "RE: Fwd: Счёт  №5" -> "счёт №5" """
    return re.sub(r"\s+", " ", _PREFIX.sub("", subject)).strip().lower()


def subject_key(subject: str) -> str:
    """The subject's blind index, empty for a subject too short to mean a thread."""
    normalized = normalized_subject(subject)
    if len(normalized) < 3:
        return ""
    return crypto.blind_index("mail_subject", normalized)


def reply_subject(subject: str) -> str:
    normalized = _PREFIX.sub("", subject).strip()
    return f"Re: {normalized}" if normalized else "Re:"
