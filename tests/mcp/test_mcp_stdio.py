"""`sfbulk mcp` as a stdio subprocess driven by a real MCP client."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from sfbulk_mcp.devorg import DevOrg

pytestmark = pytest.mark.anyio

LAUNCH = "from sfbulk_mcp.cli.main import mcp_main; mcp_main()"
DESTRUCTIVE = {
    "salesforce_delete_record",
    "salesforce_bulk_delete",
    "salesforce_bulk_hard_delete",
    "salesforce_composite",
}


@asynccontextmanager
async def stdio_server(
    org: DevOrg, tmp_path: Path, *args: str, token: str | None = None
) -> AsyncIterator[Client]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SFBULK_CONFIG_DIR": str(tmp_path / "config"),
        "SFBULK_MCP_DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "DEBUG",
    }
    if "--org" in args:
        # `--org devorg` logs in to the devorg that answers at this URL.
        env["SFBULK_DEVORG_URL"] = org.login_url
    else:
        env["SALESFORCE_INSTANCE_URL"] = org.instance_url
        env["SALESFORCE_ACCESS_TOKEN"] = token or org.access_token()
    params = StdioServerParameters(command=sys.executable, args=["-c", LAUNCH, *args], env=env)
    # stdio_client wants a real file for the child's stderr.
    with open(tmp_path / "stderr.log", "w") as errlog:  # noqa: ASYNC230
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield client


async def test_default_tools_are_few_annotated_and_typed(devorg: DevOrg, tmp_path: Path) -> None:
    async with stdio_server(devorg, tmp_path) as client:
        tools = (await client.list_tools()).tools
    names = {t.name for t in tools}
    assert 15 <= len(tools) < 40
    assert {"salesforce_query", "salesforce_bulk_query", "salesforce_get_record",
            "salesforce_describe_object", "salesforce_bulk_job_results"} <= names
    assert not names & {"salesforce_apex_rest", "salesforce_rest_request"}
    for tool in tools:
        hints = tool.annotations
        assert hints is not None, tool.name
        assert None not in (hints.read_only_hint, hints.destructive_hint,
                            hints.idempotent_hint, hints.open_world_hint), tool.name
        assert tool.output_schema and tool.output_schema.get("type") == "object", tool.name
        assert tool.description and len(tool.description) > 30
    assert {t.name for t in tools if t.annotations and t.annotations.destructive_hint} == DESTRUCTIVE
    query = next(t for t in tools if t.name == "salesforce_query")
    assert "query" in query.input_schema["required"]


async def test_read_only_mode_leaves_out_every_write_tool(devorg: DevOrg, tmp_path: Path) -> None:
    async with stdio_server(devorg, tmp_path, "--read-only", "--toolsets", "all") as client:
        tools = (await client.list_tools()).tools
        result = await client.call_tool(
            "salesforce_query", {"query": "SELECT Id, Name FROM Account LIMIT 3"}
        )
    assert all(t.annotations and t.annotations.read_only_hint for t in tools)
    assert "salesforce_create_record" not in {t.name for t in tools}
    assert not result.is_error


async def test_all_toolsets_add_the_escape_hatches_with_org_devorg(
    devorg: DevOrg, tmp_path: Path
) -> None:
    async with stdio_server(devorg, tmp_path, "--org", "devorg", "--toolsets", "all") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("salesforce_query", {"query": "SELECT Id FROM Account"})
    assert {"salesforce_apex_rest", "salesforce_rest_request"} <= names
    assert len(names) < 40
    assert not result.is_error and result.structured_content["total_size"] >= 1


async def test_stdout_carries_only_the_protocol_and_no_token_is_logged(
    devorg: DevOrg, tmp_path: Path
) -> None:
    token = devorg.access_token()
    async with stdio_server(devorg, tmp_path, "--max-result-bytes", "1500", token=token) as client:
        result = await client.call_tool(
            "salesforce_query", {"query": "SELECT Id, Name, Owner.Name FROM Account"}
        )
        versions = await client.call_tool("salesforce_api_versions", {})
    # Any stray line on stdout would have broken the JSON-RPC stream before this point.
    assert not result.is_error and not versions.is_error
    assert len(result.content[0].text.encode()) <= 1500
    logged = (tmp_path / "stderr.log").read_text()
    assert token not in logged
    assert token not in result.content[0].text


def test_without_an_org_it_says_what_to_set_on_stderr_only(tmp_path: Path) -> None:
    import subprocess

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "SFBULK_CONFIG_DIR": str(tmp_path / "config")}
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH], env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "SALESFORCE_ACCESS_TOKEN" in done.stderr and "Traceback" not in done.stderr
