"""Reads of the security console: alerts, the access log, the rules and the chains' state.

Who may read them is decided here and nowhere else: the roles holding `security.view_alert`
(the security officer and the admin, security/roles.py) see every alert and the whole access
log; anyone else sees nothing, and an alert's id answers 404. What they see is never client
content: the log and the alerts name clients by contact id and objects by type and id, and a
path is shown without its query string (a search box's query string holds what was typed: a
client's name or phone).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from security import roles
from security.audit import rules
from security.models import (
    AccessRecord,
    Alert,
    ChainHead,
    ChangeSeal,
    Incident,
    RuleSetting,
    User,
)

CONSOLE_PERMISSION = "security.view_alert"
ACCESS_LOG_PERMISSION = "security.view_accessrecord"
RULES_PERMISSION = "security.change_rulesetting"
ACCESS_LOG_PAGE = 50
OPEN_STATUSES = (Alert.Status.OPEN, Alert.Status.IN_REVIEW)


def _active(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def can_use_console(user) -> bool:
    return _active(user) and user.has_perm(CONSOLE_PERMISSION)


def can_read_access_log(user) -> bool:
    return _active(user) and user.has_perm(ACCESS_LOG_PERMISSION)


def can_edit_rules(user) -> bool:
    return _active(user) and user.has_perm(RULES_PERMISSION)


def can_export_evidence(user) -> bool:
    """The security officer alone: the admin triages beside them but takes no log out
    (issue 6: "evidence export for the security officer only"). A role, not a permission:
    a superuser holds every permission and must not get it that way."""
    return _active(user) and user.role == roles.SECURITY_OFFICER


# --- Alerts ----------------------------------------------------------------------------------


def alerts_visible_to(user) -> QuerySet[Alert]:
    if not can_use_console(user):
        return Alert.objects.none()
    return Alert.objects.all()


def alert_get(*, user, pk) -> Alert:
    alert = (alerts_visible_to(user).select_related("user", "user__team", "assignee",
                                                    "resolved_by")
             .filter(pk=pk).first())
    if alert is None:
        raise Http404
    return alert


@dataclass(frozen=True)
class AlertFilters:
    status: str = ""
    rule: str = ""
    user: int | None = None


def alert_list(*, user, filters: AlertFilters = AlertFilters()) -> QuerySet[Alert]:
    """Newest first."""
    alerts = alerts_visible_to(user).select_related("user", "assignee")
    if filters.status:
        alerts = alerts.filter(status=filters.status)
    if filters.rule:
        alerts = alerts.filter(rule=filters.rule)
    if filters.user is not None:
        alerts = alerts.filter(user_id=filters.user)
    return alerts.order_by("-raised_at", "-id")


def open_alert_count(user) -> int:
    return alerts_visible_to(user).filter(status__in=OPEN_STATUSES).count()


def alert_status_counts(user) -> dict[str, int]:
    rows = alerts_visible_to(user).values("status").annotate(n=Count("id"))
    counts = {status: 0 for status in Alert.Status.values}
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


def incident_list() -> QuerySet[Incident]:
    return Incident.objects.prefetch_related("subjects")


def incident_get(*, pk) -> Incident:
    return get_object_or_404(Incident, pk=pk)


def incident_subject(*, incident: Incident, pk) -> User:
    """One of the accounts the incident involves (404 for anyone else)."""
    return get_object_or_404(incident.subjects.all(), pk=pk)


def alerts_by_ids(ids) -> list[Alert]:
    return list(Alert.objects.filter(pk__in=ids).select_related("user"))


def alerted_users(user) -> QuerySet[User]:
    """The users some alert names (the alert list's user filter)."""
    ids = alerts_visible_to(user).values("user_id")
    return User.objects.filter(pk__in=ids).order_by("username")


def triage_assignees() -> QuerySet[User]:
    """Who an alert may be given to: active security officers and admins
    (security.audit.alerts.alert_assign checks the same)."""
    return (User.objects.filter(Q(groups__name__in=[roles.SECURITY_OFFICER, roles.ADMIN])
                                | Q(is_superuser=True), is_active=True)
            .distinct().order_by("username"))


def alert_evidence_records(alert: Alert) -> list[AccessRecord]:
    """The access-log records the alert's evidence names by seq, oldest first."""
    seqs = [seq for seq in alert.evidence.get("records", []) if isinstance(seq, int)]
    if not seqs:
        return []
    return list(AccessRecord.objects.filter(seq__in=seqs[:rules.EVIDENCE_LIMIT]).order_by("seq"))


# --- The access log --------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessFilters:
    user: str = ""  # a user id, or a username (also one no longer in the user table)
    contact: int | None = None
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def as_dict(self) -> dict:
        shown = {"user": self.user, "contact": self.contact, "action": self.action,
                 "since": self.since.isoformat() if self.since else None,
                 "until": self.until.isoformat() if self.until else None}
        return {name: value for name, value in shown.items() if value not in (None, "")}


def _user_condition(value: str) -> Q:
    value = value.strip()
    if value.isdigit():
        return Q(user_id=int(value))
    found = User.objects.filter(username__iexact=value).values_list("pk", flat=True).first()
    if found is not None:
        return Q(user_id=found)
    # A user deleted since: the log keeps the name as it was.
    return Q(username=value)


def access_records_search(*, user, filters: AccessFilters = AccessFilters()
                          ) -> QuerySet[AccessRecord]:
    """The access log, newest first, narrowed by `filters`."""
    if not can_read_access_log(user):
        return AccessRecord.objects.none()
    found = AccessRecord.objects.all()
    if filters.user:
        found = found.filter(_user_condition(filters.user))
    if filters.contact is not None:
        found = found.filter(contact_id=filters.contact)
    if filters.action:
        found = found.filter(action=filters.action)
    if filters.since is not None:
        found = found.filter(at__gte=filters.since)
    if filters.until is not None:
        found = found.filter(at__lte=filters.until)
    return found.order_by("-seq")


def access_records_page(records: QuerySet[AccessRecord], *, before: int | None,
                        size: int | None = None) -> tuple[list[AccessRecord], int | None]:
    """One page of `records` (newest first) below seq `before`, and the `before` of the next
    page (None on the last). Keyset paging: the log only grows, and counting it would cost a
    scan of millions of rows for a page number nobody needs."""
    size = size or ACCESS_LOG_PAGE
    if before is not None:
        records = records.filter(seq__lt=before)
    rows = list(records[:size + 1])
    if len(rows) > size:
        return rows[:size], rows[size - 1].seq
    return rows, None


def path_without_query(path: str) -> str:
    return path.split("?", 1)[0]


# --- The rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleRow:
    rule: rules.Rule
    effective: rules.Effective
    customised: bool

    @property
    def code(self) -> str:
        return self.rule.code


def rule_rows() -> list[RuleRow]:
    configured = set(RuleSetting.objects.values_list("rule", flat=True))
    return [RuleRow(rule, rules.effective(code), code in configured)
            for code, rule in rules.RULES.items()]


def rule_get(code: str) -> RuleRow:
    if code not in rules.RULES:
        raise Http404
    return RuleRow(rules.RULES[code], rules.effective(code),
                   RuleSetting.objects.filter(rule=code).exists())


# --- The chains, cheaply ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChainState:
    name: str
    records: int
    head_hash: str
    # The head points at the last record and carries its hash: cheap (two indexed rows) and
    # catches records cut from the end; the full walk is `manage.py verify_audit`.
    tail_ok: bool


def chain_states() -> list[ChainState]:
    states = []
    for model in (AccessRecord, ChangeSeal):
        head = ChainHead.objects.filter(name=model._meta.label_lower).first()
        last = model.objects.order_by("-seq").values("seq", "hash").first()
        head_seq, head_hash = (head.seq, head.hash) if head else (0, "")
        if last is None:
            tail_ok = head_seq == 0
        else:
            tail_ok = (last["seq"], last["hash"]) == (head_seq, head_hash)
        states.append(ChainState(str(model._meta.verbose_name_plural), head_seq, head_hash,
                                 tail_ok))
    return states
