"""Helpers for pipeline tests: a real client talking to a real devorg over loopback."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from sfbulk_mcp.auth.providers import PasswordProvider
from sfbulk_mcp.devorg import DevOrg
from sfbulk_mcp.salesforce import RetryPolicy, SalesforceClient

T = TypeVar("T")

# Fast backoff so fault tests finish in milliseconds, with the same retry logic as production.
FAST_RETRY = RetryPolicy(max_retries=6, base_delay=0.01, max_delay=0.05)


def provider_for(org: DevOrg) -> PasswordProvider:
    """A refreshable login to the devorg (the password flow can renew an expired session)."""
    return PasswordProvider(
        login_url=org.login_url,
        client_id="sfbulk-devorg",
        username="admin@devorg.local",
        password="devorg",
    )


def run_with_client(org: DevOrg, scenario: Callable[[SalesforceClient], Awaitable[T]]) -> T:
    """Run `scenario(client)` on a fresh event loop with a client logged in to `org`."""

    async def main() -> T:
        async with SalesforceClient(provider_for(org), retry=FAST_RETRY) as client:
            return await scenario(client)

    return asyncio.run(main())


def make_accounts(org: DevOrg, names: list[str], **fields: Any) -> list[str]:
    """Create Accounts straight in the store; returns their Ids in order."""
    return [org.store.create("Account", {"Name": name, **fields}) for name in names]


def hang_jobs_after_the_first(org: DevOrg, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Every Bulk job after the first stays InProgress until aborted; the event is set once one
    hangs (the first job has completed by then when jobs run one at a time)."""
    hanging = threading.Event()
    started = itertools.count()

    def take_job_hang() -> bool:
        if next(started) == 0:
            return False
        hanging.set()
        return True

    monkeypatch.setattr(org.faults, "take_job_hang", take_job_hang)
    return hanging


@pytest.fixture
def small_org() -> Any:
    """An empty devorg for one test (counts and Id sets are exact)."""
    with DevOrg() as org:
        yield org
