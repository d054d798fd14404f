"""Charts drawn on the server as SVG: bars whose geometry is worked out here and drawn by
the templates (reports/_bars.html, reports/_columns.html), with the numbers also in a table
beside them for screen readers and for reading exact values."""

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float

    @property
    def text_y(self) -> float:
        return self.y + self.height * 0.68

    @property
    def value_x(self) -> float:
        return self.x + self.width + 6

    @property
    def label_x(self) -> float:
        return self.x - 8


def horizontal(rows: list[tuple[str, int]], *, width: float = 640, bar: float = 26,
               gap: float = 8, label_width: float = 230) -> tuple[list[Bar], float]:
    """One bar a row (a funnel's stages), the longest filling the width after the labels.
    Returns the bars and the chart's height."""
    top = max((value for _label, value in rows), default=0) or 1
    room = width - label_width - 60  # the value is written after the bar
    bars = [Bar(label, value, label_width, index * (bar + gap), room * value / top, bar)
            for index, (label, value) in enumerate(rows)]
    return bars, max(len(rows) * (bar + gap) - gap, 0)


@dataclass(frozen=True)
class Column:
    """A day's two series (clients' messages, replies) side by side, bottom-aligned."""

    day: date
    values: tuple[int, ...]  # one per series
    x: float
    heights: tuple[float, ...]
    step: float
    bottom: float
    labelled: bool  # the day is written under its column (every day, or Mondays)

    @property
    def label_x(self) -> float:
        return self.x + self.step / 2

    @property
    def half(self) -> float:
        return max(self.step / 2 - 1, 0.5)

    @property
    def x_out(self) -> float:
        return self.x + self.half

    @property
    def top_in(self) -> float:
        return self.bottom - self.heights[0]

    @property
    def top_out(self) -> float:
        return self.bottom - self.heights[1]


def daily(series: dict[date, tuple[int, ...]], *, since: date, until: date, weekly=False,
          width: float = 1100, height: float = 160, gap: float = 2) -> list[Column]:
    """Columns per day of the period (per week from its Monday, `weekly`), each one's series
    side by side, scaled to the period's largest value; days without a value are empty."""
    if weekly:
        first = since - timedelta(days=since.weekday())
        days = [first + timedelta(days=n) for n in range(0, (until - first).days + 1, 7)]
    else:
        days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    size = len(next(iter(series.values()), (0, 0)))
    top = max((value for values in series.values() for value in values), default=0) or 1
    step = min(width / max(len(days), 1), 48)
    every_day = len(days) <= 14
    columns = []
    for index, day in enumerate(days):
        values = series.get(day, (0,) * size)
        columns.append(Column(day, values, index * step + gap / 2,
                              tuple(height * value / top for value in values), step - gap,
                              height, (index % 4 == 0) if weekly else
                              (every_day or day.weekday() == 0)))
    return columns
