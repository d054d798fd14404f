"""The field policy: how each role sees contact details, applied in this one place.

Every surface that shows a phone or an e-mail (pages, API, exports, later messages and
calls) asks `present_points(user=..., contact=...)` or `present_value(...)` and shows what
comes back; nothing else formats a contact detail for display.

Modes, per role and field:
- full:   +79161234567
- last4:  +7 *** ***-45-67   (enough to tell two numbers apart or confirm a caller)
- masked: +7 *** ***-**-67 ; i***@mail.ru
- hidden: not shown at all
A sales head sees full values of their own team's contacts and the manager's view of any
other contact (one shared with them, say).
"""

import time
from dataclasses import dataclass

from django.core.cache import cache

from security import roles
from security.models import FieldPolicy

FULL, LAST4, MASKED, HIDDEN = (m.value for m in FieldPolicy.Mode)
PHONE, EMAIL = FieldPolicy.Field.PHONE.value, FieldPolicy.Field.EMAIL.value

DEFAULT_POLICY: dict[str, dict[str, str]] = {
    roles.ADMIN: {PHONE: FULL, EMAIL: FULL},
    roles.SALES_HEAD: {PHONE: FULL, EMAIL: FULL},
    roles.MANAGER: {PHONE: LAST4, EMAIL: MASKED},
    roles.SUPPORT: {PHONE: LAST4, EMAIL: MASKED},
    roles.MARKETER: {PHONE: MASKED, EMAIL: MASKED},
    roles.SECURITY_OFFICER: {PHONE: HIDDEN, EMAIL: HIDDEN},
}
_CACHE_KEY = "security:field-policy:v1"
# Who may reveal a masked value (security.reveal): the people who work the client's deals.
REVEAL_ROLES = {roles.MANAGER, roles.SALES_HEAD, roles.ADMIN}


# A copy in this process for a few seconds, in front of the shared cache: an export masks
# thousands of values and should not ask Redis for the policy each time.
_LOCAL_SECONDS = 2.0
_local: tuple[float, dict] | None = None


def policy() -> dict[str, dict[str, str]]:
    """The defaults overridden by the admin's FieldPolicy rows (cached until they change)."""
    global _local
    now = time.monotonic()
    if _local is not None and now - _local[0] < _LOCAL_SECONDS:
        return _local[1]
    merged = cache.get(_CACHE_KEY)
    if merged is None:
        merged = {role: dict(fields) for role, fields in DEFAULT_POLICY.items()}
        for row in FieldPolicy.objects.all():
            merged.setdefault(row.role, {})[row.field] = row.mode
        cache.set(_CACHE_KEY, merged, 300)
    _local = (now, merged)
    return merged


def policy_changed() -> None:
    global _local
    _local = None
    cache.delete(_CACHE_KEY)


def field_mode(*, user, field: str, contact) -> str:
    role = user.role if user is not None and user.is_authenticated else None
    if role is None:
        return HIDDEN
    mode = policy().get(role, {}).get(field, HIDDEN)
    if role == roles.SALES_HEAD and mode == FULL:
        # Full only for the head's own team; any other contact as a manager sees it.
        if contact is None or contact.team_id not in user.headed_team_ids:
            mode = policy().get(roles.MANAGER, {}).get(field, MASKED)
    return mode


def mask_phone(value: str, mode: str) -> str:
    """`+79161234567` -> `+7 *** ***-45-67` (last4) or `+7 *** ***-**-67` (masked)."""
    if mode == FULL:
        return value
    if mode == HIDDEN or not value:
        return ""
    digits = value.lstrip("+")
    country = "7" if digits.startswith("7") and len(digits) == 11 else digits[:-10] or digits[:1]
    last = digits[-4:]
    tail = f"{last[:2]}-{last[2:]}" if mode == LAST4 else f"**-{last[2:]}"
    return f"+{country} *** ***-{tail}"


def mask_email(value: str, mode: str) -> str:
    """`ivan.petrov@mail.ru` -> `i***@mail.ru`."""
    if mode == FULL:
        return value
    if mode == HIDDEN or not value:
        return ""
    local, _at, domain = value.rpartition("@")
    return f"{local[:1]}***@{domain}"


def mask(kind: str, value: str, mode: str) -> str:
    return mask_phone(value, mode) if kind == PHONE else mask_email(value, mode)


@dataclass(frozen=True)
class PresentedPoint:
    id: int
    kind: str
    display: str
    label: str
    is_primary: bool
    masked: bool  # the display is not the whole value
    revealable: bool  # ...and this user may reveal it (security.reveal)


def present_points(*, user, contact, kind: str | None = None) -> list[PresentedPoint]:
    """The contact's phones and e-mails as `user` may see them; hidden ones are left out."""
    # Phones first: the usual way to reach a client. Sorted in Python to use a prefetch.
    points = sorted(contact.points.all(), key=lambda p: (p.kind != PHONE, not p.is_primary, p.pk))
    shown = []
    for point in points:
        if kind and point.kind != kind:
            continue
        mode = field_mode(user=user, field=point.kind, contact=contact)
        if mode == HIDDEN:
            continue
        shown.append(PresentedPoint(
            id=point.pk, kind=point.kind, display=mask(point.kind, point.value, mode),
            label=point.label, is_primary=point.is_primary, masked=mode != FULL,
            revealable=mode != FULL and user.role in REVEAL_ROLES,
        ))
    return shown


def present_value(*, user, contact, kind: str, value: str) -> str:
    """One value as `user` may see it ("" when hidden): for exports and later surfaces."""
    return mask(kind, value, field_mode(user=user, field=kind, contact=contact))
