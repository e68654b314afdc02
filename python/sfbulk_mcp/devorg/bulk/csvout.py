"""CSV as Bulk API 2.0 writes it: every value quoted, null as `""`, one delimiter per job.

Written with plain string operations rather than the package's engine or client code, so a bug
on the client side cannot hide behind the same bug here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

# A separator that real data almost never holds; rows holding it take the slow path.
_SEP = "\x00"


def format_value(value: object) -> str:
    """Text of one value in a result cell (before quoting)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value)) + ".0"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def quote(text: str) -> str:
    """One quoted cell."""
    return '"' + text.replace('"', '""') + '"'


class RowFormatter:
    """Turns rows of values into quoted CSV lines with a given delimiter and line ending."""

    def __init__(self, delimiter: str, newline: str) -> None:
        self.delimiter = delimiter
        self.newline = newline
        self._joiner = '"' + delimiter + '"'

    def line(self, values: Sequence[object]) -> str:
        """One quoted line, terminator included."""
        texts = [v if type(v) is str else format_value(v) for v in values]
        joined = _SEP.join(texts)
        if joined.count(_SEP) == max(len(texts) - 1, 0):
            # Two C-level replaces on the whole row instead of one per value.
            body = joined.replace('"', '""').replace(_SEP, self._joiner)
            return '"' + body + '"' + self.newline
        # A value holds the separator itself: quote value by value.
        return self.delimiter.join(quote(t) for t in texts) + self.newline

    def header(self, names: Iterable[str]) -> str:
        """The quoted header line."""
        return self.line(list(names))
