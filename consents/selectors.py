"""Every read of consents/. `may_contact` is the one consent check of every automated send
(campaigns, follow-ups, bots)."""

from dataclasses import dataclass

from consents import subject_keys
from consents.models import ConsentEvent, ConsentState, Purpose


def may_contact(*, contact_id: int, purpose: Purpose | str) -> bool:
    """Does the contact consent, now, to `purpose`? A purpose on another legal basis that is
    not advertising needs no consent."""
    if isinstance(purpose, str):
        purpose = Purpose.objects.filter(code=purpose).first()
        if purpose is None:
            return False
    if not purpose.needs_consent:
        return True
    return ConsentState.objects.filter(contact_id=contact_id, purpose=purpose,
                                       granted=True).exists()


def purposes_needing_consent():
    """Active purposes a client consents to (the others have another legal basis)."""
    from django.db.models import Q

    return Purpose.objects.filter(
        Q(legal_basis=Purpose.LegalBasis.CONSENT) | Q(is_advertising=True), is_active=True)


def consenting_contact_ids(*, purpose: Purpose):
    """The contacts with a current consent to `purpose` (a subquery)."""
    return ConsentState.objects.filter(purpose=purpose, granted=True).values("contact_id")


@dataclass
class PurposeState:
    purpose: Purpose
    granted: bool | None  # None: never asked
    since: object = None


def consent_overview(*, contact) -> list[PurposeState]:
    """Each active purpose needing consent, with the contact's state: for the cards."""
    states = {s.purpose_id: s for s in ConsentState.objects.filter(contact=contact)}
    overview = []
    for purpose in Purpose.objects.filter(is_active=True).order_by("title"):
        if not purpose.needs_consent:
            continue
        state = states.get(purpose.pk)
        overview.append(PurposeState(purpose, state.granted if state else None,
                                     state.since if state else None))
    return overview


def consent_history(*, contact_id: int) -> list[dict]:
    """The ledger's events for a contact, newest first, with their evidence readable (None
    once the contact is erased)."""
    purposes = {p.pk: p for p in Purpose.objects.all()}
    return [
        {"event": event, "purpose": purposes.get(event.purpose_id),
         "evidence": subject_keys.unseal(contact_id, event.evidence)}
        for event in ConsentEvent.objects.filter(contact_id=contact_id).order_by("-seq")
    ]


def consent_history_rows(*, contact_id: int) -> list[dict]:
    """`consent_history` with who recorded each event, for pages and the API."""
    from django.contrib.auth import get_user_model

    rows = consent_history(contact_id=contact_id)
    users = get_user_model().objects.in_bulk(
        {row["event"].recorded_by_id for row in rows if row["event"].recorded_by_id})
    for row in rows:
        row["recorded_by"] = users.get(row["event"].recorded_by_id)
    return rows
