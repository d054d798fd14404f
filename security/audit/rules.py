"""Anomaly rules: evaluated as events happen, each raising an Alert with its evidence.

The events are the access log's batches (`access_log.access_recorded`), the change log's
deletions and logins. Each rule counts distinct things per user in a sliding window
(security.audit.windows: Redis in production) and fires when the count reaches its threshold
("more than" for the export volume); a user is alerted once per rule and window, not once
per further event. The thresholds and the response (alert only, or alert and suspend the
account until reviewed) are the security officer's to change (RuleSetting); RULES holds the
defaults.
"""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from security import roles
from security.audit import windows
from security.models import AccessRecord, Alert, RuleSetting, User

logger = logging.getLogger("security.audit.rules")

Action = AccessRecord.Action
EVIDENCE_LIMIT = 500
_SETTINGS_KEY = "rules:settings"


@dataclass(frozen=True)
class Rule:
    code: str
    title: Promise
    threshold: int
    window_minutes: int
    # True: fires above the threshold ("more than 1,000 rows a day"), else at it.
    over: bool = False

    def fires(self, count: int, threshold: int) -> bool:
        return count > threshold if self.over else count >= threshold


FOREIGN_CARDS = "foreign_cards"
CLIENTS_SERVED = "clients_served"
CLIENTS_SERVED_DAY = "clients_served_day"
DELETIONS = "deletions"
EXPORT_VOLUME = "export_volume"
REVEALS = "reveals"
OFF_HOURS = "off_hours"
ENUMERATION = "enumeration"
NEW_IP = "new_ip"

RULES = {rule.code: rule for rule in [
    Rule(FOREIGN_CARDS, _("Cards of clients without an active deal of the viewer"), 30, 10),
    Rule(CLIENTS_SERVED, _("Clients whose records were served, on any surface"), 200, 60),
    Rule(CLIENTS_SERVED_DAY, _("Clients whose records were served in a day, on any surface"),
         500, 24 * 60),
    Rule(DELETIONS, _("Deletions"), 10, 10),
    Rule(EXPORT_VOLUME, _("Exported rows in a day"), 1000, 24 * 60, over=True),
    Rule(REVEALS, _("Masked values revealed"), 20, 60),
    Rule(OFF_HOURS, _("Client data read outside working hours"), 1, 60),
    Rule(ENUMERATION, _("Refused object requests (404)"), 50, 5),
    Rule(NEW_IP, _("A privileged account from a new address"), 1, 24 * 60),
]}
PRIVILEGED_ROLES = {roles.ADMIN, roles.SECURITY_OFFICER, roles.SALES_HEAD}

# The viewing rules, and why there are three:
# - foreign_cards: snooping. Cards opened of clients the viewer has no open deal with (a head's
#   team deals are theirs); a low threshold, since a manager has no business there.
# - clients_served (an hour) and clients_served_day: bulk reading. Every client record served,
#   whatever the surface and whoever owns the client: a card, each row of a list or the board,
#   each search result, each item of an API page, a timeline page, a recording or a file, a
#   revealed value, each exported row, a live subscription (the socket then pushes that
#   deal's events only, so its client counts once, at subscribe; personal events carry ids
#   only). A list row carries what a card carries, and a manager copying out their own book
#   before leaving is the very loss this product exists to prevent, so own clients count too.
#   Distinct clients: paging the same list again adds nothing. The hour catches a burst (4 API
#   pages of 100, 8 list pages of 25), the day a slow copy kept under the hour's threshold;
#   both sit well above a normal working day (README: "The access log, the change log and
#   anomaly alerts" has the figures).
SERVED = frozenset(Action.values) - {Action.NOT_FOUND, Action.REFUSED}


@dataclass(frozen=True)
class Effective:
    enabled: bool
    threshold: int
    window_minutes: int
    response: str


# The settings as this process last read them, and until when (time.monotonic()): every
# batch of reads asks for several rules, and a Redis round trip each cost the deal card 1-2 ms.
_configured: tuple[float, dict] = (0.0, {})
_LOCAL_SECONDS = 2


def effective(code: str) -> Effective:
    """A rule as configured now (cached briefly: every batch of reads asks): a change made in
    this process applies at once, in the others within seconds."""
    global _configured
    until, configured = _configured
    if until < time.monotonic():
        configured = cache.get(_SETTINGS_KEY)
        if configured is None:
            configured = {row.rule: (row.enabled, row.threshold, row.window_minutes,
                                     row.response)
                          for row in RuleSetting.objects.all()}
            cache.set(_SETTINGS_KEY, configured, 30)
        _configured = (time.monotonic() + _LOCAL_SECONDS, configured)
    if code in configured:
        return Effective(*configured[code])
    rule = RULES[code]
    return Effective(True, rule.threshold, rule.window_minutes, RuleSetting.Response.ALERT)


def settings_changed() -> None:
    global _configured
    _configured = (0.0, {})
    cache.delete(_SETTINGS_KEY)


# A window longer than a week would keep that much of every user's activity in Redis.
MAX_WINDOW_MINUTES = 7 * 24 * 60
MAX_THRESHOLD = 1_000_000


@transaction.atomic
def rule_setting_save(*, code: str, by, enabled: bool, threshold: int, window_minutes: int,
                      response: str) -> RuleSetting:
    """The security officer's setting of one rule; it takes effect for the next event (the
    cached settings are dropped after commit). The change log records who changed what."""
    if code not in RULES:
        raise ValidationError({"rule": _("Unknown rule.")})
    if by is None or not by.is_active or not by.has_perm("security.change_rulesetting"):
        raise PermissionDenied(_("Only the security officer changes the rules."))
    errors = {}
    if not 1 <= threshold <= MAX_THRESHOLD:
        errors["threshold"] = _("Between 1 and %(max)s.") % {"max": MAX_THRESHOLD}
    if not 1 <= window_minutes <= MAX_WINDOW_MINUTES:
        errors["window_minutes"] = _("Between 1 minute and a week (%(max)s minutes).") % {
            "max": MAX_WINDOW_MINUTES}
    if response not in RuleSetting.Response.values:
        errors["response"] = _("Unknown response.")
    if errors:
        raise ValidationError(errors)
    setting, _created = RuleSetting.objects.update_or_create(rule=code, defaults={
        "enabled": enabled, "threshold": threshold, "window_minutes": window_minutes,
        "response": response})
    transaction.on_commit(settings_changed)
    settings_changed()  # and now: this process reads its own write before the commit
    return setting


def observe(code: str, user, members, *, evidence=None) -> Alert | None:
    """Count `members` (distinct ids) for `user` under rule `code`; raise an alert when the
    window reaches the threshold. `evidence`: a callable giving the alert's evidence."""
    config = effective(code)
    if not config.enabled or user is None:
        return None
    window = config.window_minutes * 60
    count = windows.add(f"{code}:{user.pk}", members, window_seconds=window)
    if not RULES[code].fires(count, config.threshold):
        return None
    return _raise(code, user, config, count, evidence() if evidence else {})


def _raise(code: str, user, config: Effective, count: int, evidence: dict) -> Alert | None:
    since = timezone.now() - timedelta(minutes=config.window_minutes)
    raised = Alert.objects.filter(rule=code, user=user, raised_at__gte=since)
    # Raised already (the common case past a threshold: every further read of the window)
    # needs no lock: a read at night paid a transaction and a row lock on every page.
    if raised.exists():
        return None
    with transaction.atomic():
        # One alert per user, rule and window: lock the user's row so parallel requests
        # crossing the threshold together raise it once.
        User.objects.select_for_update().filter(pk=user.pk).first()
        if raised.exists():  # by a parallel request, while this one waited for the lock
            return None
        alert = Alert.objects.create(
            rule=code, user=user, count=count, threshold=config.threshold,
            window_minutes=config.window_minutes, evidence=evidence,
            suspended=config.response == RuleSetting.Response.SUSPEND,
        )
    logger.warning("alert %s: rule=%s user=%s count=%s", alert.pk, code, user.pk, count)
    from security.audit import alerts

    alerts.raised(alert)
    return alert


def _records_evidence(user, actions, minutes: int) -> dict:
    since = timezone.now() - timedelta(minutes=minutes)
    rows = list(AccessRecord.objects.filter(user_id=user.pk, action__in=actions, at__gte=since)
                .order_by("-seq")
                .values_list("seq", "object_type", "object_id", "contact_id")[:EVIDENCE_LIMIT])
    return {
        "records": [seq for seq, *_ in rows],
        "objects": sorted({f"{kind}:{pk}" for _, kind, pk, _ in rows if pk is not None}),
        "clients": sorted({contact for *_, contact in rows if contact is not None}),
        "since": since.isoformat(),
    }


# --- What each event feeds -------------------------------------------------------------------


def on_access(sender, records: list[AccessRecord], user=None, **kwargs) -> None:
    """access_log.access_recorded: one batch of reads, usually one user's (`user`)."""
    by_user: dict[int, list[AccessRecord]] = {}
    for record in records:
        if record.user_id is not None:
            by_user.setdefault(record.user_id, []).append(record)
    for user_id, own in by_user.items():
        reader = user if getattr(user, "pk", None) == user_id else (
            User.objects.filter(pk=user_id).first())
        if reader is not None:
            _evaluate_reads(reader, own)


def _evaluate_reads(user, records: list[AccessRecord]) -> None:
    def seqs(*actions):
        return [r.seq for r in records if r.action in actions]

    def evidence_of(code, *actions):
        return lambda: _records_evidence(user, actions, effective(code).window_minutes)

    if served := {_client_of(r) for r in records if r.action in SERVED} - {None}:
        for code in (CLIENTS_SERVED, CLIENTS_SERVED_DAY):
            observe(code, user, sorted(served), evidence=evidence_of(code, *SERVED))
    cards = {r.contact_id for r in records
             if r.action == Action.VIEW and r.contact_id is not None
             and r.object_type in ("crm.deal", "crm.contact")}
    if cards:
        foreign = cards - _clients_with_active_deal(user, cards)
        if foreign:
            observe(FOREIGN_CARDS, user, sorted(foreign),
                    evidence=evidence_of(FOREIGN_CARDS, Action.VIEW))
    if revealed := seqs(Action.REVEAL):
        observe(REVEALS, user, revealed, evidence=evidence_of(REVEALS, Action.REVEAL))
    if exported := seqs(Action.EXPORT):
        observe(EXPORT_VOLUME, user, exported,
                evidence=evidence_of(EXPORT_VOLUME, Action.EXPORT))
    if refused := seqs(Action.NOT_FOUND):
        observe(ENUMERATION, user, refused,
                evidence=evidence_of(ENUMERATION, Action.NOT_FOUND))
    hours = working_hours()
    off_hours = [r.seq for r in records
                 if r.action != Action.NOT_FOUND and not hours.is_open(r.at)]
    if off_hours:
        observe(OFF_HOURS, user, off_hours, evidence=lambda: {
            "records": off_hours[:EVIDENCE_LIMIT], "at": records[0].at.isoformat(),
            "clients": sorted({r.contact_id for r in records if r.contact_id is not None}),
        })


def _client_of(record: AccessRecord) -> str | None:
    """The client a served record counts as: its contact, or, for a record of no contact (a
    company, a deal or call without one), the object itself."""
    if record.contact_id is not None:
        return str(record.contact_id)
    if record.object_id is not None:
        return f"{record.object_type}:{record.object_id}"
    return None


def _clients_with_active_deal(user, clients: set[int]) -> set[int]:
    """Which of `clients` the viewer works with, as the apps holding the work say
    (core.holdings: clients_worked_with; crm: an open deal of theirs)."""
    from core.holdings import declared

    found: set[int] = set()
    for holdings in declared():
        if holdings.clients_worked_with:
            found |= holdings.clients_worked_with(user, clients)
    return found


def working_hours():
    from core.hours import BusinessHours

    return BusinessHours.parse(settings.STAFF_WORKING_HOURS, settings.TIME_ZONE)


def on_change(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """post_save of auditlog's LogEntry: a deletion by a member of staff."""
    from auditlog.models import LogEntry

    if not created or raw or instance.action != LogEntry.Action.DELETE:
        return
    if instance.actor_id is None:
        return
    actor = User.objects.filter(pk=instance.actor_id).first()
    observe(DELETIONS, actor, [instance.pk], evidence=lambda: _deletions_evidence(actor))


def _deletions_evidence(user) -> dict:
    from auditlog.models import LogEntry

    since = timezone.now() - timedelta(minutes=effective(DELETIONS).window_minutes)
    entries = (LogEntry.objects.filter(actor_id=user.pk, action=LogEntry.Action.DELETE,
                                       timestamp__gte=since)
               .order_by("-pk").values_list("pk", "content_type__model", "object_pk"))
    rows = list(entries[:EVIDENCE_LIMIT])
    return {"change_log_entries": [pk for pk, *_ in rows],
            "objects": [f"{model}:{pk}" for _, model, pk in rows], "since": since.isoformat()}


def on_login(*, user, ip: str | None) -> None:
    """A privileged account signed in (web or API token): from an address it never used?"""
    from security.models import KnownAddress

    if not ip or user.role not in PRIVILEGED_ROLES:
        return
    known = list(KnownAddress.objects.filter(user=user).values_list("ip", flat=True))
    if ip in known:
        return
    KnownAddress.objects.get_or_create(user=user, ip=ip)
    if known:  # the very first address is the baseline, not an anomaly
        observe(NEW_IP, user, [ip], evidence=lambda: {"ip": ip, "known": known[:50]})
