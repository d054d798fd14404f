"""The registry of timeline entry kinds.

crm/ registers its own kinds (notes, tasks, stage changes...). Later apps register theirs in
their AppConfig.ready() (`register_kind("message", ...)`), and the deal card, the contact card
and the API show them without any change to crm/.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


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
    if kind in _KINDS and _KINDS[kind].template != template:
        raise ValueError(f"timeline kind {kind!r} is already registered")
    _KINDS[kind] = TimelineKind(kind, label, template, serialize, prefetch, own_panel)


def kinds_with_own_panel() -> list[str]:
    return sorted(kind for kind, info in _KINDS.items() if info.own_panel)


def prefetch_sources(entries) -> None:
    """Let each kind load what its entries' sources need, once per page of entries."""
    by_kind: dict[str, list] = {}
    for entry in entries:
        if entry.source is not None:
            by_kind.setdefault(entry.kind, []).append(entry.source)
    for kind, sources in by_kind.items():
        prefetch = kind_for(kind).prefetch
        if prefetch is not None:
            prefetch(sources)


def kind_for(kind: str) -> TimelineKind:
    try:
        return _KINDS[kind]
    except KeyError:
        # An entry left by an app that is no longer installed still shows, plainly.
        return TimelineKind(kind, kind, "crm/timeline/unknown.html", lambda entry: {})


def registered_kinds() -> list[str]:
    return sorted(_KINDS)


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
