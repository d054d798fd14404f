"""The periods a report covers: today, this week, this month, this quarter, or any days."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

PRESETS = {
    "today": _("Today"),
    "week": _("This week"),
    "month": _("This month"),
    "quarter": _("This quarter"),
    "custom": _("Dates"),
}
# A custom period is at most this long: a year and a day's slack for a leap year.
LONGEST = timedelta(days=366)


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    since: date  # first day, in TIME_ZONE
    until: date  # last day, included
    preset: str = "custom"

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.since, time.min))

    @property
    def end(self) -> datetime:
        """The instant after the last day."""
        return timezone.make_aware(datetime.combine(self.until + timedelta(days=1), time.min))

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1


def preset(name: str, today: date | None = None) -> Period:
    today = today or timezone.localdate()
    if name == "today":
        return Period(today, today, name)
    if name == "week":
        return Period(today - timedelta(days=today.weekday()), today, name)
    if name == "month":
        return Period(today.replace(day=1), today, name)
    if name == "quarter":
        first_month = (today.month - 1) // 3 * 3 + 1
        return Period(today.replace(month=first_month, day=1), today, name)
    raise PeriodError(f"unknown period {name!r}")


def parse(*, period: str | None = None, since: str | None = None, until: str | None = None,
          default: str = "week") -> Period:
    """A period from a request's `period` or its ISO `from` and `to` dates. PeriodError
    says what is wrong."""
    if since or until:
        try:
            first = date.fromisoformat(since or "")
            last = date.fromisoformat(until or "")
        except ValueError:
            raise PeriodError(_("Dates are written as 2026-12-31, both of them.")) from None
        if last < first:
            raise PeriodError(_("The period ends before it starts."))
        if last - first >= LONGEST:
            raise PeriodError(_("A period is at most a year."))
        return Period(first, last, "custom")
    name = period or default
    if name not in PRESETS or name == "custom":
        raise PeriodError(_("Unknown period."))
    return preset(name)
