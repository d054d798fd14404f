"""Incidents: opened from alerts, with the clients affected (from the access log), frozen
evidence, the 152-FZ clocks, a draft of the regulator notification, and containment steps,
each written on the incident's timeline."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max, Min
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from security.audit import audit_chain, containment
from security.models import AccessRecord, Alert, Incident, IncidentEvent, User

# 152-FZ art. 21 part 3.1: the regulator hears of a leak within 24 hours of its detection,
# and of the internal investigation's results within 72 hours.
NOTIFY_WITHIN = timedelta(hours=24)
REPORT_WITHIN = timedelta(hours=72)


def _event(incident: Incident, *, kind: str, text: str, by=None, **detail) -> IncidentEvent:
    return IncidentEvent.objects.create(incident=incident, kind=kind, text=text, by=by,
                                        detail=detail)


def deadlines(incident: Incident) -> dict:
    return {"notify_by": incident.detected_at + NOTIFY_WITHIN,
            "report_by": incident.detected_at + REPORT_WITHIN}


def evidence_records(alerts: list[Alert]):
    """The access-log records that are the alerts' evidence: those each alert names, or, for
    an alert that names none (a rule that does not count reads, an alert made by hand), its
    user's reads within its own window. Never the log up to now: later records are not the
    alert's, and other people's reads between them are no evidence."""
    scope = AccessRecord.objects.none()
    for alert in alerts:
        seqs = [seq for seq in alert.evidence.get("records", []) if isinstance(seq, int)]
        if seqs:
            scope = scope | AccessRecord.objects.filter(seq__in=seqs, user_id=alert.user_id)
        else:
            scope = scope | AccessRecord.objects.filter(
                user_id=alert.user_id, at__lte=alert.raised_at,
                at__gte=alert.raised_at - timedelta(minutes=alert.window_minutes))
    return scope


def evidence_summary(alerts: list[Alert]) -> dict:
    """What opening an incident from `alerts` would freeze: the records' range and count,
    the clients they touched (the confirmation page says it before anyone commits)."""
    scope = evidence_records(alerts)
    found = scope.aggregate(first=Min("seq"), last=Max("seq"), count=Count("pk"))
    clients = set(scope.exclude(contact_id=None).values_list("contact_id", flat=True))
    return {**found, "clients": sorted(clients)}


@transaction.atomic
def incident_open(*, alerts: list[Alert], by: User, title: str = "",
                  description: str = "") -> Incident:
    """Open an incident from `alerts`: detected when the first of them was raised; their
    evidence is frozen at once (evidence_records)."""
    if not alerts:
        raise ValidationError({"alerts": _("Open an incident from at least one alert.")})
    first = min(alerts, key=lambda alert: alert.raised_at)
    incident = Incident.objects.create(
        title=(title or _("Alert: %(rule)s, %(user)s") % {
            "rule": _rule_title(first.rule), "user": first.user})[:200],
        description=description, opened_by=by, detected_at=first.raised_at,
    )
    incident.alerts.set(alerts)
    incident.subjects.set({alert.user_id for alert in alerts})
    _event(incident, kind="opened", by=by,
           text=_("Incident opened from alerts %(ids)s.") % {
               "ids": ", ".join(f"#{alert.pk}" for alert in alerts)},
           alerts=[alert.pk for alert in alerts])
    freeze_evidence(incident=incident, by=by)
    return incident


def _rule_title(code: str) -> str:
    from security.audit.alerts import rule_title

    return rule_title(code)


@transaction.atomic
def freeze_evidence(*, incident: Incident, by: User) -> Incident:
    """Fix the access-log range of the incident's alerts' evidence: from its first record to
    its last, with the last one's hash (which, through the chain, vouches for every record
    before it). The clients those records touched are the affected clients."""
    alerts = list(incident.alerts.all())
    summary = evidence_summary(alerts)
    first, last = summary["first"], summary["last"]
    clients = set(summary["clients"])
    for alert in alerts:  # what a rule counted, where no record names it
        clients |= {pk for pk in alert.evidence.get("clients", []) if isinstance(pk, int)}
    last_record = AccessRecord.objects.filter(seq=last).first() if last is not None else None
    incident.evidence_from_seq = first
    incident.evidence_to_seq = last
    incident.evidence_hash = last_record.hash if last_record else ""
    incident.evidence_frozen_at = timezone.now()
    incident.affected_clients = sorted(clients)
    incident.save(update_fields=["evidence_from_seq", "evidence_to_seq", "evidence_hash",
                                 "evidence_frozen_at", "affected_clients"])
    _event(incident, kind="evidence", by=by,
           text=_("Evidence frozen: access-log records #%(first)s to #%(last)s, "
                  "%(clients)d clients affected.") % {
               "first": first or "-", "last": last or "-", "clients": len(clients)},
           first=first, last=last, hash=incident.evidence_hash)
    return incident


def evidence_intact(incident: Incident) -> bool | None:
    """Is the frozen range as it was? (None: nothing was frozen.) The last record still has
    the frozen hash, and the chain up to it verifies."""
    if incident.evidence_to_seq is None:
        return None
    last = AccessRecord.objects.filter(seq=incident.evidence_to_seq).first()
    if last is None or last.hash != incident.evidence_hash:
        return False
    _checked, breaks = audit_chain.verify(AccessRecord)
    return not any(b.seq is not None and b.seq <= incident.evidence_to_seq for b in breaks)


# --- Containment -----------------------------------------------------------------------------


def contain_suspend(*, incident: Incident, user: User, by: User) -> None:
    from security import accounts

    accounts.user_suspend(user, reason=_("Incident #%(id)s") % {"id": incident.pk}, by=by)
    _event(incident, kind="suspended", by=by,
           text=_("Account %(user)s suspended.") % {"user": user}, user=user.pk)


def contain_disable(*, incident: Incident, kind: str, target_id: int, by: User) -> None:
    try:
        name = containment.disable(kind, target_id)
    except LookupError:
        raise ValidationError({"target": _("Nothing to switch off there.")}) from None
    title = next(str(s.title) for s in containment.switchables() if s.kind == kind)
    _event(incident, kind="disabled", by=by,
           text=_("%(what)s “%(name)s” switched off.") % {"what": title, "name": name},
           switch=kind, target=target_id)


def contain_pause_automation(*, incident: Incident, by: User) -> None:
    containment.pause_automation(by=by, reason=_("Incident #%(id)s") % {"id": incident.pk})
    _event(incident, kind="paused", by=by,
           text=_("Every outgoing campaign and automated message paused."))


# --- The regulator ---------------------------------------------------------------------------


def mark_regulator_notified(*, incident: Incident, by: User) -> None:
    incident.regulator_notified_at = timezone.now()
    incident.save(update_fields=["regulator_notified_at"])
    _event(incident, kind="notified", by=by, text=_("The regulator was notified."))


def mark_results_reported(*, incident: Incident, by: User) -> None:
    incident.results_reported_at = timezone.now()
    incident.save(update_fields=["results_reported_at"])
    _event(incident, kind="reported", by=by,
           text=_("The investigation's results were reported to the regulator."))


def incident_note(*, incident: Incident, by: User, text: str) -> None:
    text = text.strip()
    if not text:
        raise ValidationError({"text": _("Write the note.")})
    _event(incident, kind="note", by=by, text=text[:5000])


def incident_close(*, incident: Incident, by: User, comment: str) -> None:
    comment = comment.strip()
    if not comment:
        raise ValidationError({"comment": _("Say how the incident ended.")})
    incident.status, incident.closed_at = Incident.Status.CLOSED, timezone.now()
    incident.save(update_fields=["status", "closed_at"])
    _event(incident, kind="closed", by=by, text=comment[:5000])


def notification_draft(incident: Incident) -> str:
    """The regulator notification (Roskomnadzor's form), pre-filled from the incident. It is
    a legal document in Russian whatever the reader's language."""
    from django.utils import translation

    with translation.override("ru"):
        return render_to_string("security/incidents/notification.txt", {
            "incident": incident,
            "operator": settings.OPERATOR_NAME,
            "deadlines": deadlines(incident),
            "subjects": list(incident.subjects.all()),
            "alerts": list(incident.alerts.all()),
            "steps": list(incident.events.exclude(kind__in=("opened", "note"))
                          .select_related("by")),
            "clients": len(incident.affected_clients),
            "officer": incident.opened_by,
        })
