"""Business hours (a messenger channel's, a PBX account's): is it open now, when did the
current closed period start, and when is an answer due counting working time only.

Hours are stored as `{"mon": [["09:00", "18:00"]], "tue": [...], ...}` in the channel's time
zone; a day that is missing or empty is closed, and an empty dict means always open. "24:00"
ends a day. Times are walked day by day in local time, so a DST change shifts nothing.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
# Looking further than this for an opening means there is none.
_HORIZON_DAYS = 8
# "Never open" still has one closed period; it started here.
NEVER_OPEN_SINCE = datetime(2000, 1, 1, tzinfo=UTC)


def _minutes(value) -> int:
    if not isinstance(value, str) or not _TIME.match(value):
        raise ValidationError(_("“%(value)s” is not a time like 09:00.") % {"value": value})
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class BusinessHours:
    zone: ZoneInfo
    # Per weekday (0 = Monday): sorted (start, end) minutes since local midnight.
    days: tuple[tuple[tuple[int, int], ...], ...]
    always_open: bool

    @classmethod
    def parse(cls, hours, time_zone: str) -> "BusinessHours":
        """Validate and parse; raises ValidationError with a readable message."""
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError(_("Unknown time zone “%(zone)s”.") % {"zone": time_zone}) \
                from exc
        if not hours:
            return cls(zone, tuple(() for _day in DAYS), always_open=True)
        if not isinstance(hours, dict):
            raise ValidationError(_('Business hours are an object like {"mon": [["09:00", '
                                    '"18:00"]]}.'))
        unknown = set(hours) - set(DAYS)
        if unknown:
            raise ValidationError(_("Unknown day “%(day)s”: use mon, tue, wed, thu, fri, sat, "
                                    "sun.") % {"day": sorted(unknown)[0]})
        days = []
        for day in DAYS:
            intervals = []
            for interval in hours.get(day) or []:
                if not isinstance(interval, list | tuple) or len(interval) != 2:
                    raise ValidationError(_("Each interval is a pair like [\"09:00\", "
                                            "\"18:00\"]."))
                start, end = _minutes(interval[0]), _minutes(interval[1])
                if start >= end:
                    raise ValidationError(_("An interval must end after it starts (%(day)s "
                                            "%(start)s–%(end)s).") % {
                        "day": day, "start": interval[0], "end": interval[1]})
                intervals.append((start, end))
            days.append(tuple(sorted(intervals)))
        return cls(zone, tuple(days), always_open=False)

    @classmethod
    def of(cls, channel) -> "BusinessHours":
        return cls.parse(channel.business_hours, channel.time_zone)

    # --- Questions -------------------------------------------------------------------------

    def _intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        midnight = datetime.combine(day, time(0), tzinfo=self.zone)
        return [
            (_at(midnight, start), _at(midnight, end))
            for start, end in self.days[day.weekday()]
        ]

    def is_open(self, at: datetime) -> bool:
        if self.always_open:
            return True
        day = at.astimezone(self.zone).date()
        return any(start <= at < end for start, end in self._intervals_on(day))

    def closed_since(self, at: datetime) -> datetime | None:
        """When the closed period `at` falls in began (the last opening's end); None if open."""
        if self.is_open(at):
            return None
        day = at.astimezone(self.zone).date()
        for back in range(_HORIZON_DAYS):
            ends = [end for _start, end in self._intervals_on(day - timedelta(days=back))
                    if end <= at]
            if ends:
                return max(ends).astimezone(UTC)
        return NEVER_OPEN_SINCE

    def add_working_minutes(self, start: datetime, minutes: int) -> datetime:
        """`start` plus `minutes` of open time (counted from the next opening if closed)."""
        if self.always_open or minutes <= 0:
            return start + timedelta(minutes=max(minutes, 0))
        weekly = sum(end - begin for day in self.days for begin, end in day)
        if not weekly:
            return start + timedelta(minutes=minutes)  # never open: the plain clock
        left = timedelta(minutes=minutes)
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        # As many weeks as the open time needs (two hours a week make 15 hours two months).
        for ahead in range(_HORIZON_DAYS * 2 + minutes // weekly * 7):
            for open_at, close_at in self._intervals_on(day + timedelta(days=ahead)):
                begin = max(open_at, start)
                if begin >= close_at:
                    continue
                if begin + left <= close_at:
                    return (begin + left).astimezone(UTC)
                left -= close_at - begin
        # No opening ahead at all: the plain clock is the only honest answer.
        return start + timedelta(minutes=minutes)

    def working_minutes(self, start: datetime, end: datetime) -> int:
        """The open time between `start` and `end`, in whole minutes rounded up (a wait of
        ten seconds is one minute): how long a client waited as the SLA counts it."""
        if end <= start:
            return 0
        if self.always_open:
            seconds = (end - start).total_seconds()
        else:
            seconds = 0.0
            day = start.astimezone(self.zone).date() - timedelta(days=1)
            last = end.astimezone(self.zone).date() + timedelta(days=1)
            while day <= last:
                for open_at, close_at in self._intervals_on(day):
                    overlap = (min(close_at, end) - max(open_at, start)).total_seconds()
                    if overlap > 0:
                        seconds += overlap
                day += timedelta(days=1)
        return -int(-seconds // 60)


def _at(midnight: datetime, minutes: int) -> datetime:
    """Local wall time `minutes` after `midnight` on that day (24:00 is the next midnight)."""
    if minutes >= 24 * 60:
        return datetime.combine(midnight.date() + timedelta(days=1), time(0),
                                tzinfo=midnight.tzinfo)
    return midnight.replace(hour=minutes // 60, minute=minutes % 60)


def validate_business_hours(hours, time_zone: str) -> None:
    """A model's clean(): the error is put on its `business_hours` field."""
    try:
        BusinessHours.parse(hours, time_zone)
    except ValidationError as error:
        raise ValidationError({"business_hours": error.messages}) from error
