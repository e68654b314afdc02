"""Waiting for a Bulk job: poll often while a job is young, then back off.

Small jobs finish in a second or two and a user waits for every poll interval that overshoots;
long jobs run for minutes and every poll costs an API request. So the interval starts short and
grows by a quarter each time: up to 0.25 s during the first 5 s (a job done in that time is
seen about 0.1 s later on average), 0.5 s until 15 s (about 40 requests in all so far), 1 s
until 30 s, 3 s until 2 minutes, then 10 s.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..salesforce.client import SalesforceClient
from ..salesforce.errors import BulkJobError, BulkJobTimeoutError

InfoFn = Callable[[dict[str, Any]], Awaitable[None] | None]

FIRST_INTERVAL = 0.2
# (seconds into the wait, longest pause until then)
SCHEDULE = ((5.0, 0.25), (15.0, 0.5), (30.0, 1.0), (120.0, 3.0))
LATE_MAX = 10.0


def next_interval(interval: float, elapsed: float) -> float:
    """The pause after `interval`, `elapsed` seconds into the wait."""
    cap = next((most for until, most in SCHEDULE if elapsed < until), LATE_MAX)
    return min(cap, interval * 1.25)


def job_ended(kind: Any, job_id: str, info: dict[str, Any]) -> BulkJobError:
    """The error of a job that ended Failed or Aborted (`info`: its job info)."""
    state = str(info.get("state"))
    detail = info.get("errorMessage")
    return BulkJobError(
        f"Bulk {kind} job {job_id} ended {state}" + (f": {detail}" if detail else ""),
        job_id=job_id,
        state=state,
        error_message=str(detail) if detail else None,
    )


def job_timed_out(kind: Any, job_id: str, state: str, timeout: float) -> BulkJobTimeoutError:
    """The error of a job still running after `timeout` seconds of waiting."""
    return BulkJobTimeoutError(
        f"Bulk {kind} job {job_id} still {state} after {timeout:g} s", job_id=job_id, state=state
    )


async def wait_for_job(
    client: SalesforceClient,
    kind: Any,
    job_id: str,
    *,
    timeout: float | None = None,
    on_info: InfoFn | None = None,
    first_interval: float = FIRST_INTERVAL,
) -> dict[str, Any]:
    """Poll until the job is `JobComplete` and return its info.

    Raises `BulkJobError` when it ends Failed or Aborted, `BulkJobTimeoutError` after
    `timeout` seconds (the job keeps running; callers decide whether to abort it).
    """
    started = time.monotonic()
    interval = first_interval
    while True:
        info = await client.bulk_get_job(kind, job_id)
        if on_info is not None:
            outcome = on_info(info)
            if inspect.isawaitable(outcome):
                await outcome
        state = str(info.get("state"))
        if state == "JobComplete":
            return info
        if state in ("Failed", "Aborted"):
            raise job_ended(kind, job_id, info)
        elapsed = time.monotonic() - started
        if timeout is not None and elapsed + interval > timeout:
            raise job_timed_out(kind, job_id, state, timeout)
        await asyncio.sleep(interval)
        interval = next_interval(interval, elapsed)
