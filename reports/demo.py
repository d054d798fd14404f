"""Reports' part of the demo (core.holdings: demo): the other apps wrote their past straight
into the tables and moved it back in time, so the rollups are rebuilt from those rows, as
`manage.py rebuild_rollups` would."""

from datetime import timedelta

from django.utils import timezone

from crm.demo import HISTORY_DAYS
from reports.rebuild import rebuild


def seed(builder) -> dict[str, int]:
    today = timezone.localdate(builder.now)
    return {"rollup rows": rebuild(today - timedelta(days=HISTORY_DAYS + 1), today)}
