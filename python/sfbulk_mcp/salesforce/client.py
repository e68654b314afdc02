"""`SalesforceClient`: one async client for REST, Bulk API 2.0 and Tooling."""

from __future__ import annotations

import os
import ssl
from types import TracebackType
from typing import Self

import httpx2

from ._http import HttpCore
from .bulk import BulkApi
from .credentials import StaticTokenProvider, TokenProvider
from .limits import ApiUsage
from .rest import RestApi
from .retry import RetryPolicy
from .streaming import EventSubscription
from .tooling import ToolingApi


class SalesforceClient(RestApi, BulkApi, ToolingApi):
    """An async Salesforce client over one pooled connection.

    >>> async with SalesforceClient(provider) as sf:
    ...     page = await sf.query("SELECT Id, Name FROM Account")

    `api_version` pins a version ("62.0"); otherwise the org's newest is used. `retry`
    tunes backoff (its `sleep` and `random` are injectable). `verify` is a CA bundle path or
    SSL context for TLS-inspecting proxies. `transport`/`http` let tests and embedders supply
    the HTTP stack.
    """

    def __init__(
        self,
        provider: TokenProvider,
        *,
        api_version: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        verify: ssl.SSLContext | str | os.PathLike[str] | bool = True,
        transport: httpx2.AsyncBaseTransport | None = None,
        http: httpx2.AsyncClient | None = None,
    ) -> None:
        core = HttpCore(
            provider, http=http, transport=transport, retry=retry, timeout=timeout, verify=verify
        )
        super().__init__(core, api_version)
        self.provider = provider
        self._init_rest()
        self._init_bulk()

    @classmethod
    def from_token(
        cls,
        access_token: str,
        instance_url: str,
        *,
        api_version: str | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> Self:
        """A client for a fixed access token (it cannot be refreshed)."""
        provider = StaticTokenProvider(access_token, instance_url)
        return cls(provider, api_version=api_version, retry=retry, transport=transport)

    def __repr__(self) -> str:
        version = self._version or "negotiated on first use"
        return f"<SalesforceClient api_version={version}>"

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """(used, max) daily API requests from the last `Sforce-Limit-Info`, or None."""
        usage = self._core.api_usage
        return (usage.used, usage.max) if usage else None

    @property
    def limit_info(self) -> dict[str, ApiUsage]:
        """Every counter of the last `Sforce-Limit-Info` (`api-usage`, `per-app-api-usage`)."""
        return self._core.limit_info

    @property
    def refresh_count(self) -> int:
        """How many times this client had the provider refresh the token."""
        return self._core.refresh_count

    @property
    def retry_policy(self) -> RetryPolicy:
        """The backoff policy in use."""
        return self._core.retry

    async def instance_url(self) -> str:
        """The instance URL of the current token."""
        return await self._core.instance_url()

    async def subscribe(self, channel: str, *, replay: int = -1) -> EventSubscription:
        """An open Streaming API subscription to `channel` (e.g. `/event/BulkApi2JobEvent`);
        close it when done. Raises `StreamingUnavailable` when the org offers none."""
        subscription = EventSubscription(self._core, await self.api_version(), channel, replay)
        await subscription.open()
        return subscription

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._core.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
