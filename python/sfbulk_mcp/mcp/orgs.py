"""Which Salesforce client serves the current tool call.

In stdio mode one org serves every call. In HTTP mode each caller has their own client, built
from their own (validated) token and never shared; `owner` names the caller so that cursors,
result files and schema memory stay with the user who created them.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver.exceptions import ToolError

from sfbulk_mcp.salesforce.credentials import TokenProvider


class OrgAccess(Protocol):
    """Gives tools the client and identity of the current caller."""

    async def client(self) -> Any:
        """The `SalesforceClient` for the current call."""
        ...

    def owner(self) -> str:
        """A stable key for the current caller (user + org)."""
        ...


def make_client(provider: TokenProvider) -> Any:
    """A `SalesforceClient` on `provider` (imported late: the client is heavy)."""
    from sfbulk_mcp.salesforce.client import SalesforceClient

    return SalesforceClient(provider)


class SingleOrg:
    """One org for the whole process (stdio mode, or HTTP without auth)."""

    def __init__(self, client: Any, owner: str = "local") -> None:
        self._client = client
        self._owner = owner

    async def client(self) -> Any:
        return self._client

    def owner(self) -> str:
        return self._owner


@dataclass
class _Entry:
    client: Any
    created: float


ProviderFactory = Callable[[str, dict[str, Any]], Awaitable[TokenProvider]]


class PerUserOrgs:
    """One client per authenticated caller, built from the caller's verified token.

    `provider_for(token, claims)` turns the request's verified access token into a
    `TokenProvider` (bearer mode: the Salesforce token itself; proxy mode: the upstream
    tokens our token maps to, refreshed as needed). Clients are cached per token so a user's
    connection pool is reused, and dropped after `ttl` seconds so revoked or refreshed
    credentials are picked up.
    """

    def __init__(self, provider_for: ProviderFactory, *, ttl: float = 300.0, capacity: int = 256):
        self._provider_for = provider_for
        self._ttl = ttl
        self._capacity = capacity
        self._clients: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = anyio.Lock()

    def _token(self) -> tuple[str, dict[str, Any]]:
        access = get_access_token()
        if access is None:
            raise ToolError("this server needs an authenticated caller (no bearer token)")
        claims = dict(access.claims or {})
        claims.setdefault("sub", access.subject)
        return access.token, claims

    def owner(self) -> str:
        token, claims = self._token()
        subject = claims.get("sub") or hashlib.sha256(token.encode()).hexdigest()[:16]
        return f"user:{subject}"

    async def client(self) -> Any:
        token, claims = self._token()
        key = hashlib.sha256(token.encode()).hexdigest()
        async with self._lock:
            entry = self._clients.get(key)
            if entry is not None and time.monotonic() - entry.created < self._ttl:
                self._clients.move_to_end(key)
                return entry.client
            if entry is not None:
                await _close(entry.client)
            provider = await self._provider_for(token, claims)
            client = make_client(provider)
            self._clients[key] = _Entry(client, time.monotonic())
            while len(self._clients) > self._capacity:
                _, old = self._clients.popitem(last=False)
                await _close(old.client)
            return client

    async def aclose(self) -> None:
        async with self._lock:
            for entry in self._clients.values():
                await _close(entry.client)
            self._clients.clear()


async def _close(client: Any) -> None:
    closer = getattr(client, "aclose", None)
    if closer is not None:
        await closer()
