"""FORMAT(): values shaped for the user's locale (the devorg's users are en_US, GMT)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..catalog import FieldDef


def _number(value: float, scale: int) -> str:
    return f"{value:,.{scale}f}"


def _clock(hour: int, minute: int) -> str:
    suffix = "AM" if hour < 12 else "PM"
    return f"{(hour % 12) or 12}:{minute:02d} {suffix}"


def format_value(fdef: FieldDef | None, value: Any) -> Any:
    """``value`` as Salesforce's FORMAT() shows it for an en_US user in GMT.

    Currency ``$44,000.00``, numbers with grouping, percents ``12.5%``, dates ``12/28/2015``,
    datetimes ``4/10/2025, 3:31 PM``, times ``3:31 PM``; other types are unchanged.
    """
    if value is None or fdef is None:
        return value
    t = fdef.type
    if t == "currency":
        text = _number(abs(float(value)), fdef.scale)
        return f"-${text}" if float(value) < 0 else f"${text}"
    if t in ("double", "int"):
        return _number(float(value), fdef.scale if t == "double" else 0)
    if t == "percent":
        return _number(float(value), fdef.scale) + "%"
    if t == "date":
        day = dt.date.fromisoformat(str(value))
        return f"{day.month}/{day.day}/{day.year}"
    if t == "datetime":
        moment = dt.datetime.fromisoformat(str(value))
        return f"{moment.month}/{moment.day}/{moment.year}, {_clock(moment.hour, moment.minute)}"
    if t == "time":
        return _clock(int(str(value)[0:2]), int(str(value)[3:5]))
    if t == "boolean":
        return bool(value)
    return value
