"""core.templatetags.dates formats days and moments itself, for speed: what it writes is what
Django's date_format writes for the same formats, in both languages, for any moment."""

from datetime import UTC, datetime

from django.utils import timezone, translation
from django.utils.formats import date_format
from hypothesis import given
from hypothesis import strategies as st

from core.templatetags.dates import day_month, epoch, moment, when, when_day

MOMENTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 12, 31),
                       timezones=st.just(UTC))


@given(moment_=MOMENTS, language=st.sampled_from(["ru", "en"]))
def test_the_formats_are_djangos(moment_, language):
    with translation.override(language):
        local = timezone.localtime(moment_)
        this_year = local.year == timezone.localdate().year
        expected_day = date_format(local, "j E" if this_year else "j E Y")
        assert day_month(local, year=not this_year) == expected_day
        assert when_day(moment_) == expected_day
        assert when(moment_) == f"{expected_day}, {date_format(local, 'H:i')}"
        assert when(moment_, "s") == f"{expected_day}, {date_format(local, 'H:i:s')}"
        assert epoch(moment_) == int(date_format(moment_, "U"))
        assert f'datetime="{date_format(local, "c")}"' in moment(moment_)


def test_a_moment_of_this_year_has_no_year_and_another_has_it():
    with translation.override("ru"):
        now = timezone.localtime()
        assert str(now.year) not in when(now).split(",")[0]
        assert when(datetime(2001, 3, 5, 10, 7, tzinfo=UTC)) == "5 марта 2001, 13:07"
        assert moment(now, "chat__time").startswith('<time class="chat__time" datetime="')
        assert moment(None) == "" and epoch(None) == ""
