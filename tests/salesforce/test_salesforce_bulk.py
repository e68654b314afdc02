"""Bulk API 2.0: job calls, polling, version pinning, streamed and restartable result pages."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sf_fakes import BrokenStream, ChunkedStream, Recorder, json_response, make_client, run_async
from sfbulk_mcp.salesforce import (
    BulkJobError,
    BulkJobTimeoutError,
    MalformedQueryError,
    ResultStreamBrokenError,
    SalesforceError,
    bulk_query_problems,
)
from sfbulk_mcp.salesforce.hosts import is_loopback_host

RECORDED = json.loads((Path(__file__).parent / "fixtures" / "bulk2_recorded.json").read_text())
QUERY_JOB = RECORDED["query_create_response"]["id"]
INGEST_JOB = RECORDED["ingest_create_response"]["id"]


def recorded_org(request: httpx2.Request) -> httpx2.Response:
    """Replays the recorded v52 jobs."""
    path, method = request.url.path, request.method
    if method == "POST" and path.endswith("/jobs/query"):
        return json_response(200, RECORDED["query_create_response"])
    if method == "POST" and path.endswith("/jobs/ingest"):
        return json_response(200, RECORDED["ingest_create_response"])
    if path.endswith(f"/jobs/query/{QUERY_JOB}/results"):
        return httpx2.Response(
            200,
            content=RECORDED["query_results_csv"].encode(),
            headers={"Content-Type": "text/csv", "Sforce-Locator": "null", "Sforce-NumberOfRecords": "5"},
        )
    if path.endswith(f"/jobs/query/{QUERY_JOB}"):
        return json_response(200, RECORDED["query_get_complete"])
    if path.endswith(f"/jobs/ingest/{INGEST_JOB}/batches"):
        return httpx2.Response(201)
    if path.endswith(f"/jobs/ingest/{INGEST_JOB}") and method == "PATCH":
        return json_response(200, RECORDED["ingest_patch_upload_complete_response"])
    if path.endswith(f"/jobs/ingest/{INGEST_JOB}"):
        return json_response(200, RECORDED["ingest_get_complete"])
    if path.endswith(f"/jobs/ingest/{INGEST_JOB}/failedResults/"):
        return httpx2.Response(200, content=RECORDED["ingest_failed_results_empty"].encode())
    return json_response(404, [{"errorCode": "NOT_FOUND", "message": path}])


@run_async
async def test_recorded_query_job_round_trip_uses_the_jobs_api_version() -> None:
    client, seen = make_client(recorded_org, api_version="62.0")
    async with client:
        job = await client.bulk_create_query_job(RECORDED["query_soql"])
        done = await client.bulk_wait("query", job["id"], poll_initial=0.0)
        async with client.bulk_query_results(job["id"]) as page:
            body = await page.aread()
    assert done["numberRecordsProcessed"] == 5
    assert body.decode() == RECORDED["query_results_csv"]
    assert page.next_locator is None and page.number_of_records == 5 and page.done
    create = json.loads(seen[0].content)
    assert create == {
        "operation": "query",
        "query": RECORDED["query_soql"],
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    # Created at v62 by us, but Salesforce answered apiVersion 52: results follow the job.
    assert seen[-1].url.path == f"/services/data/v52.0/jobs/query/{QUERY_JOB}/results"
    assert seen[-1].headers["Accept-Encoding"] == "gzip"


@run_async
async def test_recorded_ingest_job_round_trip() -> None:
    client, seen = make_client(recorded_org)
    async with client:
        job = await client.bulk_create_ingest_job("Account", "update")
        await client.bulk_upload(job["id"], RECORDED["ingest_upload_csv"].encode())
        closed = await client.bulk_close_job(job["id"])
        done = await client.bulk_wait("ingest", job["id"], poll_initial=0.0)
        async with client.bulk_ingest_results(job["id"], "failed") as failed:
            failed_csv = await failed.aread()
    assert closed["state"] == "UploadComplete" and done["numberRecordsFailed"] == 0
    assert failed_csv.decode() == RECORDED["ingest_failed_results_empty"]
    upload = seen[1]
    assert upload.method == "PUT" and upload.headers["Content-Type"] == "text/csv"
    assert upload.url.path == f"/services/data/v52.0/jobs/ingest/{INGEST_JOB}/batches"
    assert json.loads(seen[2].content) == {"state": "UploadComplete"}
    assert seen[-1].headers["Accept-Encoding"] == "gzip"  # a remote org: compressed results


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("devorg.localhost", True),
        ("example.my.salesforce.com", False),
        ("10.0.0.5", False),
        ("", False),
    ],
)
def test_only_loopback_hosts_get_uncompressed_ingest_results(host: str, local: bool) -> None:
    assert is_loopback_host(host) is local



def paged_results(pages: dict[str | None, tuple[bytes, str]], *, gzip_body: bool = False, break_once: set[str | None] | None = None):  # type: ignore[no-untyped-def]
    """A results endpoint serving `pages[locator] = (csv, next_locator)`."""
    broken = set(break_once or ())

    def handler(request: httpx2.Request) -> httpx2.Response:
        if not request.url.path.endswith("/results"):
            return json_response(200, {"id": "750X", "state": "JobComplete", "apiVersion": 62.0})
        locator = request.url.params.get("locator")
        body, next_locator = pages[locator]
        headers = {"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(body.count(b"\n") - 1)}
        if locator in broken:
            broken.discard(locator)
            return httpx2.Response(200, headers=headers, stream=BrokenStream(body[: len(body) // 2]))
        if gzip_body:
            headers["Content-Encoding"] = "gzip"
            body = gzip.compress(body)
        return httpx2.Response(200, headers=headers, stream=ChunkedStream(body))

    return handler


PAGES: dict[str | None, tuple[bytes, str]] = {
    None: (b'"Id"\n"1"\n"2"\n', "MjAwMDA"),
    "MjAwMDA": (b'"Id"\n"3"\n"4"\n', "NDAwMDA"),
    "NDAwMDA": (b'"Id"\n"5"\n', "null"),
}


@run_async
async def test_result_pages_follow_locators_and_arrive_gunzipped() -> None:
    client, seen = make_client(paged_results(PAGES, gzip_body=True))
    async with client:
        pages = [p async for p in client.bulk_query_pages("750X", max_records=2)]
    assert [p.data for p in pages] == [PAGES[k][0] for k in (None, "MjAwMDA", "NDAwMDA")]
    assert [p.next_locator for p in pages] == ["MjAwMDA", "NDAwMDA", None]
    assert [p.number_of_records for p in pages] == [2, 2, 1]
    result_requests = [r for r in seen if r.url.path.endswith("/results")]
    assert all(r.url.params["maxRecords"] == "2" for r in result_requests)


@run_async
async def test_a_page_broken_mid_body_is_fetched_again_without_losing_or_duplicating_rows() -> None:
    recorder = Recorder()
    client, seen = make_client(paged_results(PAGES, break_once={"MjAwMDA"}), recorder=recorder)
    async with client:
        rows = [
            line
            async for page in client.bulk_query_pages("750X")
            for line in page.data.splitlines()[1:]
        ]
    assert rows == [b'"1"', b'"2"', b'"3"', b'"4"', b'"5"']
    locators = [r.url.params.get("locator") for r in seen if r.url.path.endswith("/results")]
    assert locators == [None, "MjAwMDA", "MjAwMDA", "NDAwMDA"]
    assert len(recorder.sleeps) == 1


@run_async
async def test_streaming_callers_learn_which_locator_to_restart() -> None:
    client, _ = make_client(paged_results(PAGES, break_once={None}))
    async with client:
        with pytest.raises(ResultStreamBrokenError) as info:
            async with client.bulk_query_results("750X") as page:
                async for _ in page.aiter_bytes():
                    pass
        assert info.value.job_id == "750X" and info.value.locator is None
        async with client.bulk_query_results("750X", locator=info.value.locator) as again:
            assert await again.aread() == PAGES[None][0]


def job_states(*states: str, error: str | None = None):  # type: ignore[no-untyped-def]
    queue = list(states)
    patches: list[Any] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "PATCH":
            patches.append(json.loads(request.content))
            return json_response(200, {"id": "750X", "state": "Aborted", "apiVersion": 62.0})
        state = queue.pop(0) if len(queue) > 1 else queue[0]
        body = {"id": "750X", "state": state, "apiVersion": 62.0, "numberRecordsProcessed": 10}
        if error:
            body["errorMessage"] = error
        return json_response(200, body)

    return handler, patches


@run_async
async def test_bulk_wait_backs_off_from_one_to_ten_seconds_and_reports_progress() -> None:
    recorder = Recorder()
    handler, _ = job_states(*(["InProgress"] * 8), "JobComplete")
    client, _ = make_client(handler, recorder=recorder)
    seen_states: list[str] = []
    async with client:
        info = await client.bulk_wait("query", "750X", on_progress=lambda i: seen_states.append(i["state"]))
    assert info["state"] == "JobComplete"
    assert seen_states[-1] == "JobComplete" and len(seen_states) == 9
    assert recorder.sleeps[0] == 1.0 and max(recorder.sleeps) == 10.0
    assert recorder.sleeps == sorted(recorder.sleeps)


@run_async
async def test_failed_job_raises_with_its_id_state_and_message() -> None:
    handler, _ = job_states("Failed", error="InvalidBatch : Field name not found : Nme")
    client, _ = make_client(handler)
    async with client:
        with pytest.raises(BulkJobError) as info:
            await client.bulk_wait("ingest", "750X")
    assert info.value.job_id == "750X" and info.value.state == "Failed"
    assert "Field name not found" in str(info.value)


@run_async
async def test_wait_timeout_names_the_job_and_can_abort_it() -> None:
    handler, patches = job_states("InProgress")
    client, _ = make_client(handler)
    async with client:
        with pytest.raises(BulkJobTimeoutError) as info:
            await client.bulk_wait("query", "750X", timeout=0.0)
        assert info.value.job_id == "750X" and patches == []
        with pytest.raises(BulkJobTimeoutError):
            await client.bulk_wait("query", "750X", timeout=0.0, abort_on_timeout=True)
    assert patches == [{"state": "Aborted"}]


@run_async
async def test_abort_on_error_stops_the_server_job() -> None:
    handler, patches = job_states("InProgress")
    client, _ = make_client(handler)
    async with client:
        with pytest.raises(KeyboardInterrupt):
            async with client.bulk_abort_on_error("query", "750X"):
                raise KeyboardInterrupt
    assert patches == [{"state": "Aborted"}]


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry",
        "SELECT Id FROM Account LIMIT 10 OFFSET 5",
        "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
        "SELECT TYPEOF What WHEN Account THEN Name END FROM Task",
    ],
)
def test_unsupported_bulk_soql_is_refused_before_creating_a_job(soql: str) -> None:
    assert bulk_query_problems(soql)

    @run_async
    async def attempt() -> None:
        client, seen = make_client(recorded_org)
        async with client:
            with pytest.raises(MalformedQueryError):
                await client.bulk_create_query_job(soql)
        assert seen == []

    attempt()


def test_keywords_inside_string_literals_are_fine() -> None:
    assert bulk_query_problems("SELECT Id FROM Account WHERE Name = 'GROUP BY (SELECT x)'") == []


@run_async
async def test_parallel_result_pages_give_locators_to_open() -> None:
    base = "/services/data/v62.0/jobs/query/750X/results"

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/resultPages"):
            if "page2" in str(request.url):
                return json_response(200, {"resultPages": [{"resultUrl": f"{base}?locator=Mw&maxRecords=10"}], "done": True})
            return json_response(
                200,
                {
                    "resultPages": [
                        {"resultUrl": f"{base}?maxRecords=10"},
                        {"resultUrl": f"{base}?locator=MTA&maxRecords=10"},
                    ],
                    "done": False,
                    "nextRecordsUrl": "/services/data/v62.0/jobs/query/750X/resultPages?page2=1",
                },
            )
        return json_response(200, {"id": "750X", "state": "JobComplete", "apiVersion": 62.0})

    client, _ = make_client(handler)
    async with client:
        links = [link async for link in client.bulk_result_pages("750X")]
    assert [(link.locator, link.max_records) for link in links] == [(None, 10), ("MTA", 10), ("Mw", 10)]


@run_async
async def test_result_stream_can_be_awaited_and_closed_by_hand() -> None:
    client, _ = make_client(paged_results(PAGES))
    async with client:
        stream = await client.bulk_query_results("750X", locator="NDAwMDA")
        try:
            assert await stream.aread() == PAGES["NDAwMDA"][0]
            assert stream.next_locator is None
        finally:
            await stream.aclose()


@run_async
async def test_raw_stream_keeps_the_wire_encoding_for_callers_that_gunzip_themselves() -> None:
    client, _ = make_client(paged_results(PAGES, gzip_body=True))
    async with client, client.bulk_query_results("750X") as page:
        raw = b"".join([chunk async for chunk in page.aiter_raw()])
    assert page.content_encoding == "gzip"
    assert gzip.decompress(raw) == PAGES[None][0]


@run_async
async def test_close_resent_after_a_drop_accepts_that_the_first_one_landed() -> None:
    calls = {"patch": 0}

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "PATCH":
            calls["patch"] += 1
            if calls["patch"] == 1:
                raise httpx2.ReadError("reset after the server applied the change")
            return json_response(400, [{"errorCode": "INVALIDJOBSTATE", "message": "Invalid job state"}])
        return json_response(200, {"id": "750X", "state": "InProgress", "apiVersion": 62.0})

    client, _ = make_client(handler)
    async with client:
        info = await client.bulk_close_job("750X")
    assert info["state"] == "InProgress" and calls["patch"] == 2


@run_async
async def test_closing_a_job_in_the_wrong_state_still_fails() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "PATCH":
            return json_response(400, [{"errorCode": "INVALIDJOBSTATE", "message": "Invalid job state"}])
        return json_response(200, {"id": "750X", "state": "Aborted", "apiVersion": 62.0})

    client, _ = make_client(handler)
    async with client:
        with pytest.raises(SalesforceError, match="Invalid job state"):
            await client.bulk_close_job("750X")
