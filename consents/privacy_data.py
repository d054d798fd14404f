"""What the privacy center shows a data subject about themselves, and their download.

One reader, `subject_data(contact)`, builds everything from rows that name this contact
(their contact points, deals, consent ledger, requests, and what each app declares it holds
of theirs, core.holdings: conversations' messages, calls):
nothing is read through another client, so the page and the archive hold only theirs. The
same dict is the page's context, the archive's data.json and its index.html.

Left out on purpose: the team's private notes (Message direction "note"; internal working
notes, not correspondence with the client), recordings' audio (listed, sent on request: a
subject request of kind "access"), the consent evidence (addresses and user agents, which
name the staff who recorded a consent) and staff names.
"""

import io
import json
import zipfile

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string
from django.utils import timezone

from consents.models import ConsentEvent, ConsentState, Purpose, PurposeText, SubjectRequest
from core.holdings import declared
from crm.models import Contact


def _purposes(contact: Contact) -> list[dict]:
    states = {s.purpose_id: s for s in ConsentState.objects.filter(contact=contact)}
    rows = []
    for purpose in Purpose.objects.filter(is_active=True).order_by("title"):
        state = states.get(purpose.pk)
        rows.append({
            "id": purpose.pk, "code": purpose.code, "title": purpose.title,
            "description": purpose.description, "legal_basis": purpose.legal_basis,
            "legal_basis_display": purpose.get_legal_basis_display(),
            "retention_days": purpose.retention_days, "needs_consent": purpose.needs_consent,
            "consent": (None if state is None else "granted" if state.granted else "withdrawn"),
            "since": state.since if state else None,
        })
    return rows


def _consent_history(contact: Contact) -> list[dict]:
    events = list(ConsentEvent.objects.filter(contact_id=contact.pk).order_by("-seq"))
    purposes = {p.pk: p for p in Purpose.objects.filter(
        pk__in={e.purpose_id for e in events})}
    texts = {(t.purpose_id, t.version): t.text for t in PurposeText.objects.filter(
        purpose_id__in=purposes)}
    history = []
    for event in events:
        purpose = purposes.get(event.purpose_id)
        history.append({
            "purpose": purpose.code if purpose else None,
            "purpose_title": purpose.title if purpose else "",
            "kind": event.kind, "kind_display": event.get_kind_display(),
            "at": event.at, "source": event.source,
            "source_display": event.get_source_display(),
            "text_version": event.text_version, "text_sha256": event.text_sha256 or None,
            "text": texts.get((event.purpose_id, event.text_version)),
        })
    return history


def subject_data(contact: Contact, *, with_messages: bool = True) -> dict:
    deals = contact.deals.select_related("stage").order_by("created_at", "pk")
    points = sorted(contact.points.all(), key=lambda p: (p.kind != "phone", p.pk))
    data = {
        "generated_at": timezone.now(),
        "operator": settings.OPERATOR_NAME,
        "contact": {
            "id": contact.pk, "name": contact.name, "position": contact.position,
            "company": contact.company.name if contact.company_id else "",
            "created_at": contact.created_at,
        },
        # Their own phones and e-mails, in full: this is the data subject looking.
        "contact_points": [{"kind": p.kind, "kind_display": p.get_kind_display(),
                            "value": p.value, "label": p.label} for p in points],
        "deals": [{"title": d.title, "status": d.status,
                   "status_display": d.get_status_display(), "stage": d.stage.name,
                   "created_at": d.created_at, "closed_at": d.closed_at} for d in deals],
        "purposes": _purposes(contact),
        "consent_history": _consent_history(contact),
        "requests": [{"id": r.pk, "kind": r.kind, "kind_display": r.get_kind_display(),
                      "status": r.status, "status_display": r.get_status_display(),
                      "received_at": r.received_at, "due_date": r.due_date}
                     for r in SubjectRequest.objects.filter(contact=contact)
                     .order_by("-received_at")],
    }
    # What each app holds of theirs: message counts (every message in the archive), calls.
    for holdings in declared():
        if holdings.subject_data:
            data.update(holdings.subject_data(contact, full=with_messages))
    return data


def subject_archive(contact: Contact) -> bytes:
    """A ZIP with data.json (everything above, messages included) and index.html (the same,
    readable; it runs no script and loads nothing)."""
    data = subject_data(contact, with_messages=True)
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, cls=DjangoJSONEncoder,
                                                 ensure_ascii=False, indent=2))
        archive.writestr("index.html", render_to_string(
            "consents/privacy/archive_index.html", {"data": data}))
    return body.getvalue()
