"""Retention: what is past its keeping period is anonymized or deleted (152-FZ art. 5 p. 7,
art. 21 p. 4-5).

The rules are RetentionRule rows; a data type without a row follows DEFAULTS (so a fresh
install is covered without a migration). The purposes add theirs: a contact whose consent was
withdrawn longer ago than the purpose's retention period, who consents to nothing now and has
no open deal, is erased.

`plan()` decides, `execute()` does exactly what the plan lists (the same ids): the dry run
prints the plan, and the real run is the plan it would have printed at that moment.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Max, Q
from django.utils import timezone

from consents import erasure
from consents.models import Purpose, RetentionRule
from core.holdings import declared, retention_kinds
from crm.models import Contact, Deal

DataType, Action = RetentionRule.DataType, RetentionRule.Action

# (days, action) for a data type without a rule of its own: the apps' data types declare
# theirs (core.holdings: messages, recordings, calls).
CONTACT_DEFAULTS = {
    DataType.INACTIVE_CONTACTS: (3 * 365, Action.ANONYMIZE),
}


def defaults() -> dict[str, tuple[int, str]]:
    found = {key: (kind.default_days, kind.default_action)
             for key, kind in retention_kinds().items()}
    return {**found, **CONTACT_DEFAULTS}

# The access log is an append-only hash chain holding ids only: never trimmed here.
NOT_APPLIED = {DataType.ACCESS_LOG}


@dataclass
class Step:
    key: str  # "messages", "purpose:newsletter"...
    days: int
    action: str
    ids: list[int] = field(default_factory=list)
    note: str = ""

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass
class Plan:
    steps: list[Step]
    done: bool = False

    def counts(self) -> dict[str, int]:
        return {step.key: step.count for step in self.steps}


def rules() -> list[tuple[str, int, str]]:
    """(data type, days, action) in force: the active rows, the defaults for the rest."""
    rows = {rule.data_type: rule for rule in RetentionRule.objects.all()}
    fallback = defaults()
    found = []
    for data_type in DataType.values:
        if data_type in NOT_APPLIED:
            continue
        rule = rows.get(data_type)
        if rule is not None:
            if rule.is_active:
                found.append((data_type, rule.days, rule.action))
        elif data_type in fallback:
            found.append((data_type, *fallback[data_type]))
    return found


def _not_erased():
    return Contact.objects.exclude(name__startswith="Удалённый клиент #")


def _inactive_contacts(before) -> list[int]:
    """No open deal, no current consent, nothing happened since `before`: in its deals or in
    any app (its messages, its calls: core.holdings' contact_activity)."""
    paths = ["deals__last_activity_at"] + [h.contact_activity for h in declared()
                                           if h.contact_activity]
    latest = {f"last_{n}": Max(path) for n, path in enumerate(paths)}
    contacts = (_not_erased()
                .filter(updated_at__lt=before)
                .exclude(deals__status=Deal.Status.OPEN)
                .exclude(consent_states__granted=True)
                .annotate(**latest))
    # Spelled out: NOT (MAX(...) >= x) is NULL, not true, for a contact with no rows.
    for name in latest:
        contacts = contacts.filter(Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__lt": before}))
    return list(contacts.values_list("pk", flat=True))


def _withdrawn(purpose: Purpose, now) -> list[int]:
    before = now - timedelta(days=purpose.retention_days)
    return list(
        _not_erased()
        .filter(consent_states__purpose=purpose, consent_states__granted=False,
                consent_states__since__lt=before)
        .exclude(consent_states__granted=True)
        .exclude(deals__status=Deal.Status.OPEN)
        .distinct().values_list("pk", flat=True)
    )


def plan(*, now=None) -> Plan:
    now = now or timezone.now()
    steps = []
    kinds = retention_kinds()
    for data_type, days, action in rules():
        before = now - timedelta(days=days)
        if data_type in kinds:
            ids = kinds[data_type].find(before, action)
        elif data_type == DataType.INACTIVE_CONTACTS:
            ids = _inactive_contacts(before)
        else:  # an app that declared it is not installed
            continue
        steps.append(Step(data_type, days, action, sorted(ids)))
    already = {pk for step in steps if step.key == DataType.INACTIVE_CONTACTS
               for pk in step.ids}
    for purpose in Purpose.objects.filter(legal_basis=Purpose.LegalBasis.CONSENT) \
            .order_by("code"):
        ids = [pk for pk in _withdrawn(purpose, now) if pk not in already]
        already |= set(ids)
        steps.append(Step(f"purpose:{purpose.code}", purpose.retention_days, "erase", ids,
                          note=purpose.title))
    return Plan(steps)


def _apply_erasures(step: Step) -> None:
    for contact in Contact.objects.filter(pk__in=step.ids):
        erasure.erase_contact(contact=contact, by=None, reason=erasure.REASON_RETENTION)


def execute(the_plan: Plan) -> Plan:
    kinds = retention_kinds()
    for step in the_plan.steps:
        if not step.ids:
            continue
        if step.key in kinds:
            kinds[step.key].apply(step.ids, step.action)
        else:  # inactive contacts, a purpose's withdrawn consents
            _apply_erasures(step)
    the_plan.done = True
    return the_plan


def apply(*, dry_run: bool, now=None) -> Plan:
    the_plan = plan(now=now)
    return the_plan if dry_run else execute(the_plan)
