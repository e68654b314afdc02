"""SOQL date literals (TODAY, LAST_N_DAYS:n, THIS_QUARTER, …) as half-open date ranges."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from ..errors import DevOrgError


def _month_start(d: dt.date, months: int = 0) -> dt.date:
    index = d.year * 12 + (d.month - 1) + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _quarter_start(d: dt.date, quarters: int = 0) -> dt.date:
    first = dt.date(d.year, (d.month - 1) // 3 * 3 + 1, 1)
    return _month_start(first, 3 * quarters)


def _week_start(d: dt.date, weeks: int = 0) -> dt.date:
    # Weeks start on Sunday, as in the en_US locale.
    start = d - dt.timedelta(days=(d.weekday() + 1) % 7)
    return start + dt.timedelta(weeks=weeks)


def date_range(name: str, n: int | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The [start, end) dates a date literal covers, relative to ``today``."""
    day = dt.timedelta(days=1)
    word = name.upper().replace("_FISCAL", "")
    if word == "TODAY":
        return today, today + day
    if word == "YESTERDAY":
        return today - day, today
    if word == "TOMORROW":
        return today + day, today + 2 * day
    def years(k: int) -> tuple[dt.date, dt.date]:
        return dt.date(today.year + k, 1, 1), dt.date(today.year + k + 1, 1, 1)

    unit_ranges: dict[str, Callable[[int], tuple[dt.date, dt.date]]] = {
        "WEEK": lambda k: (_week_start(today, k), _week_start(today, k + 1)),
        "MONTH": lambda k: (_month_start(today, k), _month_start(today, k + 1)),
        "QUARTER": lambda k: (_quarter_start(today, k), _quarter_start(today, k + 1)),
        "YEAR": years,
    }
    for prefix, k in (("THIS_", 0), ("LAST_", -1), ("NEXT_", 1)):
        unit = word[len(prefix):]
        if word.startswith(prefix) and unit in unit_ranges:
            return unit_ranges[unit](k)
    if word == "LAST_90_DAYS":
        return today - 90 * day, today + day
    if word == "NEXT_90_DAYS":
        return today + day, today + 91 * day
    if n is None:
        raise DevOrgError("MALFORMED_QUERY", f"unexpected token: {name}")
    if word == "LAST_N_DAYS":
        return today - n * day, today + day
    if word == "NEXT_N_DAYS":
        return today + day, today + (n + 1) * day
    if word == "N_DAYS_AGO":
        return today - n * day, today - (n - 1) * day
    for unit, ranger in unit_ranges.items():
        if word == f"LAST_N_{unit}S":
            start, _ = ranger(-n)
            _, end = ranger(-1)
            return start, end
        if word == f"NEXT_N_{unit}S":
            start, _ = ranger(1)
            _, end = ranger(n)
            return start, end
        if word == f"N_{unit}S_AGO":
            return ranger(-n)
    raise DevOrgError("MALFORMED_QUERY", f"unexpected token: {name}")
