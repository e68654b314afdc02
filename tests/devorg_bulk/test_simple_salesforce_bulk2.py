"""simple-salesforce's Bulk API 2.0 client, unmodified, against the devorg over HTTPS."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceOperationError

# simple-salesforce sleeps `wait` seconds before its first poll (5 s by default).
WAIT = 0.05


def rows(csv_text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(csv_text)))


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def test_insert_then_query_pages_through_every_record(simple_sf: Any) -> None:
    tag = unique("SSF Insert")
    records = [{"Name": f"{tag} {i:03d}", "Description": 'line one\nline "two", ok'}
               for i in range(120)]
    outcome = simple_sf.bulk2.Account.insert(records=records, wait=WAIT)
    assert len(outcome) == 1
    assert outcome[0]["numberRecordsProcessed"] == 120
    assert outcome[0]["numberRecordsFailed"] == 0
    assert outcome[0]["numberRecordsTotal"] == 120

    pages = list(simple_sf.bulk2.Account.query(
        f"SELECT Id, Name, Description FROM Account WHERE Name LIKE '{tag}%'",
        max_records=50, wait=WAIT,
    ))
    assert len(pages) == 3
    got = [row for page in pages for row in rows(page)]
    assert sorted(r["Name"] for r in got) == [f"{tag} {i:03d}" for i in range(120)]
    assert all(r["Description"] == 'line one\nline "two", ok' for r in got)
    assert all(r["Id"].startswith("001") and len(r["Id"]) == 18 for r in got)


def test_failed_and_successful_records_account_for_every_row(simple_sf: Any) -> None:
    tag = unique("SSF Fail")
    outcome = simple_sf.bulk2.Account.insert(records=[
        {"Name": f"{tag} ok", "NumberOfEmployees": "5"},
        {"Name": "", "NumberOfEmployees": "6"},
        {"Name": f"{tag} bad number", "NumberOfEmployees": "six"},
    ], wait=WAIT)
    job_id = outcome[0]["job_id"]
    assert outcome[0]["numberRecordsFailed"] == 2
    failed = rows(simple_sf.bulk2.Account.get_failed_records(job_id))
    assert {r["sf__Error"].split(":")[0] for r in failed} == {
        "REQUIRED_FIELD_MISSING", "INVALID_TYPE_ON_FIELD_IN_RECORD"}
    assert all(r["sf__Id"] == "" for r in failed)
    successful = rows(simple_sf.bulk2.Account.get_successful_records(job_id))
    assert [(r["Name"], r["sf__Created"]) for r in successful] == [(f"{tag} ok", "true")]
    # simple-salesforce orders the upload's columns as a set does: compare them as a set.
    unprocessed = simple_sf.bulk2.Account.get_unprocessed_records(job_id)
    header, _, rest = unprocessed.partition("\n")
    assert set(header.split(",")) == {"Name", "NumberOfEmployees"} and rest == ""


def test_upsert_by_external_id_then_update_and_delete(simple_sf: Any,
                                                      tls_devorg: Any) -> None:
    account = tls_devorg.store.catalog.get("Account")
    key = next((f.name for f in account.fields if f.external_id), None)
    if key is None:
        pytest.skip("Account has no external id field")
    tag = uuid.uuid4().hex[:8]
    first = simple_sf.bulk2.Account.upsert(
        records=[{key: f"{tag}-1", "Name": "Upsert one"},
                 {key: f"{tag}-2", "Name": "Upsert two"}],
        external_id_field=key, wait=WAIT,
    )
    assert first[0]["numberRecordsFailed"] == 0
    created = rows(simple_sf.bulk2.Account.get_successful_records(first[0]["job_id"]))
    assert {r["sf__Created"] for r in created} == {"true"}
    again = simple_sf.bulk2.Account.upsert(
        records=[{key: f"{tag}-1", "Name": "Upsert one, renamed"}], external_id_field=key,
        wait=WAIT)
    updated = rows(simple_sf.bulk2.Account.get_successful_records(again[0]["job_id"]))
    assert [r["sf__Created"] for r in updated] == ["false"]
    ids = [r["sf__Id"] for r in created]

    changed = simple_sf.bulk2.Account.update(records=[{"Id": ids[0], "Phone": "555-0101"}],
                                            wait=WAIT)
    assert changed[0]["numberRecordsFailed"] == 0
    assert tls_devorg.store.retrieve("Account", ids[0], ["Phone"])["Phone"] == "555-0101"

    removed = simple_sf.bulk2.Account.delete(records=[{"Id": i} for i in ids], wait=WAIT)
    assert removed[0]["numberRecordsProcessed"] == 2 and removed[0]["numberRecordsFailed"] == 0
    remaining = list(simple_sf.bulk2.Account.query(
        f"SELECT Id FROM Account WHERE {key} LIKE '{tag}%'", wait=WAIT))
    assert all(rows(page) == [] for page in remaining)
    deleted = list(simple_sf.bulk2.Account.query_all(
        f"SELECT Id, IsDeleted FROM Account WHERE {key} LIKE '{tag}%'", wait=WAIT))
    assert sorted(r["Id"] for page in deleted for r in rows(page)) == sorted(ids)


def test_download_writes_one_file_per_page(simple_sf: Any, tmp_path: Path) -> None:
    tag = unique("SSF Download")
    simple_sf.bulk2.Account.insert(records=[{"Name": f"{tag} {i}"} for i in range(30)],
                                    wait=WAIT)
    results = simple_sf.bulk2.Account.download(
        f"SELECT Name FROM Account WHERE Name LIKE '{tag}%'", str(tmp_path), max_records=10,
        wait=WAIT)
    assert [r["number_of_records"] for r in results] == [10, 10, 10]
    names = sorted(
        row["Name"] for r in results for row in rows(Path(r["file"]).read_text())
    )
    assert names == sorted(f"{tag} {i}" for i in range(30))


def test_failed_query_job_raises_in_the_client(simple_sf: Any, tls_devorg: Any) -> None:
    tls_devorg.faults.fail_next_jobs(1, "InternalServerError : injected")
    with pytest.raises(SalesforceOperationError):
        list(simple_sf.bulk2.Account.query("SELECT Id FROM Account", wait=WAIT))
