"""HTTP clients for the devorg tests: plain requests written from Salesforce's docs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from sfbulk_mcp.devorg import DevOrg

V = "66.0"


def rest_client(org: DevOrg, token: str | None = None) -> httpx2.Client:
    """A client with `Authorization: Bearer` for one org (no env proxies, no retries)."""
    return httpx2.Client(base_url=org.instance_url, trust_env=False, timeout=30.0,
                         headers={"Authorization": f"Bearer {token or org.access_token()}"})


@pytest.fixture
def api(devorg: DevOrg) -> Iterator[httpx2.Client]:
    """An authenticated client on the shared session org."""
    with rest_client(devorg) as client:
        yield client


@pytest.fixture
def fresh_api(fresh_devorg: DevOrg) -> Iterator[httpx2.Client]:
    """An authenticated client on a new empty org."""
    with rest_client(fresh_devorg) as client:
        yield client
