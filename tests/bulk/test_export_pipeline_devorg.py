"""Export against a real devorg: typed output, every format, paging, resume and faults.

Every test checks the exported Id set against the org: nothing lost, nothing duplicated.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sfbulk_mcp.bulk import state as states
from sfbulk_mcp.bulk.errors import UnsupportedBulkQueryError
from sfbulk_mcp.bulk.export import ExportProgress, export
from sfbulk_mcp.devorg import DevOrg
from sfbulk_mcp.salesforce import BulkJobError, SalesforceClient

from .conftest import make_accounts, run_with_client

N = 120
PAGE = 25  # 120 rows → 5 pages


@pytest.fixture
def org(small_org: DevOrg) -> DevOrg:
    make_accounts(small_org, [f"Acct {i:03d}" for i in range(N)], AnnualRevenue=1234.5)
    return small_org


def org_ids(org: DevOrg, soql: str = "SELECT Id FROM Account") -> set[str]:
    return {str(r["Id"]) for r in org.store.query(soql).records}


def test_export_to_parquet_is_typed_and_complete(org: DevOrg, tmp_path: Path) -> None:
    out = tmp_path / "accounts.parquet"
    soql = "SELECT Id, Name, AnnualRevenue, CreatedDate, Owner.Name FROM Account"
    result = run_with_client(
        org, lambda c: export(c, soql, out=out, page_size=PAGE, poll_interval=0.05)
    )
    frame = pl.read_parquet(out)
    assert result.rows == N == frame.height
    assert result.pages == 5
    assert set(frame["Id"]) == org_ids(org) and frame["Id"].n_unique() == N
    assert frame.schema["AnnualRevenue"] == pl.Float64
    assert isinstance(frame.schema["CreatedDate"], pl.Datetime)
    assert frame["Owner.Name"].drop_nulls().len() == N
    assert not states.state_path(out).exists() and not states.parts_dir(out).exists()
    assert "120 rows" in result.summary()


def test_an_empty_result_still_gets_its_typed_columns(org: DevOrg, tmp_path: Path) -> None:
    out = tmp_path / "none.parquet"
    soql = "SELECT Id, Name, AnnualRevenue, CreatedDate FROM Account WHERE Name = 'nobody'"
    result = run_with_client(org, lambda c: export(c, soql, out=out, poll_interval=0.05))
    frame = pl.read_parquet(out)
    assert result.rows == 0 == frame.height
    assert frame.columns == ["Id", "Name", "AnnualRevenue", "CreatedDate"]
    assert frame.schema["AnnualRevenue"] == pl.Float64
    assert isinstance(frame.schema["CreatedDate"], pl.Datetime)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_writes_csv_and_jsonl(org: DevOrg, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"accounts.{fmt}"
    run_with_client(
        org,
        lambda c: export(
            c,
            object_name="Account",
            fields=["Id", "Name"],
            out=out,
            page_size=PAGE,
            poll_interval=0.05,
        ),
    )
    frame = pl.read_csv(out) if fmt == "csv" else pl.read_ndjson(out)
    assert frame.columns == ["Id", "Name"]
    assert frame.height == N and set(frame["Id"]) == org_ids(org)


def test_parquet_compression_is_chosen_and_checked_before_any_job(
    org: DevOrg, tmp_path: Path
) -> None:
    soql = "SELECT Id, Name, AnnualRevenue FROM Account"

    def exported(compression: str | None) -> Path:
        out = tmp_path / f"accounts-{compression}.parquet".replace(":", "-")
        run_with_client(
            org,
            lambda c: export(c, soql, out=out, compression=compression, poll_interval=0.05),
        )
        return out

    files = {codec: exported(codec) for codec in (None, "snappy", "none", "ZSTD:9")}
    frames = [pl.read_parquet(path).sort("Id") for path in files.values()]
    assert all(frame.equals(frames[0]) for frame in frames) and frames[0].height == N
    sizes = {codec: path.stat().st_size for codec, path in files.items()}
    assert sizes["none"] > max(sizes[None], sizes["snappy"], sizes["ZSTD:9"])
    assert len(set(sizes.values())) == len(sizes)

    async def refused(client: SalesforceClient) -> int:
        for codec, out in (("brotli", "a.parquet"), ("zstd:99", "a.parquet"), ("zstd", "a.csv")):
            with pytest.raises(ValueError, match="compression"):
                await export(client, soql, out=tmp_path / out, compression=codec)
        return len(await client.bulk_list_jobs("query"))

    jobs_before = run_with_client(org, lambda c: c.bulk_list_jobs("query"))
    assert run_with_client(org, refused) == len(jobs_before)


def test_all_fields_export_leaves_out_compound_fields(org: DevOrg) -> None:
    result = run_with_client(org, lambda c: export(c, object_name="Account", poll_interval=0.05))
    assert result.frame is not None
    columns = set(result.frame.columns)
    assert {"Id", "Name", "BillingCity"} <= columns
    assert "BillingAddress" not in columns and "ShippingAddress" not in columns
    assert result.frame.height == N


def test_where_filter_and_frame_result(org: DevOrg) -> None:
    result = run_with_client(
        org,
        lambda c: export(
            c,
            object_name="Account",
            fields=["Id", "Name"],
            where="Name LIKE 'Acct 00%'",
            poll_interval=0.05,
        ),
    )
    assert result.frame is not None
    assert sorted(result.frame["Name"]) == [f"Acct {i:03d}" for i in range(10)]


def test_all_rows_includes_deleted_records(org: DevOrg) -> None:
    doomed = sorted(org_ids(org))[:7]
    for record_id in doomed:
        org.store.delete("Account", record_id)

    def count(all_rows: bool) -> int:
        result = run_with_client(
            org,
            lambda c: export(c, "SELECT Id FROM Account", all_rows=all_rows, poll_interval=0.05),
        )
        assert result.frame is not None
        return result.frame.height

    assert count(False) == N - 7
    assert count(True) == N


def test_rejected_query_fails_before_any_job(org: DevOrg) -> None:
    async def scenario(client: SalesforceClient) -> int:
        with pytest.raises(UnsupportedBulkQueryError, match="subquer"):
            await export(client, "SELECT Id, (SELECT Id FROM Contacts) FROM Account")
        with pytest.raises(UnsupportedBulkQueryError, match="compound"):
            await export(client, "SELECT Id, BillingAddress FROM Account")
        return len(await client.bulk_list_jobs("query"))

    assert run_with_client(org, scenario) == 0


def test_aggregate_query_runs_through_rest(org: DevOrg, tmp_path: Path) -> None:
    out = tmp_path / "by_name.parquet"
    result = run_with_client(
        org,
        lambda c: export(
            c,
            "SELECT Name, COUNT(Id) n FROM Account WHERE Name LIKE 'Acct 00%' GROUP BY Name",
            out=out,
        ),
    )
    assert result.via == "rest" and result.job_id is None
    assert pl.read_parquet(out).height == 10
    count = run_with_client(org, lambda c: export(c, "SELECT COUNT() FROM Account"))
    assert count.frame is not None and count.frame["expr0"].to_list() == [N]


def test_export_survives_expired_session_mid_export(org: DevOrg, tmp_path: Path) -> None:
    out = tmp_path / "a.parquet"

    def expire_once(event: ExportProgress) -> None:
        if event.stage == "downloading" and event.pages == 1:
            org.faults.expire_sessions()

    async def scenario(client: SalesforceClient) -> Any:
        result = await export(
            client,
            "SELECT Id, Name FROM Account",
            out=out,
            page_size=PAGE,
            parallel=1,
            progress=expire_once,
            poll_interval=0.05,
        )
        return result, client.refresh_count

    result, refreshes = run_with_client(org, scenario)
    frame = pl.read_parquet(out)
    assert refreshes >= 1
    assert result.rows == frame.height == N and set(frame["Id"]) == org_ids(org)


def test_export_survives_a_503_storm(org: DevOrg, tmp_path: Path) -> None:
    out = tmp_path / "a.parquet"
    org.faults.fail_requests(503, 3, path="/results")
    result = run_with_client(
        org,
        lambda c: export(c, "SELECT Id FROM Account", out=out, page_size=PAGE, poll_interval=0.05),
    )
    frame = pl.read_parquet(out)
    assert result.rows == N and frame["Id"].n_unique() == N and set(frame["Id"]) == org_ids(org)


def test_connection_dropped_mid_page_refetches_that_page(org: DevOrg, tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    org.faults.drop_connection(300, 3, path="/results")
    result = run_with_client(
        org,
        lambda c: export(
            c, "SELECT Id, Name FROM Account", out=out, page_size=PAGE, poll_interval=0.05
        ),
    )
    frame = pl.read_csv(out)
    assert result.rows == N == frame.height
    assert frame["Id"].n_unique() == N and set(frame["Id"]) == org_ids(org)


def test_failed_job_raises_and_leaves_no_state(org: DevOrg, tmp_path: Path) -> None:
    out = tmp_path / "a.parquet"
    org.faults.fail_next_jobs(1, "Injected failure")
    with pytest.raises(BulkJobError, match="Injected failure"):
        run_with_client(
            org, lambda c: export(c, "SELECT Id FROM Account", out=out, poll_interval=0.05)
        )
    assert not out.exists() and not states.state_path(out).exists()


class _CutShort(Exception):
    """Stands in for a crash or Ctrl-C half-way through the download."""


def test_cut_short_export_resumes_the_same_job_without_loss_or_duplicates(
    org: DevOrg, tmp_path: Path
) -> None:
    out = tmp_path / "a.parquet"
    soql = "SELECT Id, Name FROM Account"

    def crash_after_two_pages(event: ExportProgress) -> None:
        if event.stage == "downloading" and event.pages == 2:
            raise _CutShort

    with pytest.raises(_CutShort):
        run_with_client(
            org,
            lambda c: export(
                c,
                soql,
                out=out,
                page_size=PAGE,
                progress=crash_after_two_pages,
                poll_interval=0.05,
            ),
        )
    saved = states.load_state(out)
    assert saved is not None and len(saved.pages) == 2 and not out.exists()

    async def rerun(client: SalesforceClient) -> Any:
        result = await export(client, soql, out=out, page_size=PAGE, poll_interval=0.05)
        return result, await client.bulk_list_jobs("query")

    result, jobs = run_with_client(org, rerun)
    assert result.resumed and result.job_id == saved.job_id
    assert len(jobs) == 1  # no second job was created
    frame = pl.read_parquet(out)
    assert frame.height == N and frame["Id"].n_unique() == N and set(frame["Id"]) == org_ids(org)
    assert not states.state_path(out).exists()


def test_a_different_query_to_the_same_file_starts_afresh(org: DevOrg, tmp_path: Path) -> None:
    out = tmp_path / "a.parquet"

    def crash(event: ExportProgress) -> None:
        if event.stage == "downloading":
            raise _CutShort

    with pytest.raises(_CutShort):
        run_with_client(
            org,
            lambda c: export(
                c,
                "SELECT Id FROM Account",
                out=out,
                page_size=PAGE,
                progress=crash,
                poll_interval=0.05,
            ),
        )
    result = run_with_client(
        org,
        lambda c: export(
            c, "SELECT Id, Name FROM Account", out=out, page_size=PAGE, poll_interval=0.05
        ),
    )
    assert not result.resumed
    assert pl.read_parquet(out).columns == ["Id", "Name"]


def test_cancel_without_resume_aborts_the_server_job(org: DevOrg, tmp_path: Path) -> None:
    out = tmp_path / "a.parquet"
    org.faults.hang_next_jobs(1)

    async def scenario(client: SalesforceClient) -> str:
        task = asyncio.create_task(
            export(client, "SELECT Id FROM Account", out=out, resume=False, poll_interval=0.05)
        )
        for _ in range(100):
            await asyncio.sleep(0.05)
            if await client.bulk_list_jobs("query"):
                break
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (job,) = await client.bulk_list_jobs("query")
        return str((await client.bulk_get_job("query", job["id"]))["state"])

    assert run_with_client(org, scenario) == "Aborted"
    assert not states.state_path(out).exists()


def test_timeout_keeps_a_resumable_job_and_aborts_without_resume(
    org: DevOrg, tmp_path: Path
) -> None:
    from sfbulk_mcp.salesforce import BulkJobTimeoutError

    out = tmp_path / "a.parquet"
    org.faults.job_delay = 2.0
    with pytest.raises(BulkJobTimeoutError, match="rerun the same command to resume"):
        run_with_client(
            org,
            lambda c: export(c, "SELECT Id FROM Account", out=out, timeout=0.5, poll_interval=0.05),
        )
    saved = states.load_state(out)
    assert saved is not None
    # The message says what happened to the server job, not "it still runs".
    with pytest.raises(BulkJobTimeoutError, match="server job was aborted"):
        run_with_client(
            org,
            lambda c: export(
                c,
                "SELECT Id, Name FROM Account",
                out=tmp_path / "b.parquet",
                timeout=0.5,
                resume=False,
                poll_interval=0.05,
            ),
        )

    async def states_of(client: SalesforceClient) -> dict[str, str]:
        jobs = await client.bulk_list_jobs("query")
        return {
            str(j["id"]): str((await client.bulk_get_job("query", str(j["id"])))["state"])
            for j in jobs
        }

    by_id = run_with_client(org, states_of)
    assert len(by_id) == 2
    assert by_id.pop(saved.job_id) != "Aborted"  # kept for a rerun
    assert list(by_id.values()) == ["Aborted"]  # --no-resume: nothing left running
    org.faults.job_delay = 0.0
    result = run_with_client(
        org, lambda c: export(c, "SELECT Id FROM Account", out=out, poll_interval=0.05)
    )
    assert result.resumed and result.job_id == saved.job_id and result.rows == N
