"""What happens when a rule fires, and the security officer's work on alerts.

A raised alert reaches, after commit, the security officers and the user's sales head: live
on their open pages (an `alert.raised` event in their user group) and by e-mail (a Celery
task). A rule set to "alert and suspend" suspends the account at once (sessions and tokens
killed, websockets closed) until someone reviews it.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from security import roles
from security.models import AccessRecord, Alert, User


def recipients(alert: Alert) -> list[User]:
    """Who is told: every active security officer, and the heads of the user's team."""
    officers = Q(groups__name=roles.SECURITY_OFFICER)
    heads = Q(pk=alert.user.team.head_id) if alert.user.team_id and alert.user.team.head_id \
        else Q(pk__in=[])
    return list(User.objects.filter(officers | heads, is_active=True).exclude(pk=alert.user_id)
                .distinct().order_by("pk"))


def raised(alert: Alert) -> None:
    """A rule just created `alert`: tell people after commit; suspend if the rule says so."""
    from core import events
    from security import tasks

    for user in recipients(alert):
        events.send_after_commit(events.user_group(user.pk), {
            "type": "alert.raised", "alert": alert.pk, "rule": alert.rule,
            "title": str(rule_title(alert.rule)),
        })
    transaction.on_commit(lambda: tasks.mail_alert.delay(alert.pk))
    if alert.suspended:
        from security import accounts

        accounts.user_suspend(alert.user, reason=_("Alert #%(id)s: %(rule)s") % {
            "id": alert.pk, "rule": rule_title(alert.rule)})


def rule_title(code: str) -> str:
    from security.audit.rules import RULES

    rule = RULES.get(code)
    return str(rule.title) if rule else code


def mail(alert: Alert) -> int:
    from django.core.mail import send_mail

    addresses = [user.email for user in recipients(alert) if user.email]
    addresses += [a for a in settings.ALERT_EMAILS if a not in addresses]
    if not addresses:
        return 0
    subject = _("Security alert #%(id)s: %(rule)s (%(user)s)") % {
        "id": alert.pk, "rule": rule_title(alert.rule), "user": alert.user}
    body = _(
        "Rule: %(rule)s\nUser: %(user)s\nEvents: %(count)s (threshold %(threshold)s in "
        "%(window)s min)\nRaised: %(at)s\nAccount suspended: %(suspended)s\n\n"
        "Open the security console to review it."
    ) % {
        "rule": rule_title(alert.rule), "user": alert.user, "count": alert.count,
        "threshold": alert.threshold, "window": alert.window_minutes,
        "at": timezone.localtime(alert.raised_at).strftime("%Y-%m-%d %H:%M"),
        "suspended": _("yes") if alert.suspended else _("no"),
    }
    return send_mail(subject, body, None, addresses)


# --- Triage ----------------------------------------------------------------------------------


CLOSED = (Alert.Status.RESOLVED, Alert.Status.DISMISSED)


def _check_triage(*, alert: Alert, by: User) -> None:
    if by is None or not by.is_active or not by.has_perm("security.change_alert"):
        raise PermissionDenied(_("Only a security officer or an admin works on alerts."))
    if alert.status in CLOSED:
        raise ValidationError(_("This alert is closed already."))


@transaction.atomic
def alert_assign(*, alert: Alert, assignee: User | None, by: User) -> Alert:
    _check_triage(alert=alert, by=by)
    if assignee is not None and (not assignee.is_active
                                 or assignee.role not in (roles.SECURITY_OFFICER, roles.ADMIN)):
        raise ValidationError({"assignee": _("Alerts go to security officers or admins.")})
    alert.assignee = assignee
    if alert.status == Alert.Status.OPEN:
        alert.status = Alert.Status.IN_REVIEW
    alert.save(update_fields=["assignee", "status"])
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, by: User, comment: str, false_positive: bool = False,
                  reinstate: bool = False) -> Alert:
    """Close `alert` with what was found; `reinstate` lifts the suspension the alert caused
    (security.accounts checks who may), in the same transaction: if that is refused, the
    alert stays open."""
    _check_triage(alert=alert, by=by)
    comment = comment.strip()
    if not comment:
        raise ValidationError({"comment": _("Say what was found and done.")})
    alert.status = Alert.Status.DISMISSED if false_positive else Alert.Status.RESOLVED
    alert.resolution, alert.resolved_by, alert.resolved_at = comment, by, timezone.now()
    alert.save(update_fields=["status", "resolution", "resolved_by", "resolved_at"])
    if reinstate and alert.suspended:
        from security import accounts

        accounts.user_reinstate(alert.user, by=by)
    return alert


# --- How the evidence reads ------------------------------------------------------------------


def evidence_refs(alert: Alert, records: list[AccessRecord]) -> list[tuple[str, int]]:
    """Every object the alert's evidence and its records name, as (label, id)."""
    refs = []
    for value in alert.evidence.get("objects", []) or []:
        label, _sep, pk = str(value).rpartition(":")
        if pk.isdigit():
            refs.append((label, int(pk)))
    refs += [("crm.contact", int(pk)) for pk in alert.evidence.get("clients", []) or []
             if isinstance(pk, int)]
    for record in records:
        if record.object_type and record.object_id is not None:
            refs.append((record.object_type, record.object_id))
        if record.contact_id is not None:
            refs.append(("crm.contact", record.contact_id))
    return refs


def evidence_moment(value) -> datetime | None:
    """An ISO time the evidence keeps ("since", "at") as a datetime to show localized."""
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass
class RecordEvent:
    """What one request showed: a list page of 50 clients is one event of 50 records."""

    records: list[AccessRecord] = field(default_factory=list)

    @property
    def first(self) -> AccessRecord:
        return self.records[0]

    @property
    def count(self) -> int:
        return len(self.records)

    @property
    def seqs(self) -> tuple[int, int]:
        return self.records[0].seq, self.records[-1].seq


def _request_of(record: AccessRecord) -> tuple:
    # One request's reads are written in one batch, and one read() call gives its records
    # one time: the same moment, reader, surface, action and path is the same list view.
    return (record.at, record.user_id, record.surface, record.action, record.path)


def record_events(records: Iterable[AccessRecord]) -> list[RecordEvent]:
    """`records` (in log order, either way) grouped into the requests that made them."""
    events: list[RecordEvent] = []
    for record in records:
        if events and _request_of(events[-1].first) == _request_of(record):
            events[-1].records.append(record)
        else:
            events.append(RecordEvent([record]))
    return events
