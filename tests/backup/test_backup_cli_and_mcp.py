"""The faces of the backups: `sfbulk backup|diff|restore` and the MCP `backup` toolset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import orjson
import polars as pl
import pytest
from mcp.client import Client
from sfbulk_mcp.devorg import DevOrg
from sfbulk_mcp.mcp.config import ServerConfig, parse_toolsets
from sfbulk_mcp.mcp.orgs import SingleOrg
from sfbulk_mcp.mcp.server import build_server
from sfbulk_mcp.salesforce.client import SalesforceClient

from .conftest import ids, sfbulk


def test_cli_backup_list_diff_and_restore(org: DevOrg, tmp_path: Path) -> None:
    root = str(tmp_path / "backups")
    first = sfbulk(org, tmp_path, "backup", "--dir", root, "--objects", "Account,Contact",
                   "--org", "devorg")
    assert first.exit_code == 0, first.stderr
    assert "(full): 2 object(s), 9 rows" in first.stdout

    doomed = min(ids(org, "SELECT Id FROM Account"))
    org.store.delete("Account", doomed)
    second = sfbulk(org, tmp_path, "backup", "--dir", root, "--objects", "Account,Contact",
                    "--since", "last", "--org", "devorg", "--json")
    assert second.exit_code == 0, second.stderr
    manifest = orjson.loads(second.stdout)
    assert manifest["kind"] == "incremental" and manifest["base"] is not None
    rows = pl.read_parquet(Path(manifest["path"]) / "Account.parquet")
    assert rows.filter(pl.col("IsDeleted"))["Id"].to_list() == [doomed]

    listed = orjson.loads(sfbulk(org, tmp_path, "backup", "list", "--dir", root, "--json").stdout)
    assert [s["kind"] for s in listed["snapshots"]] == ["full", "incremental"]
    assert all(s["status"] == "complete" for s in listed["snapshots"])
    table = sfbulk(org, tmp_path, "backup", "list", "--dir", root)
    assert "incremental" in table.stdout and "complete" in table.stdout

    diff = sfbulk(org, tmp_path, "diff", "previous", "latest", "--dir", root, "--json",
                  "--out", str(tmp_path / "details"))
    assert diff.exit_code == 0, diff.stderr
    data = orjson.loads(diff.stdout)
    assert (data["added"], data["deleted"], data["changed"]) == (0, 3, 0)
    account = next(o for o in data["objects"] if o["object"] == "Account")
    assert account["deleted_ids"] == [doomed]
    assert pl.read_parquet(tmp_path / "details" / "Account.deleted.parquet")["Id"].to_list() == [doomed]
    human = sfbulk(org, tmp_path, "diff", "previous", "latest", "--dir", root, "--object", "Account")
    assert f"- {doomed}" in human.stdout and "Account: +0 -1 ~0" in human.stdout

    dry = sfbulk(org, tmp_path, "restore", "previous", "--dir", root, "--org", "devorg",
                 "--object", "Account,Contact", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "re-create 1 Account" in dry.stdout and "Dry run: nothing was changed" in dry.stdout
    assert not org.store.query("SELECT Id FROM Account WHERE Name = 'Family 0'").records

    real = sfbulk(org, tmp_path, "restore", "previous", "--dir", root, "--org", "devorg",
                  "--object", "Account,Contact", "--json")
    assert real.exit_code == 0, real.stderr
    outcome = orjson.loads(real.stdout)
    assert outcome["ok"] and outcome["recreated"] == 3
    [back] = org.store.query("SELECT Id FROM Account WHERE Name = 'Family 0'").records
    assert len(org.store.query(f"SELECT Id FROM Contact WHERE AccountId = '{back['Id']}'").records) == 2


def test_cli_diff_of_an_unknown_snapshot_fails_clearly(org: DevOrg, tmp_path: Path) -> None:
    result = sfbulk(org, tmp_path, "diff", "nope", "latest", "--dir", str(tmp_path))
    assert result.exit_code == 1 and "no snapshot nope" in result.stderr


@asynccontextmanager
async def mcp_session(org: DevOrg, tmp_path: Path, toolsets: str = "backup") -> AsyncIterator[Client]:
    settings = ServerConfig(data_dir=tmp_path / "data", toolsets=parse_toolsets(toolsets))
    async with SalesforceClient.from_token(org.access_token(), org.instance_url) as sf:
        server, _ = build_server(settings, SingleOrg(sf, owner="test"))
        async with Client(server) as client:
            yield client


@pytest.mark.anyio
async def test_backup_toolset_is_opt_in_and_fully_annotated(org: DevOrg, tmp_path: Path) -> None:
    async with mcp_session(org, tmp_path, "default") as client:
        default_names = {t.name for t in (await client.list_tools()).tools}
    assert not {n for n in default_names if "backup" in n or "time_machine" in n}
    async with mcp_session(org, tmp_path) as client:
        tools = (await client.list_tools()).tools
    names = {t.name for t in tools}
    assert names == {"salesforce_backup", "salesforce_backup_list", "salesforce_time_machine"}
    for tool in tools:
        hints = tool.annotations
        assert hints is not None and hints.read_only_hint and not hints.destructive_hint
        assert tool.output_schema and tool.output_schema.get("type") == "object"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_mcp_backup_with_progress_then_time_machine(org: DevOrg, tmp_path: Path) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with mcp_session(org, tmp_path) as client:
        first = await client.call_tool(
            "salesforce_backup", {"objects_filter": ["Account", "Contact"]},
            progress_callback=on_progress,
        )
        assert not first.is_error, first.content
        data = first.structured_content
        assert data["finished"] and data["status"] == "complete" and data["rows"] == 9
        assert progress and progress[-1][0] == 2.0 and progress[-1][1] == 2.0

        doomed = min(ids(org, "SELECT Id FROM Account"))
        changed = max(ids(org, "SELECT Id FROM Account"))
        await anyio.to_thread.run_sync(lambda: org.store.delete("Account", doomed))
        await anyio.to_thread.run_sync(
            lambda: org.store.update("Account", changed, {"Name": "Changed"})
        )
        second = await client.call_tool(
            "salesforce_backup",
            {"objects_filter": ["Account", "Contact"], "backup_type": "incremental"},
        )
        assert second.structured_content["status"] == "complete"

        listed = (await client.call_tool("salesforce_backup_list", {})).structured_content
        assert [s["kind"] for s in listed["snapshots"]] == ["full", "incremental"]

        one = (
            await client.call_tool("salesforce_backup_list", {"backup_name": "latest"})
        ).structured_content["snapshots"]
        assert len(one) == 1 and one[0]["kind"] == "incremental"
        assert set(one[0]["object_rows"]) == {"Account", "Contact"}

        machine = await client.call_tool(
            "salesforce_time_machine", {"backup_timestamp": "previous", "compare_to": "latest"}
        )
        assert not machine.is_error, machine.content
        summary = machine.structured_content
        assert (summary["added"], summary["deleted"], summary["changed"]) == (0, 3, 1)
        account = next(o for o in summary["objects"] if o["object_name"] == "Account")
        assert account["fields"] == {"Name": 1}
        assert {"Id": doomed, "change": "deleted"} in account["examples"]
        assert len(machine.content[0].text) < 2_000
        resource = await client.read_resource(summary["resource_uri"])
        assert resource.contents
        details = pl.read_parquet(summary["file_path"])
        assert details.height == summary["file_rows"] == 4
        assert set(details["change"]) == {"deleted", "changed"}

        live = await client.call_tool(
            "salesforce_time_machine",
            {"record_id": changed},  # the latest snapshot against the org now
        )
        assert live.structured_content["changed"] == 0  # the latest snapshot has the change


@pytest.mark.anyio
async def test_mcp_long_backup_returns_a_handle_and_finishes_in_the_background(
    org: DevOrg, tmp_path: Path
) -> None:
    org.faults.job_delay = 0.5
    async with mcp_session(org, tmp_path) as client:
        started = await client.call_tool(
            "salesforce_backup", {"objects_filter": ["Account"], "wait_seconds": 0.05}
        )
        data = started.structured_content
        assert not data["finished"] and data["status"] == "running"
        assert "salesforce_backup_list" in data["note"]
        again = await client.call_tool("salesforce_backup", {"objects_filter": ["Account"]})
        assert again.is_error and "already running" in again.content[0].text
        status: dict[str, Any] = {}
        with anyio.fail_after(20):
            while True:
                status = (await client.call_tool("salesforce_backup_list", {})).structured_content
                if status["snapshots"] and status["snapshots"][-1]["status"] == "complete":
                    break
                await anyio.sleep(0.1)
        assert status["snapshots"][-1]["rows"] == 3


@pytest.mark.anyio
async def test_cancelling_the_backup_call_aborts_its_bulk_job(org: DevOrg, tmp_path: Path) -> None:
    org.faults.hang_next_jobs(1)
    async with mcp_session(org, tmp_path) as client:
        with anyio.move_on_after(1.5):
            await client.call_tool(
                "salesforce_backup", {"objects_filter": ["Account"], "wait_seconds": 60}
            )
        async with SalesforceClient.from_token(org.access_token(), org.instance_url) as sf:
            states: list[str] = []
            for _ in range(50):
                states = [j["state"] for j in await sf.bulk_list_jobs("query")]
                if "Aborted" in states:
                    break
                await anyio.sleep(0.1)
        assert states == ["Aborted"]
        listed = (await client.call_tool("salesforce_backup_list", {})).structured_content
        assert [s["status"] for s in listed["snapshots"]] == ["running"]  # resumable later
