"""What telephony holds about a client and an employee (core.holdings): extensions handed over
on offboarding, and a client's calls, numbers, recordings, click-to-call commands and raw PBX
events for erasure, retention and their download."""

from django.db import transaction
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from core.holdings import Erasure, Holdings, RetentionKind
from crm.models import TimelineEntry
from crm.timeline import TimelineKind
from telephony.models import Call, CallbackCommand, CallEvent, Recording


def erase(erasure: Erasure) -> set[str]:
    """Returns what identifies the client in the PBX's raw events."""
    report = erasure.report
    calls = Call.objects.filter(Q(contact=erasure.contact)
                                | Q(client_number_index__in=erasure.phone_indexes))
    needles = set(calls.values_list("entry_id", flat=True))
    recordings = Recording.objects.filter(call__in=calls)
    report.files_deleted += recordings.exclude(file_path="").count()
    report.add("telephony.recording", "deleted", recordings.delete()[0])
    report.add("telephony.call", "anonymized", calls.exclude(client_number_index="").update(
        client_number="", client_number_index=""))
    commands = CallbackCommand.objects.filter(Q(contact=erasure.contact)
                                              | Q(deal_id__in=erasure.deal_ids))
    needles |= {str(command_id) for command_id in commands.values_list("command_id", flat=True)}
    for command in commands:
        if command.to_number or command.error:
            CallbackCommand.objects.filter(pk=command.pk).update(to_number="", error="")
            report.add("telephony.callbackcommand", "anonymized", 1)
    return needles



def kept(contact) -> dict[str, tuple[int, str]]:
    return {"telephony.call": (Call.objects.filter(contact=contact).count(),
                               "Звонки сохранены без номера и записей (даты и длительность).")}


# --- Retention ------------------------------------------------------------------------------


def _recordings_past(before, action) -> list[int]:
    return list(Recording.objects.filter(call__started_at__lt=before)
                .values_list("pk", flat=True))


@transaction.atomic
def _recordings_apply(ids: list[int], action: str) -> None:
    Recording.objects.filter(pk__in=ids).delete()  # their files too (security.files)


def _calls_past(before, action) -> list[int]:
    calls = Call.objects.filter(started_at__lt=before)
    if action == "anonymize":
        calls = calls.exclude(client_number_index="")
    return list(calls.values_list("pk", flat=True))


@transaction.atomic
def _calls_apply(ids: list[int], action: str) -> None:
    calls = Call.objects.filter(pk__in=ids)
    if action == "delete":
        _recordings_apply(list(Recording.objects.filter(call__in=calls)
                               .values_list("pk", flat=True)), action)
        TimelineEntry.objects.filter(source_type__model="call",
                                     source_type__app_label="telephony",
                                     source_id__in=ids).delete()
        calls.delete()
    else:
        calls.update(client_number="", client_number_index="")


# --- The client's download ------------------------------------------------------------------


def subject_data(contact, *, full: bool) -> dict:
    """Their calls with the number they called from; recordings are listed, not included
    (sent on request: a subject request of kind "access")."""
    calls = (Call.objects.filter(contact=contact).annotate(recordings_count=Count("recordings"))
             .order_by("started_at", "pk"))
    return {"calls": [{
        "direction": c.direction, "direction_display": c.get_direction_display(),
        "started_at": c.started_at, "ended_at": c.ended_at, "answered": c.answered,
        "talk_seconds": c.talk_seconds, "number": c.client_number,
        "recorded": c.recordings_count > 0,
    } for c in calls]}


# --- The deal timeline -------------------------------------------------------------------


def _call(entry) -> dict:
    """The API's `data` of a call entry: the facts, never the client's number."""
    call = entry.source
    if call is None:
        return {}
    return {
        "call_id": call.pk,
        "direction": call.direction,
        "state": call.state,
        "answered": call.answered,
        "missed": call.state == call.State.ENDED and not call.answered,
        "talk_seconds": call.talk_seconds,
        "started_at": call.started_at.isoformat() if call.started_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "manager": call.manager_id,
        "manager_name": str(call.manager) if call.manager else "",
        "line": call.line_number,
        "recordings": len(call.recordings.all()),
    }


def _prefetch_calls(calls: list) -> None:
    """What call.html and `_call` read: a page of calls in a few queries, the line's name
    included."""
    from django.db.models import prefetch_related_objects

    from telephony.models import PbxLine

    prefetch_related_objects(calls, "manager", "recordings", "contact")
    wanted = {(call.account_id, call.line_number) for call in calls if call.line_number}
    if not wanted:
        return
    lines = {(line.account_id, line.number): line for line in PbxLine.objects.filter(
        account_id__in={account for account, _number in wanted},
        number__in={number for _account, number in wanted})}
    for call in calls:
        call.line = lines.get((call.account_id, call.line_number))


def client_touches(windows: dict) -> set[int]:
    """The deals with a call in their window that was answered (a missed call reached
    nobody)."""
    from functools import reduce
    from operator import or_

    if not windows:
        return set()
    within = reduce(or_, (Q(deal_id=pk, started_at__gt=after, started_at__lte=until)
                          for pk, (after, until) in windows.items()))
    return set(Call.objects.filter(within, answered=True).values_list("deal_id", flat=True)
               .distinct())


def holdings() -> Holdings:
    from telephony import demo, recordings, rollups, sandbox, search, services

    return Holdings(
        app="telephony", encrypted_files=(recordings.storage.declared(),),
        handover=services.extensions_hand_over,
        handover_kinds={"extensions": _("PBX extensions")},
        handover_models={"extensions": "telephony.extension"},
        erase=erase, raw_deliveries=(CallEvent,), kept=kept,
        pseudonym_sources=sandbox.pseudonym_sources, pseudonymize=sandbox.pseudonymize,
        retention=(
            RetentionKind("recordings", 365, "delete", _recordings_past, _recordings_apply),
            RetentionKind("calls", 3 * 365, "anonymize", _calls_past, _calls_apply),
        ),
        contact_activity="calls__started_at",
        subject_data=subject_data,
        merge_models=("telephony.call", "telephony.callbackcommand"),
        client_touches=client_touches,
        activity_facts=rollups.facts, search_sources=search.SOURCES,
        api_urls="telephony.api.urls",
        demo=demo.seed, demo_describe=demo.describe,
        timeline_kinds=(TimelineKind("call", _("Call"), "telephony/timeline/call.html", _call,
                                     _prefetch_calls),),
    )
