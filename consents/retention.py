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

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from consents import erasure
from consents.models import Purpose, RetentionRule
from crm.models import Contact, Deal, TimelineEntry
from inbox.models import Attachment, Message
from telephony.models import Call, Recording

DataType, Action = RetentionRule.DataType, RetentionRule.Action

# (days, action) for a data type without a rule of its own.
DEFAULTS = {
    DataType.MESSAGES: (3 * 365, Action.ANONYMIZE),
    DataType.RECORDINGS: (365, Action.DELETE),
    DataType.CALLS: (3 * 365, Action.ANONYMIZE),
    DataType.INACTIVE_CONTACTS: (3 * 365, Action.ANONYMIZE),
}
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
    found = []
    for data_type in DataType.values:
        if data_type in NOT_APPLIED:
            continue
        rule = rows.get(data_type)
        if rule is not None:
            if rule.is_active:
                found.append((data_type, rule.days, rule.action))
        elif data_type in DEFAULTS:
            found.append((data_type, *DEFAULTS[data_type]))
    return found


def _not_erased():
    return Contact.objects.exclude(name__startswith="Удалённый клиент #")


def _messages(before) -> list[int]:
    # Messages of the client and notes alike; outbound ones too (they quote the client).
    return list(Message.objects.filter(created_at__lt=before).filter(
        ~Q(text__in=("", erasure.ERASED)) | Q(attachments__isnull=False) | ~Q(external_id="")
    ).distinct().values_list("pk", flat=True))


def _recordings(before) -> list[int]:
    return list(Recording.objects.filter(call__started_at__lt=before)
                .values_list("pk", flat=True))


def _calls(before, action) -> list[int]:
    calls = Call.objects.filter(started_at__lt=before)
    if action == Action.ANONYMIZE:
        calls = calls.exclude(client_number_index="")
    return list(calls.values_list("pk", flat=True))


def _inactive_contacts(before) -> list[int]:
    """No open deal, no current consent, nothing happened since `before`."""
    return list(
        _not_erased()
        .filter(updated_at__lt=before)
        .exclude(deals__status=Deal.Status.OPEN)
        .exclude(consent_states__granted=True)
        .annotate(last_deal=Max("deals__last_activity_at"),
                  last_message=Max("conversations__last_activity_at"),
                  last_call=Max("calls__started_at"))
        # Spelled out: NOT (MAX(...) >= x) is NULL, not true, for a contact with no rows.
        .filter(Q(last_deal__isnull=True) | Q(last_deal__lt=before),
                Q(last_message__isnull=True) | Q(last_message__lt=before),
                Q(last_call__isnull=True) | Q(last_call__lt=before))
        .values_list("pk", flat=True)
    )


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
    for data_type, days, action in rules():
        before = now - timedelta(days=days)
        if data_type == DataType.MESSAGES:
            ids = _messages(before)
        elif data_type == DataType.RECORDINGS:
            ids = _recordings(before)
        elif data_type == DataType.CALLS:
            ids = _calls(before, action)
        else:
            ids = _inactive_contacts(before)
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


@transaction.atomic
def _apply_messages(step: Step) -> None:
    messages = Message.objects.filter(pk__in=step.ids)
    Attachment.objects.filter(message__in=messages).delete()  # their files too (security.files)
    if step.action == Action.DELETE:
        TimelineEntry.objects.filter(source_type__model="message", source_type__app_label="inbox",
                                     source_id__in=step.ids).delete()
        messages.delete()
    else:
        messages.exclude(text="").update(text=erasure.ERASED)
        messages.update(external_id="", error="")


@transaction.atomic
def _apply_recordings(step: Step) -> None:
    Recording.objects.filter(pk__in=step.ids).delete()  # their files too (security.files)


@transaction.atomic
def _apply_calls(step: Step) -> None:
    calls = Call.objects.filter(pk__in=step.ids)
    if step.action == Action.DELETE:
        _apply_recordings(Step("", 0, "", list(Recording.objects.filter(call__in=calls)
                                              .values_list("pk", flat=True))))
        TimelineEntry.objects.filter(source_type__model="call",
                                     source_type__app_label="telephony",
                                     source_id__in=step.ids).delete()
        calls.delete()
    else:
        calls.update(client_number="", client_number_index="")


def _apply_erasures(step: Step) -> None:
    for contact in Contact.objects.filter(pk__in=step.ids):
        erasure.erase_contact(contact=contact, by=None, reason=erasure.REASON_RETENTION)


def execute(the_plan: Plan) -> Plan:
    for step in the_plan.steps:
        if not step.ids:
            continue
        if step.key == DataType.MESSAGES:
            _apply_messages(step)
        elif step.key == DataType.RECORDINGS:
            _apply_recordings(step)
        elif step.key == DataType.CALLS:
            _apply_calls(step)
        else:  # inactive contacts, a purpose's withdrawn consents
            _apply_erasures(step)
    the_plan.done = True
    return the_plan


def apply(*, dry_run: bool, now=None) -> Plan:
    the_plan = plan(now=now)
    return the_plan if dry_run else execute(the_plan)
