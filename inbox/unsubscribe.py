"""Unsubscribing from campaign mail (RFC 2369's List-Unsubscribe, by mail): every campaign mail
names our own address plus a token of the client and the campaign's purpose
(`sales+u<contact>.<purpose>.<signature>@company.ru`). A mail client's "Unsubscribe" button
writes there; the mailbox reads that mail like any other, and instead of a message it is the
client's withdrawal of that consent, on the ledger with the mail as its evidence
(invariant 5: the withdrawal stops their queued campaign mail at once).
"""

import logging
import re

from django.utils.crypto import constant_time_compare, salted_hmac

logger = logging.getLogger("inbox")

_TOKEN = re.compile(r"^u(\d{1,18})\.(\d{1,18})\.([0-9a-f]{16})$")


def _signature(contact_id: int, purpose_id: int) -> str:
    return salted_hmac("inbox.unsubscribe", f"{contact_id}.{purpose_id}").hexdigest()[:16]


def token(contact_id: int, purpose_id: int) -> str:
    return f"u{contact_id}.{purpose_id}.{_signature(contact_id, purpose_id)}"


def parse(value: str) -> tuple[int, int] | None:
    found = _TOKEN.match(value.strip().lower())
    if not found:
        return None
    contact_id, purpose_id = int(found.group(1)), int(found.group(2))
    if not constant_time_compare(found.group(3), _signature(contact_id, purpose_id)):
        return None
    return contact_id, purpose_id


def header(address: str, contact_id: int, purpose_id: int) -> str:
    """The List-Unsubscribe header's value for a campaign mail from `address`."""
    from inbox.providers.mail.threading import tagged_address

    return f"<mailto:{tagged_address(address, token(contact_id, purpose_id))}?subject=unsubscribe>"


def apply(*, value: str, evidence: dict) -> bool:
    """Withdraw the consent a token names (a forged or stale one changes nothing)."""
    from consents.models import ConsentEvent, Purpose
    from consents.selectors import may_contact
    from consents.services import consent_record
    from crm.models import Contact

    parsed = parse(value)
    if parsed is None:
        logger.warning("an unsubscribe mail with a token that is not ours")
        return False
    contact = Contact.objects.filter(pk=parsed[0]).first()
    purpose = Purpose.objects.filter(pk=parsed[1]).first()
    if contact is None or purpose is None:
        return False
    if not may_contact(contact_id=contact.pk, purpose=purpose):
        return False  # withdrawn already (the button pressed twice)
    consent_record(contact=contact, purpose=purpose, kind=ConsentEvent.Kind.WITHDRAWN,
                   source=ConsentEvent.Source.EMAIL_UNSUBSCRIBE, evidence=evidence)
    return True
