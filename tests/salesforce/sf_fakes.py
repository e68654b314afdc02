"""A scripted Salesforce for unit tests: MockTransport routes, recorded requests, token counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import orjson
from sfbulk_mcp.salesforce import RetryPolicy, SalesforceClient, Token

INSTANCE = "https://example.my.salesforce.com"
Handler = Callable[[httpx2.Request], httpx2.Response | Any]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    """A JSON answer the way Salesforce sends it."""
    return httpx2.Response(
        status,
        content=orjson.dumps(body),
        headers={"Content-Type": "application/json;charset=UTF-8", **(headers or {})},
    )


def sf_error(status: int, code: str, message: str, **headers: str) -> httpx2.Response:
    """Salesforce's REST error list."""
    return json_response(status, [{"message": message, "errorCode": code}], headers)


class ChunkedStream(httpx2.AsyncByteStream):
    """A body that arrives in chunks, the way a network sends it."""

    def __init__(self, body: bytes, size: int = 7) -> None:
        self.body = body
        self.size = size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), self.size):
            yield self.body[start : start + self.size]


class BrokenStream(httpx2.AsyncByteStream):
    """A body that sends `head` and then loses the connection."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        raise httpx2.ReadError("connection reset by peer")


@dataclass
class RotatingProvider:
    """A token provider whose refresh hands out `token-1`, `token-2`, … and counts calls."""

    instance_url: str = INSTANCE
    current: Token = field(default_factory=lambda: Token("token-0", INSTANCE))
    refreshes: int = 0
    refresh_delay: float = 0.0
    fail_refresh: bool = False

    async def token(self) -> Token:
        return self.current

    async def refresh(self, stale: Token) -> Token:
        from sfbulk_mcp.salesforce.errors import AuthError

        self.refreshes += 1
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        if self.fail_refresh:
            raise AuthError("refresh token revoked; run `sfbulk login --alias test`")
        self.current = Token(f"token-{self.refreshes}", self.instance_url)
        return self.current


class Recorder:
    """Collects the sleeps a RetryPolicy asked for, without sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


def make_client(
    handler: Handler,
    *,
    provider: Any = None,
    api_version: str | None = "62.0",
    recorder: Recorder | None = None,
    max_retries: int = 4,
) -> tuple[SalesforceClient, list[httpx2.Request]]:
    """A client over a MockTransport; returns it and the list of requests it sent."""
    seen: list[httpx2.Request] = []

    async def route(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        result = handler(request)
        if asyncio.iscoroutine(result):
            result = await result
        assert isinstance(result, httpx2.Response)
        return result

    recorder = recorder or Recorder()
    policy = RetryPolicy(
        max_retries=max_retries, base_delay=0.5, sleep=recorder.sleep, random=lambda: 0.5
    )
    client = SalesforceClient(
        provider or RotatingProvider(),
        api_version=api_version,
        retry=policy,
        transport=httpx2.MockTransport(route),
    )
    return client, seen


def run_async(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run an async test body on a fresh event loop (no pytest plugin needed)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper
