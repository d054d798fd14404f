"""Business hours: validation, open/closed, the start of a closed period, working-time dues."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from core.hours import NEVER_OPEN_SINCE, BusinessHours

WEEKDAYS = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
MOSCOW = "Europe/Moscow"  # UTC+3 all year


def msk(day, hour, minute=0):
    """2026-11-23 is a Monday."""
    return datetime(2026, 11, day, hour, minute, tzinfo=ZoneInfo(MOSCOW))


@pytest.mark.parametrize("hours, message", [
    ({"monday": [["09:00", "18:00"]]}, "Неизвестный день «monday»"),
    ({"mon": [["9:00", "18:00"]]}, "«9:00» — не время вида 09:00"),
    ({"mon": [["18:00", "09:00"]]}, "должен заканчиваться позже"),
    ({"mon": [["09:00"]]}, "пара"),
    (["09:00"], "объектом"),
])
def test_bad_hours_are_refused_with_a_readable_reason(hours, message):
    with pytest.raises(ValidationError) as error:
        BusinessHours.parse(hours, MOSCOW)
    assert message in " ".join(error.value.messages)


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(ValidationError):
        BusinessHours.parse(WEEKDAYS, "Mars/Olympus")


def test_open_and_closed_in_the_channels_time_zone():
    hours = BusinessHours.parse(WEEKDAYS, MOSCOW)
    assert hours.is_open(msk(23, 9))
    assert hours.is_open(msk(23, 17, 59))
    assert not hours.is_open(msk(23, 18))
    assert not hours.is_open(msk(23, 8, 59))
    assert not hours.is_open(msk(28, 12))  # Saturday


def test_empty_hours_mean_always_open():
    hours = BusinessHours.parse({}, MOSCOW)
    assert hours.is_open(msk(28, 3))
    assert hours.closed_since(msk(28, 3)) is None


def test_a_closed_period_starts_when_the_last_opening_ended():
    hours = BusinessHours.parse(WEEKDAYS, MOSCOW)
    assert hours.closed_since(msk(23, 12)) is None
    # Monday evening and Tuesday early morning are one closed period, started Monday 18:00.
    assert hours.closed_since(msk(23, 22)) == msk(23, 18)
    assert hours.closed_since(msk(24, 7)) == msk(23, 18)
    # The weekend is one period from Friday 18:00.
    assert hours.closed_since(msk(29, 15)) == msk(27, 18)


def test_a_channel_that_is_never_open_has_one_closed_period():
    hours = BusinessHours.parse({"mon": []}, MOSCOW)
    assert hours.closed_since(msk(23, 12)) == NEVER_OPEN_SINCE


def test_working_minutes_skip_the_night_and_the_weekend():
    hours = BusinessHours.parse(WEEKDAYS, MOSCOW)
    assert hours.add_working_minutes(msk(23, 10), 15) == msk(23, 10, 15)
    # 17:50 + 15 min: 10 min today, 5 min at Tuesday's opening.
    assert hours.add_working_minutes(msk(23, 17, 50), 15) == msk(24, 9, 5)
    # Written on Saturday: due 15 minutes into Monday.
    assert hours.add_working_minutes(msk(28, 11), 15) == msk(30, 9, 15)
    # Always open: the plain clock.
    assert BusinessHours.parse({}, MOSCOW).add_working_minutes(msk(28, 11), 15) == msk(28, 11, 15)


def test_a_day_may_end_at_midnight():
    hours = BusinessHours.parse({"mon": [["20:00", "24:00"]]}, MOSCOW)
    assert hours.is_open(msk(23, 23, 59))
    assert hours.closed_since(msk(24, 1)) == msk(24, 0)


def test_working_minutes_between_two_moments():
    hours = BusinessHours.parse(WEEKDAYS, MOSCOW)
    assert hours.working_minutes(msk(23, 10), msk(23, 10, 15)) == 15
    # Friday 17:50 to Monday 9:05: ten minutes on Friday, five on Monday.
    assert hours.working_minutes(msk(27, 17, 50), msk(30, 9, 5)) == 15
    # Written at night, answered before the opening: no working time passed.
    assert hours.working_minutes(msk(23, 22), msk(24, 8, 59)) == 0
    # Ten seconds are a minute, rounded up; a reply before the message is none.
    assert hours.working_minutes(msk(23, 10), msk(23, 10).replace(second=10)) == 1
    assert hours.working_minutes(msk(23, 11), msk(23, 10)) == 0


@given(start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31),
                          timezones=st.just(ZoneInfo(MOSCOW))),
       minutes=st.integers(min_value=0, max_value=5 * 24 * 60),
       schedule=st.sampled_from([WEEKDAYS, {}, {"mon": [["20:00", "24:00"]],
                                                "sat": [["10:00", "12:00"], ["13:00", "15:00"]]}]))
def test_working_minutes_undo_adding_working_minutes(start, minutes, schedule):
    """The first-response figure (working_minutes) and the SLA's due time
    (add_working_minutes) count the same working time, whatever the hours and the moment."""
    hours = BusinessHours.parse(schedule, MOSCOW)
    start = start.replace(second=0, microsecond=0)
    assert hours.working_minutes(start, hours.add_working_minutes(start, minutes)) == minutes
