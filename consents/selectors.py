"""Every read of consents/. `may_contact` is the one consent check of every automated send
(campaigns, follow-ups, bots)."""

from dataclasses import dataclass

from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from consents import subject_keys
from consents.models import ConsentEvent, ConsentState, Purpose, SubjectRequest
from crm.models import Contact
from crm.selectors import active_role, contact_can_edit, contacts_visible_to
from security import roles


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


def granted_purpose(*, contact, code: str) -> Purpose | None:
    """The purpose `code` if the contact consents to it now (what they may withdraw)."""
    state = (ConsentState.objects.filter(contact=contact, granted=True, purpose__code=code)
             .select_related("purpose").first())
    return state.purpose if state else None


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


# --- Subject requests ------------------------------------------------------------------------
#
# Who: admins and security officers (who answer to the regulator) see and handle every
# request; a manager or a sales head sees and registers requests of the contacts they see
# (crm.selectors.contacts_visible_to) and answers them, but an erasure request is answered
# only by an admin or a security officer (it destroys data for the whole company). Marketers
# and support see none. A request outside this rule answers 404.

REQUEST_HANDLER_ROLES = (roles.ADMIN, roles.SECURITY_OFFICER)
REQUEST_ROLES = (*REQUEST_HANDLER_ROLES, roles.MANAGER, roles.SALES_HEAD)


def can_use_subject_requests(user) -> bool:
    return active_role(user) in REQUEST_ROLES


def subject_requests_visible_to(user):
    role = active_role(user)
    if role in REQUEST_HANDLER_ROLES:
        return SubjectRequest.objects.all()
    if role in REQUEST_ROLES:
        return SubjectRequest.objects.filter(contact__in=contacts_visible_to(user).values("pk"))
    return SubjectRequest.objects.none()


def subject_request_get(*, user, pk):
    return get_object_or_404(subject_requests_visible_to(user).select_related(
        "contact", "handled_by", "registered_by"), pk=pk)


def subject_request_list(*, user, status: str = "", overdue: bool | None = None):
    found = subject_requests_visible_to(user)
    if status:
        found = found.filter(status=status)
    if overdue is not None:
        late = Q(due_date__lt=timezone.localdate(),
                 status__in=(SubjectRequest.Status.RECEIVED, SubjectRequest.Status.IN_PROGRESS))
        found = found.filter(late) if overdue else found.exclude(late)
    return found.select_related("contact", "handled_by").order_by("due_date", "id")


def subject_request_contact(*, user, pk):
    """The contact `user` may register a request for (404 otherwise): any for the handlers,
    the visible ones for the others."""
    role = active_role(user)
    if role in REQUEST_HANDLER_ROLES:
        contacts = Contact.objects.all()
    elif role in REQUEST_ROLES:
        contacts = contacts_visible_to(user)
    else:
        raise Http404
    contact = contacts.filter(pk=pk).first()
    if contact is None:
        raise Http404
    return contact


def may_act_on(*, user, contact) -> bool:
    """Whether `user` may register, extend or answer the requests of `contact`: the handlers
    always; a manager or a sales head only for a contact they may change (seeing it through a
    read share is not enough: the answer speaks for the company)."""
    role = active_role(user)
    if role in REQUEST_HANDLER_ROLES:
        return True
    return role in REQUEST_ROLES and contact_can_edit(user=user, contact=contact)


def may_answer(*, user, request) -> bool:
    """An erasure (refused or done) is answered by an admin or a security officer."""
    if request.kind == SubjectRequest.Kind.ERASURE:
        return active_role(user) in REQUEST_HANDLER_ROLES
    return may_act_on(user=user, contact=request.contact)


def is_overdue(request) -> bool:
    return (request.status in (SubjectRequest.Status.RECEIVED,
                               SubjectRequest.Status.IN_PROGRESS)
            and request.due_date < timezone.localdate())
def consent_history_rows(*, contact_id: int) -> list[dict]:
    """`consent_history` with who recorded each event, for pages and the API."""
    from django.contrib.auth import get_user_model

    rows = consent_history(contact_id=contact_id)
    users = get_user_model().objects.in_bulk(
        {row["event"].recorded_by_id for row in rows if row["event"].recorded_by_id})
    for row in rows:
        row["recorded_by"] = users.get(row["event"].recorded_by_id)
    return rows
