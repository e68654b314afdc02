"""Import against a real devorg: every input row ends in exactly one outcome file."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sfbulk_mcp.bulk.ingest import ImportInterrupted, ImportResult, import_data
from sfbulk_mcp.devorg import DevOrg
from sfbulk_mcp.salesforce import SalesforceClient

from .conftest import (
    FAST_RETRY,
    hang_jobs_after_the_first,
    make_accounts,
    provider_for,
    run_with_client,
)


def names_in_org(org: DevOrg) -> dict[str, str]:
    return {
        str(r["Id"]): str(r["Name"])
        for r in org.store.query("SELECT Id, Name FROM Account").records
    }


def test_insert_from_parquet_accounts_for_every_row(small_org: DevOrg, tmp_path: Path) -> None:
    source = tmp_path / "accounts.parquet"
    frame = pl.DataFrame(
        {
            "Name": ["Alpha", "Beta", None, "Alpha", 'Gamma, "Quoted"\nInc', "Delta"],
            "AnnualRevenue": [1.5, 2.0, 3.0, 1.5, None, 4.0],
            "Active__c": [True, False, True, True, None, True],
            "Description": [f"since {dt.date(2024, 1, 2)}"] * 6,
        }
    )
    frame.write_parquet(source)
    result = run_with_client(
        small_org, lambda c: import_data(c, "Account", source, max_rows=2, poll_interval=0.05)
    )
    assert (result.rows, result.succeeded, result.failed, result.unprocessed) == (6, 5, 1, 0)
    assert len(result.jobs) == 3
    success = pl.read_parquet(tmp_path / "accounts.success.parquet")
    failed = pl.read_parquet(tmp_path / "accounts.failed.parquet")
    unprocessed = pl.read_parquet(tmp_path / "accounts.unprocessed.parquet")
    rows = sorted([*success["sf__Row"], *failed["sf__Row"], *unprocessed["sf__Row"]])
    assert rows == list(range(6))
    assert failed.row(0, named=True)["sf__Row"] == 2
    assert failed.row(0, named=True)["error_code"] == "REQUIRED_FIELD_MISSING"
    assert "Name" in failed.row(0, named=True)["error_fields"]
    org_names = names_in_org(small_org)
    assert success["sf__Id"].n_unique() == 5
    for row in success.iter_rows(named=True):
        assert org_names[row["sf__Id"]] == row["Name"]  # each Id really holds its own row
    assert success["sf__Created"].all()


def test_input_read_in_pieces_keeps_every_row_in_its_own_outcome(
    small_org: DevOrg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sfbulk_mcp.bulk import codec

    # Input pieces and jobs that do not line up: each job's outcomes meet several pieces.
    monkeypatch.setattr(codec, "INPUT_BATCH_ROWS", 3)
    source = tmp_path / "accounts.parquet"
    frame = pl.DataFrame(
        {
            "Name": [f"Piece {i}" if i % 4 else None for i in range(11)],
            "NumberOfEmployees": list(range(11)),
        }
    )
    frame.write_parquet(source, row_group_size=4)
    result = run_with_client(
        small_org, lambda c: import_data(c, "Account", source, max_rows=5, poll_interval=0.05)
    )
    assert (result.rows, result.succeeded, result.failed, len(result.jobs)) == (11, 8, 3, 3)
    success = pl.read_parquet(tmp_path / "accounts.success.parquet")
    failed = pl.read_parquet(tmp_path / "accounts.failed.parquet")
    assert failed["sf__Row"].to_list() == [0, 4, 8]
    assert success["sf__Row"].to_list() == [i for i in range(11) if i % 4]
    assert success["Name"].to_list() == [f"Piece {i}" for i in success["sf__Row"]]
    org_names = names_in_org(small_org)
    assert all(org_names[r["sf__Id"]] == r["Name"] for r in success.iter_rows(named=True))


def test_rows_echoed_with_other_case_and_padding_still_find_their_own_outcome(
    small_org: DevOrg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sfbulk_mcp.devorg.bulk import ingest as devorg_ingest

    # An org that echoes every value upper-cased and padded: no row has an exact echo, so
    # each is matched by the case-blind digests, made from the job's kept files.
    write = devorg_ingest.ResultWriter.write

    def shouting(self: Any, folder: Path) -> None:
        self.upload.rows[:] = [[f" {cell.upper()} " for cell in row] for row in self.upload.rows]
        write(self, folder)

    monkeypatch.setattr(devorg_ingest.ResultWriter, "write", shouting)
    source = tmp_path / "accounts.parquet"
    names = ["alpha", "bravo", "charlie", "alpha", "delta"]
    pl.DataFrame({"Name": names, "Phone": ["1", "2", "3", "1", None]}).write_parquet(source)
    result = run_with_client(
        small_org, lambda c: import_data(c, "Account", source, max_rows=2, poll_interval=0.05)
    )
    assert (result.rows, result.succeeded, result.failed, result.unprocessed) == (5, 5, 0, 0)
    success = pl.read_parquet(tmp_path / "accounts.success.parquet")
    assert success["sf__Row"].to_list() == list(range(5))
    assert success["Name"].to_list() == names
    org_names = names_in_org(small_org)
    assert all(org_names[r["sf__Id"]] == r["Name"] for r in success.iter_rows(named=True))
    assert success["sf__Id"].n_unique() == 5


def test_update_upsert_delete_and_hard_delete(small_org: DevOrg, tmp_path: Path) -> None:
    ids = make_accounts(small_org, ["One", "Two", "Three"])

    async def scenario(client: SalesforceClient) -> list[Any]:
        updated = await import_data(
            client,
            "Account",
            pl.DataFrame({"Id": ids, "Name": ["Uno", "Dos", "Tres"]}),
            operation="update",
            poll_interval=0.05,
        )
        upserted = await import_data(
            client,
            "Account",
            pl.DataFrame({"External_Id__c": ["X1", "X2"], "Name": ["Ext one", "Ext two"]}),
            operation="upsert",
            external_id="External_Id__c",
            poll_interval=0.05,
        )
        again = await import_data(
            client,
            "Account",
            pl.DataFrame({"External_Id__c": ["X1"], "Name": ["Ext one again"]}),
            operation="upsert",
            external_id="External_Id__c",
            poll_interval=0.05,
        )
        deleted = await import_data(
            client,
            "Account",
            pl.DataFrame({"Id": ids[:2], "Name": ["ignored", "ignored"]}),
            operation="delete",
            poll_interval=0.05,
        )
        hard = await import_data(
            client,
            "Account",
            pl.DataFrame({"Id": [ids[2]]}),
            operation="hard-delete",
            poll_interval=0.05,
        )
        return [updated, upserted, again, deleted, hard]

    updated, upserted, again, deleted, hard = run_with_client(small_org, scenario)
    assert updated.succeeded == 3
    assert upserted.succeeded == 2 and upserted.success is not None
    assert upserted.success["sf__Created"].to_list() == [True, True]
    assert again.success is not None and again.success["sf__Created"].to_list() == [False]
    assert deleted.succeeded == 2 and hard.succeeded == 1
    remaining = names_in_org(small_org)
    assert sorted(remaining.values()) == ["Ext one again", "Ext two"]
    assert small_org.store.count("Account", include_deleted=True) == 4  # 2 in the bin, 1 gone


def test_a_failed_job_leaves_its_rows_unprocessed_with_the_reason(small_org: DevOrg) -> None:
    small_org.faults.fail_next_jobs(1, "Injected failure")
    frame = pl.DataFrame({"Name": [f"N{i}" for i in range(6)]})
    result = run_with_client(
        small_org,
        lambda c: import_data(c, "Account", frame, max_rows=3, parallel=1, poll_interval=0.05),
    )
    assert result.rows == 6 and result.succeeded == 3 and result.unprocessed == 3
    assert result.unprocessed_rows is not None
    assert result.unprocessed_rows["sf__Row"].to_list() == [0, 1, 2]
    assert all("Injected failure" in e for e in result.unprocessed_rows["sf__Error"])


def test_input_without_the_key_column_is_refused(small_org: DevOrg) -> None:
    from sfbulk_mcp.bulk.errors import ImportInputError

    with pytest.raises(ImportInputError, match="Id column"):
        run_with_client(
            small_org,
            lambda c: import_data(c, "Account", pl.DataFrame({"Name": ["x"]}), operation="update"),
        )


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def aread(self) -> bytes:
        return self.data

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        yield self.data


async def loaded_rows(client: Any, job_id: str) -> list[str]:
    """The field values of the rows `job_id` loaded, as its successful results give them."""
    async with client.bulk_ingest_results(job_id, "successful") as stream:
        lines = (await stream.aread()).decode().splitlines()
    return [line.split(",", 2)[2] for line in lines[1:]]


def test_transient_failures_are_retried_until_they_succeed(small_org: DevOrg) -> None:
    ids = make_accounts(small_org, ["a", "b", "c"])

    class Locking(SalesforceClient):
        first_job: str | None = None

        @asynccontextmanager
        async def bulk_ingest_results(self, job_id: str, kind: str) -> Any:
            self.first_job = self.first_job or job_id
            async with super().bulk_ingest_results(job_id, kind) as stream:
                body = await stream.aread()
            if job_id == self.first_job and kind in ("successful", "failed"):
                # The job's loaded rows are reported locked (its result sets are fetched at once).
                text = body.decode().splitlines()
                locked = await loaded_rows(super(), job_id)
                if kind == "successful":
                    body = ("sf__Id,sf__Created," + text[0].split(",", 2)[2] + "\n").encode()
                else:
                    rows = [
                        ",UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--,"
                        + r
                        for r in locked
                    ]
                    body = "\n".join([text[0], *rows, ""]).encode()
            yield _Body(body)

    async def main() -> Any:
        async with Locking(provider_for(small_org), retry=FAST_RETRY) as client:
            frame = pl.DataFrame({"Id": ids, "Name": ["A", "B", "C"]})
            no_retry = await import_data(
                client, "Account", frame, operation="update", poll_interval=0.05
            )
            client.first_job = None
            retried = await import_data(
                client,
                "Account",
                frame,
                operation="update",
                retries=2,
                retry_delay=0.01,
                poll_interval=0.05,
            )
            return no_retry, retried

    no_retry, retried = asyncio.run(main())
    assert no_retry.failed == 3 and no_retry.failures is not None
    assert set(no_retry.failures["error_code"]) == {"UNABLE_TO_LOCK_ROW"}
    assert retried.succeeded == 3 and retried.failed == 0 and retried.retried == 3
    assert sorted(names_in_org(small_org).values()) == ["A", "B", "C"]


@pytest.mark.parametrize(
    "text",
    [b"Name,Phone\nGood,1\nBad,\xff\xfe\n", b"Name,Phone\nGood,1\nRagged,2,3\n"],
    ids=["bad-utf8", "ragged-line"],
)
def test_unreadable_csv_is_refused_before_any_job(
    small_org: DevOrg, tmp_path: Path, text: bytes
) -> None:
    from sfbulk_mcp.bulk.errors import ImportInputError

    source = tmp_path / "accounts.csv"
    source.write_bytes(text)
    with pytest.raises(ImportInputError, match="nothing was imported"):
        run_with_client(small_org, lambda c: import_data(c, "Account", source))
    assert names_in_org(small_org) == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.csv"]


def test_a_job_that_cannot_be_created_midway_keeps_every_row_accounted_for(
    small_org: DevOrg, tmp_path: Path
) -> None:
    import asyncio

    source = tmp_path / "accounts.parquet"
    pl.DataFrame({"Name": [f"N{i}" for i in range(6)]}).write_parquet(source)

    class OutageAfterFirstJob(SalesforceClient):
        created = 0

        async def bulk_create_ingest_job(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            self.created += 1
            if self.created == 2:  # the org answers 503 from the second job on
                small_org.faults.fail_requests(503, 1, path="/jobs/ingest")
            return await super().bulk_create_ingest_job(*args, **kwargs)

    async def main() -> Any:
        async with OutageAfterFirstJob(provider_for(small_org), retry=FAST_RETRY) as client:
            return await import_data(
                client, "Account", source, max_rows=2, parallel=1, retries=2, poll_interval=0.05
            )

    result = asyncio.run(main())
    assert (result.rows, result.succeeded, result.failed, result.unprocessed) == (6, 2, 0, 4)
    assert len(result.jobs) == 1
    success = pl.read_parquet(tmp_path / "accounts.success.parquet")
    unprocessed = pl.read_parquet(tmp_path / "accounts.unprocessed.parquet")
    assert success["sf__Row"].to_list() == [0, 1]
    assert sorted(names_in_org(small_org).values()) == ["N0", "N1"]
    assert unprocessed["sf__Row"].to_list() == [2, 3, 4, 5]
    assert unprocessed["Name"].to_list() == ["N2", "N3", "N4", "N5"]
    assert all(e.startswith("not sent:") and "503" in e for e in unprocessed["sf__Error"])


def test_an_interrupted_import_still_accounts_for_every_row(
    small_org: DevOrg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    source = tmp_path / "accounts.parquet"
    pl.DataFrame({"Name": [f"N{i}" for i in range(6)]}).write_parquet(source)
    hanging = hang_jobs_after_the_first(small_org, monkeypatch)

    async def main() -> tuple[ImportResult, list[str]]:
        async with SalesforceClient(provider_for(small_org), retry=FAST_RETRY) as client:
            task = asyncio.create_task(
                import_data(
                    client,
                    "Account",
                    source,
                    max_rows=2,
                    parallel=1,
                    retries=2,
                    poll_interval=0.05,
                )
            )
            assert await asyncio.to_thread(hanging.wait, 30)
            task.cancel()  # what Ctrl-C does to the CLI's import
            with pytest.raises(ImportInterrupted) as stopped:
                await task
            result = stopped.value.result
            states = [str((await client.bulk_get_job("ingest", j))["state"]) for j in result.jobs]
            return result, states

    result, states = asyncio.run(main())
    assert result.interrupted and "interrupted" in result.summary()
    assert (result.rows, result.succeeded, result.failed, result.unprocessed) == (6, 2, 0, 4)
    assert states == ["JobComplete", "Aborted"]  # the running job was stopped on the server
    success = pl.read_parquet(tmp_path / "accounts.success.parquet")
    failed = pl.read_parquet(tmp_path / "accounts.failed.parquet")
    unprocessed = pl.read_parquet(tmp_path / "accounts.unprocessed.parquet")
    rows = sorted([*success["sf__Row"], *failed["sf__Row"], *unprocessed["sf__Row"]])
    assert rows == list(range(6))
    # The rows Salesforce created are reported, so a rerun of the rest makes no duplicates.
    assert dict(zip(success["sf__Id"], success["Name"], strict=True)) == names_in_org(small_org)
    assert unprocessed.select("sf__Row", "sf__Error").rows() == [
        (2, "job aborted: interrupted"),
        (3, "job aborted: interrupted"),
        (4, "not sent: interrupted"),
        (5, "not sent: interrupted"),
    ]


def test_rows_a_job_processed_before_an_interrupt_keep_their_outcome(
    small_org: DevOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import threading
    import time

    from sfbulk_mcp.devorg.bulk import ingest as devorg_ingest

    # The org applies one row at a time and stalls after the first until the job is aborted
    # (inserts of plain values take `_table_chunk`, other uploads `_apply_chunk`).
    monkeypatch.setattr(devorg_ingest, "CHUNK_ROWS", 1)
    stalled = threading.Event()

    def stalling(apply: Any) -> Any:
        def apply_then_stall(*args: Any) -> None:
            apply(*args)
            job = args[1].job  # both take (state, applier, ...)
            stalled.set()
            deadline = time.monotonic() + 30
            while job.state != "Aborted" and time.monotonic() < deadline:
                time.sleep(0.01)

        return apply_then_stall

    for name in ("_apply_chunk", "_table_chunk"):
        monkeypatch.setattr(devorg_ingest, name, stalling(getattr(devorg_ingest, name)))
    frame = pl.DataFrame({"Name": ["First", "Second", "Third"]})

    async def main() -> ImportResult:
        async with SalesforceClient(provider_for(small_org), retry=FAST_RETRY) as client:
            task = asyncio.create_task(import_data(client, "Account", frame, poll_interval=0.05))
            assert await asyncio.to_thread(stalled.wait, 30)
            task.cancel()
            with pytest.raises(ImportInterrupted) as stopped:
                await task
            return stopped.value.result

    result = asyncio.run(main())
    assert (result.succeeded, result.failed, result.unprocessed) == (1, 0, 2)
    assert result.success is not None and result.unprocessed_rows is not None
    assert result.success.select("sf__Id", "Name").rows() == list(names_in_org(small_org).items())
    assert result.unprocessed_rows.select("sf__Row", "sf__Error").rows() == [
        (1, "job aborted: interrupted"),
        (2, "job aborted: interrupted"),
    ]


@pytest.mark.parametrize("lock", [False, True], ids=["jobs-end-out-of-order", "rows-retried"])
def test_result_files_hold_every_row_once_in_order_however_jobs_end(
    small_org: DevOrg, tmp_path: Path, lock: bool
) -> None:
    """Jobs ending out of order (the first one last) and, with `lock`, the rows of one job
    sent again still give each row one outcome, in row order."""
    names = [f"Row {i:02d}" for i in range(40)]
    ids = make_accounts(small_org, names)
    source = tmp_path / "accounts.parquet"
    pl.DataFrame({"Id": ids, "Name": [f"New {n}" for n in names]}).write_parquet(source)

    created: list[str] = []  # job ids, in the order the jobs were opened

    class SlowFirstJob(SalesforceClient):

        async def bulk_create_ingest_job(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            job = await super().bulk_create_ingest_job(*args, **kwargs)
            created.append(job["id"])
            return job

        async def bulk_wait(self, kind: Any, job_id: str, **kwargs: Any) -> dict[str, Any]:
            if job_id == created[0]:
                await asyncio.sleep(0.6)  # the others end, and are written, first
            return await super().bulk_wait(kind, job_id, **kwargs)

        @asynccontextmanager
        async def bulk_ingest_results(self, job_id: str, kind: str) -> Any:
            async with super().bulk_ingest_results(job_id, kind) as stream:
                body = await stream.aread()
            if lock and len(created) > 2 and job_id == created[2] and kind != "unprocessedrecords":
                # Its loaded rows are reported locked (its result sets are fetched at once).
                lines = body.decode().splitlines()
                held = await loaded_rows(super(), job_id)
                if kind == "successful":
                    body = ("sf__Id,sf__Created," + lines[0].split(",", 2)[2] + "\n").encode()
                else:
                    error = ",UNABLE_TO_LOCK_ROW:unable to obtain exclusive access:--,"
                    body = "\n".join([lines[0], *(error + r for r in held), ""]).encode()
            yield _Body(body)

    async def main() -> ImportResult:
        async with SlowFirstJob(provider_for(small_org), retry=FAST_RETRY) as client:
            return await import_data(
                client,
                "Account",
                source,
                operation="update",
                max_rows=10,
                parallel=4,
                retries=1,
                retry_delay=0.01,
                poll_interval=0.05,
            )

    result = asyncio.run(main())
    assert (result.rows, result.succeeded, result.failed, result.unprocessed) == (40, 40, 0, 0)
    assert result.retried == (10 if lock else 0)
    success = pl.read_parquet(tmp_path / "accounts.success.parquet")
    assert success["sf__Row"].to_list() == list(range(40))
    assert success["Id"].to_list() == ids and success["sf__Id"].to_list() == ids
    assert pl.read_parquet(tmp_path / "accounts.failed.parquet").height == 0
    assert pl.read_parquet(tmp_path / "accounts.unprocessed.parquet").height == 0
    assert not list(tmp_path.glob("*.tmp"))
    assert sorted(names_in_org(small_org).values()) == sorted(f"New {n}" for n in names)
