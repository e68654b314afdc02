"""Bulk API 2.0 query jobs over raw HTTP, checked against the docs and a recorded real job."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sfbulk_mcp.devorg.bulk import manager as bulk_manager

from .conftest import OrgUnderTest, wait_for_state

V = "/services/data/v52.0"
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$")
IDENTITY = {"Accept-Encoding": "identity"}


def recorded() -> dict[str, Any]:
    """A real org's Bulk API 2.0 responses (copied from the shared Salesforce fixtures)."""
    data: dict[str, Any] = json.loads(Path(__file__).with_name("bulk2_recorded.json").read_text())
    return data


def seed_accounts(org: OrgUnderTest, rows: list[dict[str, Any]]) -> list[str]:
    store = org.state.store
    return [store.create("Account", row) for row in rows]


def create_query(api: httpx2.Client, soql: str, version: str = V, **extra: Any) -> dict[str, Any]:
    response = api.post(f"{version}/jobs/query", json={"operation": "query", "query": soql,
                                                       **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def finished(api: httpx2.Client, job_id: str, version: str = V) -> dict[str, Any]:
    return wait_for_state(api, f"{version}/jobs/query/{job_id}",
                          {"JobComplete", "Failed", "Aborted"})


def test_recorded_query_job_shapes_and_result_bytes(api: httpx2.Client,
                                                    bulk_org: OrgUnderTest) -> None:
    real = recorded()
    seed_accounts(bulk_org, [
        {"Name": "Boone625 Inc"},
        {"Name": "Rodriquez626 Inc", "Phone": "881-222-2391"},
        {"Name": "Hale627 Inc", "Phone": "882-222-2392"},
        {"Name": "Stokes628 Inc", "Phone": "883-222-2393"},
        {"Name": "Edwards629 Inc", "Phone": "884-222-2394"},
    ])
    created = create_query(api, real["query_soql"])
    assert list(created) == list(real["query_create_response"])
    assert created["state"] == "UploadComplete" and created["object"] == "Account"
    assert created["id"].startswith("750") and len(created["id"]) == 18
    assert DATE.match(created["createdDate"]) and created["apiVersion"] == 52.0
    done = finished(api, created["id"])
    assert list(done) == list(real["query_get_complete"])
    assert done["jobType"] == "V2Query" and done["numberRecordsProcessed"] == 5
    response = api.get(f"{V}/jobs/query/{created['id']}/results", headers=IDENTITY)
    assert response.status_code == 200
    assert response.headers["Sforce-Locator"] == "null"
    assert response.headers["Sforce-NumberOfRecords"] == "5"
    assert response.headers["content-type"].startswith("text/csv")
    expected_rows = real["query_results_csv"].splitlines()
    got_rows = response.text.splitlines()
    assert got_rows[0] == expected_rows[0] == '"Id","Name","Phone"'
    # Same rows apart from the Ids this org gave them.
    strip_id = [re.sub(r'^"[^"]+",', "", line) for line in got_rows[1:]]
    assert sorted(strip_id) == sorted(re.sub(r'^"[^"]+",', "", line)
                                      for line in expected_rows[1:])
    assert response.text.endswith("\n")


def test_state_machine_is_observable_while_the_job_runs(api: httpx2.Client,
                                                        bulk_org: OrgUnderTest) -> None:
    seed_accounts(bulk_org, [{"Name": "Slow"}])
    bulk_org.state.faults.job_delay = 1.0
    created = create_query(api, "SELECT Id FROM Account")
    seen = {created["state"]}
    path = f"{V}/jobs/query/{created['id']}"
    deadline = time.monotonic() + 30
    while "JobComplete" not in seen and time.monotonic() < deadline:
        body = api.get(path).json()
        seen.add(body["state"])
        if body["state"] == "InProgress":
            # The counter moves while the job runs, as Salesforce's does: here 0, then 1 once
            # the row is written and before the job is marked complete.
            assert body["numberRecordsProcessed"] in (0, 1)
            early = api.get(f"{path}/results")
            assert early.status_code == 412
            assert early.json()[0]["errorCode"] == "INVALIDJOBSTATE"
        time.sleep(0.05)
    assert {"UploadComplete", "InProgress", "JobComplete"} <= seen


def test_in_progress_is_visible_even_for_a_tiny_job(api: httpx2.Client,
                                                    bulk_org: OrgUnderTest) -> None:
    seed_accounts(bulk_org, [{"Name": "Tiny"}])
    created = create_query(api, "SELECT Id FROM Account")
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = api.get(f"{V}/jobs/query/{created['id']}").json()["state"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == "JobComplete":
            break
        time.sleep(0.01)
    assert "InProgress" in seen and seen[-1] == "JobComplete"


def test_pages_by_locator_and_max_records_each_with_a_header(api: httpx2.Client,
                                                             bulk_org: OrgUnderTest) -> None:
    seed_accounts(bulk_org, [{"Name": f"Paged {i:02d}"} for i in range(25)])
    job = create_query(api, "SELECT Name FROM Account ORDER BY Name")
    finished(api, job["id"])
    names: list[str] = []
    locator = ""
    pages = 0
    while True:
        params = {"maxRecords": "10", **({"locator": locator} if locator else {})}
        response = api.get(f"{V}/jobs/query/{job['id']}/results", params=params,
                           headers=IDENTITY)
        assert response.status_code == 200
        lines = response.text.splitlines()
        assert lines[0] == '"Name"'
        assert int(response.headers["Sforce-NumberOfRecords"]) == len(lines) - 1
        names += [line.strip('"') for line in lines[1:]]
        pages += 1
        locator = response.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert pages == 3
    assert names == [f"Paged {i:02d}" for i in range(25)]
    again = api.get(f"{V}/jobs/query/{job['id']}/results",
                    params={"maxRecords": "10", "locator": "MTA"}, headers=IDENTITY)
    assert again.text.splitlines()[1] == '"Paged 10"'


def test_values_are_quoted_nulls_empty_and_relationships_dotted(
    api: httpx2.Client, bulk_org: OrgUnderTest
) -> None:
    tricky = 'He said "hi",\nthen left ✓ 日本'
    seed_accounts(bulk_org, [{"Name": "Quote Co", "Description": tricky}])
    job = create_query(api, "SELECT Name, Description, Phone, Owner.Name FROM Account")
    finished(api, job["id"])
    text = api.get(f"{V}/jobs/query/{job['id']}/results", headers=IDENTITY).text
    header, _, body = text.partition("\n")
    assert header == '"Name","Description","Phone","Owner.Name"'
    assert body.startswith('"Quote Co","He said ""hi"",\nthen left ✓ 日本","",')
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][:3] == ["Quote Co", tricky, ""]
    assert rows[1][3]


def test_delimiter_and_line_ending_follow_the_job(api: httpx2.Client,
                                                  bulk_org: OrgUnderTest) -> None:
    seed_accounts(bulk_org, [{"Name": "Pipe|Name", "Phone": "1"}])
    job = create_query(api, "SELECT Name, Phone FROM Account", columnDelimiter="PIPE",
                       lineEnding="CRLF")
    assert job["columnDelimiter"] == "PIPE" and job["lineEnding"] == "CRLF"
    finished(api, job["id"])
    text = api.get(f"{V}/jobs/query/{job['id']}/results", headers=IDENTITY).text
    assert text == '"Name"|"Phone"\r\n"Pipe|Name"|"1"\r\n'


def test_gzip_when_the_client_asks(api: httpx2.Client, bulk_org: OrgUnderTest) -> None:
    seed_accounts(bulk_org, [{"Name": f"Zip {i}"} for i in range(50)])
    job = create_query(api, "SELECT Name FROM Account")
    finished(api, job["id"])
    url = f"{bulk_org.url}{V}/jobs/query/{job['id']}/results"
    with (
        httpx2.Client(headers={"Authorization": f"Bearer {bulk_org.token}"}) as raw,
        raw.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response,
    ):
        assert response.headers["Content-Encoding"] == "gzip"
        packed = b"".join(response.iter_raw())
    plain = api.get(url, headers=IDENTITY)
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(packed) == plain.content
    assert len(packed) < len(plain.content)


def test_gzip_pages_are_made_on_request_and_the_next_one_ahead(
        api: httpx2.Client, bulk_org: OrgUnderTest) -> None:
    seed_accounts(bulk_org, [{"Name": f"Ahead {i}"} for i in range(30)])
    job = create_query(api, "SELECT Name FROM Account")
    finished(api, job["id"])
    packed_dir = bulk_org.jobs.job_dir(bulk_org.jobs.get(bulk_manager.JobKind.QUERY, job["id"]))
    packed_dir = packed_dir / bulk_manager.QUERY_RESULTS / "gzip"
    # The job completed without compressing anything: no client had asked yet.
    assert not list(packed_dir.glob("*.gz"))
    url = f"{bulk_org.url}{V}/jobs/query/{job['id']}/results"
    rows: list[str] = []
    locator: str | None = None
    with httpx2.Client(headers={"Authorization": f"Bearer {bulk_org.token}"}) as raw:
        for page in range(3):
            params = {"maxRecords": "10", **({"locator": locator} if locator else {})}
            response = raw.get(url, params=params, headers={"Accept-Encoding": "gzip"})
            assert response.headers["Content-Encoding"] == "gzip"
            rows += response.text.splitlines()[1:]
            locator = response.headers["Sforce-Locator"]
            if page == 0:
                # The second page is being compressed ahead of its request.
                deadline = time.monotonic() + 10
                while not (packed_dir / "10-20.gz").exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert (packed_dir / "10-20.gz").exists()
    assert locator == "null"
    assert sorted(rows) == sorted(f'"Ahead {i}"' for i in range(30))
    assert sorted(p.name for p in packed_dir.glob("*.gz")) == ["0-10.gz", "10-20.gz", "20-30.gz"]


def test_query_all_includes_deleted_rows(api: httpx2.Client, bulk_org: OrgUnderTest) -> None:
    kept, gone = seed_accounts(bulk_org, [{"Name": "Kept"}, {"Name": "Gone"}])
    bulk_org.state.store.delete("Account", gone)
    plain = create_query(api, "SELECT Id FROM Account")
    everything = create_query(api, "SELECT Id, IsDeleted FROM Account", operation="queryAll")
    assert everything["operation"] == "queryAll"
    finished(api, plain["id"])
    finished(api, everything["id"])
    rows = api.get(f"{V}/jobs/query/{plain['id']}/results", headers=IDENTITY).text
    all_rows = api.get(f"{V}/jobs/query/{everything['id']}/results", headers=IDENTITY).text
    assert kept in rows and gone not in rows
    assert f'"{gone}","true"' in all_rows


@pytest.mark.parametrize(
    ("soql", "words"),
    [
        ("SELECT Name, COUNT(Id) FROM Account GROUP BY Name", "GROUP BY"),
        ("SELECT Id FROM Account LIMIT 5 OFFSET 2", "OFFSET"),
        ("SELECT COUNT() FROM Account", "Aggregate"),
        ("SELECT MAX(NumberOfEmployees) FROM Account", "Aggregate"),
        ("SELECT TYPEOF What WHEN Account THEN Name END FROM Task", "TYPEOF"),
        ("SELECT Name, (SELECT LastName FROM Contacts) FROM Account", "Aggregate Relationships"),
        ("SELECT Name, BillingAddress FROM Account", "compound"),
    ],
)
def test_soql_bulk_does_not_run_is_rejected_at_create(api: httpx2.Client, soql: str,
                                                      words: str) -> None:
    response = api.post(f"{V}/jobs/query", json={"operation": "query", "query": soql})
    assert response.status_code == 400
    assert words in response.json()[0]["message"]
    assert api.get(f"{V}/jobs/query").json()["records"] == []


def test_bad_soql_and_bad_requests_are_rejected(api: httpx2.Client) -> None:
    malformed = api.post(f"{V}/jobs/query", json={"operation": "query", "query": "SELEC Id"})
    assert malformed.status_code == 400
    assert malformed.json()[0]["errorCode"] == "MALFORMED_QUERY"
    field = api.post(f"{V}/jobs/query",
                     json={"operation": "query", "query": "SELECT Nope FROM Account"})
    assert field.status_code == 400 and field.json()[0]["errorCode"] == "INVALID_FIELD"
    operation = api.post(f"{V}/jobs/query",
                         json={"operation": "insert", "query": "SELECT Id FROM Account"})
    assert operation.status_code == 400
    delimiter = api.post(f"{V}/jobs/query", json={"operation": "query",
                                                  "query": "SELECT Id FROM Account",
                                                  "columnDelimiter": "SPACE"})
    assert delimiter.status_code == 400


def test_results_need_the_api_version_that_created_the_job(api: httpx2.Client,
                                                           bulk_org: OrgUnderTest) -> None:
    seed_accounts(bulk_org, [{"Name": "Versioned"}])
    job = create_query(api, "SELECT Id FROM Account", version="/services/data/v58.0")
    finished(api, job["id"], "/services/data/v58.0")
    wrong = api.get(f"/services/data/v59.0/jobs/query/{job['id']}/results")
    assert wrong.status_code == 409
    right = api.get(f"/services/data/v58.0/jobs/query/{job['id']}/results")
    assert right.status_code == 200


def test_unknown_job_and_invalid_locator(api: httpx2.Client, bulk_org: OrgUnderTest) -> None:
    missing = api.get(f"{V}/jobs/query/750Dv00000009ZZAAA/results")
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"
    seed_accounts(bulk_org, [{"Name": "Loc"}])
    job = create_query(api, "SELECT Id FROM Account")
    finished(api, job["id"])
    for bad in ("garbage!", "OTk5"):
        response = api.get(f"{V}/jobs/query/{job['id']}/results", params={"locator": bad})
        assert response.status_code == 400, bad
    zero = api.get(f"{V}/jobs/query/{job['id']}/results", params={"maxRecords": "0"})
    assert zero.status_code == 400


def test_result_pages_list_parallel_urls(api: httpx2.Client, bulk_org: OrgUnderTest) -> None:
    seed_accounts(bulk_org, [{"Name": f"Par {i:02d}"} for i in range(12)])
    v60 = "/services/data/v60.0"
    job = create_query(api, "SELECT Name FROM Account ORDER BY Name", version=v60)
    finished(api, job["id"], v60)
    first = api.get(f"{v60}/jobs/query/{job['id']}/resultPages", params={"maxRecords": "2"})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"resultPages", "nextRecordsUrl", "done"}
    assert len(body["resultPages"]) == 5 and body["done"] is False
    second = api.get(body["nextRecordsUrl"]).json()
    assert len(second["resultPages"]) == 1 and second["done"] is True
    assert second["nextRecordsUrl"] is None
    names: list[str] = []
    for page in body["resultPages"] + second["resultPages"]:
        assert page["resultUrl"].startswith(f"{v60}/jobs/query/{job['id']}/results?locator=")
        lines = api.get(page["resultUrl"], headers=IDENTITY).text.splitlines()
        assert lines[0] == '"Name"'
        names += [line.strip('"') for line in lines[1:]]
    assert names == [f"Par {i:02d}" for i in range(12)]
    old = api.get(f"{V}/jobs/query/{job['id']}/resultPages")
    assert old.status_code == 404


def test_default_page_size_is_capped_by_bytes(api: httpx2.Client,
                                              bulk_org: OrgUnderTest) -> None:
    seed_accounts(bulk_org, [{"Name": f"Big {i:03d}", "Description": "x" * 900}
                             for i in range(40)])
    bulk_org.jobs.page_bytes = 10_000
    job = create_query(api, "SELECT Name, Description FROM Account")
    finished(api, job["id"])
    response = api.get(f"{V}/jobs/query/{job['id']}/results", headers=IDENTITY)
    count = int(response.headers["Sforce-NumberOfRecords"])
    assert 1 <= count < 40
    assert len(response.content) <= 10_000 + 100
    assert response.headers["Sforce-Locator"] != "null"


def test_abort_and_delete(api: httpx2.Client, bulk_org: OrgUnderTest) -> None:
    seed_accounts(bulk_org, [{"Name": "Abort"}])
    bulk_org.state.faults.hang_next_jobs(1)
    job = create_query(api, "SELECT Id FROM Account")
    path = f"{V}/jobs/query/{job['id']}"
    wait_for_state(api, path, {"InProgress"})
    aborted = api.patch(path, json={"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    assert list(aborted.json()) == list(recorded()["query_create_response"])
    assert api.get(path).json()["state"] == "Aborted"
    assert api.patch(path, json={"state": "Aborted"}).status_code == 400
    assert api.patch(path, json={"state": "UploadComplete"}).status_code == 400

    done = create_query(api, "SELECT Id FROM Account")
    finished(api, done["id"])
    folder = bulk_org.jobs.root / done["id"]
    assert folder.exists()
    assert api.delete(f"{V}/jobs/query/{done['id']}").status_code == 204
    assert not folder.exists()
    assert api.get(f"{V}/jobs/query/{done['id']}").status_code == 404


def test_injected_failure_ends_the_job_failed(api: httpx2.Client,
                                              bulk_org: OrgUnderTest) -> None:
    bulk_org.state.faults.fail_next_jobs(1, "InternalServerError : injected")
    job = create_query(api, "SELECT Id FROM Account")
    done = finished(api, job["id"])
    assert done["state"] == "Failed"
    assert done["errorMessage"] == "InternalServerError : injected"
    assert api.get(f"{V}/jobs/query/{job['id']}/results").status_code == 412


def test_job_list_filters_and_pages(api: httpx2.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_manager, "LIST_PAGE_SIZE", 2)
    ids = {create_query(api, "SELECT Id FROM Account")["id"] for _ in range(3)}
    first = api.get(f"{V}/jobs/query").json()
    assert first["done"] is False and len(first["records"]) == 2
    assert first["nextRecordsUrl"].startswith(f"{V}/jobs/query?queryLocator=")
    second = api.get(first["nextRecordsUrl"]).json()
    assert second["done"] is True and second["nextRecordsUrl"] is None
    seen = {r["id"] for r in first["records"] + second["records"]}
    assert seen == ids
    record = first["records"][0]
    assert record["jobType"] == "V2Query" and record["operation"] == "query"
    assert api.get(f"{V}/jobs/query", params={"jobType": "V2Query"}).json()["records"]
    assert api.get(f"{V}/jobs/query", params={"jobType": "Classic"}).json()["records"] == []
    assert api.get(f"{V}/jobs/query",
                   params={"concurrencyMode": "Serial"}).json()["records"] == []
    assert api.get(f"{V}/jobs/ingest").json()["records"] == []


def test_jobs_and_results_survive_a_restart(tmp_path: Path) -> None:
    from .conftest import start_org

    org = start_org(tmp_path / "org")
    try:
        org.state.store.create("Account", {"Name": "Persistent"})
        with httpx2.Client(base_url=org.url, headers={"Authorization": f"Bearer {org.token}"}) as api:
            job = create_query(api, "SELECT Name FROM Account")
            finished(api, job["id"])
    finally:
        org.stop()
    again = start_org(tmp_path / "org")
    try:
        with httpx2.Client(base_url=again.url,
                           headers={"Authorization": f"Bearer {again.token}"}) as api:
            assert api.get(f"{V}/jobs/query/{job['id']}").json()["state"] == "JobComplete"
            text = api.get(f"{V}/jobs/query/{job['id']}/results", headers=IDENTITY).text
            assert text == '"Name"\n"Persistent"\n'
            newer = create_query(api, "SELECT Name FROM Account")
            assert newer["id"] != job["id"]
    finally:
        again.stop()


def test_query_jobs_need_api_version_47(api: httpx2.Client) -> None:
    body = {"operation": "query", "query": "SELECT Id FROM Account"}
    old = api.post("/services/data/v46.0/jobs/query", json=body)
    assert old.status_code == 404 and old.json()[0]["errorCode"] == "NOT_FOUND"
    assert api.post("/services/data/v47.0/jobs/query", json=body).status_code == 200
    ingest = api.post("/services/data/v41.0/jobs/ingest",
                      json={"object": "Account", "operation": "insert"})
    assert ingest.status_code == 200 and ingest.json()["apiVersion"] == 41.0


def test_jobs_count_against_the_bulk_limits(api: httpx2.Client, bulk_org: OrgUnderTest) -> None:
    def remaining(name: str) -> int:
        value: int = api.get(f"{V}/limits").json()[name]["Remaining"]
        return value

    queries, batches = remaining("DailyBulkV2QueryJobs"), remaining("DailyBulkApiBatches")
    finished(api, create_query(api, "SELECT Id FROM Account")["id"])
    assert remaining("DailyBulkV2QueryJobs") == queries - 1
    job = api.post(f"{V}/jobs/ingest", json={"object": "Account", "operation": "insert"}).json()
    path = f"{V}/jobs/ingest/{job['id']}"
    api.put(f"{path}/batches", content=b"Name\nCounted\n")
    api.patch(path, json={"state": "UploadComplete"})
    wait_for_state(api, path, {"JobComplete"})
    assert remaining("DailyBulkApiBatches") == batches - 1
    bulk_org.state.config.daily_bulk_query_jobs = 0
    refused = api.post(f"{V}/jobs/query", json={"operation": "query",
                                                "query": "SELECT Id FROM Account"})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "EXCEEDED_QUOTA"


@pytest.mark.parametrize(
    ("name", "char"),
    [("COMMA", ","), ("TAB", "\t"), ("PIPE", "|"), ("SEMICOLON", ";"), ("CARET", "^"),
     ("BACKQUOTE", "`")],
)
def test_every_documented_delimiter(api: httpx2.Client, bulk_org: OrgUnderTest, name: str,
                                    char: str) -> None:
    seed_accounts(bulk_org, [{"Name": f"a{char}b", "Phone": "1"}])
    job = create_query(api, "SELECT Name, Phone FROM Account", columnDelimiter=name)
    finished(api, job["id"])
    text = api.get(f"{V}/jobs/query/{job['id']}/results", headers=IDENTITY).text
    assert text == f'"Name"{char}"Phone"\n"a{char}b"{char}"1"\n'
    rows = list(csv.reader(io.StringIO(text), delimiter=char))
    assert rows == [["Name", "Phone"], [f"a{char}b", "1"]]
