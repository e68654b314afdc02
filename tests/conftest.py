"""Fixtures shared by every test folder: running devorgs on free loopback ports.

- `devorg`: one org for the whole session (small seed). Faults are reset after each test that
  used it; data written by tests stays, so create your own records rather than counting seeds.
- `fresh_devorg`: a new, empty org for one test (for counts, limits, destructive faults).
- `tls_devorg`: a session org served over HTTPS with a self-signed certificate, for clients
  that insist on https (simple-salesforce); `tls_devorg.ca_certificate` is its CA file.
- `simple_sf`: a simple-salesforce client logged in to `tls_devorg` with a session id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sfbulk_mcp.devorg import DevOrg

SESSION_SEED_ACCOUNTS = 25


@pytest.fixture(scope="session")
def devorg() -> Iterator[DevOrg]:
    """A seeded devorg shared by the whole test session (plain HTTP)."""
    with DevOrg(seed=SESSION_SEED_ACCOUNTS) as org:
        yield org


@pytest.fixture(autouse=True)
def _reset_devorg_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Leave no armed fault behind for the next test sharing a session org."""
    yield
    for name in ("devorg", "tls_devorg"):
        if name in request.fixturenames:
            org: DevOrg = request.getfixturevalue(name)
            org.faults.reset()
            org.limits.set_usage(0)


@pytest.fixture
def fresh_devorg() -> Iterator[DevOrg]:
    """An empty devorg (no seed data) for one test."""
    with DevOrg() as org:
        yield org


@pytest.fixture(scope="session")
def tls_devorg() -> Iterator[DevOrg]:
    """A seeded devorg served over HTTPS (self-signed; trust `ca_certificate`)."""
    with DevOrg(seed=SESSION_SEED_ACCOUNTS, tls=True) as org:
        yield org


@pytest.fixture
def simple_sf(tls_devorg: DevOrg) -> Iterator[Any]:
    """simple-salesforce, unmodified, talking to the HTTPS devorg with a fresh session id."""
    import requests
    from simple_salesforce.api import Salesforce

    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE would replace `verify`
    session.verify = str(tls_devorg.ca_certificate)
    sf = Salesforce(instance_url=tls_devorg.instance_url,
                    session_id=tls_devorg.access_token(), session=session,
                    version=tls_devorg.api_version)
    yield sf
    session.close()
