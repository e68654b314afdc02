"""Expired sessions: one shared refresh, one retry, then a clear 'log in again'; no token leaks."""

from __future__ import annotations

import asyncio
import logging

import httpx2
import pytest
from sf_fakes import INSTANCE, RotatingProvider, json_response, make_client, run_async, sf_error
from sfbulk_mcp.salesforce import AuthError, SessionExpiredError, StaticTokenProvider, Token

OK = {"totalSize": 0, "done": True, "records": []}


def accepts(valid: str):  # type: ignore[no-untyped-def]
    """A server that only accepts the bearer token `valid`."""

    async def handler(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(0.001)
        if request.headers.get("Authorization") != f"Bearer {valid}":
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return json_response(200, OK, {"Sforce-Limit-Info": "api-usage=25/15000"})

    return handler


@run_async
async def test_expired_session_is_refreshed_once_and_the_request_retried() -> None:
    provider = RotatingProvider()
    client, seen = make_client(accepts("token-1"), provider=provider)
    async with client:
        page = await client.query("SELECT Id FROM Account")
    assert page == OK
    assert provider.refreshes == 1 and client.refresh_count == 1
    assert [r.headers["Authorization"] for r in seen] == ["Bearer token-0", "Bearer token-1"]


@run_async
async def test_many_concurrent_callers_share_a_single_refresh() -> None:
    provider = RotatingProvider(refresh_delay=0.02)
    client, seen = make_client(accepts("token-1"), provider=provider)
    async with client:
        pages = await asyncio.gather(*(client.query("SELECT Id FROM Account") for _ in range(25)))
    assert pages == [OK] * 25
    assert provider.refreshes == 1
    assert sum(r.headers["Authorization"] == "Bearer token-1" for r in seen) == 25


@run_async
async def test_second_401_after_refresh_says_log_in_again() -> None:
    provider = RotatingProvider()
    client, seen = make_client(accepts("never-valid"), provider=provider)
    async with client:
        with pytest.raises(SessionExpiredError) as info:
            await client.query("SELECT Id FROM Account")
    assert provider.refreshes == 1 and len(seen) == 2
    assert "sfbulk login" in str(info.value)
    assert info.value.status == 401


@run_async
async def test_refresh_failure_surfaces_the_providers_auth_error() -> None:
    provider = RotatingProvider(fail_refresh=True)
    client, _ = make_client(accepts("token-1"), provider=provider)
    async with client:
        with pytest.raises(AuthError, match="sfbulk login --alias test"):
            await client.query("SELECT Id FROM Account")


@run_async
async def test_no_token_appears_in_logs_or_errors_during_an_auth_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "00D5g000004ABCD!AQ8AQSuperSecretSessionValue"
    provider = StaticTokenProvider(secret, INSTANCE)
    client, seen = make_client(accepts("other"), provider=provider)
    caplog.set_level(logging.DEBUG)
    async with client:
        with pytest.raises(AuthError) as info:
            await client.request("GET", f"query?q=SELECT+Id+FROM+Account&access_token={secret}")
    assert seen and seen[0].headers["Authorization"] == f"Bearer {secret}"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "query" in logged  # requests were logged …
    assert secret not in logged  # … without the token
    for text in (str(info.value), repr(info.value), repr(provider._token)):
        assert secret not in text


@run_async
async def test_api_usage_is_tracked_from_sforce_limit_info() -> None:
    client, _ = make_client(accepts("token-0"))
    async with client:
        assert client.api_usage is None
        await client.query("SELECT Id FROM Account")
        assert client.api_usage == (25, 15000)
        assert client.limit_info["api-usage"].remaining == 14975


class LaggingProvider(RotatingProvider):
    """A provider whose token() keeps answering the old token after a refresh."""

    async def token(self) -> Token:
        return Token("token-0", self.instance_url)


@run_async
async def test_a_provider_that_lags_behind_its_refresh_still_costs_one_refresh() -> None:
    provider = LaggingProvider(refresh_delay=0.01)
    client, seen = make_client(accepts("token-1"), provider=provider)
    async with client:
        await asyncio.gather(*(client.query("SELECT Id FROM Account") for _ in range(10)))
        await client.query("SELECT Id FROM Account")
    assert provider.refreshes == 1
    assert seen[-1].headers["Authorization"] == "Bearer token-1"


@run_async
async def test_nearly_exhausted_daily_allowance_is_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return json_response(200, OK, {"Sforce-Limit-Info": "api-usage=14000/15000"})

    client, _ = make_client(handler)
    caplog.set_level(logging.WARNING, logger="sfbulk_mcp.salesforce")
    async with client:
        for _ in range(3):
            await client.query("SELECT Id FROM Account")
    warnings = [r.getMessage() for r in caplog.records if "daily API requests" in r.getMessage()]
    assert warnings == ["the org has used 14000 of its 15000 daily API requests (93%)"]
