"""Fault injection: the failures real networks and orgs produce, on demand for tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

# Status codes an injected request fault may answer with.
FAULT_STATUSES = (403, 429, 500, 502, 503)


@dataclass
class RequestFault:
    """Answer the next `remaining` requests whose path contains `path` with `status`."""

    status: int
    remaining: int
    path: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "remaining": self.remaining, "path": self.path}


@dataclass
class DropFault:
    """Cut the TCP connection after `after_bytes` bytes of the next matching response bodies."""

    after_bytes: int
    remaining: int
    path: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"after_bytes": self.after_bytes, "remaining": self.remaining, "path": self.path}


class Faults:
    """Thread-safe fault switches shared by the HTTP layer, OAuth and Bulk jobs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request_faults: list[RequestFault] = []
        self._drop_faults: list[DropFault] = []
        self._job_failures: list[str] = []
        self._job_hangs = 0
        self.job_delay: float = 0.0
        self.rotate_refresh_tokens = False
        # Access tokens issued at or before this time (epoch seconds) are treated as expired.
        self.sessions_expired_before = 0.0

    # -- request-level faults -------------------------------------------------------------
    def fail_requests(self, status: int, count: int = 1, *, path: str = "") -> None:
        """Answer the next `count` requests (whose path contains `path`) with `status`.

        503 and 429 are plain unavailability / throttling; 403 answers REQUEST_LIMIT_EXCEEDED.
        """
        if status not in FAULT_STATUSES:
            raise ValueError(f"status must be one of {FAULT_STATUSES}, not {status}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._request_faults.append(RequestFault(status, count, path))

    def take_request_fault(self, path: str) -> int | None:
        """The status to answer this request with, consuming one use of the fault."""
        with self._lock:
            for fault in self._request_faults:
                if fault.path in path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._request_faults.remove(fault)
                    return fault.status
        return None

    def drop_connection(self, after_bytes: int, count: int = 1, *, path: str = "") -> None:
        """Cut the connection after `after_bytes` body bytes of the next `count` responses."""
        if after_bytes < 0 or count < 1:
            raise ValueError("after_bytes must be >= 0 and count >= 1")
        with self._lock:
            self._drop_faults.append(DropFault(after_bytes, count, path))

    def take_drop_fault(self, path: str) -> int | None:
        """How many body bytes to send before cutting this response, if it must be cut."""
        with self._lock:
            for fault in self._drop_faults:
                if fault.path in path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._drop_faults.remove(fault)
                    return fault.after_bytes
        return None

    # -- sessions -------------------------------------------------------------------------
    def expire_sessions(self) -> None:
        """Make every access token issued so far invalid (as if they all timed out)."""
        with self._lock:
            self.sessions_expired_before = time.time()

    # -- bulk jobs (read by the Bulk API implementation) ------------------------------------
    def fail_next_jobs(self, count: int = 1, message: str = "Injected failure") -> None:
        """Make the next `count` Bulk jobs end Failed with `message` as errorMessage."""
        with self._lock:
            self._job_failures.extend([message] * count)

    def take_job_failure(self) -> str | None:
        """The errorMessage the next job must fail with, if it must fail."""
        with self._lock:
            return self._job_failures.pop(0) if self._job_failures else None

    def hang_next_jobs(self, count: int = 1) -> None:
        """Make the next `count` Bulk jobs stay InProgress until they are aborted."""
        with self._lock:
            self._job_hangs += count

    def take_job_hang(self) -> bool:
        """True if the next job must hang until aborted."""
        with self._lock:
            if self._job_hangs > 0:
                self._job_hangs -= 1
                return True
            return False

    # -- everything -----------------------------------------------------------------------
    def reset(self) -> None:
        """Back to a well-behaved org (sessions already expired stay expired)."""
        with self._lock:
            self._request_faults.clear()
            self._drop_faults.clear()
            self._job_failures.clear()
            self._job_hangs = 0
            self.job_delay = 0.0
            self.rotate_refresh_tokens = False

    def to_json(self) -> dict[str, Any]:
        """The current switches, as the control endpoint shows them."""
        with self._lock:
            return {
                "requests": [f.to_json() for f in self._request_faults],
                "drops": [f.to_json() for f in self._drop_faults],
                "job_failures": len(self._job_failures),
                "job_hangs": self._job_hangs,
                "job_delay": self.job_delay,
                "rotate_refresh_tokens": self.rotate_refresh_tokens,
                "sessions_expired_before": self.sessions_expired_before,
            }
