"""The client against a real devorg over loopback: CRUD, paging, describe, Bulk round trips,
expiry mid-work, 429/503 storms and connections dropped mid-page."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sf_fakes import Recorder, run_async
from sfbulk_mcp.devorg import DevOrg
from sfbulk_mcp.salesforce import (
    BulkJobError,
    BulkJobTimeoutError,
    NotFoundError,
    RequestLimitError,
    RetryPolicy,
    SalesforceClient,
    ServerUnavailableError,
    SyncSalesforceClient,
    Token,
)
from sfbulk_mcp.salesforce.errors import InvalidFieldError

SEED = 30


class DevOrgProvider:
    """Tokens straight from the devorg; a refresh asks it for a new session and counts."""

    def __init__(self, org: DevOrg) -> None:
        self.org = org
        self.refreshes = 0
        self.current = Token(org.access_token(), org.instance_url)

    async def token(self) -> Token:
        return self.current

    async def refresh(self, stale: Token) -> Token:
        self.refreshes += 1
        access = await asyncio.to_thread(self.org.access_token)
        self.current = Token(access, self.org.instance_url)
        return self.current


@pytest.fixture(scope="module")
def org() -> Iterator[DevOrg]:
    with DevOrg(seed=SEED) as running:
        yield running


@pytest.fixture
def faults(org: DevOrg) -> Iterator[Any]:
    org.faults.reset()
    yield org.faults
    org.faults.reset()


def client_for(org: DevOrg, recorder: Recorder | None = None, **kwargs: Any) -> tuple[SalesforceClient, DevOrgProvider]:
    provider = DevOrgProvider(org)
    policy = RetryPolicy(max_retries=5, sleep=(recorder or Recorder()).sleep)
    return SalesforceClient(provider, retry=policy, **kwargs), provider


@run_async
async def test_version_is_negotiated_and_describe_matches_salesforce(org: DevOrg) -> None:
    client, _ = client_for(org)
    async with client:
        versions = await client.versions()
        version = await client.api_version()
        describe = await client.describe("Account")
        assert await client.describe("Account") is describe
        listing = await client.describe_global()
    assert version == max((v["version"] for v in versions), key=lambda v: float(v))
    names = {f["name"] for f in describe["fields"]}
    assert {"Id", "Name", "External_Id__c"} <= names
    assert any(s["name"] == "Account" for s in listing["sobjects"])


@run_async
async def test_record_crud_and_upsert_round_trip(org: DevOrg, faults: Any) -> None:
    client, _ = client_for(org)
    async with client:
        created = await client.create("Account", {"Name": "Client CRUD Co"})
        account_id = created["id"]
        assert created["success"] is True and account_id.startswith("001")
        await client.update("Account", account_id, {"Phone": "555-0100"})
        record = await client.get_record("Account", account_id, fields=["Name", "Phone"])
        assert (record["Name"], record["Phone"]) == ("Client CRUD Co", "555-0100")

        first = await client.upsert("Account", "External_Id__c", "CLIENT-EXT-1", {"Name": "Up Co"})
        again = await client.upsert("Account", "External_Id__c", "CLIENT-EXT-1", {"Name": "Up Co 2"})
        assert first["created"] is True and again["created"] is False
        assert again["id"] == first["id"]

        await client.delete("Account", account_id)
        with pytest.raises(NotFoundError):
            await client.get_record("Account", account_id)


@run_async
async def test_query_pages_cover_every_row_once(org: DevOrg) -> None:
    client, _ = client_for(org)
    async with client:
        first = await client.query("SELECT Id FROM Contact")
        ids = [r["Id"] async for r in client.query_iter("SELECT Id FROM Contact", batch_size=200)]
        with pytest.raises(InvalidFieldError):
            await client.query("SELECT Nme FROM Account")
    assert len(ids) == first["totalSize"] == len(set(ids))
    used, allowed = client.api_usage or (0, 0)
    assert 0 < used <= allowed  # Sforce-Limit-Info was read from the answers


@run_async
async def test_bulk_query_round_trip_in_small_pages(org: DevOrg) -> None:
    client, _ = client_for(org)
    async with client:
        expected = (await client.query("SELECT COUNT() FROM Account"))["totalSize"]
        job = await client.bulk_create_query_job("SELECT Id, Name FROM Account")
        done = await client.bulk_wait("query", job["id"], poll_initial=0.05, timeout=30)
        pages = [p async for p in client.bulk_query_pages(job["id"], max_records=7)]
        async with client.bulk_query_results(job["id"]) as whole:
            body = await whole.aread()
    assert whole.content_encoding == "gzip"  # compressed on the wire, decoded for us
    assert body.startswith(b'"Id","Name"') and whole.number_of_records == expected
    # Seed data holds embedded newlines and quotes: count real CSV records.
    rows = [row for p in pages for row in list(csv.reader(io.StringIO(p.data.decode())))[1:]]
    assert pages[0].data.startswith(b'"Id","Name"')
    assert len(rows) == expected == done["numberRecordsProcessed"]
    assert pages[-1].next_locator is None
    assert sum(p.number_of_records or 0 for p in pages) == expected


@run_async
async def test_bulk_ingest_round_trip_reports_successes_and_failures(org: DevOrg) -> None:
    client, _ = client_for(org)
    upload = b"Name,Phone\nIngest One,111\nIngest Two,222\n,333\n"
    async with client:
        job = await client.bulk_create_ingest_job("Account", "insert")
        await client.bulk_upload(job["id"], upload)
        await client.bulk_close_job(job["id"])
        done = await client.bulk_wait("ingest", job["id"], poll_initial=0.05, timeout=30)
        async with client.bulk_ingest_results(job["id"], "successful") as ok:
            successes = list(csv.reader(io.StringIO((await ok.aread()).decode())))
        async with client.bulk_ingest_results(job["id"], "failed") as bad:
            failures = list(csv.reader(io.StringIO((await bad.aread()).decode())))
    assert done["numberRecordsProcessed"] == 3 and done["numberRecordsFailed"] == 1
    assert len(successes) == 3 and "sf__Created" in successes[0]
    assert len(failures) == 2 and "REQUIRED_FIELD_MISSING" in failures[1][failures[0].index("sf__Error")]
    # An org on this machine: results come uncompressed (no CPU spent deflating loopback bytes).
    assert ok.content_encoding is None and bad.content_encoding is None


@run_async
async def test_expiry_mid_work_costs_one_shared_refresh(org: DevOrg, faults: Any) -> None:
    client, provider = client_for(org)
    async with client:
        await client.query("SELECT Id FROM Account LIMIT 1")
        faults.expire_sessions()
        pages = await asyncio.gather(
            *(client.query("SELECT Id FROM Account LIMIT 5") for _ in range(20))
        )
    assert all(len(p["records"]) == 5 for p in pages)
    assert provider.refreshes == 1


@run_async
async def test_503_and_429_storms_are_ridden_out_with_backoff(org: DevOrg, faults: Any) -> None:
    recorder = Recorder()
    client, _ = client_for(org, recorder)
    async with client:
        faults.fail_requests(503, 3)
        assert (await client.query("SELECT Id FROM Account LIMIT 2"))["records"]
        faults.fail_requests(429, 2)
        assert (await client.query("SELECT Id FROM Account LIMIT 2"))["records"]
        assert faults.to_json()["requests"] == []
    assert len(recorder.sleeps) == 5
    assert all(s >= 1.0 for s in recorder.sleeps[3:])  # Retry-After: 1 honoured


@run_async
async def test_exhausted_daily_limit_fails_fast(org: DevOrg, faults: Any) -> None:
    recorder = Recorder()
    client, _ = client_for(org, recorder)
    async with client:
        faults.fail_requests(403, 1)
        with pytest.raises(RequestLimitError) as info:
            await client.query("SELECT Id FROM Account LIMIT 1")
    assert info.value.daily and recorder.sleeps == []


@run_async
async def test_connection_dropped_mid_page_loses_and_duplicates_nothing(org: DevOrg, faults: Any) -> None:
    client, _ = client_for(org)
    async with client:
        job = await client.bulk_create_query_job("SELECT Id FROM Account")
        await client.bulk_wait("query", job["id"], poll_initial=0.05, timeout=30)
        clean = [p.data async for p in client.bulk_query_pages(job["id"], max_records=10)]
        faults.drop_connection(after_bytes=40, count=2, path="/results")
        again = [p.data async for p in client.bulk_query_pages(job["id"], max_records=10)]
        assert faults.to_json()["drops"] == []  # both cuts really happened
        faults.drop_connection(after_bytes=20, count=1, path="/query")
        page = await client.query("SELECT Id FROM Account LIMIT 3")
        assert faults.to_json()["drops"] == []
    assert again == clean
    assert len(page["records"]) == 3


def test_sync_client_against_the_devorg(org: DevOrg) -> None:
    with SyncSalesforceClient(DevOrgProvider(org)) as sf:
        page = sf.query("SELECT Id, Name FROM Account LIMIT 3")
        assert len(page["records"]) == 3
        assert sf.describe("Contact")["name"] == "Contact"


@run_async
async def test_composite_collections_search_tooling_limits_and_apex_rest(org: DevOrg) -> None:
    org.register_apex_rest("POST", "/Echo/*", lambda req: {"got": req.json(), "path": req.path})
    client, _ = client_for(org)
    async with client:
        created = await client.collections_create(
            "Contact", [{"LastName": "Coll One"}, {"LastName": "Coll Two"}], all_or_none=True
        )
        assert [r["success"] for r in created] == [True, True]
        ids = [r["id"] for r in created]
        fetched = await client.collections_get("Contact", ids, ["LastName"])
        assert sorted(r["LastName"] for r in fetched if r) == ["Coll One", "Coll Two"]

        answer = await client.composite(
            [
                {"method": "POST", "url": f"/services/data/v{await client.api_version()}/sobjects/Account",
                 "referenceId": "acct", "body": {"Name": "Composite Co"}},
                {"method": "GET", "url": f"/services/data/v{await client.api_version()}/sobjects/Account/@{{acct.id}}",
                 "referenceId": "read"},
            ],
            all_or_none=True,
        )
        codes = [r["httpStatusCode"] for r in answer["compositeResponse"]]
        assert codes == [201, 200]
        assert answer["compositeResponse"][1]["body"]["Name"] == "Composite Co"

        deleted = await client.collections_delete(ids)
        assert all(r["success"] for r in deleted)

        tooling = await client.tooling_query("SELECT Id, Name FROM ApexClass")
        assert "records" in tooling

        limits = await client.limits()
        assert limits["DailyApiRequests"]["Max"] >= limits["DailyApiRequests"]["Remaining"]

        echoed = await client.apex_rest("POST", "Echo/abc", body={"x": 1})
        assert echoed["got"] == {"x": 1}


@run_async
async def test_sosl_search_finds_a_new_record(org: DevOrg) -> None:
    client, _ = client_for(org)
    async with client:
        await client.create("Account", {"Name": "Searchable Zebra Co"})
        found = await client.search("FIND {Zebra} IN NAME FIELDS RETURNING Account(Id, Name)")
    assert any(r.get("Name") == "Searchable Zebra Co" for r in found["searchRecords"])


@run_async
async def test_rejected_session_leaves_no_token_in_any_log_or_error(
    org: DevOrg, faults: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from sfbulk_mcp.salesforce import SessionExpiredError, StaticTokenProvider

    secret = org.access_token()
    faults.expire_sessions()
    caplog.set_level(logging.DEBUG)  # every logger, httpx2 and httpcore included
    # An earlier CLI test may have left a level on the package logger: open it up too.
    caplog.set_level(logging.DEBUG, logger="sfbulk_mcp")
    client = SalesforceClient(StaticTokenProvider(secret, org.instance_url))
    async with client:
        with pytest.raises(SessionExpiredError) as info:
            await client.query("SELECT Id FROM Account LIMIT 1")
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "sfbulk_mcp.salesforce" in text and "401" in text
    assert secret not in text
    assert secret not in str(info.value) and secret not in repr(info.value)
    assert "SALESFORCE_ACCESS_TOKEN" in str(info.value) or "sfbulk login" in str(info.value)


@run_async
async def test_cancelled_wait_aborts_the_server_job(org: DevOrg, faults: Any) -> None:
    client, _ = client_for(org)
    async with client:
        faults.hang_next_jobs(1)
        job = await client.bulk_create_query_job("SELECT Id FROM Account")

        async def watch() -> None:
            async with client.bulk_abort_on_error("query", job["id"]):
                await client.bulk_wait("query", job["id"], poll_initial=0.02, poll_max=0.05)

        task = asyncio.create_task(watch())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        info = await client.bulk_get_job("query", job["id"])
    assert info["state"] == "Aborted"


@run_async
async def test_wait_timeout_names_a_job_that_is_still_running(org: DevOrg, faults: Any) -> None:
    client, _ = client_for(org)
    async with client:
        faults.hang_next_jobs(1)
        job = await client.bulk_create_query_job("SELECT Id FROM Account")
        with pytest.raises(BulkJobTimeoutError) as info:
            await client.bulk_wait("query", job["id"], timeout=0.3, poll_initial=0.05)
        assert info.value.job_id == job["id"]
        assert (await client.bulk_get_job("query", job["id"]))["state"] != "JobComplete"
        await client.bulk_abort_job("query", job["id"])
        faults.fail_next_jobs(1, "Injected failure")
        failed_job = await client.bulk_create_query_job("SELECT Id FROM Account")
        with pytest.raises(BulkJobError) as failure:
            await client.bulk_wait("query", failed_job["id"], poll_initial=0.05, timeout=30)
    assert failure.value.state == "Failed" and failure.value.error_message == "Injected failure"


@run_async
async def test_concurrent_callers_ride_out_a_storm_together(org: DevOrg, faults: Any) -> None:
    recorder = Recorder()
    client, _ = client_for(org, recorder)
    async with client:
        await client.api_version()
        faults.fail_requests(503, 15, path="/query")
        pages = await asyncio.gather(
            *(client.query("SELECT Id FROM Account LIMIT 2") for _ in range(12))
        )
    assert all(len(p["records"]) == 2 for p in pages)
    assert len(recorder.sleeps) == 15  # every refused request waited, none gave up


@run_async
async def test_query_job_creation_rides_out_a_503_but_ingest_job_creation_is_not_resent(
    org: DevOrg, faults: Any
) -> None:
    recorder = Recorder()
    client, _ = client_for(org, recorder)
    async with client:
        before = len(await client.bulk_list_jobs("ingest"))
        faults.fail_requests(503, 2, path="/jobs/query")
        job = await client.bulk_create_query_job("SELECT Id FROM Account")
        assert job["state"] == "UploadComplete" and len(recorder.sleeps) == 2
        faults.fail_requests(503, 1, path="/jobs/ingest")
        with pytest.raises(ServerUnavailableError):
            await client.bulk_create_ingest_job("Account", "insert")
        assert len(await client.bulk_list_jobs("ingest")) == before


@run_async
async def test_describing_a_misspelt_object_suggests_the_names_it_may_mean(org: DevOrg) -> None:
    client, _ = client_for(org)
    async with client:
        with pytest.raises(NotFoundError) as info:
            await client.describe("Acount")
        with pytest.raises(NotFoundError) as nothing_close:
            await client.describe("Zzzz")
    assert info.value.status == 404 and info.value.error_code == "NOT_FOUND"
    assert "no object named 'Acount'" in str(info.value) and "did you mean Account?" in str(info.value)
    assert "did you mean" not in str(nothing_close.value)
