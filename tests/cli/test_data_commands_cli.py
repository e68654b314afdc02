"""`sfbulk export|import|query|describe|jobs` against a devorg: results on stdout only,
messages on stderr, documented exit codes."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from click.testing import CliRunner, Result
from sfbulk_mcp.cli.main import cli
from sfbulk_mcp.devorg import DevOrg


@pytest.fixture
def org(tmp_path: Path) -> Iterator[DevOrg]:
    with DevOrg() as devorg:
        for i in range(40):
            devorg.store.create("Account", {"Name": f"Cli {i:02d}", "AnnualRevenue": i * 10.0})
        yield devorg


@pytest.fixture
def env(org: DevOrg, tmp_path: Path) -> dict[str, str]:
    # `--org devorg` finds this org through SFBULK_DEVORG_URL; the org store stays private.
    return {"SFBULK_DEVORG_URL": org.instance_url, "SFBULK_CONFIG_DIR": str(tmp_path / "cfg")}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_export_prints_one_summary_line_and_writes_the_file(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "accounts.parquet"
    result = run(
        env,
        "export",
        "Account",
        "--org",
        "devorg",
        "--out",
        str(out),
        "--fields",
        "Id,Name,AnnualRevenue",
        "--page-size",
        "15",
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("40 rows") and "s (" in lines[0]
    frame = pl.read_parquet(out)
    assert frame.height == 40 and frame["Id"].n_unique() == 40
    assert frame.schema["AnnualRevenue"] == pl.Float64


def test_export_compression_flag(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "accounts.parquet"
    ok = run(
        env, "export", "Account", "--org", "devorg", "--out", str(out), "--compression", "snappy"
    )
    assert ok.exit_code == 0, ok.stderr
    assert pl.read_parquet(out).height == 40
    for codec, target in (("brotli", "b.parquet"), ("zstd", "b.csv")):
        refused = run(
            env,
            "export",
            "Account",
            "--org",
            "devorg",
            "--out",
            str(tmp_path / target),
            "--compression",
            codec,
        )
        assert refused.exit_code == 2 and "--compression" in refused.stderr
        assert not (tmp_path / target).exists()


def test_export_early_results_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    from sfbulk_mcp.devorg.bulk import sqlcsv

    monkeypatch.setattr(sqlcsv, "BLOCK_ROWS", 10)
    with DevOrg(streaming_events=True, partial_result_rows=10) as announcing:
        for i in range(35):
            announcing.store.create("Account", {"Name": f"Early {i:02d}"})
        out = tmp_path / "early.parquet"
        result = run(
            {**env, "SFBULK_DEVORG_URL": announcing.instance_url},
            "export",
            "Account",
            "--org",
            "devorg",
            "--out",
            str(out),
            "--fields",
            "Id,Name",
            "--early-results",
            "--json",
        )
        assert result.exit_code == 0, result.stderr
        summary = orjson.loads(result.stdout)
        assert summary["rows"] == 35 and summary["pages"] == 4  # 10 + 10 + 10, then the last 5
        assert pl.read_parquet(out)["Id"].n_unique() == 35
    # An org without job events: the same flag changes nothing.
    plain = run(env, "export", "Account", "--org", "devorg", "--out", str(out), "--early-results")
    assert plain.exit_code == 0, plain.stderr
    assert pl.read_parquet(out).height == 40


def test_export_json_and_quiet_for_scripts(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    result = run(
        env,
        "export",
        "--soql",
        "SELECT Id FROM Account",
        "--org",
        "devorg",
        "--out",
        str(out),
        "--json",
    )
    assert result.exit_code == 0
    summary = orjson.loads(result.stdout)
    assert summary["rows"] == 40 and summary["format"] == "csv" and summary["jobId"]
    quiet = run(
        env,
        "export",
        "Account",
        "--fields",
        "Id",
        "--org",
        "devorg",
        "--out",
        str(tmp_path / "b.jsonl"),
        "--quiet",
    )
    assert quiet.exit_code == 0 and quiet.stdout == ""
    assert len((tmp_path / "b.jsonl").read_text().splitlines()) == 40


def test_export_of_a_query_bulk_rejects_exits_4_before_any_job(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = run(
        env,
        "export",
        "--soql",
        "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
        "--org",
        "devorg",
        "--out",
        str(tmp_path / "x.parquet"),
    )
    assert result.exit_code == 4
    assert result.stdout == "" and "subquer" in result.stderr
    jobs = run(env, "jobs", "list", "--org", "devorg", "--json")
    assert orjson.loads(jobs.stdout) == []


def test_import_writes_outcome_files_and_exits_6_on_failed_rows(
    env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "new.csv"
    source.write_text("Name,AnnualRevenue\nNew A,1\n,2\nNew C,3\n")
    result = run(
        env,
        "import",
        "Account",
        "--file",
        str(source),
        "--operation",
        "insert",
        "--org",
        "devorg",
        "--json",
    )
    assert result.exit_code == 6
    summary = orjson.loads(result.stdout)
    assert (summary["succeeded"], summary["failed"], summary["unprocessed"]) == (2, 1, 0)
    failed = pl.read_parquet(tmp_path / "new.failed.parquet")
    assert failed["sf__Row"].to_list() == [1]
    assert failed["error_code"].to_list() == ["REQUIRED_FIELD_MISSING"]
    assert pl.read_parquet(tmp_path / "new.success.parquet").height == 2

    ok = tmp_path / "ok.csv"
    ok.write_text("Name\nFine\n")
    clean = run(env, "import", "Account", "--file", str(ok), "--org", "devorg")
    assert clean.exit_code == 0 and "1 succeeded" in clean.stdout


def test_import_delete_by_id(env: dict[str, str], org: DevOrg, tmp_path: Path) -> None:
    ids = [str(r["Id"]) for r in org.store.query("SELECT Id FROM Account LIMIT 3").records]
    source = tmp_path / "gone.csv"
    source.write_text("Id\n" + "\n".join(ids) + "\n")
    result = run(
        env,
        "import",
        "Account",
        "--file",
        str(source),
        "--operation",
        "hard-delete",
        "--org",
        "devorg",
    )
    assert result.exit_code == 0, result.stderr
    assert org.store.count("Account", include_deleted=True) == 37


def test_query_prints_table_json_and_csv(env: dict[str, str]) -> None:
    soql = "SELECT Id, Name, Owner.Name FROM Account WHERE Name LIKE 'Cli 0%' ORDER BY Name"
    table = run(env, "query", soql, "--org", "devorg")
    assert table.exit_code == 0 and "Cli 00" in table.stdout and "Owner.Name" in table.stdout
    as_json = orjson.loads(run(env, "query", soql, "--org", "devorg", "--json").stdout)
    assert as_json["totalSize"] == 10
    assert "attributes" not in as_json["records"][0]
    assert as_json["records"][0]["Owner"] == {"Name": as_json["records"][0]["Owner"]["Name"]}
    csv = run(env, "query", soql, "--org", "devorg", "--format", "csv")
    frame = pl.read_csv(csv.stdout.encode())
    assert frame.columns == ["Id", "Name", "Owner.Name"] and frame.height == 10
    count = run(env, "query", "SELECT COUNT() FROM Account", "--org", "devorg")
    assert count.stdout.strip() == "40"


def test_describe_lists_fields(env: dict[str, str]) -> None:
    table = run(env, "describe", "Account", "--org", "devorg")
    assert table.exit_code == 0 and "AnnualRevenue" in table.stdout and "currency" in table.stdout
    raw = orjson.loads(run(env, "describe", "Account", "--org", "devorg", "--json").stdout)
    assert raw["name"] == "Account"
    missing = run(env, "describe", "NoSuchObject__c", "--org", "devorg")
    assert missing.exit_code == 4 and missing.stdout == ""


def test_jobs_list_status_and_abort(env: dict[str, str], org: DevOrg, tmp_path: Path) -> None:
    export = run(
        env,
        "export",
        "Account",
        "--fields",
        "Id",
        "--org",
        "devorg",
        "--out",
        str(tmp_path / "a.parquet"),
        "--json",
    )
    job_id = orjson.loads(export.stdout)["jobId"]
    listed = orjson.loads(run(env, "jobs", "list", "--org", "devorg", "--json").stdout)
    assert [j["id"] for j in listed] == [job_id]
    status = orjson.loads(run(env, "jobs", "status", job_id, "--org", "devorg", "--json").stdout)
    assert status["state"] == "JobComplete" and status["jobKind"] == "query"

    org.faults.hang_next_jobs(1)
    source = tmp_path / "hang.csv"
    source.write_text("Name\nx\n")
    import asyncio

    from sfbulk_mcp.auth.providers import PasswordProvider
    from sfbulk_mcp.salesforce import SalesforceClient

    async def start_hanging_job() -> str:
        provider = PasswordProvider(
            login_url=org.login_url,
            client_id="sfbulk-devorg",
            username="admin@devorg.local",
            password="devorg",
        )
        async with SalesforceClient(provider) as client:
            info = await client.bulk_create_ingest_job("Account", "insert")
            await client.bulk_upload(info["id"], b"Name\nx\n")
            await client.bulk_close_job(info["id"])
            return str(info["id"])

    hanging = asyncio.run(start_hanging_job())
    aborted = run(env, "jobs", "abort", hanging, "--org", "devorg")
    assert aborted.exit_code == 0 and "Aborted" in aborted.stdout
    unknown = run(env, "jobs", "status", "750000000000000AAA", "--org", "devorg")
    assert unknown.exit_code == 4


def test_unknown_org_alias_exits_3(env: dict[str, str], tmp_path: Path) -> None:
    result = run(env, "query", "SELECT Id FROM Account", "--org", "nope")
    assert result.exit_code == 3 and result.stdout == ""


def test_readme_first_command_runs_an_embedded_devorg(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SFBULK_DEVORG_URL": "http://127.0.0.1:9",  # nothing listens: the org is embedded
        "SFBULK_CONFIG_DIR": str(tmp_path / "cfg"),
        "SFBULK_DEVORG_SEED": "50",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from sfbulk_mcp.cli.main import main; main()",
            "export",
            "Account",
            "--org",
            "devorg",
            "--out",
            "accounts.parquet",
        ],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("50 rows")
    assert pl.read_parquet(tmp_path / "accounts.parquet").height == 50


def _query_jobs(org: DevOrg) -> list[dict[str, object]]:
    import asyncio

    from sfbulk_mcp.auth.providers import PasswordProvider
    from sfbulk_mcp.salesforce import SalesforceClient

    async def jobs() -> list[dict[str, object]]:
        provider = PasswordProvider(
            login_url=org.login_url,
            client_id="sfbulk-devorg",
            username="admin@devorg.local",
            password="devorg",
        )
        async with SalesforceClient(provider) as client:
            return [
                await client.bulk_get_job("query", str(j["id"]))
                for j in await client.bulk_list_jobs("query")
            ]

    return asyncio.run(jobs())


@pytest.mark.parametrize("resume", [False, True])
def test_ctrl_c_aborts_the_job_only_without_resume(
    org: DevOrg, env: dict[str, str], tmp_path: Path, resume: bool
) -> None:
    import signal
    import time

    org.faults.hang_next_jobs(1)
    out = tmp_path / "a.parquet"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sfbulk_mcp.cli.main import main; main()",
            "export",
            "Account",
            "--fields",
            "Id",
            "--org",
            "devorg",
            "--out",
            str(out),
            "--resume" if resume else "--no-resume",
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _query_jobs(org) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    (job,) = _query_jobs(org)
    if resume:
        assert job["state"] != "Aborted"
        assert "rerun" in stderr and (tmp_path / "a.parquet.sfbulk-state.json").exists()
    else:
        assert job["state"] == "Aborted"
        assert not (tmp_path / "a.parquet.sfbulk-state.json").exists()


def _hang_jobs_after_the_first(org: DevOrg, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Bulk jobs after the first stay InProgress until aborted; the event is set once one does."""
    hanging = threading.Event()
    started = itertools.count()

    def take_job_hang() -> bool:
        hang = next(started) > 0
        if hang:
            hanging.set()
        return hang

    monkeypatch.setattr(org.faults, "take_job_hang", take_job_hang)
    return hanging


def _start_import(env: dict[str, str], source: Path) -> subprocess.Popen[str]:
    """`sfbulk import` of `source` in 3 jobs of 2 rows, one at a time, as a real process."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sfbulk_mcp.cli.main import main; main()",
            "import",
            "Account",
            "--file",
            str(source),
            "--org",
            "devorg",
            "--batch-rows",
            "2",
            "--parallel",
            "1",
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_during_import_writes_every_outcome_and_exits_130(
    org: DevOrg, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "new.csv"
    source.write_text("Name\n" + "".join(f"Ctrl {i}\n" for i in range(6)))
    hanging = _hang_jobs_after_the_first(org, monkeypatch)
    proc = _start_import(env, source)
    try:
        assert hanging.wait(60)  # the first job is done, the second runs
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert stdout == ""
    assert "6 rows — 2 succeeded, 0 failed, 4 unprocessed" in stderr and "interrupted" in stderr
    success = pl.read_parquet(tmp_path / "new.success.parquet")
    failed = pl.read_parquet(tmp_path / "new.failed.parquet")
    unprocessed = pl.read_parquet(tmp_path / "new.unprocessed.parquet")
    rows = sorted([*success["sf__Row"], *failed["sf__Row"], *unprocessed["sf__Row"]])
    assert rows == list(range(6))
    created = org.store.query("SELECT Id, Name FROM Account WHERE Name LIKE 'Ctrl %'").records
    assert {(r["Id"], r["Name"]) for r in created} == set(success.select("sf__Id", "Name").rows())
    assert unprocessed["sf__Error"].to_list() == [
        "job aborted: interrupted",
        "job aborted: interrupted",
        "not sent: interrupted",
        "not sent: interrupted",
    ]


def test_a_second_ctrl_c_cuts_the_import_clean_up_short(
    org: DevOrg, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sfbulk_mcp.devorg.bulk.manager import BulkJobs

    source = tmp_path / "new.csv"
    source.write_text("Name\n" + "".join(f"Ctrl {i}\n" for i in range(6)))
    hanging = _hang_jobs_after_the_first(org, monkeypatch)
    jobs = BulkJobs.of(org.state)
    abort, aborting, answer = jobs.abort, threading.Event(), threading.Event()

    def slow_abort(job: Any) -> dict[str, Any]:
        aborting.set()
        answer.wait(60)  # the org takes its time to answer the abort
        return abort(job)

    monkeypatch.setattr(jobs, "abort", slow_abort)
    proc = _start_import(env, source)
    try:
        assert hanging.wait(60)
        proc.send_signal(signal.SIGINT)
        assert aborting.wait(60)
        proc.send_signal(signal.SIGINT)
        pressed = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        waited = time.monotonic() - pressed
    finally:
        answer.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert waited < 10 and "interrupted" in stderr


def test_top_level_help_lists_every_command_without_loading_the_mcp_sdk() -> None:
    script = (
        "import sys\n"
        "from sfbulk_mcp.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('mcp.server' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    for command in ("export", "import", "query", "describe", "jobs", "mcp", "devorg", "login"):
        assert f"  {command} " in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "False"
