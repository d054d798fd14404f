"""Every write of consents/: consent events on the ledger, consent texts, subject requests.

The one check every automated send makes is `consents.selectors.may_contact`; recording a
withdrawal takes effect for it at once (the state is updated in the same transaction), and
sends already queued ask it again when they go (inbox.services, the campaigns)."""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from consents import calendar, selectors, subject_keys
from consents.models import ConsentEvent, ConsentState, Purpose, PurposeText, SubjectRequest
from security.audit import audit_chain

# Sent after commit with `contact_id` and `purpose` when a consent is withdrawn: whatever
# holds queued sends for the contact (campaigns) cancels them.
consent_withdrawn = Signal()

EVIDENCE_REQUIRED_FROM = {ConsentEvent.Source.MANAGER, ConsentEvent.Source.IMPORT}


@transaction.atomic
def purpose_text_publish(*, purpose: Purpose, text: str) -> PurposeText:
    text = text.strip()
    if not text:
        raise ValidationError({"text": _("The consent text is empty.")})
    latest = purpose.texts.select_for_update().order_by("-version").first()
    return PurposeText.objects.create(purpose=purpose, text=text,
                                      version=(latest.version + 1) if latest else 1)


@transaction.atomic
def consent_record(*, contact, purpose: Purpose, kind: str, source: str,
                   evidence: dict | None = None, by=None, text_version: int | None = None,
                   at=None) -> ConsentEvent:
    """Append a grant or a withdrawal to the ledger and update the contact's state.

    A grant names the consent text shown (its version; the current one by default) and
    stores its hash. A manager or an import must say what proves it (`evidence["document"]`
    or `evidence["note"]`); a website form or the privacy center brings the address and user
    agent."""
    if kind not in ConsentEvent.Kind.values:
        raise ValidationError({"kind": _("Unknown kind.")})
    if source not in ConsentEvent.Source.values:
        raise ValidationError({"source": _("Unknown source.")})
    evidence = {key: value for key, value in (evidence or {}).items() if value not in ("", None)}
    if source in EVIDENCE_REQUIRED_FROM and not (evidence.get("document")
                                                 or evidence.get("note")):
        raise ValidationError({"evidence": _(
            "Say what proves it: the signed document, the recorded call, the message.")})
    text = None
    if kind == ConsentEvent.Kind.GRANTED:
        if not purpose.is_active:
            raise ValidationError({"purpose": _("This purpose is no longer in use.")})
        texts = purpose.texts.all()
        text = (texts.filter(version=text_version).first() if text_version
                else texts.order_by("-version").first())
        if text is None:
            raise ValidationError({"text_version": _(
                "There is no such consent text for this purpose.")})
    if by is not None:
        evidence.setdefault("recorded_by", by.get_username())
    event = ConsentEvent(
        at=at or timezone.now(), contact_id=contact.pk, purpose_id=purpose.pk, kind=kind,
        source=source, text_version=text.version if text else None,
        text_sha256=text.sha256 if text else "",
        evidence=subject_keys.seal(contact.pk, evidence) if evidence else "",
        recorded_by_id=by.pk if by is not None else None,
    )
    audit_chain.append(ConsentEvent, [event])
    ConsentState.objects.update_or_create(
        contact_id=contact.pk, purpose=purpose,
        defaults={"granted": kind == ConsentEvent.Kind.GRANTED, "since": event.at,
                  "event_seq": event.seq})
    if kind == ConsentEvent.Kind.WITHDRAWN:
        transaction.on_commit(lambda: consent_withdrawn.send(
            sender=ConsentEvent, contact_id=contact.pk, purpose=purpose))
    return event


def consent_states_rebuild() -> int:
    """The projection from the ledger (after a restore, or to check it)."""
    with transaction.atomic():
        ConsentState.objects.all().delete()
        latest: dict[tuple[int, int], ConsentEvent] = {}
        for event in ConsentEvent.objects.order_by("seq").iterator(chunk_size=2000):
            latest[(event.contact_id, event.purpose_id)] = event
        from crm.models import Contact

        existing = set(Contact.objects.filter(
            pk__in={contact for contact, _ in latest}).values_list("pk", flat=True))
        ConsentState.objects.bulk_create([
            ConsentState(contact_id=contact, purpose_id=purpose,
                         granted=event.kind == ConsentEvent.Kind.GRANTED, since=event.at,
                         event_seq=event.seq)
            for (contact, purpose), event in latest.items() if contact in existing
        ])
    return len(latest)


# --- Subject requests ------------------------------------------------------------------------


def due_date_for(received_at, *, extended: bool = False):
    days = settings.SUBJECT_REQUEST_DAYS + (settings.SUBJECT_REQUEST_EXTENSION_DAYS
                                            if extended else 0)
    return calendar.add_working_days(timezone.localdate(received_at), days)


def _refuse_unless_may_act(user, contact) -> None:
    if not selectors.may_act_on(user=user, contact=contact):
        raise PermissionDenied(_("You may look at this client but not act for them."))


@transaction.atomic
def subject_request_register(*, contact, kind: str, source: str, details: str = "",
                             by=None, received_at=None) -> SubjectRequest:
    if by is not None:
        _refuse_unless_may_act(by, contact)
    if kind not in SubjectRequest.Kind.values:
        raise ValidationError({"kind": _("Unknown kind of request.")})
    received_at = received_at or timezone.now()
    return SubjectRequest.objects.create(
        contact=contact, kind=kind, source=source, details=details.strip()[:5000],
        received_at=received_at, due_date=due_date_for(received_at), registered_by=by,
    )


@transaction.atomic
def subject_request_extend(*, request: SubjectRequest, reason: str, by) -> SubjectRequest:
    """Once, by 5 working days, with the reason the client is told (152-FZ)."""
    _refuse_unless_may_act(by, request.contact)
    reason = reason.strip()
    if request.extended:
        raise ValidationError({"reason": _("The request was already extended once.")})
    if not reason:
        raise ValidationError({"reason": _("Give the reason the client will be told.")})
    if request.status in (SubjectRequest.Status.DONE, SubjectRequest.Status.REFUSED):
        raise ValidationError({"reason": _("The request is already closed.")})
    request.extended, request.extension_reason = True, reason[:2000]
    request.due_date = due_date_for(request.received_at, extended=True)
    request.handled_by = request.handled_by or by
    request.save(update_fields=["extended", "extension_reason", "due_date", "handled_by"])
    return request


@transaction.atomic
def subject_request_close(*, request: SubjectRequest, by, response: str,
                          refused: bool = False) -> SubjectRequest:
    """Answer the request. An erasure request answered (not refused) erases the client in
    the same transaction: the answer and the erasure stand or fall together."""
    from consents import erasure

    if not selectors.may_answer(user=by, request=request):
        raise PermissionDenied(_("Your role does not allow this action."))
    response = response.strip()
    if not response:
        raise ValidationError({"response": _("Write the answer given to the client.")})
    request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
    if request.status in (SubjectRequest.Status.DONE, SubjectRequest.Status.REFUSED):
        raise ValidationError({"response": _("The request is already closed.")})
    request.status = SubjectRequest.Status.REFUSED if refused else SubjectRequest.Status.DONE
    request.response, request.handled_by, request.closed_at = response, by, timezone.now()
    request.save(update_fields=["status", "response", "handled_by", "closed_at"])
    if request.kind == SubjectRequest.Kind.ERASURE and not refused:
        erasure.erase_contact(contact=request.contact, by=by, reason=erasure.REASON_REQUEST,
                              request=request)
        request.refresh_from_db()
    return request


OPEN_STATUSES = (SubjectRequest.Status.RECEIVED, SubjectRequest.Status.IN_PROGRESS)


def subject_requests_remind(*, today=None) -> int:
    """E-mail whoever handles each open request (nobody yet: the security officers) when it
    is due within SUBJECT_REQUEST_REMIND_DAYS working days, on its due date and after it;
    at most once a day per request (`reminded_on`). Returns how many requests were
    reminded of."""
    from django.core.mail import send_mail

    from security import roles
    from security.models import User

    today = today or timezone.localdate()
    officers = [email for email in User.objects.filter(
        is_active=True, groups__name=roles.SECURITY_OFFICER).exclude(email="")
        .values_list("email", flat=True)]
    reminded = 0
    pending = (SubjectRequest.objects.filter(status__in=OPEN_STATUSES)
               .exclude(reminded_on=today).select_related("handled_by"))
    for request in pending:
        left = calendar.working_days_between(today, request.due_date)
        if left > settings.SUBJECT_REQUEST_REMIND_DAYS:
            continue
        handler = request.handled_by
        to = [handler.email] if handler is not None and handler.email else officers
        # Claimed first, sent after: two schedulers never mail the same request twice a day.
        claimed = SubjectRequest.objects.filter(pk=request.pk).exclude(
            reminded_on=today).update(reminded_on=today)
        if not claimed or not to:
            continue
        if request.due_date < today:
            when = _("overdue since %(date)s") % {"date": request.due_date.isoformat()}
        elif request.due_date == today:
            when = _("due today")
        else:
            when = _("due %(date)s") % {"date": request.due_date.isoformat()}
        # Ids and dates only: a mailbox is not the place for the client's data.
        send_mail(
            _("Subject request #%(id)s: %(when)s") % {"id": request.pk, "when": when},
            _("The data subject's request #%(id)s (%(kind)s, contact #%(contact)s) is "
              "%(when)s. Answer it at %(path)s.") % {
                "id": request.pk, "kind": request.get_kind_display(),
                "contact": request.contact_id, "when": when,
                "path": "/consents/requests/"},
            None, to)
        reminded += 1
    return reminded
# --- Website forms ---------------------------------------------------------------------------


@transaction.atomic
def consent_capture(*, site, purposes: list[Purpose], name: str = "", email: str = "",
                    phone: str = "", text_versions: dict[str, int] | None = None,
                    evidence: dict) -> tuple[object, list[ConsentEvent]]:
    """A website form's consents, one grant per purpose, in one transaction: either every
    grant is on the ledger or none is (and the form hears an error to show).

    The client is found by e-mail, then phone, through the blind index; else a new contact
    of the site's team is created with them. A form never changes a contact that exists: it
    only proves a consent (anyone may type anyone's address, so nothing else is taken)."""
    from crm import selectors as crm_selectors
    from crm import services as crm_services
    from crm.models import Contact, ContactPoint

    contact = None
    for kind, value in ((ContactPoint.Kind.EMAIL, email), (ContactPoint.Kind.PHONE, phone)):
        if value and contact is None:
            point = crm_selectors.contact_point_lookup(kind=kind, value=value).order_by(
                "contact_id").first()
            contact = point.contact if point else None
    if contact is None:
        contact = Contact.objects.create(
            name=(name or email or phone)[:200], team=site.team, source=Contact.Source.WEBSITE)
        if email:
            crm_services.contact_point_add(contact=contact, kind=ContactPoint.Kind.EMAIL,
                                           value=email, from_client=True)
        if phone:
            crm_services.contact_point_add(contact=contact, kind=ContactPoint.Kind.PHONE,
                                           value=phone, from_client=True)
    events = [
        consent_record(contact=contact, purpose=purpose, kind=ConsentEvent.Kind.GRANTED,
                       source=ConsentEvent.Source.WEBSITE_FORM,
                       evidence={**evidence, "site": site.name},
                       text_version=(text_versions or {}).get(purpose.code))
        for purpose in purposes
    ]
    return contact, events
