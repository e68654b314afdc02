"""Bulk API 2.0 ingest jobs over raw HTTP, checked against the docs and a recorded real job."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from .conftest import OrgUnderTest, wait_for_state

V = "/services/data/v52.0"
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$")


def recorded() -> dict[str, Any]:
    """A real org's Bulk API 2.0 responses (copied from the shared Salesforce fixtures)."""
    data: dict[str, Any] = json.loads(Path(__file__).with_name("bulk2_recorded.json").read_text())
    return data


def create_job(api: httpx2.Client, **body: Any) -> dict[str, Any]:
    response = api.post(f"{V}/jobs/ingest", json=body)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def run_job(api: httpx2.Client, csv_text: str, **body: Any) -> dict[str, Any]:
    """Create, upload, close and wait: the whole ingest flow; returns the final job info."""
    job = create_job(api, **body)
    upload = api.put(f"{V}/jobs/ingest/{job['id']}/batches", content=csv_text.encode(),
                     headers={"Content-Type": "text/csv"})
    assert upload.status_code == 201, upload.text
    closed = api.patch(f"{V}/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert closed.status_code == 200, closed.text
    return wait_for_state(api, f"{V}/jobs/ingest/{job['id']}",
                          {"JobComplete", "Failed", "Aborted"})


def results(api: httpx2.Client, job_id: str, which: str) -> str:
    response = api.get(f"{V}/jobs/ingest/{job_id}/{which}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return response.text


def insert_accounts(api: httpx2.Client, names: list[str]) -> list[str]:
    """Insert accounts and return their Ids in input order (matched back by name)."""
    body = "Name\n" + "".join(f"{n}\n" for n in names)
    job = run_job(api, body, object="Account", operation="insert")
    assert job["numberRecordsFailed"] == 0
    lines = results(api, job["id"], "successfulResults").splitlines()[1:]
    by_name = {}
    for line in lines:
        record_id, created, name = (cell.strip('"') for cell in line.split(","))
        assert created == "true"
        by_name[name] = record_id
    return [by_name[n] for n in names]


def test_job_json_matches_the_recorded_real_job_field_by_field(api: httpx2.Client) -> None:
    real = recorded()
    created = create_job(api, object="Account", operation="update", contentType="CSV",
                         lineEnding="LF")
    assert list(created) == list(real["ingest_create_response"])
    assert created["id"].startswith("750") and len(created["id"]) == 18
    assert created["state"] == "Open"
    assert created["apiVersion"] == 52.0
    assert DATE.match(created["createdDate"]) and DATE.match(created["systemModstamp"])
    assert created["contentUrl"] == f"services/data/v52.0/jobs/ingest/{created['id']}/batches"

    job_path = f"{V}/jobs/ingest/{created['id']}"
    opened = api.get(job_path).json()
    assert list(opened) == list(real["ingest_get_open"])
    assert opened["jobType"] == "V2Ingest"

    ids = insert_accounts(api, ["Rodriquez626 Inc", "Hale627 Inc"])
    upload = real["ingest_upload_csv"].replace("0013h00000Ffg19AAB", ids[0]).replace(
        "0013h00000Ffg1AAAR", ids[1])
    put = api.put(f"{V}/jobs/ingest/{created['id']}/batches", content=upload.encode(),
                  headers={"Content-Type": "text/csv"})
    assert put.status_code == 201 and put.content == b""

    closed = api.patch(job_path, json={"state": "UploadComplete"})
    assert closed.status_code == 200
    assert list(closed.json()) == list(real["ingest_patch_upload_complete_response"])
    assert closed.json()["state"] == "UploadComplete"

    done = wait_for_state(api, job_path, {"JobComplete", "Failed"})
    assert list(done) == list(real["ingest_get_complete"])
    assert done["state"] == "JobComplete"
    assert done["numberRecordsProcessed"] == 2 and done["numberRecordsFailed"] == 0

    assert results(api, created["id"], "failedResults") == real["ingest_failed_results_empty"]
    assert results(api, created["id"], "unprocessedrecords") == real["ingest_unprocessed_empty"]
    successful = results(api, created["id"], "successfulResults").splitlines()
    assert successful[0] == '"sf__Id","sf__Created",Id,Phone'
    assert sorted(successful[1:]) == sorted([
        f'"{ids[0]}","false","{ids[0]}","881-222-2391"',
        f'"{ids[1]}","false","{ids[1]}","882-222-2392"',
    ])


def test_row_failures_carry_salesforce_error_cells(api: httpx2.Client) -> None:
    csv_text = (
        "Name,NumberOfEmployees,Rating,Phone\n"
        "Good,10,Hot,555\n"
        ",5,Hot,556\n"
        "Typed,many,Hot,557\n"
        f"{'L' * 300},1,Hot,558\n"
    )
    job = run_job(api, csv_text, object="Account", operation="insert")
    assert job["state"] == "JobComplete"
    assert job["numberRecordsProcessed"] == 4
    assert job["numberRecordsFailed"] == 3
    failed = results(api, job["id"], "failedResults").splitlines()
    assert failed[0] == '"sf__Id","sf__Error",Name,NumberOfEmployees,Rating,Phone'
    errors = {line.split('","')[1].split(":")[0]: line for line in failed[1:]}
    assert set(errors) == {"REQUIRED_FIELD_MISSING", "INVALID_TYPE_ON_FIELD_IN_RECORD",
                           "STRING_TOO_LONG"}
    assert errors["REQUIRED_FIELD_MISSING"] == (
        '"","REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",'
        '"","5","Hot","556"'
    )
    assert ":NumberOfEmployees --" in errors["INVALID_TYPE_ON_FIELD_IN_RECORD"]
    successful = results(api, job["id"], "successfulResults").splitlines()
    assert len(successful) == 2 and successful[1].endswith(',"true","Good","10","Hot","555"')


def test_unknown_column_fails_the_job_as_invalid_batch(api: httpx2.Client) -> None:
    job = run_job(api, "Name,Foo\nA,1\nB,2\n", object="Account", operation="insert")
    assert job["state"] == "Failed"
    assert job["errorMessage"] == "InvalidBatch : Field name not found : Foo"
    assert job["numberRecordsProcessed"] == 0
    assert results(api, job["id"], "unprocessedrecords") == 'Name,Foo\n"A","1"\n"B","2"\n'
    assert results(api, job["id"], "failedResults") == '"sf__Id","sf__Error",Name,Foo\n'


def test_na_sets_null_and_empty_cell_leaves_value_unchanged(
    api: httpx2.Client, bulk_org: OrgUnderTest
) -> None:
    job = run_job(api, "Name,Phone,Website\nKeep,111,example.com\n", object="Account",
                  operation="insert")
    record_id = results(api, job["id"], "successfulResults").splitlines()[1].split(",")[0]
    record_id = record_id.strip('"')
    update = run_job(api, f"Id,Phone,Website\n{record_id},,#N/A\n", object="Account",
                     operation="update")
    assert update["numberRecordsFailed"] == 0
    record = bulk_org.state.store.retrieve("Account", record_id, ["Phone", "Website"])
    assert record["Phone"] == "111"
    assert record["Website"] is None


def test_upsert_reports_created_and_updated_rows(api: httpx2.Client,
                                                 bulk_org: OrgUnderTest) -> None:
    sobject = next(o for o in bulk_org.state.store.catalog if o.external_id_fields())
    key = sobject.external_id_fields()[0].name
    name = sobject.name_field.name
    first = run_job(api, f"{key},{name}\nK-1,One\n", object=sobject.name,
                    operation="upsert", externalIdFieldName=key)
    assert first["numberRecordsFailed"] == 0, results(api, first["id"], "failedResults")
    second = run_job(api, f"{key},{name}\nK-1,One again\nK-2,Two\n", object=sobject.name,
                     operation="upsert", externalIdFieldName=key)
    assert second["state"] == "JobComplete"
    lines = results(api, second["id"], "successfulResults").splitlines()
    assert lines[0] == f'"sf__Id","sf__Created",{key},{name}'
    created = {line.split(",")[2].strip('"'): line.split(",")[1] for line in lines[1:]}
    assert created == {"K-1": '"false"', "K-2": '"true"'}


def test_duplicate_external_ids_in_one_job_fail_both_rows(api: httpx2.Client,
                                                          bulk_org: OrgUnderTest) -> None:
    sobject = next(o for o in bulk_org.state.store.catalog if o.external_id_fields())
    key = sobject.external_id_fields()[0].name
    name = sobject.name_field.name
    job = run_job(api, f"{key},{name}\nD-1,A\nD-1,B\nD-2,C\n", object=sobject.name,
                  operation="upsert", externalIdFieldName=key)
    assert job["numberRecordsFailed"] == 2
    failed = results(api, job["id"], "failedResults")
    assert failed.count("DUPLICATE_EXTERNAL_ID:Duplicate external id specified: D-1") == 2


def test_upsert_matching_several_records_fails_that_row_as_duplicate_external_id(
        api: httpx2.Client) -> None:
    api_rest = "/services/data/v52.0/sobjects/Account"
    first = api.post(api_rest, json={"Name": "Twin A", "External_Id__c": "TWIN"}).json()["id"]
    second = api.post(api_rest, json={"Name": "Twin B", "External_Id__c": "TWIN"}).json()["id"]
    job = run_job(api, "External_Id__c,Name\nTWIN,Which one\nSOLO,Fine\n", object="Account",
                  operation="upsert", externalIdFieldName="External_Id__c")
    assert (job["numberRecordsProcessed"], job["numberRecordsFailed"]) == (2, 1)
    failed = results(api, job["id"], "failedResults").splitlines()
    assert len(failed) == 2
    cell = failed[1].split('","')[1]
    assert cell.startswith("DUPLICATE_EXTERNAL_ID:External Id: more than one record found for "
                           "external id field: [")
    assert first in cell and second in cell and cell.endswith(":External_Id__c --")


def test_delete_and_hard_delete(api: httpx2.Client, bulk_org: OrgUnderTest) -> None:
    ids = insert_accounts(api, ["Del A", "Del B"])
    deleted = run_job(api, f"Id\n{ids[0]}\n", object="Account", operation="delete")
    assert deleted["numberRecordsProcessed"] == 1 and deleted["numberRecordsFailed"] == 0
    store = bulk_org.state.store
    assert not store.exists("Account", ids[0])
    assert store.exists("Account", ids[0], include_deleted=True)
    hard = run_job(api, f"Id\n{ids[1]}\n", object="Account", operation="hardDelete")
    assert hard["numberRecordsFailed"] == 0
    assert not store.exists("Account", ids[1], include_deleted=True)
    missing = run_job(api, f"Id\n{ids[1]}\n", object="Account", operation="delete")
    assert missing["numberRecordsFailed"] == 1


def test_results_are_not_in_input_order_but_every_row_is_accounted_for(
    api: httpx2.Client,
) -> None:
    names = [f"Order {i:03d}" for i in range(60)]
    csv_text = "Name\n" + "".join(f"{n}\n" for n in names) + ",\n" * 5
    job = run_job(api, csv_text, object="Account", operation="insert")
    successful = [line.split(",")[2].strip('"') for line in
                  results(api, job["id"], "successfulResults").splitlines()[1:]]
    assert sorted(successful) == names
    assert successful != names
    assert len(results(api, job["id"], "failedResults").splitlines()) == 6


def test_tab_delimiter_and_crlf_line_endings(api: httpx2.Client) -> None:
    job = run_job(api, "Name\tPhone\r\nTabbed\t123\r\n", object="Account", operation="insert",
                  columnDelimiter="TAB", lineEnding="CRLF")
    assert job["state"] == "JobComplete", job
    text = results(api, job["id"], "successfulResults")
    header, row, end = text.split("\r\n")
    assert header == '"sf__Id"\t"sf__Created"\tName\tPhone'
    assert row.endswith('\t"true"\t"Tabbed"\t"123"') and end == ""


def test_line_ending_that_differs_from_the_job_fails_it(api: httpx2.Client) -> None:
    job = run_job(api, "Name\r\nWindows\r\n", object="Account", operation="insert")
    assert job["state"] == "Failed"
    assert job["errorMessage"] == (
        "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting "
        "is LF"
    )


def test_only_one_upload_per_job_and_only_while_open(api: httpx2.Client) -> None:
    job = create_job(api, object="Account", operation="insert")
    path = f"{V}/jobs/ingest/{job['id']}"
    assert api.put(f"{path}/batches", content=b"Name\nA\n").status_code == 201
    second = api.put(f"{path}/batches", content=b"Name\nB\n")
    assert second.status_code == 400
    assert "Found multiple contents for job" in second.json()[0]["message"]
    api.patch(path, json={"state": "UploadComplete"})
    late = api.put(f"{path}/batches", content=b"Name\nC\n")
    assert late.status_code == 409
    assert late.json()[0]["errorCode"] == "INVALIDJOBSTATE"


def test_upload_over_the_size_limit_is_refused(api: httpx2.Client,
                                               bulk_org: OrgUnderTest) -> None:
    bulk_org.jobs.upload_limit = 1000  # bytes of base64, so ~750 bytes of CSV
    job = create_job(api, object="Account", operation="insert")
    big = "Name\n" + "x" * 800 + "\n"
    response = api.put(f"{V}/jobs/ingest/{job['id']}/batches", content=big.encode())
    assert response.status_code == 413
    assert response.json()[0]["errorCode"] == "EXCEEDED_MAX_SIZE_REQUEST"
    small = api.put(f"{V}/jobs/ingest/{job['id']}/batches", content=b"Name\nSmall\n")
    assert small.status_code == 201


def test_abort_open_job_leaves_every_row_unprocessed(api: httpx2.Client) -> None:
    job = create_job(api, object="Account", operation="insert")
    path = f"{V}/jobs/ingest/{job['id']}"
    api.put(f"{path}/batches", content=b"Name\nNever\n")
    aborted = api.patch(path, json={"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    assert api.get(path).json()["state"] == "Aborted"
    assert results(api, job["id"], "unprocessedrecords") == 'Name\n"Never"\n'
    again = api.patch(path, json={"state": "Aborted"})
    assert again.status_code == 400
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404


def test_results_before_the_job_finished_are_refused(api: httpx2.Client) -> None:
    job = create_job(api, object="Account", operation="insert")
    response = api.get(f"{V}/jobs/ingest/{job['id']}/successfulResults")
    assert response.status_code == 412
    assert response.json()[0]["errorCode"] == "INVALIDJOBSTATE"


def test_open_job_cannot_be_deleted_and_unknown_job_is_not_found(api: httpx2.Client) -> None:
    job = create_job(api, object="Account", operation="insert")
    assert api.delete(f"{V}/jobs/ingest/{job['id']}").status_code == 400
    missing = api.get(f"{V}/jobs/ingest/750Dv00000009ZZAAA")
    assert missing.status_code == 404
    error = missing.json()[0]
    assert (error["errorCode"], error["message"]) == (
        "NOT_FOUND", "The requested resource does not exist")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"object": "Account", "operation": "merge"}, "operation"),
        ({"object": "Nope__c", "operation": "insert"}, "Nope__c"),
        ({"object": "Account", "operation": "insert", "columnDelimiter": "COLON"},
         "columnDelimiter"),
        ({"object": "Account", "operation": "upsert"}, "External ID"),
    ],
)
def test_invalid_job_requests_are_rejected(api: httpx2.Client, body: dict[str, Any],
                                           fragment: str) -> None:
    response = api.post(f"{V}/jobs/ingest", json=body)
    assert response.status_code == 400
    assert fragment in response.json()[0]["message"]


def test_job_list_shows_ingest_jobs_and_filters(api: httpx2.Client) -> None:
    first = create_job(api, object="Account", operation="insert")
    second = create_job(api, object="Contact", operation="insert")
    listing = api.get(f"{V}/jobs/ingest").json()
    assert listing["done"] is True and listing["nextRecordsUrl"] is None
    assert {r["id"] for r in listing["records"]} == {first["id"], second["id"]}
    assert all(r["jobType"] == "V2Ingest" for r in listing["records"])
    assert api.get(f"{V}/jobs/ingest", params={"jobType": "Classic"}).json()["records"] == []
    chunked = api.get(f"{V}/jobs/ingest", params={"isPkChunkingEnabled": "true"}).json()
    assert chunked["records"] == []


def test_relationship_column_sets_the_parent_by_external_id(
    api: httpx2.Client, bulk_org: OrgUnderTest
) -> None:
    catalog = bulk_org.state.store.catalog
    parent = catalog.get("Account")
    key = next((f.name for f in parent.fields if f.external_id), None)
    if key is None:
        pytest.skip("Account has no external id field in this catalog")
    run_job(api, f"Name,{key}\nParent Co,P-1\nQuote Co,O'Brien\n", object="Account",
            operation="insert")
    contact = run_job(
        api, f"LastName,Account.{key}\nChild,P-1\nQuoted,O'Brien\nOrphan,P-404\nNo parent,\n",
        object="Contact", operation="insert")
    assert contact["numberRecordsProcessed"] == 4
    assert contact["numberRecordsFailed"] == 1
    failed = results(api, contact["id"], "failedResults")
    assert "Foreign key external ID: P-404 not found" in failed
    _, rows = bulk_org.state.store.query_rows(
        "SELECT LastName, Account.Name FROM Contact ORDER BY LastName")
    assert [tuple(r) for r in rows] == [("Child", "Parent Co"), ("No parent", None),
                                        ("Quoted", "Quote Co")]


def test_multipart_create_uploads_and_closes_in_one_request(api: httpx2.Client) -> None:
    job_json = json.dumps({"object": "Account", "operation": "insert", "contentType": "CSV"})
    response = api.post(
        f"{V}/jobs/ingest",
        files={
            "job": (None, job_json, "application/json"),
            "content": ("content", b"Name\nMultipart One\nMultipart Two\n", "text/csv"),
        },
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["state"] == "UploadComplete" and created["operation"] == "insert"
    done = wait_for_state(api, f"{V}/jobs/ingest/{created['id']}", {"JobComplete", "Failed"})
    assert done["state"] == "JobComplete" and done["numberRecordsProcessed"] == 2
    names = sorted(line.split(",")[2] for line in
                   results(api, created["id"], "successfulResults").splitlines()[1:])
    assert names == ['"Multipart One"', '"Multipart Two"']


def test_hung_job_can_be_aborted_and_keeps_its_rows_unprocessed(
    api: httpx2.Client, bulk_org: OrgUnderTest
) -> None:
    bulk_org.state.faults.hang_next_jobs(1)
    job = create_job(api, object="Account", operation="insert")
    path = f"{V}/jobs/ingest/{job['id']}"
    api.put(f"{path}/batches", content=b"Name\nStuck One\nStuck Two\n")
    api.patch(path, json={"state": "UploadComplete"})
    running = wait_for_state(api, path, {"InProgress"})
    assert running["numberRecordsProcessed"] == 0
    assert api.patch(path, json={"state": "Aborted"}).json()["state"] == "Aborted"
    assert results(api, job["id"], "unprocessedrecords") == 'Name\n"Stuck One"\n"Stuck Two"\n'
    assert results(api, job["id"], "successfulResults") == '"sf__Id","sf__Created",Name\n'
    assert bulk_org.state.store.count("Account") == 0


def test_injected_failure_fails_the_ingest_job(api: httpx2.Client,
                                               bulk_org: OrgUnderTest) -> None:
    bulk_org.state.faults.fail_next_jobs(1, "InternalServerError : injected")
    job = run_job(api, "Name\nNever stored\n", object="Account", operation="insert")
    assert job["state"] == "Failed"
    assert job["errorMessage"] == "InternalServerError : injected"
    assert results(api, job["id"], "unprocessedrecords") == 'Name\n"Never stored"\n'


def test_ingest_jobs_survive_a_restart_and_running_ones_fail(tmp_path: Path) -> None:
    from .conftest import start_org

    org = start_org(tmp_path / "org")
    try:
        with httpx2.Client(base_url=org.url,
                           headers={"Authorization": f"Bearer {org.token}"}) as api:
            done = run_job(api, "Name\nKept result\n", object="Account", operation="insert")
            org.state.faults.hang_next_jobs(1)
            stuck = create_job(api, object="Account", operation="insert")
            path = f"{V}/jobs/ingest/{stuck['id']}"
            api.put(f"{path}/batches", content=b"Name\nInterrupted\n")
            api.patch(path, json={"state": "UploadComplete"})
            wait_for_state(api, path, {"InProgress"})
    finally:
        org.stop()
    again = start_org(tmp_path / "org")
    try:
        with httpx2.Client(base_url=again.url,
                           headers={"Authorization": f"Bearer {again.token}"}) as api:
            successful = results(api, done["id"], "successfulResults").splitlines()
            assert successful[1].endswith('"true","Kept result"')
            interrupted = api.get(f"{V}/jobs/ingest/{stuck['id']}").json()
            assert interrupted["state"] == "Failed"
            assert "restarted" in interrupted["errorMessage"]
    finally:
        again.stop()


def test_closing_a_job_without_data_fails_it(api: httpx2.Client) -> None:
    job = create_job(api, object="Account", operation="insert")
    path = f"{V}/jobs/ingest/{job['id']}"
    assert api.patch(path, json={"state": "UploadComplete"}).status_code == 200
    done = wait_for_state(api, path, {"JobComplete", "Failed"})
    assert done["state"] == "Failed" and "Empty batch" in done["errorMessage"]
    assert results(api, job["id"], "unprocessedrecords") == ""


def test_abort_while_rows_are_applied_accounts_for_every_row(
    api: httpx2.Client, bulk_org: OrgUnderTest
) -> None:
    count = 20_000
    body = "Name\n" + "".join(f"Row {i}\n" for i in range(count))
    job = create_job(api, object="Account", operation="insert")
    path = f"{V}/jobs/ingest/{job['id']}"
    api.put(f"{path}/batches", content=body.encode())
    api.patch(path, json={"state": "UploadComplete"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = api.get(path).json()
        if info["state"] != "UploadComplete" and (
            info.get("numberRecordsProcessed") or info["state"] not in ("InProgress",)
        ):
            break
        time.sleep(0.005)
    api.patch(path, json={"state": "Aborted"})  # may come too late: then it is refused
    final = wait_for_state(api, path, {"JobComplete", "Aborted", "Failed"})
    successful = results(api, job["id"], "successfulResults").splitlines()[1:]
    failed = results(api, job["id"], "failedResults").splitlines()[1:]
    unprocessed = results(api, job["id"], "unprocessedrecords").splitlines()[1:]
    assert failed == []
    assert len(successful) + len(unprocessed) == count
    assert bulk_org.state.store.count("Account") == len(successful)
    names = {line.rsplit(",", 1)[1] for line in successful} | set(unprocessed)
    assert len(names) == count
    if final["state"] == "Aborted":
        assert final["numberRecordsProcessed"] == len(successful)


def test_large_upload_is_received_whole(api: httpx2.Client) -> None:
    rows = [f"{i:05d}" + "x" * 995 for i in range(5000)]  # 5 MB: several receive blocks
    job = create_job(api, object="Account", operation="insert")
    path = f"{V}/jobs/ingest/{job['id']}"
    body = "Description\n" + "".join(f"{r}\n" for r in rows)
    assert api.put(f"{path}/batches", content=body.encode()).status_code == 201
    assert api.patch(path, json={"state": "Aborted"}).status_code == 200
    unprocessed = results(api, job["id"], "unprocessedrecords").splitlines()
    assert unprocessed[0] == "Description"
    assert [line.strip('"') for line in unprocessed[1:]] == rows


def test_results_are_served_while_the_org_folds_its_log_after_the_job(
    api: httpx2.Client, bulk_org: OrgUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Folding the write-ahead log after a load is the org's own housekeeping: a client
    fetching the job's results does not wait for it."""
    folding = threading.Event()
    release = threading.Event()
    fold = bulk_org.state.store.checkpoint

    def slow_fold() -> None:
        folding.set()
        release.wait(30)
        fold()

    monkeypatch.setattr(bulk_org.state.store, "checkpoint", slow_fold)
    try:
        job = run_job(api, "Name\nFolded One\nFolded Two\n", object="Account",
                      operation="insert")
        assert folding.wait(10)  # the job is done; its worker is folding the log
        started = time.monotonic()
        lines = results(api, job["id"], "successfulResults").splitlines()
        assert time.monotonic() - started < 5
        assert len(lines) == 3 and not release.is_set()
    finally:
        release.set()
