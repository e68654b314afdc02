"""Transient failures are retried with bounded backoff, only when resending is harmless."""

from __future__ import annotations

import httpx2
import pytest
from sf_fakes import Recorder, json_response, make_client, run_async, sf_error
from sfbulk_mcp.salesforce import (
    ConnectionLostError,
    NotFoundError,
    RateLimitedError,
    RequestLimitError,
    RetryPolicy,
    RowLockError,
    ServerUnavailableError,
)

OK_QUERY = {"totalSize": 0, "done": True, "records": []}


def scripted(*responses: httpx2.Response | Exception):  # type: ignore[no-untyped-def]
    queue = list(responses)

    def handler(request: httpx2.Request) -> httpx2.Response:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


@run_async
async def test_get_survives_a_503_storm_with_growing_backoff() -> None:
    recorder = Recorder()
    handler = scripted(
        sf_error(503, "SERVER_UNAVAILABLE", "down"),
        sf_error(503, "SERVER_UNAVAILABLE", "down"),
        httpx2.Response(502, content=b"bad gateway"),
        json_response(200, OK_QUERY),
    )
    client, seen = make_client(handler, recorder=recorder)
    async with client:
        page = await client.query("SELECT Id FROM Account")
    assert page["done"] is True
    assert len(seen) == 4
    assert recorder.sleeps == sorted(recorder.sleeps) and len(recorder.sleeps) == 3
    assert recorder.sleeps[2] > recorder.sleeps[0]


@run_async
async def test_retries_are_bounded() -> None:
    client, seen = make_client(scripted(sf_error(503, "SERVER_UNAVAILABLE", "down")), max_retries=3)
    async with client:
        with pytest.raises(ServerUnavailableError) as info:
            await client.query("SELECT Id FROM Account")
    assert len(seen) == 4
    assert info.value.status == 503 and info.value.method == "GET"


@run_async
async def test_retry_after_is_honoured_on_429() -> None:
    recorder = Recorder()
    handler = scripted(
        httpx2.Response(429, headers={"Retry-After": "7"}, content=b""),
        json_response(200, OK_QUERY),
    )
    client, _ = make_client(handler, recorder=recorder)
    async with client:
        await client.query("SELECT Id FROM Account")
    assert recorder.sleeps == [7.0]


@run_async
async def test_a_very_long_retry_after_raises_instead_of_hanging() -> None:
    handler = scripted(httpx2.Response(429, headers={"Retry-After": "3600"}, content=b""))
    client, seen = make_client(handler)
    async with client:
        with pytest.raises(RateLimitedError) as info:
            await client.query("SELECT Id FROM Account")
    assert len(seen) == 1 and info.value.retry_after == 3600


@run_async
async def test_post_is_not_resent_after_a_503() -> None:
    client, seen = make_client(scripted(sf_error(503, "SERVER_UNAVAILABLE", "down")))
    async with client:
        with pytest.raises(ServerUnavailableError):
            await client.create("Account", {"Name": "Acme"})
    assert len(seen) == 1


@run_async
async def test_post_marked_safe_is_retried() -> None:
    handler = scripted(sf_error(503, "SERVER_UNAVAILABLE", "down"), json_response(200, {"ok": 1}))
    client, seen = make_client(handler)
    async with client:
        result = await client.request("POST", "some/readonly/action", json={}, idempotent=True)
    assert result == {"ok": 1} and len(seen) == 2


@run_async
async def test_concurrent_request_limit_is_retried_but_daily_limit_is_not() -> None:
    concurrent = sf_error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
    client, seen = make_client(scripted(concurrent, json_response(200, OK_QUERY)))
    async with client:
        await client.query("SELECT Id FROM Account")
    assert len(seen) == 2

    daily = sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    client, seen = make_client(scripted(daily, json_response(200, OK_QUERY)))
    async with client:
        with pytest.raises(RequestLimitError) as info:
            await client.query("SELECT Id FROM Account")
    assert len(seen) == 1 and info.value.daily


@run_async
async def test_row_lock_on_update_is_retried() -> None:
    handler = scripted(
        sf_error(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access"),
        httpx2.Response(204),
    )
    client, seen = make_client(handler)
    async with client:
        await client.update("Account", "001000000000001AAA", {"Name": "B"})
    assert len(seen) == 2 and seen[1].method == "PATCH"


@run_async
async def test_row_lock_on_insert_is_not_retried() -> None:
    client, seen = make_client(scripted(sf_error(400, "UNABLE_TO_LOCK_ROW", "locked")))
    async with client:
        with pytest.raises(RowLockError):
            await client.create("Contact", {"LastName": "X"})
    assert len(seen) == 1


@run_async
async def test_dropped_connection_on_get_is_retried() -> None:
    handler = scripted(httpx2.ReadError("reset"), httpx2.RemoteProtocolError("eof"), json_response(200, OK_QUERY))
    client, seen = make_client(handler)
    async with client:
        page = await client.query("SELECT Id FROM Account")
    assert page["totalSize"] == 0 and len(seen) == 3


@run_async
async def test_dropped_connection_on_post_is_not_retried() -> None:
    client, seen = make_client(scripted(httpx2.ReadError("reset")))
    async with client:
        with pytest.raises(ConnectionLostError):
            await client.create("Account", {"Name": "Acme"})
    assert len(seen) == 1


@run_async
async def test_connect_failure_on_post_is_retried_because_nothing_was_sent() -> None:
    handler = scripted(httpx2.ConnectError("refused"), json_response(201, {"id": "001x", "success": True, "errors": []}))
    client, seen = make_client(handler)
    async with client:
        result = await client.create("Account", {"Name": "Acme"})
    assert result["id"] == "001x" and len(seen) == 2


def test_backoff_is_exponential_jittered_and_capped() -> None:
    low = RetryPolicy(base_delay=1.0, max_delay=10.0, random=lambda: 0.0)
    high = RetryPolicy(base_delay=1.0, max_delay=10.0, random=lambda: 1.0)
    assert [low.delay(a) for a in range(5)] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert [high.delay(a) for a in range(5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert low.delay(0, retry_after=12.0) == 12.0


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime

    from sfbulk_mcp.salesforce.retry import parse_retry_after

    now = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("Sat, 21 Nov 2026 08:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sat, 21 Nov 2026 07:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@run_async
async def test_delete_resent_after_a_lost_answer_counts_as_done() -> None:
    gone = sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
    client, seen = make_client(scripted(httpx2.ReadError("reset"), gone))
    async with client:
        await client.delete("Account", "001000000000001AAA")
    assert len(seen) == 2

    client, _ = make_client(scripted(gone))
    async with client:
        with pytest.raises(NotFoundError):  # deleted before we asked: the caller should know
            await client.delete("Account", "001000000000001AAA")
