"""`sfbulk_mcp.connect(...)`: query, export, import and describe, sync and async."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path

import polars as pl
import pytest
import sfbulk_mcp
from sfbulk_mcp.devorg import DevOrg

from .conftest import hang_jobs_after_the_first, make_accounts, provider_for


@pytest.fixture
def org(small_org: DevOrg, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> DevOrg:
    make_accounts(small_org, [f"Api {i}" for i in range(30)], AnnualRevenue=10.0)
    monkeypatch.setenv("SFBULK_DEVORG_URL", small_org.instance_url)
    monkeypatch.setenv("SFBULK_CONFIG_DIR", str(tmp_path / "cfg"))
    return small_org


def test_sync_connect_by_devorg_alias(org: DevOrg, tmp_path: Path) -> None:
    with sfbulk_mcp.connect(org="devorg") as sf:
        frame = sf.export("Account", fields=["Id", "Name", "AnnualRevenue"])
        assert isinstance(frame, pl.DataFrame) and frame.height == 30
        assert frame.schema["AnnualRevenue"] == pl.Float64

        out = tmp_path / "a.parquet"
        summary = sf.export(soql="SELECT Id FROM Account", out=out)
        assert summary.rows == 30 and pl.read_parquet(out).height == 30

        rows = sf.query(
            "SELECT Id, Name, Owner.Name FROM Account WHERE Name = 'Api 1'", as_dicts=True
        )
        assert isinstance(rows, list) and rows[0]["Name"] == "Api 1"
        assert "attributes" not in rows[0] and "attributes" not in rows[0]["Owner"]
        queried = sf.query("SELECT Id, Owner.Name FROM Account")
        assert isinstance(queried, pl.DataFrame) and "Owner.Name" in queried.columns
        count = sf.query("SELECT COUNT() FROM Account")
        assert isinstance(count, pl.DataFrame) and count["expr0"].to_list() == [30]

        result = sf.import_("Account", pl.DataFrame({"Name": ["New 1", "New 2"]}))
        assert result.succeeded == 2 and result.ok
        assert sf.load is not None
        assert "fields" in sf.describe("Account")
        assert [j["jobKind"] for j in sf.jobs("ingest")] == ["ingest"]


def test_async_twin(org: DevOrg) -> None:
    async def main() -> tuple[int, int]:
        async with await sfbulk_mcp.connect_async(provider=provider_for(org)) as sf:
            frame = await sf.export("SELECT Id, Name FROM Account WHERE Name LIKE 'Api 1%'")
            loaded = await sf.load("Account", pl.DataFrame({"Name": ["Async"]}))
            return frame.height, loaded.succeeded

    assert asyncio.run(main()) == (11, 1)


def test_sync_org_exposes_its_async_twin(org: DevOrg) -> None:
    sf = sfbulk_mcp.connect(provider=provider_for(org))
    try:
        assert isinstance(sf.aio, sfbulk_mcp.AsyncOrg)
    finally:
        sf.close()
    sf.close()  # closing twice is harmless


def test_connect_with_a_session_id(org: DevOrg) -> None:
    with sfbulk_mcp.connect(instance_url=org.instance_url, access_token=org.access_token()) as sf:
        assert sf.export("Account", fields=["Id"]).height == 30
    with pytest.raises(ValueError):
        sfbulk_mcp.connect(instance_url=org.instance_url)


def test_ctrl_c_in_a_blocking_import_returns_once_the_outcome_files_are_written(
    org: DevOrg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "new.parquet"
    pl.DataFrame({"Name": [f"New {i}" for i in range(6)]}).write_parquet(source)
    hanging = hang_jobs_after_the_first(org, monkeypatch)
    caller = threading.main_thread().ident
    assert caller is not None

    def press_ctrl_c() -> None:
        if hanging.wait(30):
            signal.pthread_kill(caller, signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    with sfbulk_mcp.connect(org="devorg") as sf:
        with pytest.raises(KeyboardInterrupt):
            sf.import_("Account", source, max_rows=2, parallel=1)
        # The files are complete when Ctrl-C reaches the caller; the connection still works.
        success = pl.read_parquet(tmp_path / "new.success.parquet")
        unprocessed = pl.read_parquet(tmp_path / "new.unprocessed.parquet")
        assert pl.read_parquet(tmp_path / "new.failed.parquet").height == 0
        assert sorted([*success["sf__Row"], *unprocessed["sf__Row"]]) == list(range(6))
        created = sf.query("SELECT Id, Name FROM Account WHERE Name LIKE 'New %'", as_dicts=True)
        assert isinstance(created, list)
        assert {(r["Id"], r["Name"]) for r in created} == set(
            success.select("sf__Id", "Name").rows()
        )
        assert sorted(j["state"] for j in sf.jobs("ingest")) == ["Aborted", "JobComplete"]


def test_ctrl_c_reaches_a_blocking_call_in_a_process_that_imported_polars() -> None:
    # A fresh interpreter: other tests may have reinstalled the SIGINT handler in this one.
    script = """
import asyncio, signal, sys, threading, time
import polars
from sfbulk_mcp.api import _LoopThread

cancelled = []

async def work():
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        cancelled.append(True)
        raise

caller = threading.main_thread().ident
threading.Timer(0.5, lambda: signal.pthread_kill(caller, signal.SIGINT)).start()
runner = _LoopThread()
started = time.monotonic()
try:
    runner.run(work())
except KeyboardInterrupt:
    print(round(time.monotonic() - started, 1), bool(cancelled))
"""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    seconds, cancelled = done.stdout.split()
    assert float(seconds) < 5 and cancelled == "True"
