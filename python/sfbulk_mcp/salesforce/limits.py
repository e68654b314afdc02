"""API usage reported by Salesforce on every response (`Sforce-Limit-Info`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_USAGE = re.compile(r"(?P<name>[\w-]+)=(?P<used>\d+)/(?P<max>\d+)")


@dataclass(frozen=True)
class ApiUsage:
    """Requests used and allowed in the org's rolling 24-hour window."""

    used: int
    max: int

    @property
    def remaining(self) -> int:
        """Requests left before the daily limit."""
        return max(0, self.max - self.used)

    @property
    def fraction(self) -> float:
        """Share of the daily limit used, 0.0–1.0."""
        return self.used / self.max if self.max else 0.0


def parse_limit_info(header: str | None) -> dict[str, ApiUsage]:
    """Every `name=N/M` pair in a `Sforce-Limit-Info` header.

    `api-usage` is the org-wide count; `per-app-api-usage` may follow for connected apps.
    """
    if not header:
        return {}
    return {
        m["name"]: ApiUsage(used=int(m["used"]), max=int(m["max"]))
        for m in _USAGE.finditer(header)
    }
