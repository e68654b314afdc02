"""The tools through a real MCP client session (in process) against a running devorg."""

from __future__ import annotations

import io
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import polars as pl
import pytest
from mcp.client import Client
from mcp_types import ElicitRequestParams, ElicitResult
from sfbulk_mcp.devorg import DevOrg
from sfbulk_mcp.mcp.config import ServerConfig, parse_objects, parse_toolsets
from sfbulk_mcp.mcp.orgs import SingleOrg
from sfbulk_mcp.mcp.server import build_server
from sfbulk_mcp.salesforce.client import SalesforceClient

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def mcp_session(
    org: DevOrg,
    tmp_path: Path,
    *,
    elicitation: Callable[..., Any] | None = None,
    mode: str = "auto",
    **config: Any,
) -> AsyncIterator[Client]:
    config.setdefault("toolsets", parse_toolsets("all"))
    settings = ServerConfig(data_dir=tmp_path / "data", **config)
    async with SalesforceClient.from_token(org.access_token(), org.instance_url) as sf:
        server, _ = build_server(settings, SingleOrg(sf, owner="test"))
        async with Client(server, elicitation_callback=elicitation, mode=mode) as client:
            yield client


def _tag() -> str:
    return "T" + secrets.token_hex(4)


def _make_accounts(org: DevOrg, tag: str, count: int, note: str = "") -> list[str]:
    return [
        org.store.create("Account", {"Name": f"{tag} {i:03d} {note}", "AnnualRevenue": i * 10})
        for i in range(count)
    ]


async def test_query_rows_are_compact_and_cut_to_the_budget_with_a_cursor(
    devorg: DevOrg, tmp_path: Path
) -> None:
    tag = _tag()
    _make_accounts(devorg, tag, 60, note="x" * 60)
    query = f"SELECT Id, Name, Owner.Name FROM Account WHERE Name LIKE '{tag}%' ORDER BY Name"
    async with mcp_session(devorg, tmp_path, max_result_bytes=2_000) as client:
        first = await client.call_tool("salesforce_query", {"query": query})
        assert not first.is_error
        text = first.content[0].text
        data = first.structured_content
        assert "attributes" not in text and "attributes" not in str(data)
        assert text.splitlines()[1] == "Id,Name,Owner.Name"
        assert len(text.encode()) <= 2_000
        assert data["truncated"] and not data["done"] and data["total_size"] == 60
        assert 0 < data["returned"] < 60
        assert "salesforce_query_more" in data["note"]
        assert data["records"][0]["Owner.Name"]
        names = [r["Name"] for r in data["records"]]
        cursor = data["next_cursor"]
        while cursor:
            more = await client.call_tool("salesforce_query_more", {"cursor": cursor})
            assert not more.is_error
            assert len(more.content[0].text.encode()) <= 2_000
            names += [r["Name"] for r in more.structured_content["records"]]
            cursor = more.structured_content["next_cursor"]
        assert names == sorted(f"{tag} {i:03d} {'x' * 60}" for i in range(60))
        used = await client.call_tool("salesforce_query_more", {"cursor": data["next_cursor"]})
        assert used.is_error and "expired" in used.content[0].text


async def test_query_to_file_exposes_every_row_as_a_resource(
    devorg: DevOrg, tmp_path: Path
) -> None:
    tag = _tag()
    _make_accounts(devorg, tag, 45)
    query = f"SELECT Id, Name, AnnualRevenue FROM Account WHERE Name LIKE '{tag}%'"
    async with mcp_session(devorg, tmp_path, max_result_bytes=1_500) as client:
        result = await client.call_tool("salesforce_query", {"query": query, "output": "file"})
        data = result.structured_content
        assert data["file_rows"] == 45 and data["returned"] == 5
        assert data["resource_uri"].startswith("sfbulk://results/")
        read = await client.read_resource(data["resource_uri"])
        frame = pl.read_parquet(io.BytesIO(__import__("base64").b64decode(read.contents[0].blob)))
        assert frame.height == 45
        assert sorted(frame["AnnualRevenue"].to_list()) == [i * 10 for i in range(45)]
        csv_result = await client.call_tool(
            "salesforce_query", {"query": query, "output": "file", "file_format": "csv"}
        )
        text = (await client.read_resource(csv_result.structured_content["resource_uri"]))
        assert text.contents[0].text.count("\n") == 46


async def test_result_files_are_listed_as_resources_with_their_mime_types(
    devorg: DevOrg, tmp_path: Path
) -> None:
    tag = _tag()
    _make_accounts(devorg, tag, 12)
    query = f"SELECT Id, Name FROM Account WHERE Name LIKE '{tag}%'"
    async with mcp_session(devorg, tmp_path) as client:
        assert not (await client.list_resources()).resources
        parquet = await client.call_tool("salesforce_query", {"query": query, "output": "file"})
        csv = await client.call_tool(
            "salesforce_query", {"query": query, "output": "file", "file_format": "csv"}
        )
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}
        parquet_uri = parquet.structured_content["resource_uri"]
        csv_uri = csv.structured_content["resource_uri"]
        assert set(listed) == {parquet_uri, csv_uri}
        assert listed[parquet_uri].mime_type == "application/vnd.apache.parquet"
        assert listed[csv_uri].mime_type == "text/csv"
        assert "12 rows" in (listed[parquet_uri].description or "")
        assert (await client.read_resource(parquet_uri)).contents[0].mime_type == (
            "application/vnd.apache.parquet"
        )
        assert (await client.read_resource(csv_uri)).contents[0].mime_type == "text/csv"


async def test_unknown_field_gets_did_you_mean_after_learning(
    devorg: DevOrg, tmp_path: Path
) -> None:
    async with mcp_session(devorg, tmp_path) as client:
        learned = await client.call_tool("salesforce_learn_schema", {"objects": ["Account"]})
        assert learned.structured_content["learned"] == ["Account"]
        again = await client.call_tool("salesforce_learn_schema", {"objects": ["Account"]})
        assert again.structured_content["already_known"] == ["Account"]
        before = devorg.limits.api_requests
        bad = await client.call_tool(
            "salesforce_query", {"query": "SELECT Id, Nmae, AnualRevenue FROM Account"}
        )
        assert bad.is_error
        message = bad.content[0].text
        assert "did you mean Name" in message and "AnnualRevenue" in message
        assert devorg.limits.api_requests == before  # refused before any API call
        info = await client.call_tool("salesforce_installation_info", {})
        assert not info.is_error
        assert info.structured_content["objects_total"] >= 1


async def test_delete_without_elicitation_is_a_dry_run_until_confirmed(
    devorg: DevOrg, tmp_path: Path
) -> None:
    [record_id] = _make_accounts(devorg, _tag(), 1)
    async with mcp_session(devorg, tmp_path) as client:
        args = {"object_name": "Account", "record_id": record_id}
        preview = await client.call_tool("salesforce_delete_record", args)
        assert not preview.is_error
        assert preview.structured_content["dry_run"] is True
        assert preview.structured_content["affected_records"] == 1
        assert preview.structured_content["preview"]["Id"] == record_id
        still = await client.call_tool("salesforce_get_record", args)
        assert not still.is_error
        done = await client.call_tool("salesforce_delete_record", {**args, "confirm": True})
        assert done.structured_content["success"] is True
        gone = await client.call_tool("salesforce_get_record", args)
        assert gone.is_error


# "auto" negotiates the 2026 protocol (questions ride an input-required result); "legacy" is
# the handshake era most desktop clients speak (the server sends elicitation/create mid-call).
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_delete_asks_the_user_when_the_client_can_show_a_form(
    devorg: DevOrg, tmp_path: Path, mode: str
) -> None:
    asked: list[str] = []

    def answer(accept: bool) -> Callable[..., Any]:
        async def callback(context: Any, params: ElicitRequestParams) -> ElicitResult:
            asked.append(params.message)
            if accept:
                return ElicitResult(action="accept", content={"confirm": True})
            return ElicitResult(action="decline")

        return callback

    keep, drop = _make_accounts(devorg, _tag(), 2)
    async with mcp_session(devorg, tmp_path, elicitation=answer(False), mode=mode) as client:
        refused = await client.call_tool(
            "salesforce_delete_record", {"object_name": "Account", "record_id": keep}
        )
        assert refused.structured_content["success"] is False
        assert "did not confirm" in refused.structured_content["note"]
    async with mcp_session(devorg, tmp_path, elicitation=answer(True), mode=mode) as client:
        # With a form available, the user is asked even when the model says confirm=true.
        done = await client.call_tool(
            "salesforce_delete_record",
            {"object_name": "Account", "record_id": drop, "confirm": True},
        )
        assert done.structured_content["success"] is True
        assert not (await client.call_tool(
            "salesforce_get_record", {"object_name": "Account", "record_id": keep})).is_error
    assert len(asked) == 2 and all("1 record" in m for m in asked)


async def test_object_lists_block_queries_writes_and_searches(
    devorg: DevOrg, tmp_path: Path
) -> None:
    async with mcp_session(
        devorg, tmp_path, allow_objects=parse_objects("Account,Contact"),
        deny_objects=parse_objects("Contact"),
    ) as client:
        ok = await client.call_tool("salesforce_query", {"query": "SELECT Id FROM Account LIMIT 1"})
        assert not ok.is_error
        for name, args in [
            ("salesforce_query", {"query": "SELECT Id FROM Contact LIMIT 1"}),
            ("salesforce_query", {"query": "SELECT Id, (SELECT Id FROM Contacts) FROM Account"}),
            ("salesforce_query", {"query": "SELECT Id FROM Opportunity"}),
            ("salesforce_create_record", {"object_name": "Lead", "data": {"LastName": "X"}}),
            ("salesforce_describe_object", {"object_name": "contact"}),
            ("salesforce_bulk_query", {"query": "SELECT Id FROM Contact"}),
        ]:
            refused = await client.call_tool(name, args)
            assert refused.is_error, name
            assert "not available on this server" in refused.content[0].text
        listed = await client.call_tool("salesforce_list_objects", {})
        assert {o["name"] for o in listed.structured_content["objects"]} <= {"Account"}


async def test_bulk_query_writes_a_file_and_reports_progress(
    devorg: DevOrg, tmp_path: Path
) -> None:
    tag = _tag()
    _make_accounts(devorg, tag, 30)
    devorg.faults.job_delay = 0.6
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async with mcp_session(devorg, tmp_path) as client:
        result = await client.call_tool(
            "salesforce_bulk_query",
            {"query": f"SELECT Id, Name, AnnualRevenue FROM Account WHERE Name LIKE '{tag}%'"},
            progress_callback=on_progress,
        )
        data = result.structured_content
        assert data["state"] == "JobComplete" and data["file_rows"] == 30
        assert len(data["preview"]) == 5 and "rows" not in data
        assert len(result.content[0].text) < 2_000  # never the rows themselves
        assert progress and any("InProgress" in (m or "") for _, _, m in progress)
        frame = pl.read_parquet(data["file_path"])
        assert frame.schema["AnnualRevenue"] == pl.Float64


async def test_long_bulk_job_returns_a_handle_then_results(
    devorg: DevOrg, tmp_path: Path
) -> None:
    tag = _tag()
    _make_accounts(devorg, tag, 12)
    devorg.faults.job_delay = 1.5
    async with mcp_session(devorg, tmp_path) as client:
        handle = await client.call_tool(
            "salesforce_bulk_query",
            {"query": f"SELECT Id FROM Account WHERE Name LIKE '{tag}%'", "wait_seconds": 0},
        )
        data = handle.structured_content
        assert data["finished"] is False and data["job_id"].startswith("750")
        assert "salesforce_bulk_job_results" in data["note"]
        results = await client.call_tool(
            "salesforce_bulk_job_results", {"job_id": data["job_id"], "wait_seconds": 20}
        )
        assert results.structured_content["file_rows"] == 12


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_cancelling_a_bulk_call_aborts_the_salesforce_job(
    devorg: DevOrg, tmp_path: Path, mode: str
) -> None:
    async with SalesforceClient.from_token(devorg.access_token(), devorg.instance_url) as sf:
        aborted_before = [j["state"] for j in await sf.bulk_list_jobs("query")].count("Aborted")
    devorg.faults.hang_next_jobs(1)
    async with mcp_session(devorg, tmp_path, mode=mode) as client:
        with anyio.move_on_after(1.5):
            await client.call_tool(
                "salesforce_bulk_query", {"query": "SELECT Id FROM Account", "wait_seconds": 60}
            )
        # The server aborts the job it was waiting for.
        async with SalesforceClient.from_token(devorg.access_token(), devorg.instance_url) as sf:
            for _ in range(50):
                jobs = await sf.bulk_list_jobs("query")
                states = [j["state"] for j in jobs if j.get("object") == "Account"]
                if states.count("Aborted") >= aborted_before + 1:
                    break
                await anyio.sleep(0.1)
            assert states.count("Aborted") == aborted_before + 1
            assert "InProgress" not in states and "UploadComplete" not in states


async def test_bulk_loads_from_inline_rows_and_delete_needs_confirmation(
    devorg: DevOrg, tmp_path: Path
) -> None:
    tag = _tag()
    async with mcp_session(devorg, tmp_path) as client:
        inserted = await client.call_tool(
            "salesforce_bulk_insert",
            {"object_name": "Account", "rows": [{"Name": f"{tag} {i}"} for i in range(5)]
             + [{"AnnualRevenue": 5}]},
        )
        data = inserted.structured_content
        assert data["state"] == "JobComplete"
        assert data["records_processed"] == 6 and data["records_failed"] == 1
        assert data["failed_resource_uri"] and "REQUIRED_FIELD_MISSING" in data["note"]
        ids = [r["Id"] for r in (await client.call_tool("salesforce_query", {
            "query": f"SELECT Id FROM Account WHERE Name LIKE '{tag}%'"})).structured_content["records"]]
        assert len(ids) == 5
        rows = [{"Id": i} for i in ids]
        dry = await client.call_tool("salesforce_bulk_delete", {"object_name": "Account", "rows": rows})
        assert dry.structured_content["dry_run"] and dry.structured_content["affected_records"] == 5
        left = await client.call_tool("salesforce_query", {
            "query": f"SELECT Id FROM Account WHERE Name LIKE '{tag}%'"})
        assert left.structured_content["returned"] == 5
        deleted = await client.call_tool(
            "salesforce_bulk_delete", {"object_name": "Account", "rows": rows, "confirm": True})
        assert deleted.structured_content["records_processed"] == 5
        gone = await client.call_tool("salesforce_query", {
            "query": f"SELECT Id FROM Account WHERE Name LIKE '{tag}%'"})
        assert gone.structured_content["returned"] == 0


async def test_bulk_update_reads_a_local_file_or_a_result_resource(
    devorg: DevOrg, tmp_path: Path
) -> None:
    tag = _tag()
    ids = _make_accounts(devorg, tag, 3)
    source = tmp_path / "renames.csv"
    pl.DataFrame({"Id": ids, "Name": [f"{tag} renamed {i}" for i in range(3)]}).write_csv(source)
    query = f"SELECT Id, Name FROM Account WHERE Name LIKE '{tag}%' ORDER BY Name"
    async with mcp_session(devorg, tmp_path) as client:
        updated = await client.call_tool(
            "salesforce_bulk_update", {"object_name": "Account", "file_path": str(source)}
        )
        assert updated.structured_content["records_processed"] == 3
        assert updated.structured_content["records_failed"] in (0, None)
        rows = (await client.call_tool("salesforce_query", {"query": query})).structured_content
        assert [r["Name"] for r in rows["records"]] == [f"{tag} renamed {i}" for i in range(3)]

        saved = await client.call_tool("salesforce_query", {"query": query, "output": "file"})
        again = await client.call_tool("salesforce_bulk_update", {
            "object_name": "Account", "resource_uri": saved.structured_content["resource_uri"]})
        assert again.structured_content["records_processed"] == 3
        missing = await client.call_tool(
            "salesforce_bulk_update", {"object_name": "Account", "file_path": str(tmp_path / "no.csv")}
        )
        assert missing.is_error and "no file" in missing.content[0].text


async def test_argument_names_of_other_salesforce_servers_are_understood(
    devorg: DevOrg, tmp_path: Path
) -> None:
    [record_id] = _make_accounts(devorg, _tag(), 1)
    async with mcp_session(devorg, tmp_path) as client:
        got = await client.call_tool(
            "salesforce_get_record", {"sobject": "Account", "record_id": record_id})
        assert got.structured_content["record"]["Id"] == record_id
        queried = await client.call_tool(
            "salesforce_query", {"soql": f"SELECT Id FROM Account WHERE Id = '{record_id}'"})
        assert queried.structured_content["returned"] == 1
        dry = await client.call_tool(
            "salesforce_bulk_delete", {"sobject": "Account", "record_ids": [record_id]})
        assert dry.structured_content["dry_run"] and dry.structured_content["affected_records"] == 1


async def test_upsert_creates_then_updates_by_external_id(devorg: DevOrg, tmp_path: Path) -> None:
    key = _tag()
    async with mcp_session(devorg, tmp_path) as client:
        created = await client.call_tool("salesforce_upsert_record", {
            "object_name": "Account", "external_id_field": "External_Id__c",
            "data": {"External_Id__c": key, "Name": f"{key} first"}})
        assert created.structured_content["created"] is True, created.content[0].text
        updated = await client.call_tool("salesforce_upsert_record", {
            "object_name": "Account", "external_id_field": "External_Id__c", "external_id": key,
            "data": {"Name": f"{key} second"}})
        assert updated.structured_content["created"] is False
        assert updated.structured_content["record_id"] in (None, created.structured_content["record_id"])
        rows = await client.call_tool("salesforce_query", {
            "query": f"SELECT Name FROM Account WHERE External_Id__c = '{key}'"})
        assert rows.structured_content["records"] == [{"Name": f"{key} second"}]


async def test_count_queries_answer_with_the_count(devorg: DevOrg, tmp_path: Path) -> None:
    tag = _tag()
    _make_accounts(devorg, tag, 4)
    async with mcp_session(devorg, tmp_path) as client:
        counted = await client.call_tool(
            "salesforce_query", {"query": f"SELECT COUNT() FROM Account WHERE Name LIKE '{tag}%'"})
    assert counted.content[0].text == "COUNT() = 4"
    assert counted.structured_content["total_size"] == 4


async def test_bulk_load_refuses_rows_without_values_instead_of_losing_them(
    devorg: DevOrg, tmp_path: Path
) -> None:
    tag = _tag()
    rows = [{"Name": f"{tag} a"}, {}, {"Name": None}, {"Name": f"{tag} b"}]
    async with mcp_session(devorg, tmp_path) as client:
        refused = await client.call_tool(
            "salesforce_bulk_insert", {"object_name": "Account", "rows": rows}
        )
        count = await client.call_tool(
            "salesforce_query", {"query": f"SELECT COUNT() FROM Account WHERE Name LIKE '{tag}%'"}
        )
    assert refused.is_error
    assert "2 row(s) have no values (row 2, 3)" in refused.content[0].text
    assert count.structured_content["total_size"] == 0
