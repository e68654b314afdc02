"""Helpers for the backup tests: a real client on a real devorg, small orgs with known data.

The devorg does not serve the REST blob endpoints (`/sobjects/ContentVersion/{Id}/VersionData`)
yet: `BlobFallback` answers those from the org's store when the devorg says 404, and passes
every other request through untouched.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
from click.testing import CliRunner, Result
from sfbulk_mcp.auth.providers import PasswordProvider
from sfbulk_mcp.cli.main import cli
from sfbulk_mcp.devorg import DevOrg
from sfbulk_mcp.salesforce import RetryPolicy, SalesforceClient

T = TypeVar("T")
FAST_RETRY = RetryPolicy(max_retries=6, base_delay=0.01, max_delay=0.05)
_BLOB = re.compile(
    r"/services/data/v[\d.]+/sobjects/(ContentVersion|Attachment|Document)/(\w+)/(VersionData|Body)$"
)


class BlobFallback(httpx2.AsyncBaseTransport):
    """The devorg over loopback, plus blob bodies straight from its store."""

    def __init__(self, org: DevOrg, *, truncate: int | None = None) -> None:
        self.org = org
        self.truncate = truncate
        self.inner = httpx2.AsyncHTTPTransport()
        self.blob_requests = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        match = _BLOB.search(request.url.path)
        if request.method != "GET" or match is None or response.status_code != 404:
            return response
        await response.aclose()
        self.blob_requests += 1
        try:
            data = self.org.store.blob(match.group(1), match.group(2), match.group(3))
        except Exception:  # noqa: BLE001 - the devorg's own "not found"
            body = b'[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]'
            return httpx2.Response(404, content=body, headers={"Content-Type": "application/json"})
        if self.truncate is not None:
            data = data[: self.truncate]
        return httpx2.Response(
            200, content=data, headers={"Content-Type": "application/octetstream"}
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def provider_for(org: DevOrg) -> PasswordProvider:
    return PasswordProvider(
        login_url=org.login_url,
        client_id="sfbulk-devorg",
        username="admin@devorg.local",
        password="devorg",
    )


def run(
    org: DevOrg,
    scenario: Callable[[SalesforceClient], Awaitable[T]],
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> T:
    """Run `scenario(client)` on a fresh event loop with a client logged in to `org`."""

    async def main() -> T:
        async with SalesforceClient(
            provider_for(org), retry=FAST_RETRY, transport=transport or BlobFallback(org)
        ) as client:
            return await scenario(client)

    return asyncio.run(main())


def sfbulk(org: DevOrg, tmp_path: Path, *args: str) -> Result:
    """`sfbulk ARGS` in-process, with the `devorg` alias pointing at `org`."""
    env = {"SFBULK_DEVORG_URL": org.instance_url, "SFBULK_CONFIG_DIR": str(tmp_path / "cfg")}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def make_family(org: DevOrg, name: str, contacts: int = 2, **fields: Any) -> tuple[str, list[str]]:
    """An Account with `contacts` Contacts; returns (account Id, contact Ids)."""
    account = org.store.create("Account", {"Name": name, **fields})
    kids = [
        org.store.create(
            "Contact", {"LastName": f"{name} kid {i}", "FirstName": "Ann", "AccountId": account}
        )
        for i in range(contacts)
    ]
    return account, kids


def make_file(org: DevOrg, title: str, data: bytes) -> str:
    return org.store.create(
        "ContentVersion",
        {
            "Title": title,
            "PathOnClient": f"{title}.bin",
            "VersionData": base64.b64encode(data).decode(),
        },
    )


def ids(org: DevOrg, soql: str) -> set[str]:
    return {str(r["Id"]) for r in org.store.query(soql).records}


@pytest.fixture
def org() -> Iterator[DevOrg]:
    """An empty org with three families of Accounts and Contacts."""
    with DevOrg() as devorg:
        for i in range(3):
            make_family(devorg, f"Family {i}", Industry="Energy", AnnualRevenue=1000.0 * i)
        yield devorg
