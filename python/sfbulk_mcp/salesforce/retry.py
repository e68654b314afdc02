"""When and how long to wait before sending a request again.

Bounded exponential backoff with jitter; `Retry-After` from the server wins when it is longer.
Sleep and randomness are injectable so tests run instantly and deterministically.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

Sleep = Callable[[float], Awaitable[None]]

# Methods whose repetition cannot change the outcome; POST and PATCH only when the caller says so.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass
class RetryPolicy:
    """How many times to retry a transient failure, and how long to wait between tries."""

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    # Retry-After values above this are not worth blocking on: the error is raised instead.
    max_retry_after: float = 120.0
    sleep: Sleep = field(default=asyncio.sleep)
    random: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        ceiling = min(self.max_delay, self.base_delay * float(2**attempt))
        # "Equal jitter": never less than half the step, so a storm still backs off.
        wait = ceiling / 2 + float(self.random()) * ceiling / 2
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_retries=0)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked for by a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())
