"""The `bulk` toolset: Bulk API 2.0 query and loads whose rows never enter the conversation."""

# No `from __future__ import annotations` here: the tools' `Resolve(...)` markers name
# closures, which the SDK can only see when annotations are evaluated where they are written.

from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import polars as pl
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, ElicitationResult, Resolve
from mcp_types import CallToolResult
from pydantic import Field

from sfbulk_mcp.salesforce.bulk import bulk_query_problems
from sfbulk_mcp.salesforce.errors import SalesforceError

from .. import hints
from ..app import App, respond, supports_elicitation
from ..bulk_jobs import (
    MAX_UPLOAD_BYTES,
    JobKind,
    abort_quietly,
    ingest_csv,
    read_input,
    save_ingest_results,
    save_query_results,
    wait_for_job,
)
from ..confirm import CONFIRMED_BY_ARGUMENT, NO_ELICITATION, Confirmation, decide
from ..formatting import render_csv
from ..models import BulkJobResult
from ..results import RESOURCE_SCHEME, ResultFile, preview

Operation = Literal["insert", "update", "upsert", "delete", "hardDelete"]

_WAIT_HELP = (
    "Seconds to wait for the job before returning its handle (job_id) to check later with "
    "salesforce_bulk_job_status / salesforce_bulk_job_results"
)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _job_result(info: dict[str, Any], kind: JobKind, *, finished: bool) -> BulkJobResult:
    return BulkJobResult(
        job_id=str(info.get("id")),
        kind=kind,
        operation=info.get("operation"),
        object_name=info.get("object"),
        state=str(info.get("state")),
        finished=finished,
        records_processed=_int(info.get("numberRecordsProcessed")),
        records_failed=_int(info.get("numberRecordsFailed")),
        error_message=info.get("errorMessage"),
    )


def _with_file(result: BulkJobResult, saved: ResultFile, *, local: bool) -> BulkJobResult:
    rows = preview(saved, 5)
    result.resource_uri = saved.uri
    result.file_path = str(saved.path) if local else None
    result.file_rows = saved.rows
    result.preview = rows
    return result


def _text(result: BulkJobResult) -> str:
    head = (
        f"Bulk {result.kind} job {result.job_id} ({result.operation or ''} "
        f"{result.object_name or ''}): {result.state}"
    )
    if result.records_processed is not None:
        head += f", {result.records_processed} processed"
    if result.records_failed:
        head += f", {result.records_failed} failed"
    lines = [head]
    if result.error_message:
        lines.append(f"error: {result.error_message}")
    if result.resource_uri:
        lines.append(
            f"{result.file_rows} rows in {result.resource_uri}"
            + (f" (local path {result.file_path})." if result.file_path else ".")
        )
        if result.preview:
            lines.append(f"First {len(result.preview)}:")
            lines.append(render_csv(list(result.preview[0]), result.preview).rstrip())
    if result.failed_resource_uri:
        lines.append(f"Failed rows with their errors: {result.failed_resource_uri}")
    if result.note:
        lines.append(result.note)
    return "\n".join(lines)


def register(server: MCPServer[Any], app: App, *, read_only: bool) -> None:
    """Add the bulk tools to `server`."""
    kinds: dict[str, JobKind] = {}

    async def _kind_of(
        client: Any, job_id: str, kind: JobKind | None
    ) -> tuple[JobKind, dict[str, Any]]:
        if kind is not None:
            return kind, await client.bulk_get_job(kind, job_id)
        known = kinds.get(job_id)
        both: tuple[JobKind, ...] = ("query", "ingest")
        order = [known] if known else []
        order += [k for k in both if k not in order]
        last: SalesforceError | None = None
        for candidate in order:
            try:
                return candidate, await client.bulk_get_job(candidate, job_id)
            except SalesforceError as exc:  # not a job of this kind: try the other
                last = exc
        raise ToolError(f"no Bulk job {job_id}: {last}")

    def _progress(ctx: Context[Any, Any], total: int | None) -> Any:
        async def report(info: dict[str, Any]) -> None:
            done = _int(info.get("numberRecordsProcessed")) or 0
            await ctx.report_progress(
                float(done), float(total) if total else None, f"job {info.get('state')}"
            )

        return report

    async def _finish_query(
        client: Any, info: dict[str, Any], soql: str | None, fmt: Literal["parquet", "csv"]
    ) -> CallToolResult:
        result = _job_result(info, "query", finished=True)
        if result.state != "JobComplete":
            return respond(result, _text(result))
        saved = await save_query_results(
            client, result.job_id, soql, app.files, owner=app.owner(), fmt=fmt, info=info
        )
        _with_file(result, saved, local=app.config.local_files)
        result.note = (
            "The rows are not shown in full on purpose: read the resource, or open the file "
            "with Polars/pandas/DuckDB."
        )
        return respond(result, _text(result))

    @server.tool(
        name="salesforce_bulk_query",
        annotations=hints.read("Bulk API 2.0 query to a file"),
        description=(
            "Export any number of rows with Bulk API 2.0 into a typed Parquet (or CSV) file "
            "exposed as an MCP resource; you get the row count and a short preview, never the "
            "rows themselves. For long jobs a job handle comes back after `wait_seconds`. "
            "Bulk queries reject GROUP BY, OFFSET, aggregates, TYPEOF and child subqueries "
            "(use salesforce_query for those)."
        ),
    )
    async def salesforce_bulk_query(
        query: Annotated[str, Field(description="SOQL, e.g. SELECT Id, Name FROM Account")],
        ctx: Context[Any, Any],
        include_deleted: Annotated[bool, Field(description="queryAll: deleted rows too")] = False,
        file_format: Literal["parquet", "csv"] = "parquet",
        wait_seconds: Annotated[float | None, Field(description=_WAIT_HELP, ge=0)] = None,
    ) -> Annotated[CallToolResult, BulkJobResult]:
        app.policy.check_soql(query)
        problems = bulk_query_problems(query)
        if problems:
            raise ToolError("; ".join(problems) + ": use salesforce_query for this one.")
        schema_problems = app.memory().check_soql(query)
        if schema_problems:
            raise ToolError("; ".join(schema_problems))
        client = await app.client()
        job = await client.bulk_create_query_job(query, query_all=include_deleted)
        job_id = str(job["id"])
        kinds[job_id] = "query"
        wait = app.config.bulk_wait_seconds if wait_seconds is None else wait_seconds
        outcome = await wait_for_job(
            client, "query", job_id, wait_seconds=wait, on_progress=_progress(ctx, None)
        )
        if not outcome.finished:
            result = _job_result(outcome.info, "query", finished=False)
            result.note = (
                f"Still running after {wait:g} s. Call salesforce_bulk_job_results with "
                f"job_id={job_id!r} (it can wait too), or salesforce_bulk_abort to stop it."
            )
            return respond(result, _text(result))
        return await _finish_query(client, outcome.info, query, file_format)

    @server.tool(
        name="salesforce_bulk_job_status",
        annotations=hints.read("Bulk job status"),
        description="The state and record counts of a Bulk API 2.0 job (query or ingest).",
    )
    async def salesforce_bulk_job_status(
        job_id: Annotated[str, Field(description="Bulk job Id (750…)")],
        kind: Literal["query", "ingest"] | None = None,
    ) -> Annotated[CallToolResult, BulkJobResult]:
        client = await app.client()
        found, info = await _kind_of(client, job_id, kind)
        result = _job_result(info, found, finished=str(info.get("state")) in
                             ("JobComplete", "Failed", "Aborted"))
        return respond(result, _text(result))

    @server.tool(
        name="salesforce_bulk_job_results",
        annotations=hints.read("Bulk job results"),
        description=(
            "Results of a Bulk API 2.0 job, optionally waiting for it first: query rows go "
            "to a Parquet/CSV resource (preview + row count); ingest jobs give counts and "
            "CSV resources of successful and failed rows (with sf__Error)."
        ),
    )
    async def salesforce_bulk_job_results(
        job_id: Annotated[str, Field(description="Bulk job Id")],
        ctx: Context[Any, Any],
        kind: Literal["query", "ingest"] | None = None,
        wait_seconds: Annotated[float, Field(description="Seconds to wait if still running", ge=0)] = 0,
        file_format: Literal["parquet", "csv"] = "parquet",
    ) -> Annotated[CallToolResult, BulkJobResult]:
        client = await app.client()
        found, info = await _kind_of(client, job_id, kind)
        if str(info.get("state")) not in ("JobComplete", "Failed", "Aborted"):
            outcome = await wait_for_job(
                client, found, job_id, wait_seconds=wait_seconds, on_progress=_progress(ctx, None)
            )
            info = outcome.info
            if not outcome.finished:
                result = _job_result(info, found, finished=False)
                result.note = "Not finished yet: call again later (or with wait_seconds)."
                return respond(result, _text(result))
        if found == "query":
            return await _finish_query(client, info, None, file_format)
        return await _finish_ingest(client, info)

    async def _finish_ingest(client: Any, info: dict[str, Any]) -> CallToolResult:
        result = _job_result(info, "ingest", finished=True)
        if result.state == "JobComplete" or result.records_processed:
            saved = await save_ingest_results(client, result.job_id, app.files, owner=app.owner())
            failed = saved.get("failed")
            success = saved.get("successful")
            if success is not None:
                _with_file(result, success, local=app.config.local_files)
            if failed is not None:
                result.failed_resource_uri = failed.uri
                errors = preview(failed, 5)
                result.note = "First failures: " + "; ".join(
                    str(row.get("sf__Error")) for row in errors
                )
        return respond(result, _text(result))

    if read_only:
        return

    @server.tool(
        name="salesforce_bulk_abort",
        annotations=hints.write("Abort a Bulk job", idempotent=True),
        description="Stop a running Bulk API 2.0 job (records already processed stay processed).",
    )
    async def salesforce_bulk_abort(
        job_id: Annotated[str, Field(description="Bulk job Id")],
        kind: Literal["query", "ingest"] | None = None,
    ) -> Annotated[CallToolResult, BulkJobResult]:
        client = await app.client()
        found, info = await _kind_of(client, job_id, kind)
        if str(info.get("state")) not in ("JobComplete", "Failed", "Aborted"):
            info = await client.bulk_abort_job(found, job_id)
        result = _job_result(info, found, finished=True)
        return respond(result, _text(result))

    async def _load_rows(
        file_path: str | None, resource_uri: str | None, rows: list[dict[str, Any]] | None
    ) -> pl.DataFrame:
        given = [x is not None for x in (file_path, resource_uri, rows)]
        if sum(given) != 1:
            raise ToolError("give exactly one of file_path, resource_uri or rows")
        if rows is not None:
            if len(rows) > app.config.max_inline_rows:
                raise ToolError(
                    f"{len(rows)} inline rows is too many (max {app.config.max_inline_rows}): "
                    "write them to a CSV/Parquet file and pass file_path"
                )
            if not rows:
                raise ToolError("no rows to load")
            return pl.DataFrame(rows, infer_schema_length=None)
        if resource_uri is not None:
            if not resource_uri.startswith(RESOURCE_SCHEME):
                raise ToolError(f"only {RESOURCE_SCHEME}… resources of this server can be loaded")
            saved = app.files.get(resource_uri[len(RESOURCE_SCHEME):], app.owner())
            if saved is None:
                raise ToolError(f"unknown resource {resource_uri}")
            return read_input(saved.path)
        assert file_path is not None
        if not app.config.local_files:
            raise ToolError(
                "this server does not read local files for remote callers: pass rows, or a "
                "sfbulk://results/… resource_uri"
            )
        path = Path(file_path).expanduser()
        if not path.is_file():
            raise ToolError(f"no file at {path}")
        try:
            return read_input(path)
        except ValueError as exc:
            raise ToolError(str(exc)) from exc

    async def _ingest(
        ctx: Context[Any, Any],
        operation: Operation,
        object_name: str,
        frame: pl.DataFrame,
        external_id_field: str | None,
        wait_seconds: float | None,
    ) -> CallToolResult:
        app.policy.check(object_name)
        if operation in ("delete", "hardDelete"):
            id_column = next((c for c in frame.columns if c.lower() == "id"), None)
            if id_column is None:
                raise ToolError("a delete needs an Id column")
            frame = frame.select(pl.col(id_column).alias("Id"))
        empty = frame.with_row_index("row", offset=1).filter(
            pl.all_horizontal(pl.exclude("row").is_null())
        )
        if empty.height:
            # A row without a value becomes a blank CSV line, which Salesforce skips: it would
            # vanish without an outcome. Say so instead of loading the others.
            shown = ", ".join(str(n) for n in empty["row"].head(10).to_list())
            raise ToolError(
                f"{empty.height} row(s) have no values (row {shown}{', …' if empty.height > 10 else ''}): "
                "remove them or give them values; nothing was loaded"
            )
        body = ingest_csv(frame)
        if len(body) > MAX_UPLOAD_BYTES:
            raise ToolError(
                f"{len(body)} bytes is over the 100 MB a Bulk job accepts: use "
                "`sfbulk import`, which splits big inputs into several jobs"
            )
        client = await app.client()
        job = await client.bulk_create_ingest_job(
            object_name, operation, external_id_field=external_id_field
        )
        job_id = str(job["id"])
        kinds[job_id] = "ingest"
        try:
            await client.bulk_upload(job_id, body)
            await client.bulk_close_job(job_id)
        except BaseException:
            # Also when the call is cancelled: the abort must still reach Salesforce.
            with anyio.CancelScope(shield=True), anyio.move_on_after(15):
                await abort_quietly(client, "ingest", job_id)
            raise
        wait = app.config.bulk_wait_seconds if wait_seconds is None else wait_seconds
        outcome = await wait_for_job(
            client, "ingest", job_id, wait_seconds=wait, on_progress=_progress(ctx, frame.height)
        )
        if not outcome.finished:
            result = _job_result(outcome.info, "ingest", finished=False)
            result.note = (
                f"{frame.height} rows uploaded; still running after {wait:g} s. Call "
                f"salesforce_bulk_job_results with job_id={job_id!r} later."
            )
            return respond(result, _text(result))
        return await _finish_ingest(client, outcome.info)

    def _load_tool(operation: Operation) -> None:
        upsert = operation == "upsert"

        async def tool(
            object_name: Annotated[str, Field(description="sObject API name")],
            ctx: Context[Any, Any],
            file_path: Annotated[str | None, Field(description="CSV/Parquet file to load")] = None,
            resource_uri: Annotated[
                str | None, Field(description="A sfbulk://results/… resource to load")
            ] = None,
            rows: Annotated[
                list[dict[str, Any]] | None, Field(description="Inline rows for small loads")
            ] = None,
            external_id_field: Annotated[
                str | None, Field(description="Upsert key (upsert only)")
            ] = None,
            wait_seconds: Annotated[float | None, Field(description=_WAIT_HELP, ge=0)] = None,
        ) -> Annotated[CallToolResult, BulkJobResult]:
            if upsert and not external_id_field:
                raise ToolError("an upsert needs external_id_field")
            frame = await _load_rows(file_path, resource_uri, rows)
            return await _ingest(
                ctx, operation, object_name, frame, external_id_field if upsert else None,
                wait_seconds,
            )

        what = {
            "insert": "Insert new records",
            "update": "Update records (an Id column required; empty cells leave a field "
            "unchanged, #N/A sets it empty)",
            "upsert": "Insert or update records matched on external_id_field",
        }[operation]
        server.add_tool(
            tool,
            name=f"salesforce_bulk_{operation}",
            annotations=hints.write(f"Bulk {operation}", idempotent=operation != "insert"),
            description=(
                f"{what} with Bulk API 2.0, from a CSV/Parquet file, a result resource, or "
                "inline rows (small loads). Returns counts and CSV resources of successful and "
                "failed rows; long jobs return a job handle."
            ),
        )

    load_operations: tuple[Operation, ...] = ("insert", "update", "upsert")
    for op in load_operations:
        _load_tool(op)

    def _delete_tool(operation: Literal["delete", "hardDelete"]) -> None:
        hard = operation == "hardDelete"
        verb = "permanently delete (no recycle bin)" if hard else "delete"

        async def ask(
            ctx: Context[Any, Any],
            object_name: str,
            file_path: str | None,
            resource_uri: str | None,
            rows: list[dict[str, Any]] | None,
            confirm: bool,
        ) -> Elicit[Confirmation] | str:
            if not supports_elicitation(ctx):
                return CONFIRMED_BY_ARGUMENT if confirm else NO_ELICITATION
            frame = await _load_rows(file_path, resource_uri, rows)
            return Elicit(
                f"Bulk {verb} {frame.height} {object_name} record(s)?", Confirmation
            )

        async def tool(
            object_name: Annotated[str, Field(description="sObject API name")],
            ctx: Context[Any, Any],
            approval: Annotated[ElicitationResult[Confirmation], Resolve(ask)],
            file_path: Annotated[str | None, Field(description="CSV/Parquet with an Id column")] = None,
            resource_uri: Annotated[str | None, Field(description="A sfbulk://results/… resource")] = None,
            rows: Annotated[
                list[dict[str, Any]] | None, Field(description='Inline rows: [{"Id": "001…"}]')
            ] = None,
            confirm: Annotated[
                bool, Field(description="true after the user approved the previewed deletion")
            ] = False,
            wait_seconds: Annotated[float | None, Field(description=_WAIT_HELP, ge=0)] = None,
        ) -> Annotated[CallToolResult, BulkJobResult]:
            app.policy.check(object_name)
            frame = await _load_rows(file_path, resource_uri, rows)
            decision = decide(approval)
            if decision != "go":
                id_column = next((c for c in frame.columns if c.lower() == "id"), None)
                sample = (
                    frame.select(pl.col(id_column)).head(5).to_dicts() if id_column else []
                )
                note = (
                    f"Dry run: {frame.height} {object_name} record(s) would be "
                    f"{'permanently deleted' if hard else 'deleted'}. Show this to the user; "
                    "once they agree, call again with confirm=true."
                    if decision == "preview"
                    else "The user did not confirm; nothing was deleted."
                )
                result = BulkJobResult(
                    job_id="", kind="ingest", operation=operation, object_name=object_name,
                    state="NotStarted", finished=False, dry_run=True,
                    affected_records=frame.height if decision == "preview" else 0,
                    preview=sample, note=note,
                )
                return respond(result, note)
            return await _ingest(ctx, operation, object_name, frame, None, wait_seconds)

        name = "salesforce_bulk_hard_delete" if hard else "salesforce_bulk_delete"
        server.add_tool(
            tool,
            name=name,
            annotations=hints.destructive(
                "Bulk hard delete" if hard else "Bulk delete", idempotent=True
            ),
            description=(
                f"Bulk API 2.0: {verb} the records whose Ids are given (file, resource or "
                "inline rows). Needs confirmation: the user is asked when the client supports "
                "it; otherwise the first call is a dry run with the record count, and a second "
                "call with confirm=true deletes."
                + (" Hard delete needs the 'Bulk API Hard Delete' permission." if hard else "")
            ),
        )

    _delete_tool("delete")
    _delete_tool("hardDelete")
