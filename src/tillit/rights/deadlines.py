"""Art. 12(3): an answer within one month of receipt, extendable by two more with reasons."""

from __future__ import annotations

import calendar
from datetime import datetime


def add_months(when: datetime, months: int) -> datetime:
    """The same date `months` later, or that month's last day when it has no such date
    (31 January + 1 month = 28 or 29 February)."""
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def due(received: datetime) -> datetime:
    return add_months(received, 1)


def latest_extension(received: datetime) -> datetime:
    return add_months(received, 3)
