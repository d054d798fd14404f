"""A merge of two cards of one client (crm/merge.py), as the consent ledger takes it.

The ledger is append-only: nothing in it moves. The duplicate card's last word on each
purpose is copied into the kept card's ledger, naming the entry it copies, where it is newer
than the kept card's own (a withdrawal the client made on either card stands). An undo
withdraws the copied grants that are still the kept card's last word (a consent nobody can
prove for this card is no consent) and leaves the copied withdrawals.
"""

from django.core.exceptions import ValidationError

from consents.models import ConsentEvent, ConsentState
from consents.services import consent_record

LABEL = "consents.consentevent"


def consents_merge(merge) -> dict[str, list[int]]:
    own = {state.purpose_id: state for state in ConsentState.objects.filter(contact=merge.kept)}
    copied = []
    for state in (ConsentState.objects.filter(contact=merge.duplicate)
                  .select_related("purpose").order_by("purpose_id")):
        mine = own.get(state.purpose_id)
        if mine is not None and mine.since >= state.since:
            continue
        original = ConsentEvent.objects.filter(seq=state.event_seq).first()
        if original is None:
            continue
        try:
            event = consent_record(
                contact=merge.kept, purpose=state.purpose, kind=original.kind,
                source=ConsentEvent.Source.MANAGER, by=merge.by, at=original.at,
                text_version=original.text_version,
                evidence={"note": f"Merged from card #{merge.duplicate.pk}: ledger entry "
                                  f"#{original.seq}"})
        except ValidationError:
            continue  # a purpose no longer in use takes no new grant
        copied.append(event.pk)
    return {LABEL: copied}


def consents_unmerge(merge, moved: dict) -> None:
    for event in ConsentEvent.objects.filter(pk__in=moved.get(LABEL, []),
                                             kind=ConsentEvent.Kind.GRANTED):
        state = ConsentState.objects.filter(contact=merge.kept,
                                            purpose_id=event.purpose_id).first()
        if state is None or state.event_seq != event.seq:
            continue  # the kept card's ledger moved on since: its last word stands
        consent_record(contact=merge.kept, purpose=state.purpose,
                       kind=ConsentEvent.Kind.WITHDRAWN, source=ConsentEvent.Source.MANAGER,
                       by=merge.by, evidence={
                           "note": f"Merge with card #{merge.duplicate.pk} undone: the consent "
                                   f"copied from it (ledger entry #{event.seq}) is withdrawn"})
