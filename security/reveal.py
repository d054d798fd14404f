"""Showing one masked contact detail in full: a deliberate, reasoned, logged, rate-limited act.

The caller has already fetched the contact through the visibility rule (`contact_get`), so
an outsider never gets here: they get 404 first.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from security import masking
from security.audit import access_log
from security.models import FieldReveal

REASON_MIN_LENGTH = 5


class RevealLimitReached(Exception):
    """Too many reveals in the last hour; `retry_after` is in seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"reveal limit reached, retry after {retry_after} s")
        self.retry_after = retry_after


@transaction.atomic
def point_reveal(*, user, contact, point_id: int, reason: str, ip: str | None = None,
                 user_agent: str = "") -> str:
    point = contact.points.filter(pk=point_id).first()
    if point is None:
        raise Http404
    mode = masking.field_mode(user=user, field=point.kind, contact=contact)
    if mode == masking.HIDDEN or user.role not in masking.REVEAL_ROLES:
        # Hidden: the user does not know the value exists. Marketing and support see every
        # contact; letting them reveal would open the whole base, twenty numbers an hour.
        raise Http404
    if mode == masking.FULL:
        return point.value  # nothing was masked: nothing to reveal or record
    reason = " ".join(reason.split())
    if len(reason) < REASON_MIN_LENGTH:
        raise ValidationError(
            {"reason": _("Say why you need the full value (at least %(n)d characters).")
             % {"n": REASON_MIN_LENGTH}}
        )
    _check_limit(user)
    FieldReveal.objects.create(
        user=user, contact=contact, point=point, field=point.kind, reason=reason[:500],
        ip=ip, user_agent=user_agent[:300],
    )
    access_log.read(contact, action=access_log.Action.REVEAL, user=user,
                    detail={"field": point.kind, "point": point.pk})
    return point.value


def _check_limit(user) -> None:
    """At most REVEAL_LIMIT_PER_HOUR reveals in any sliding hour, counted from the log."""
    # Lock the user's row so two parallel reveals cannot both pass the count.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    window_start = timezone.now() - timedelta(hours=1)
    recent = FieldReveal.objects.filter(user=user, created_at__gte=window_start)
    times = list(recent.order_by("created_at").values_list("created_at", flat=True))
    if len(times) >= settings.REVEAL_LIMIT_PER_HOUR:
        oldest = times[len(times) - settings.REVEAL_LIMIT_PER_HOUR]
        retry_after = int((oldest + timedelta(hours=1) - timezone.now()).total_seconds()) + 1
        raise RevealLimitReached(max(retry_after, 1))
