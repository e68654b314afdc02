"""Salesforce record Ids: 15-character ones given by users, 18-character ones in snapshots."""

from __future__ import annotations

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(record_id: str) -> str:
    """The 18-character, case-insensitive-safe form of a 15- or 18-character Id."""
    value = record_id.strip()
    if len(value) != 15:
        return value
    suffix = ""
    for start in (0, 5, 10):
        bits = 0
        for position, char in enumerate(value[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SUFFIX[bits]
    return value + suffix
