"""Search, describe, composite, Tooling and the Apex/REST escape hatches through MCP."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from sfbulk_mcp.devorg import DevOrg

from .test_mcp_tools_devorg import mcp_session

pytestmark = pytest.mark.anyio


async def test_search_returns_typed_slim_rows(devorg: DevOrg, tmp_path: Path) -> None:
    pytest.importorskip("sfbulk_mcp.devorg.sosl", reason="the devorg has no SOSL yet")
    word = "Zq" + secrets.token_hex(3)
    devorg.store.create("Account", {"Name": f"{word} Holdings"})
    async with mcp_session(devorg, tmp_path) as client:
        found = await client.call_tool("salesforce_search", {
            "query": f"FIND {{{word}*}} IN NAME FIELDS RETURNING Account(Id, Name)"})
    assert not found.is_error, found.content[0].text
    rows = found.structured_content["records"]
    assert rows and rows[0]["type"] == "Account" and rows[0]["Name"].startswith(word)
    assert "attributes" not in found.content[0].text


async def test_describe_and_fields_are_compact_and_filterable(
    devorg: DevOrg, tmp_path: Path
) -> None:
    async with mcp_session(devorg, tmp_path) as client:
        described = await client.call_tool("salesforce_describe_object", {"object_name": "Account"})
        fields = await client.call_tool(
            "salesforce_get_object_fields", {"object_name": "Account", "field_type": "reference"}
        )
        custom = await client.call_tool(
            "salesforce_list_objects", {"custom_only": True}
        )
    info = described.structured_content
    by_name = {f["name"]: f for f in info["fields"]}
    assert info["field_count"] >= len(info["fields"]) > 5
    assert by_name["Name"]["required"] is True
    assert by_name["Type"]["picklist_values"]
    assert by_name["OwnerId"]["reference_to"] == ["User"]
    assert by_name["OwnerId"]["relationship_name"] == "Owner"
    assert len(described.content[0].text.encode()) <= 20_000
    refs = fields.structured_content["fields"]
    assert refs and all(f["type"] == "reference" for f in refs)
    assert all(o["custom"] for o in custom.structured_content["objects"])


async def test_composite_runs_subrequests_and_deletes_need_confirmation(
    devorg: DevOrg, tmp_path: Path
) -> None:
    version = f"v{devorg.api_version}"
    name = "Comp " + secrets.token_hex(3)
    subrequests: list[dict[str, Any]] = [
        {"method": "POST", "url": f"/services/data/{version}/sobjects/Account",
         "referenceId": "newAccount", "body": {"Name": name}},
        {"method": "GET", "url": f"/services/data/{version}/sobjects/Account/@{{newAccount.id}}",
         "referenceId": "readBack"},
    ]
    async with mcp_session(devorg, tmp_path) as client:
        done = await client.call_tool("salesforce_composite", {"subrequests": subrequests})
        assert not done.is_error, done.content[0].text
        items = done.structured_content["data"]
        assert [i["httpStatusCode"] for i in items] == [201, 200]
        assert items[1]["body"]["Name"] == name and "attributes" not in items[1]["body"]
        new_id = items[0]["body"]["id"]
        delete = [{"method": "DELETE", "url": f"/services/data/{version}/sobjects/Account/{new_id}",
                   "referenceId": "drop"}]
        dry = await client.call_tool("salesforce_composite", {"subrequests": delete})
        assert dry.structured_content["status"] == "not_run"
        assert not (await client.call_tool(
            "salesforce_get_record", {"object_name": "Account", "record_id": new_id})).is_error
        dropped = await client.call_tool(
            "salesforce_composite", {"subrequests": delete, "confirm": True})
        assert dropped.structured_content["data"][0]["httpStatusCode"] == 204


async def test_apex_rest_reads_freely_and_writes_only_when_confirmed(
    devorg: DevOrg, tmp_path: Path
) -> None:
    calls: list[str] = []

    def handler(request: Any) -> Any:
        calls.append(request.method)
        return {"method": request.method, "ok": True}

    path = "/mcp" + secrets.token_hex(3)
    devorg.register_apex_rest("GET", path, handler)
    devorg.register_apex_rest("POST", path, handler)
    async with mcp_session(devorg, tmp_path) as client:
        got = await client.call_tool("salesforce_apex_rest", {"path": path})
        assert got.structured_content["data"] == {"method": "GET", "ok": True}
        held = await client.call_tool(
            "salesforce_apex_rest", {"path": path, "method": "POST", "body": {"x": 1}})
        assert held.structured_content["status"] == "not_run"
        sent = await client.call_tool(
            "salesforce_apex_rest",
            {"path": path, "method": "POST", "body": {"x": 1}, "confirm": True})
        assert sent.structured_content["data"]["method"] == "POST"
        rest = await client.call_tool("salesforce_rest_request", {"path": "limits"})
        assert "DailyApiRequests" in rest.structured_content["data"]
    assert calls == ["GET", "POST"]


async def test_query_all_sees_deleted_rows(devorg: DevOrg, tmp_path: Path) -> None:
    name = "Gone " + secrets.token_hex(3)
    record_id = devorg.store.create("Account", {"Name": name})
    devorg.store.delete("Account", record_id)
    query = f"SELECT Id, IsDeleted FROM Account WHERE Name = '{name}'"
    async with mcp_session(devorg, tmp_path) as client:
        live = await client.call_tool("salesforce_query", {"query": query})
        everything = await client.call_tool("salesforce_query_all", {"query": query})
    assert live.structured_content["returned"] == 0
    assert everything.structured_content["records"] == [{"Id": record_id, "IsDeleted": True}]
