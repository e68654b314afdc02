"""Build the MCP server: pick the toolsets, wire the tools to the caller's org."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import polars as pl
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp_types import CallToolResult, InputRequiredResult
from mcp_types import Resource as MCPResource
from pydantic import AnyUrl

from sfbulk_mcp import __version__
from sfbulk_mcp.salesforce.errors import SalesforceError

from .app import App
from .config import ServerConfig
from .orgs import OrgAccess
from .results import RESOURCE_SCHEME
from .tools import backup, bulk, data, org, schema

log = logging.getLogger("sfbulk_mcp.mcp")

INSTRUCTIONS = """\
Salesforce tools. Results are kept small: rows come as CSV text (and slim JSON) cut to a
byte budget; follow `next_cursor` with salesforce_query_more, or ask for output='file' /
use salesforce_bulk_query to get every row as a Parquet/CSV resource (sfbulk://results/…)
that never passes through the conversation. Unsure of field names? salesforce_describe_object
or salesforce_get_object_fields first; salesforce_learn_schema lets queries be checked
before they are sent. Deletes need the user's confirmation."""


# Argument names other Salesforce MCP servers use for the same things, so that prompts and
# agents written for them keep working: other name → ours.
ARGUMENT_ALIASES = {
    "sobject": "object_name",
    "objectName": "object_name",
    "sobject_type": "object_name",
    "recordId": "record_id",
    "id": "record_id",
    "soql": "query",
    "sosl": "query",
    "next_records_url": "cursor",
    "nextRecordsUrl": "cursor",
    "records": "rows",
    "externalIdField": "external_id_field",
}


def normalize_arguments(arguments: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """Rename arguments given under another server's names to this tool's names."""
    out = dict(arguments)
    for alias, name in ARGUMENT_ALIASES.items():
        if alias in out and alias not in properties and name in properties and name not in out:
            out[name] = out.pop(alias)
    if "record_ids" in out and "record_ids" not in properties and "rows" in properties:
        out.setdefault("rows", [{"Id": record_id} for record_id in out.pop("record_ids")])
    return out


class SalesforceMCPServer(MCPServer[Any]):
    """`MCPServer` whose tools report Salesforce errors as readable tool errors, and whose
    resources include the caller's result files."""

    app: App | None = None

    async def list_resources(self) -> list[MCPResource]:
        """The fixed resources, then the result files of the caller (nobody else's)."""
        listed = await super().list_resources()
        if self.app is None:
            return listed
        owned = self.app.files.list(self.app.owner())
        files = sorted((f for f in owned if f.path.exists()), key=lambda f: f.name)
        return listed + [
            MCPResource(
                uri=saved.uri,
                name=saved.name,
                description=f"{saved.rows} rows, {len(saved.columns)} columns ({saved.format})",
                mime_type=saved.mime_type,
                size=saved.bytes,
            )
            for saved in files
        ]

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[Any, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        """A result file comes with its own MIME type (Parquet or CSV)."""
        contents = await super().read_resource(uri, context)
        text = str(uri)
        if self.app is None or isinstance(contents, InputRequiredResult):
            return contents
        if not text.startswith(RESOURCE_SCHEME):
            return contents
        saved = self.app.files.get(text[len(RESOURCE_SCHEME):], self.app.owner())
        if saved is None:
            return contents
        return [
            ReadResourceContents(content=item.content, mime_type=saved.mime_type, meta=item.meta)
            for item in contents
        ]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            arguments = normalize_arguments(arguments, tool.parameters.get("properties", {}))
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, SalesforceError):
                # Salesforce's own message says what went wrong (it never holds a token).
                raise ToolError(f"{name} failed: {cause}") from cause
            if isinstance(cause, (ValueError, LookupError, OSError)) and _engine_or_io(cause):
                raise ToolError(f"{name} failed: {cause}") from cause
            if isinstance(cause, pl.exceptions.PolarsError):
                # Input rows or files that cannot be read or written as a table.
                raise ToolError(f"{name} failed on the data: {cause}") from cause
            raise


def _engine_or_io(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith("sfbulk_mcp") or isinstance(exc, OSError)


def build_server(
    config: ServerConfig, orgs: OrgAccess, **server_options: Any
) -> tuple[SalesforceMCPServer, App]:
    """The server with the tools of `config.toolsets`, served through `orgs`."""
    app = App(config=config, orgs=orgs)
    server = SalesforceMCPServer(
        name="sfbulk-mcp",
        title="Salesforce (sfbulk-mcp)",
        instructions=INSTRUCTIONS,
        version=__version__,
        **server_options,
    )
    server.app = app
    read_only = config.read_only
    if "data" in config.toolsets:
        data.register(server, app, read_only=read_only)
    if "schema" in config.toolsets:
        schema.register(server, app, read_only=read_only)
    if "bulk" in config.toolsets:
        bulk.register(server, app, read_only=read_only)
    if "org" in config.toolsets:
        org.register(server, app, read_only=read_only)
    if "apex" in config.toolsets and not read_only:
        org.register_apex(server, app)
    if "backup" in config.toolsets:
        backup.register(server, app, read_only=read_only)

    @server.resource(
        RESOURCE_SCHEME + "{name}",
        name="result-file",
        description="A full query or bulk result saved as Parquet or CSV.",
    )
    async def result_file(name: str, ctx: Context[Any, Any]) -> bytes | str:
        saved = app.files.get(name, app.owner())
        if saved is None:
            raise ResourceError(f"no result file {name} (it may belong to another session)")
        if saved.format == "csv":
            return saved.path.read_text(encoding="utf-8")
        return saved.path.read_bytes()

    return server, app
