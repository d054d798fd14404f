"""Containment steps an incident can take, and the pause of every automated message.

Apps say what can be switched off (a messenger channel, a PBX integration) through a small
registry, so security/ never imports inbox/ or telephony/: each registers a kind with a way to
list what is on and a way to switch one off.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from security.models import AutomationPause


@dataclass(frozen=True)
class Switchable:
    kind: str
    title: object  # a lazy string
    active: Callable[[], list[tuple[int, str]]]  # (id, name) of what is on now
    disable: Callable[[int], str]  # switch one off; returns its name; LookupError if unknown


_registry: dict[str, Switchable] = {}


def register(switchable: Switchable) -> None:
    _registry[switchable.kind] = switchable


def switchables() -> list[Switchable]:
    return list(_registry.values())


def disable(kind: str, target_id: int) -> str:
    """Switch off one integration; LookupError for an unknown kind or id."""
    if kind not in _registry:
        raise LookupError(kind)
    return _registry[kind].disable(target_id)


# --- Automated messages ----------------------------------------------------------------------


def automation_paused() -> bool:
    """Every automated send asks this at send time (out-of-office replies, campaigns, bots)."""
    return AutomationPause.objects.filter(resumed_at=None).exists()


@transaction.atomic
def pause_automation(*, by, reason: str) -> AutomationPause:
    current = AutomationPause.objects.select_for_update().filter(resumed_at=None).first()
    return current or AutomationPause.objects.create(paused_by=by, reason=reason[:300])


@transaction.atomic
def resume_automation(*, by) -> int:
    return AutomationPause.objects.filter(resumed_at=None).update(resumed_at=timezone.now(),
                                                                  resumed_by=by)
