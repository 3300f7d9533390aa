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


def chart(
    key: str, title: str, days: list[date], series: list[Series], *, percent: bool = False
) -> dict[str, Any]:
    """The geometry of one chart (the template draws it) and its table."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [v for s in series for v in s.values if v is not None]
    top, step = (100.0, 25.0) if percent else ceiling(max(values, default=0))
    count = max(len(days), 1)
    slot = plot_w / count

    def x(i: int) -> float:
        return round(LEFT + slot * (i + 0.5), 1)

    def y(v: float) -> float:
        return round(TOP + plot_h - v / top * plot_h, 1)

    ticks = [{"y": y(t * step), "label": _number(t * step, percent)}
             for t in range(int(round(top / step)) + 1)]  # fmt: skip
    every = math.ceil(count / MOST_DATE_LABELS)
    # Counted back from the last day, which is always labelled (today, on the console).
    # The format is the language's own: "7 Dec" in English, "7. des" in bokmål.
    short = pgettext("a date on a chart's axis (Django's date format)", "j M")
    dates = [{"x": x(i), "label": formats.date_format(d, short)}
             for i, d in enumerate(days) if (count - 1 - i) % every == 0]  # fmt: skip
    drawn: dict[str, Any] = {"bars": [], "lines": []}
    if len(series) == 1 and not percent:
        width = round(max(slot - 2, 1), 1)
        for i, v in enumerate(series[0].values):
            value = v or 0
            drawn["bars"].append({"x": round(x(i) - width / 2, 1), "y": y(value), "w": width,
                                  "h": round(plot_h - (y(value) - TOP), 1),
                                  "day": days[i], "label": _number(value, percent)})  # fmt: skip
    else:
        for n, s in enumerate(series):
            # A line is broken where there is nothing to measure.
            runs: list[list[str]] = [[]]
            for i, v in enumerate(s.values):
                if v is None:
                    runs.append([])
                else:
                    runs[-1].append(f"{x(i)},{y(v)}")
            drawn["lines"].append({"name": s.name, "css": f"s{n + 1}",
                                   "runs": [" ".join(r) for r in runs if r]})  # fmt: skip
    totals = [sum(v for v in s.values if v is not None) for s in series]
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
        "ticks": ticks,
        "dates": dates,
        "date_y": HEIGHT - BOTTOM + 18,
        "series": series,
        "totals": [
            {"name": s.name, "total": _number(t, False)}
            for s, t in zip(series, totals, strict=True)
        ],
        "rows": [
            (d, [("–" if s.values[i] is None else _number(s.values[i], percent)) for s in series])
            for i, d in enumerate(days)
        ],
        **drawn,
    }
