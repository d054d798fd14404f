"""Rebuilding the rollups from the raw rows (`manage.py rebuild_rollups`): every app's facts
of the period (core.holdings: activity_facts), summed in place of what the rollups hold."""

from datetime import date, timedelta

from django.db import transaction

from core.holdings import declared
from crm import rollups
from reports.periods import Period

# Rebuilt a month at a time: each month's facts fit in memory and commit on their own.
STEP_DAYS = 31


def facts(period: Period, user_ids=None) -> list:
    """Every app's facts of the period (of these people, if given): what a rebuild sums and
    a figure's drill-down lists."""
    found = []
    for holdings in declared():
        if holdings.activity_facts is not None:
            found += holdings.activity_facts(start=period.start, end=period.end,
                                             user_ids=user_ids)
    return found


def rebuild(since: date, until: date, *, user_ids=None) -> int:
    """The rollups of since..until rebuilt; returns the rows written."""
    written = 0
    first = since
    while first <= until:
        last = min(until, first + timedelta(days=STEP_DAYS - 1))
        period = Period(first, last)
        with transaction.atomic():
            written += rollups.rebuild(facts(period, user_ids), since=first, until=last,
                                       user_ids=user_ids)
            if user_ids is None:  # the funnel's, from the deals' stage histories
                written += rollups.stage_rebuild(first, last, start=period.start,
                                                 end=period.end)
        first = last + timedelta(days=1)
    return written
