"""Working days: Monday to Friday, minus public holidays, plus Saturdays made working days by
a transfer (CalendarDay, the production calendar the admin keeps)."""

from datetime import date, timedelta

from consents.models import CalendarDay


def is_working_day(day: date, exceptions: dict[date, bool] | None = None) -> bool:
    if exceptions is None:
        exceptions = _exceptions(day, day)
    if day in exceptions:
        return exceptions[day]
    return day.weekday() < 5


def _exceptions(start: date, end: date) -> dict[date, bool]:
    return dict(CalendarDay.objects.filter(date__gte=start, date__lte=end)
                .values_list("date", "is_working"))


def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start` (the day of receipt does not count: a
    request received on Friday with 1 working day is due on Monday)."""
    # A generous window for the calendar's exceptions: holidays never stretch 10 days to 40.
    exceptions = _exceptions(start, start + timedelta(days=days * 3 + 30))
    current, left = start, days
    while left > 0:
        current += timedelta(days=1)
        if is_working_day(current, exceptions):
            left -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """How many working days come after `start` up to `end` inclusive (0 when `end` is not
    after `start`): a request due on Wednesday has 2 left on Monday."""
    if end <= start:
        return 0
    exceptions = _exceptions(start, end)
    return sum(is_working_day(start + timedelta(days=n), exceptions)
               for n in range(1, (end - start).days + 1))
