"""Fixtures for the devorg's Bulk API 2.0 tests.

`bulk_org` serves the Bulk routes on a fresh store over real HTTP on a loopback port, behind a
thin layer that plays the HTTP layer's part (session, trailing slash, error JSON).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import requests
import uvicorn
from sfbulk_mcp.devorg.bulk import BulkJobs, bulk_routes
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.faults import Faults
from sfbulk_mcp.devorg.limits import ApiLimits
from sfbulk_mcp.devorg.responses import json_response
from sfbulk_mcp.devorg.state import DevOrgConfig, OrgState
from sfbulk_mcp.devorg.store import Store
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

TOKEN = "00DDv0000000001!bulk-harness-token"


@dataclass
class FakeSession:
    user_id: str
    username: str
    org_id: str


class _SessionMiddleware:
    def __init__(self, app: ASGIApp, state: OrgState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = {**scope, "path": path.rstrip("/")}
            session = FakeSession(self.state.store.admin_user_id, "admin@devorg.local",
                                  self.state.org_id)
            scope = {**scope, "state": {**scope.get("state", {}), "session": session}}
        await self.app(scope, receive, send)


async def _devorg_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DevOrgError)
    return json_response(exc.to_json(), exc.status)


@dataclass
class BulkHarness:
    url: str
    state: OrgState
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def jobs(self) -> BulkJobs:
        assert isinstance(self.state.bulk, BulkJobs)
        return self.state.bulk

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.jobs.close()
        self.state.store.close()


def start_harness(data_dir: Path) -> BulkHarness:
    """Serve the bulk routes on a free loopback port, on a fresh store under `data_dir`."""
    config = DevOrgConfig(data_dir=data_dir)
    store = Store(data_dir / "org.sqlite")
    state = OrgState(config=config, store=store, faults=Faults(), limits=ApiLimits(config),
                     auth=None, instance_url="", org_id="00DDv0000000001AAA")  # type: ignore[arg-type]
    app = Starlette(routes=bulk_routes(state), exception_handlers={DevOrgError: _devorg_error})
    wrapped = _SessionMiddleware(app, state)
    server = uvicorn.Server(uvicorn.Config(wrapped, host="127.0.0.1", port=0,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("bulk harness did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    state.instance_url = url
    return BulkHarness(url, state, server, thread)


class OrgUnderTest:
    """A running org as the bulk tests see it: URL, token, state and job manager."""

    def __init__(self, url: str, token: str, state: OrgState, stop: Any) -> None:
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
    """The full devorg (auth, limits, error JSON, gzip layers) on `data_dir`."""
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


class LoopbackSession(requests.Session):
    """A requests session that sends simple-salesforce's https URLs to the plain-HTTP org.

    simple-salesforce always builds `https://` URLs; the library itself stays unmodified.
    """

    def __init__(self, instance: str) -> None:
        super().__init__()
        self.instance = instance

    def request(self, method: str | bytes, url: str | bytes,  # type: ignore[override]
                *args: Any, **kwargs: Any) -> requests.Response:
        text = url.decode() if isinstance(url, bytes) else url
        prefix = f"https://{self.instance}"
        if text.startswith(prefix):
            text = "http://" + text.removeprefix("https://")
        return super().request(method, text, *args, **kwargs)


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
