"""The kinds of timeline entries.

crm/ registers its own kinds (notes, tasks, stage changes, shares...). Other apps declare
theirs with what they hold (core.holdings: `timeline_kinds`, a message, a call), and the deal
card, the contact card and the API show them without any change to crm/.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.utils.translation import gettext_lazy as _

from core.holdings import declared


@dataclass(frozen=True)
class TimelineKind:
    kind: str
    label: str
    # Renders one entry; the context holds `entry` and `source` (the entry's source row).
    template: str
    # Turns one entry into the API's `data` object. Must read only what `source` exposes.
    serialize: Callable[["object"], dict]
    # Loads what the template and `serialize` read from a page of sources in a few queries
    # (prefetch_related_objects...), instead of a few per entry.
    prefetch: Callable[[list], None] | None = None
    # Shown in a panel of its own on the deal card (messages: the conversation panel), so the
    # card's feed leaves it out; the API's timeline and the contact card still list it.
    own_panel: bool = False


_KINDS: dict[str, TimelineKind] = {}


def register_kind(kind: str, *, label, template: str, serialize: Callable,
                  prefetch: Callable[[list], None] | None = None,
                  own_panel: bool = False) -> None:
    global _every
    if kind in _KINDS and _KINDS[kind].template != template:
        raise ValueError(f"timeline kind {kind!r} is already registered")
    _KINDS[kind] = TimelineKind(kind, label, template, serialize, prefetch, own_panel)
    _every = None


_every: dict[str, TimelineKind] | None = None


def _all() -> dict[str, TimelineKind]:
    """crm's kinds and the apps' (read once every app has declared its holdings)."""
    global _every
    if _every is not None:
        return _every
    kinds = dict(_KINDS)
    for holdings in declared():
        kinds.update({info.kind: info for info in holdings.timeline_kinds})
    if apps.ready:
        _every = kinds
    return kinds


def kinds_with_own_panel() -> list[str]:
    return sorted(kind for kind, info in _all().items() if info.own_panel)


def prefetch_sources(entries) -> None:
    """Let each kind load what its entries' sources need, once per page of entries."""
    by_kind: dict[str, list] = {}
    for entry in entries:
        if entry.source is not None:
            by_kind.setdefault(entry.kind, []).append(entry.source)
    kinds = _all()
    for kind, sources in by_kind.items():
        prefetch = kinds.get(kind, _unknown(kind)).prefetch
        if prefetch is not None:
            prefetch(sources)


def _unknown(kind: str) -> TimelineKind:
    # An entry left by an app that is no longer installed still shows, plainly.
    return TimelineKind(kind, kind, "crm/timeline/unknown.html", lambda entry: {})


def kind_for(kind: str) -> TimelineKind:
    found = _KINDS.get(kind)
    if found is not None:
        return found
    return _all().get(kind) or _unknown(kind)


def registered_kinds() -> list[str]:
    return sorted(_all())


def _note(entry) -> dict:
    note = entry.source
    return {"note_id": note.pk, "text": note.text} if note else {}


def _task(entry) -> dict:
    task = entry.source
    if task is None:
        return {}
    return {
        "task_id": task.pk,
        "title": task.title,
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "done": task.done,
        "assignee": task.assignee_id,
    }


def payload_data(entry) -> dict:
    """The API's `data` of a kind whose facts all sit in the entry's payload."""
    return dict(entry.payload)


def _task_assignees(tasks: list) -> None:
    from django.db.models import prefetch_related_objects

    prefetch_related_objects(tasks, "assignee")


def register_crm_kinds() -> None:
    register_kind("deal_created", label=_("Deal created"),
                  template="crm/timeline/deal_created.html", serialize=payload_data)
    register_kind("note", label=_("Note"), template="crm/timeline/note.html", serialize=_note)
    register_kind("task_created", label=_("Task"),
                  template="crm/timeline/task.html", serialize=_task, prefetch=_task_assignees)
    register_kind("task_done", label=_("Task completed"),
                  template="crm/timeline/task.html", serialize=_task, prefetch=_task_assignees)
    register_kind("stage_changed", label=_("Stage changed"),
                  template="crm/timeline/stage_changed.html", serialize=payload_data)
    register_kind("status_changed", label=_("Status changed"),
                  template="crm/timeline/status_changed.html", serialize=payload_data)
    register_kind("owner_changed", label=_("Owner changed"),
                  template="crm/timeline/owner_changed.html", serialize=payload_data)
