"""The `org` toolset (composite, Tooling query, limits, API versions) and the `apex` toolset
(Apex REST and raw REST calls: escape hatches, off by default)."""

# No `from __future__ import annotations` here: the tools' `Resolve(...)` markers name
# closures, which the SDK can only see when annotations are evaluated where they are written.

from typing import Annotated, Any, Literal

import orjson
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, ElicitationResult, Resolve
from mcp_types import CallToolResult
from pydantic import Field

from .. import hints
from ..app import App, respond, supports_elicitation
from ..confirm import CONFIRMED_BY_ARGUMENT, NO_ELICITATION, Confirmation, decide
from ..formatting import shorten_text, slim_record
from ..models import JsonResult, RecordsResult
from .common import records_response

HttpMethod = Literal["GET", "POST", "PATCH", "PUT", "DELETE"]


def _strip_attributes(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_attributes(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, list):
        return [_strip_attributes(v) for v in value]
    return value


def json_response(app: App, data: Any, *, title: str, status: str = "ok") -> CallToolResult:
    """Slim JSON, cut to the budget with a note when too long."""
    data = _strip_attributes(data)
    text = orjson.dumps(data).decode()
    budget = app.budget - 400
    if len(text.encode()) <= budget:
        return respond(JsonResult(status=status, data=data), f"{title}\n{text}")
    cut, _ = shorten_text(text, budget)
    note = f"The answer was {len(text)} bytes; shown cut to the result budget."
    if app.config.local_files:
        _, path = app.files.new_path("response", "csv")
        json_path = path.with_suffix(".json")
        json_path.write_text(text)
        note += f" Full JSON saved to {json_path}."
    result = JsonResult(status=status, data=None, truncated=True, note=note)
    return respond(result, f"{title}\n{cut}…\n{note}")


def register(server: MCPServer[Any], app: App, *, read_only: bool) -> None:
    """Add the org tools to `server`."""

    @server.tool(
        name="salesforce_tooling_query",
        annotations=hints.read("Tooling API query"),
        description=(
            "Run a SOQL query on the Tooling API (ApexClass, ApexTrigger, CustomField, "
            "FlowDefinitionView, ValidationRule, …). Same budget and cursor as salesforce_query."
        ),
    )
    async def salesforce_tooling_query(
        query: Annotated[str, Field(description="Tooling SOQL, e.g. SELECT Id, Name FROM ApexClass")],
    ) -> Annotated[CallToolResult, RecordsResult]:
        client = await app.client()
        page = await client.tooling_query(query)
        return records_response(
            app,
            page.get("records", []),
            total_size=page.get("totalSize"),
            next_records_url=page.get("nextRecordsUrl"),
            done=bool(page.get("done", True)),
        )

    @server.tool(
        name="salesforce_limits",
        annotations=hints.read("Org limits"),
        description="The org's API limits (daily API requests, bulk jobs, storage…): max and remaining.",
    )
    async def salesforce_limits(
        names: Annotated[list[str] | None, Field(description="Only these limits")] = None,
    ) -> Annotated[CallToolResult, JsonResult]:
        client = await app.client()
        limits = await client.limits()
        if names:
            wanted = {n.lower() for n in names}
            limits = {k: v for k, v in limits.items() if k.lower() in wanted}
        compact = {
            k: {"Max": v.get("Max"), "Remaining": v.get("Remaining")}
            for k, v in limits.items() if isinstance(v, dict)
        }
        return json_response(app, compact, title=f"{len(compact)} limits")

    @server.tool(
        name="salesforce_api_versions",
        annotations=hints.read("API versions"),
        description="The REST API versions the org offers (newest last).",
    )
    async def salesforce_api_versions() -> Annotated[CallToolResult, JsonResult]:
        client = await app.client()
        versions = await client.versions()
        compact = [v.get("version") for v in versions]
        return json_response(app, compact, title=f"{len(compact)} versions, newest {compact[-1] if compact else '-'}")

    if read_only:
        return

    async def _ask_composite(
        ctx: Context[Any, Any], subrequests: list[dict[str, Any]], confirm: bool
    ) -> Elicit[Confirmation] | str:
        deletes = sum(1 for s in subrequests if str(s.get("method", "")).upper() == "DELETE")
        if not deletes:
            return CONFIRMED_BY_ARGUMENT
        if not supports_elicitation(ctx):
            return CONFIRMED_BY_ARGUMENT if confirm else NO_ELICITATION
        return Elicit(f"Run a composite request with {deletes} DELETE subrequest(s)?", Confirmation)

    @server.tool(
        name="salesforce_composite",
        annotations=hints.destructive("Composite request", idempotent=False),
        description=(
            "Up to 25 REST subrequests in one call: each {method, url, referenceId, body?}; "
            "later ones can use @{referenceId.id}. URLs like /services/data/vXX.X/sobjects/"
            "Account. all_or_none rolls back everything on any failure. DELETE subrequests "
            "need confirmation (the user is asked, or call again with confirm=true)."
        ),
    )
    async def salesforce_composite(
        subrequests: Annotated[list[dict[str, Any]], Field(description="compositeRequest items")],
        approval: Annotated[ElicitationResult[Confirmation], Resolve(_ask_composite)],
        all_or_none: bool = False,
        confirm: bool = False,
    ) -> Annotated[CallToolResult, JsonResult]:
        if not subrequests or len(subrequests) > 25:
            raise ToolError("a composite request takes 1 to 25 subrequests")
        for sub in subrequests:
            url = str(sub.get("url", ""))
            parts = url.split("/sobjects/")
            if len(parts) > 1:
                app.policy.check(parts[1].split("/")[0].split("?")[0])
            elif "/query" in url and "q=" in url:
                from urllib.parse import parse_qs, urlsplit

                for soql in parse_qs(urlsplit(url).query).get("q", []):
                    app.policy.check_soql(soql)
        decision = decide(approval)
        deletes = sum(1 for s in subrequests if str(s.get("method", "")).upper() == "DELETE")
        if decision != "go":
            note = (
                f"Dry run: {deletes} DELETE subrequest(s) would run. Call again with "
                "confirm=true once the user agrees."
                if decision == "preview" else "The user did not confirm; nothing was sent."
            )
            return respond(JsonResult(status="not_run", data=None, note=note), note)
        client = await app.client()
        answer = await client.composite(subrequests, all_or_none=all_or_none)
        items = [
            {
                "referenceId": item.get("referenceId"),
                "httpStatusCode": item.get("httpStatusCode"),
                "body": _strip_attributes(item.get("body")),
            }
            for item in answer.get("compositeResponse", [])
        ]
        return json_response(app, items, title=f"{len(items)} subresponses")

def register_apex(server: MCPServer[Any], app: App) -> None:
    """Add the `apex` toolset: Apex REST and raw REST calls (escape hatches)."""

    @server.tool(
        name="salesforce_apex_rest",
        annotations=hints.destructive("Apex REST call", idempotent=False),
        description=(
            "Call a custom Apex REST endpoint (/services/apexrest/<path>). Anything but GET "
            "needs confirmation (the user is asked, or call again with confirm=true)."
        ),
    )
    async def salesforce_apex_rest(
        path: Annotated[str, Field(description="Path under /services/apexrest/")],
        approval: Annotated[ElicitationResult[Confirmation], Resolve(_ask_rest)],
        method: HttpMethod = "GET",
        body: Any = None,
        params: dict[str, str] | None = None,
        confirm: bool = False,
    ) -> Annotated[CallToolResult, JsonResult]:
        decision = decide(approval)
        if decision != "go":
            return _not_run(decision, method, path)
        client = await app.client()
        answer = await client.apex_rest(method, path, body=body, params=params)
        return json_response(app, answer, title=f"{method} /services/apexrest/{path.lstrip('/')}")

    @server.tool(
        name="salesforce_rest_request",
        annotations=hints.destructive("Raw REST call", idempotent=False),
        description=(
            "Any Salesforce REST call. `path` is relative to /services/data/vXX.X/ (e.g. "
            "'sobjects/Account/listviews') or an absolute /services/... path. Anything but GET "
            "needs confirmation."
        ),
    )
    async def salesforce_rest_request(
        path: Annotated[str, Field(description="REST path")],
        approval: Annotated[ElicitationResult[Confirmation], Resolve(_ask_rest)],
        method: HttpMethod = "GET",
        body: Any = None,
        params: dict[str, str] | None = None,
        confirm: bool = False,
    ) -> Annotated[CallToolResult, JsonResult]:
        if "/sobjects/" in f"/{path}":
            app.policy.check(f"/{path}".split("/sobjects/")[1].split("/")[0].split("?")[0] or "-")
        decision = decide(approval)
        if decision != "go":
            return _not_run(decision, method, path)
        client = await app.client()
        answer = await client.request(method, path, params=params, json=body)
        if isinstance(answer, dict) and "records" in answer:
            answer = {**answer, "records": [slim_record(r) for r in answer["records"]]}
        return json_response(app, answer, title=f"{method} {path}")


async def _ask_rest(
    ctx: Context[Any, Any], method: str, path: str, confirm: bool
) -> Elicit[Confirmation] | str:
    if method == "GET":
        return CONFIRMED_BY_ARGUMENT
    if not supports_elicitation(ctx):
        return CONFIRMED_BY_ARGUMENT if confirm else NO_ELICITATION
    return Elicit(f"Send {method} {path} to Salesforce?", Confirmation)


def _not_run(decision: str, method: str, path: str) -> CallToolResult:
    if decision == "preview":
        note = (
            f"Dry run: {method} {path} was not sent. Ask the user, then call again with "
            "confirm=true."
        )
    else:
        note = "The user did not confirm; nothing was sent."
    return respond(JsonResult(status="not_run", note=note), note)
