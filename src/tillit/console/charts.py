"""Charts for the console, drawn on the server as SVG (no script, nothing fetched): a value axis
with round ticks, a date axis with readable dates in the staff member's language, bars for one
series and lines (each with its own dash, so colour is never the only difference) for several,
and the same numbers as a table beside each chart (console/_chart.html), for screen readers
and for anyone who wants the figures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import formats
from django.utils.translation import pgettext

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 28, 14, 34
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MOST_DATE_LABELS = 8


@dataclass(frozen=True)
class Series:
    name: str
    # One value per day; None where there is nothing to measure (a share of no sign-ups).
    values: list[float | None]


def ceiling(peak: float) -> tuple[float, float]:
    """A round top for the value axis and its step (1, 2 or 5 times a power of ten), with at
    most five steps."""
    if peak <= 0:
        return 1, 1
    power = 10 ** math.floor(math.log10(peak))
    for factor in (0.1, 0.2, 0.5, 1, 2, 5, 10):
        step = max(factor * power, 1)
        if math.ceil(peak / step) <= 5:
            return math.ceil(peak / step) * step, step
    return math.ceil(peak / (10 * power)) * 10 * power, 10 * power


def _number(value: float, percent: bool) -> str:
    text = formats.number_format(round(value, 1) if value % 1 else int(value), use_l10n=True)
    return f"{text} %" if percent else text


@dataclass(frozen=True)
class Frame:
    """Where a chart's days and values fall on its drawing: one slot of the date axis for each
    of `count` days, and the value axis from 0 to `top`."""

    count: int
    top: float

    @property
    def slot(self) -> float:
        return PLOT_W / self.count

    def x(self, i: int) -> float:
        return round(LEFT + self.slot * (i + 0.5), 1)

    def y(self, v: float) -> float:
        return round(TOP + PLOT_H - v / self.top * PLOT_H, 1)


def value_ticks(frame: Frame, step: float, percent: bool) -> list[dict[str, Any]]:
    """The value axis's ticks, one a step from 0 to the top."""
    return [{"y": frame.y(t * step), "label": _number(t * step, percent)}
            for t in range(int(round(frame.top / step)) + 1)]  # fmt: skip


def date_labels(frame: Frame, days: list[date]) -> list[dict[str, Any]]:
    """The date axis's labels: at most MOST_DATE_LABELS, evenly spaced."""
    every = math.ceil(frame.count / MOST_DATE_LABELS)
    # Counted back from the last day, which is always labelled (today, on the console).
    # The format is the language's own: "7 Dec" in English, "7. des" in bokmål.
    short = pgettext("a date on a chart's axis (Django's date format)", "j M")
    return [{"x": frame.x(i), "label": formats.date_format(d, short)}
            for i, d in enumerate(days) if (frame.count - 1 - i) % every == 0]  # fmt: skip


def bars(frame: Frame, series: Series, days: list[date], percent: bool) -> list[dict[str, Any]]:
    """One series as a bar a day (nothing to measure is drawn as 0)."""
    width = round(max(frame.slot - 2, 1), 1)
    drawn = []
    for i, v in enumerate(series.values):
        value = v or 0
        drawn.append({"x": round(frame.x(i) - width / 2, 1), "y": frame.y(value), "w": width,
                      "h": round(PLOT_H - (frame.y(value) - TOP), 1),
                      "day": days[i], "label": _number(value, percent)})  # fmt: skip
    return drawn


def lines(frame: Frame, series: list[Series]) -> list[dict[str, Any]]:
    """Each series as a line, each with its own dash (its css class)."""
    drawn = []
    for n, s in enumerate(series):
        # A line is broken where there is nothing to measure.
        runs: list[list[str]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{frame.x(i)},{frame.y(v)}")
        drawn.append({"name": s.name, "css": f"s{n + 1}",
                      "runs": [" ".join(r) for r in runs if r]})  # fmt: skip
    return drawn


def table(series: list[Series], days: list[date], percent: bool) -> dict[str, Any]:
    """The same numbers as a table: each series's total, and a row of values a day."""
    totals = [sum(v for v in s.values if v is not None) for s in series]
    return {
        "totals": [
            {"name": s.name, "total": _number(t, False)}
            for s, t in zip(series, totals, strict=True)
        ],
        "rows": [
            (d, [("–" if s.values[i] is None else _number(s.values[i], percent)) for s in series])
            for i, d in enumerate(days)
        ],
    }


def chart(
    key: str, title: str, days: list[date], series: list[Series], *, percent: bool = False
) -> dict[str, Any]:
    """The geometry of one chart (the template draws it) and its table."""
    values = [v for s in series for v in s.values if v is not None]
    top, step = (100.0, 25.0) if percent else ceiling(max(values, default=0))
    frame = Frame(max(len(days), 1), top)
    drawn: dict[str, Any] = {"bars": [], "lines": []}
    if len(series) == 1 and not percent:
        drawn["bars"] = bars(frame, series[0], days, percent)
    else:
        drawn["lines"] = lines(frame, series)
    return {
        "id": f"chart-{key}",
        "title": title,
        "percent": percent,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "ticks": value_ticks(frame, step, percent),
        "dates": date_labels(frame, days),
        "date_y": HEIGHT - BOTTOM + 18,
        "series": series,
        **table(series, days, percent),
        **drawn,
    }
