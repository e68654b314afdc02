"""The `data` toolset: SOQL, SOSL and single-record reads and writes."""

# No `from __future__ import annotations` here: the tools' `Resolve(...)` markers name
# closures, which the SDK can only see when annotations are evaluated where they are written.

import re
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, ElicitationResult, Resolve
from mcp_types import CallToolResult
from pydantic import Field

from sfbulk_mcp.salesforce.errors import NotFoundError, QueryError, SalesforceError

from .. import hints
from ..app import App, respond, supports_elicitation
from ..confirm import CONFIRMED_BY_ARGUMENT, NO_ELICITATION, Confirmation, decide
from ..formatting import fit_records, render_csv, shorten_values, slim_record
from ..models import RecordResult, RecordsResult, WriteResult
from ..safety import soql_objects
from .common import check_query_objects, file_response, frame_from_records, records_response

MAX_FILE_ROWS = 200_000
_COUNT_ONLY = re.compile(r"^\s*SELECT\s+COUNT\(\s*\)\s+FROM\b", re.IGNORECASE)

SOQL_TIPS = (
    "SOQL tips: name fields explicitly (there is no SELECT *; FIELDS(STANDARD) works with a "
    "LIMIT ≤ 200); parent fields use the relationship name (Owner.Name, Account.Industry; "
    "custom ones end in __r); child rows need a subquery on the child relationship "
    "((SELECT Id FROM Contacts)); text values take single quotes; dates and datetimes are "
    "unquoted (CreatedDate = LAST_N_DAYS:30, CloseDate > 2024-01-01); picklist and Id values "
    "are quoted. Add LIMIT while exploring."
)


def register(server: MCPServer[Any], app: App, *, read_only: bool) -> None:
    """Add the data tools to `server`."""

    async def _run_query(
        query: str, *, include_deleted: bool, output: str, file_format: Literal["parquet", "csv"]
    ) -> CallToolResult:
        app.policy.check_soql(query)
        problems = app.memory().check_soql(query)
        if problems:
            raise ToolError(
                "; ".join(problems)
                + ". (Checked against the learned schema; salesforce_get_object_fields lists them.)"
            )
        client = await app.client()
        await check_query_objects(app, client, query)
        try:
            page = await client.query(query, include_deleted=include_deleted)
        except QueryError as exc:
            raise ToolError(await _with_suggestions(app, client, query, str(exc))) from exc
        records = page.get("records", [])
        total = page.get("totalSize")
        if not records and _COUNT_ONLY.search(query):
            result = RecordsResult(total_size=total, returned=0, done=True)
            return respond(result, f"COUNT() = {total}")
        if output == "file":
            rows = [slim_record(r) for r in records]
            next_url = page.get("nextRecordsUrl")
            while not page.get("done", True) and next_url and len(rows) < MAX_FILE_ROWS:
                page = await client.query_more(next_url)
                rows.extend(slim_record(r) for r in page.get("records", []))
                next_url = page.get("nextRecordsUrl")
            note = None
            if not page.get("done", True):
                note = (
                    f"Stopped after {len(rows)} rows; use salesforce_bulk_query for the "
                    "whole result."
                )
            saved = app.files.save_frame(
                frame_from_records(rows), stem="query", owner=app.owner(), fmt=file_format
            )
            return file_response(app, saved, total_size=total, note=note)
        return records_response(
            app,
            records,
            total_size=total,
            next_records_url=page.get("nextRecordsUrl"),
            done=bool(page.get("done", True)),
        )

    @server.tool(
        name="salesforce_query",
        annotations=hints.read("SOQL query"),
        description=(
            "Run a SOQL query and return compact rows (CSV text plus slim JSON, no "
            "`attributes`). Results larger than the budget come with a cursor for "
            "salesforce_query_more; output='file' writes every row to a Parquet/CSV file "
            "exposed as an MCP resource. " + SOQL_TIPS
        ),
    )
    async def salesforce_query(
        query: Annotated[str, Field(description="SOQL, e.g. SELECT Id, Name FROM Account LIMIT 10")],
        output: Annotated[
            Literal["inline", "file"], Field(description="inline rows, or a file resource")
        ] = "inline",
        file_format: Literal["parquet", "csv"] = "parquet",
    ) -> Annotated[CallToolResult, RecordsResult]:
        return await _run_query(
            query, include_deleted=False, output=output, file_format=file_format
        )

    @server.tool(
        name="salesforce_query_all",
        annotations=hints.read("SOQL query including deleted rows"),
        description=(
            "Like salesforce_query, but also returns deleted (recycle bin) and archived rows "
            "(queryAll; filter with IsDeleted = true). Same budget and cursor."
        ),
    )
    async def salesforce_query_all(
        query: Annotated[str, Field(description="SOQL query")],
        output: Literal["inline", "file"] = "inline",
        file_format: Literal["parquet", "csv"] = "parquet",
    ) -> Annotated[CallToolResult, RecordsResult]:
        return await _run_query(query, include_deleted=True, output=output, file_format=file_format)

    @server.tool(
        name="salesforce_query_more",
        annotations=hints.read("More rows of a query"),
        description=(
            "Continue a query result: pass the cursor from salesforce_query / "
            "salesforce_query_all (or a Salesforce nextRecordsUrl)."
        ),
    )
    async def salesforce_query_more(
        cursor: Annotated[str, Field(description="next_cursor of an earlier result")],
    ) -> Annotated[CallToolResult, RecordsResult]:
        if cursor.startswith("c_"):
            state = app.cursors.take(cursor, app.owner())
            if state is None:
                raise ToolError("unknown or expired cursor: run the query again")
            if state.pending:
                return records_response(
                    app,
                    state.pending,
                    total_size=state.total_size,
                    next_records_url=state.next_records_url,
                    done=state.next_records_url is None,
                    slim=False,
                )
            if state.next_records_url is None:
                return respond(
                    RecordsResult(returned=0, done=True, total_size=state.total_size),
                    "No more rows.",
                )
            next_url = state.next_records_url
        else:
            next_url = cursor
        client = await app.client()
        page = await client.query_more(next_url)
        return records_response(
            app,
            page.get("records", []),
            total_size=page.get("totalSize"),
            next_records_url=page.get("nextRecordsUrl"),
            done=bool(page.get("done", True)),
        )

    @server.tool(
        name="salesforce_search",
        annotations=hints.read("SOSL search"),
        description=(
            "Run a SOSL search across objects, e.g. FIND {Acme*} IN NAME FIELDS RETURNING "
            "Account(Id, Name), Contact(Id, Name, Email) LIMIT 20. Braces around the search "
            "text; name the fields to return per object. Rows carry a `type` column."
        ),
    )
    async def salesforce_search(
        query: Annotated[str, Field(description="SOSL text starting with FIND")],
    ) -> Annotated[CallToolResult, RecordsResult]:
        app.policy.check_sosl(query)
        client = await app.client()
        answer = await client.search(query)
        rows: list[dict[str, Any]] = []
        for record in answer.get("searchRecords", []):
            kind = (record.get("attributes") or {}).get("type")
            if kind and not app.policy.allowed(kind):
                continue
            rows.append({"type": kind, **slim_record(record)})
        return records_response(
            app, rows, total_size=len(rows), next_records_url=None, done=True, slim=False
        )

    @server.tool(
        name="salesforce_get_record",
        annotations=hints.read("Get a record"),
        description="Fetch one record by Id; pass `fields` to get only some of its fields.",
    )
    async def salesforce_get_record(
        object_name: Annotated[str, Field(description="sObject API name, e.g. Account")],
        record_id: Annotated[str, Field(description="15- or 18-character record Id")],
        fields: Annotated[list[str] | None, Field(description="Field API names")] = None,
    ) -> Annotated[CallToolResult, RecordResult]:
        app.policy.check(object_name)
        client = await app.client()
        record = slim_record(await client.get_record(object_name, record_id, fields))
        fitted = fit_records([record], app.budget - 300)
        kept = fitted.records[0] if fitted.records else {}
        result = RecordResult(
            object_name=object_name,
            record_id=str(record.get("Id", record_id)),
            record=kept,
            truncated=fitted.truncated,
        )
        lines = [f"{k}: {'' if v is None else v}" for k, v in kept.items()]
        return respond(result, f"{object_name} {record_id}\n" + "\n".join(lines))

    if read_only:
        return

    @server.tool(
        name="salesforce_create_record",
        annotations=hints.write("Create a record", idempotent=False),
        description=(
            "Create one record. `data` maps field API names to values, e.g. "
            '{"Name": "Acme", "Industry": "Energy"}. Dates as YYYY-MM-DD.'
        ),
    )
    async def salesforce_create_record(
        object_name: Annotated[str, Field(description="sObject API name")],
        data: Annotated[dict[str, Any], Field(description="Field values")],
    ) -> Annotated[CallToolResult, WriteResult]:
        app.policy.check(object_name)
        client = await app.client()
        answer = await client.create(object_name, data)
        result = WriteResult(
            object_name=object_name,
            success=bool(answer.get("success", True)),
            record_id=answer.get("id"),
            created=True,
            affected_records=1,
            errors=list(answer.get("errors") or []),
        )
        return respond(result, f"Created {object_name} {result.record_id}")

    @server.tool(
        name="salesforce_update_record",
        annotations=hints.write("Update a record", idempotent=True),
        description="Update fields of one record. Only the fields in `data` change.",
    )
    async def salesforce_update_record(
        object_name: Annotated[str, Field(description="sObject API name")],
        record_id: Annotated[str, Field(description="Record Id")],
        data: Annotated[dict[str, Any], Field(description="Field values to set")],
    ) -> Annotated[CallToolResult, WriteResult]:
        app.policy.check(object_name)
        client = await app.client()
        await client.update(object_name, record_id, data)
        result = WriteResult(
            object_name=object_name, success=True, record_id=record_id, affected_records=1
        )
        return respond(result, f"Updated {object_name} {record_id} ({', '.join(data)})")

    @server.tool(
        name="salesforce_upsert_record",
        annotations=hints.write("Upsert a record", idempotent=True),
        description=(
            "Insert or update one record matched on an external id field "
            "(or Id). Fails when the value matches several records."
        ),
    )
    async def salesforce_upsert_record(
        object_name: Annotated[str, Field(description="sObject API name")],
        external_id_field: Annotated[str, Field(description="External id field, e.g. Ext_Id__c")],
        data: Annotated[dict[str, Any], Field(description="Field values")],
        external_id: Annotated[
            str | None, Field(description="Its value (or give it inside `data`)")
        ] = None,
    ) -> Annotated[CallToolResult, WriteResult]:
        app.policy.check(object_name)
        body = dict(data)
        # The key travels in the URL; Salesforce wants it out of the body.
        in_body = body.pop(external_id_field, None)
        key = external_id if external_id is not None else in_body
        if key is None or str(key) == "":
            raise ToolError(f"give the {external_id_field} value in external_id (or in data)")
        client = await app.client()
        answer = await client.upsert(object_name, external_id_field, str(key), body)
        created = bool(answer.get("created"))
        result = WriteResult(
            object_name=object_name,
            success=bool(answer.get("success", True)),
            record_id=answer.get("id"),
            created=created,
            affected_records=1,
            errors=list(answer.get("errors") or []),
        )
        verb = "Created" if created else "Updated"
        return respond(result, f"{verb} {object_name} {result.record_id or external_id}")

    async def _ask_delete(
        ctx: Context[Any, Any], object_name: str, record_id: str, confirm: bool
    ) -> Elicit[Confirmation] | str:
        if not supports_elicitation(ctx):
            return CONFIRMED_BY_ARGUMENT if confirm else NO_ELICITATION
        return Elicit(
            f"Delete {object_name} record {record_id}? 1 record will move to the recycle bin.",
            Confirmation,
        )

    @server.tool(
        name="salesforce_delete_record",
        annotations=hints.destructive("Delete a record", idempotent=True),
        description=(
            "Delete one record (to the recycle bin). Needs confirmation: the user is asked "
            "when the client supports it; otherwise the first call only previews the record, "
            "and a second call with confirm=true deletes it."
        ),
    )
    async def salesforce_delete_record(
        object_name: Annotated[str, Field(description="sObject API name")],
        record_id: Annotated[str, Field(description="Record Id")],
        approval: Annotated[ElicitationResult[Confirmation], Resolve(_ask_delete)],
        confirm: Annotated[
            bool, Field(description="true after the user approved the previewed deletion")
        ] = False,
    ) -> Annotated[CallToolResult, WriteResult]:
        app.policy.check(object_name)
        decision = decide(approval)
        if decision == "refused":
            result = WriteResult(
                object_name=object_name, success=False, record_id=record_id, dry_run=True,
                affected_records=0, note="The user did not confirm; nothing was deleted.",
            )
            return respond(result, result.note or "")
        client = await app.client()
        if decision == "preview":
            try:
                record = slim_record(await client.get_record(object_name, record_id))
            except NotFoundError as exc:
                raise ToolError(f"no {object_name} record {record_id}: {exc}") from exc
            shown = shorten_values(record, 1_500)
            note = (
                f"Dry run: 1 {object_name} record would be deleted. Show it to the user and, "
                "once they agree, call salesforce_delete_record again with confirm=true."
            )
            result = WriteResult(
                object_name=object_name, success=False, record_id=record_id, dry_run=True,
                affected_records=1, preview=shown, note=note,
            )
            return respond(result, note + "\n" + render_csv(list(shown), [shown]))
        await client.delete(object_name, record_id)
        result = WriteResult(
            object_name=object_name, success=True, record_id=record_id, affected_records=1
        )
        return respond(result, f"Deleted {object_name} {record_id}")


async def _with_suggestions(app: App, client: Any, query: str, message: str) -> str:
    """Salesforce's query error, plus "did you mean" hints from a fresh describe."""
    objects = soql_objects(query)
    if not objects:
        return message
    memory = app.memory()
    try:
        await memory.learn(client, [objects[0]])
    except SalesforceError:  # the hint is a bonus; never hide the original error behind it
        return message
    problems = memory.check_soql(query)
    return message + (" — " + "; ".join(problems) if problems else "")
