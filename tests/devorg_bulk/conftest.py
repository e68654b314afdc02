"""Fixtures for the devorg's Bulk API 2.0 tests.

`bulk_org` is a fresh, empty devorg (the whole stack: OAuth sessions, API limits, error JSON,
gzip) served over loopback HTTP; `api` is an authenticated HTTP client for it. The
simple-salesforce tests use the shared `tls_devorg` / `simple_sf` fixtures of tests/conftest.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sfbulk_mcp.devorg.bulk import BulkJobs
from sfbulk_mcp.devorg.state import OrgState


class OrgUnderTest:
    """A running org as the bulk tests see it: URL, token, state and job manager."""

    def __init__(self, url: str, token: str, state: OrgState,
                 stop: Callable[[], None]) -> None:
        self.url = url
        self.token = token
        self.state = state
        self._stop = stop

    @property
    def jobs(self) -> BulkJobs:
        assert isinstance(self.state.bulk, BulkJobs)
        return self.state.bulk

    def stop(self) -> None:
        self._stop()


def start_org(data_dir: Path) -> OrgUnderTest:
    """The full devorg on `data_dir` (kept, so a second start reopens the same org)."""
    from sfbulk_mcp.devorg import DevOrg

    org = DevOrg(data_dir=data_dir).start()
    return OrgUnderTest(org.instance_url, org.access_token(), org.state, org.stop)


@pytest.fixture
def bulk_org(tmp_path: Path) -> Iterator[OrgUnderTest]:
    """A fresh, empty devorg served over loopback HTTP for one test."""
    org = start_org(tmp_path / "org")
    try:
        yield org
    finally:
        org.stop()


@pytest.fixture
def api(bulk_org: OrgUnderTest) -> Iterator[httpx2.Client]:
    """An HTTP client for the org, authenticated like a Salesforce client."""
    with httpx2.Client(base_url=bulk_org.url,
                       headers={"Authorization": f"Bearer {bulk_org.token}"},
                       timeout=30) as client:
        yield client


def wait_for_state(client: httpx2.Client, path: str, states: set[str],
                   timeout: float = 30.0) -> dict[str, Any]:
    """Poll a job until it reaches one of `states`; returns its JSON."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(path).json()
        if body["state"] in states:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job stayed {body['state']}")
        time.sleep(0.02)
