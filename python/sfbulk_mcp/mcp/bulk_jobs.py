"""Bulk API 2.0 jobs for the MCP tools: start, wait with progress, abort on cancel, save results.

Deliberately small: it drives the client's bulk job methods and decodes result pages through
`sfbulk_mcp.bulk.codec` (the Rust engine when built, Polars otherwise). The export/import
pipelines can take its place behind the same functions.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import anyio
import polars as pl

from sfbulk_mcp.bulk.codec import decode_page, write_parquet_page
from sfbulk_mcp.bulk.schema import parse_header_line, resolve_schema, schema_for_header
from sfbulk_mcp.salesforce.errors import SalesforceError

from .results import FileFormat, ResultFile, ResultFiles
from .safety import soql_objects

log = logging.getLogger("sfbulk_mcp.mcp")

JobKind = Literal["query", "ingest"]
FINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
# One upload per job is capped at 100 MB by Salesforce (150 MB after base64).
MAX_UPLOAD_BYTES = 100_000_000

ProgressFn = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class WaitOutcome:
    """The job's last known info, and whether it reached a final state."""

    info: dict[str, Any]
    finished: bool


async def wait_for_job(
    client: Any,
    kind: JobKind,
    job_id: str,
    *,
    wait_seconds: float,
    on_progress: ProgressFn | None = None,
    poll_initial: float = 0.25,
    poll_max: float = 5.0,
) -> WaitOutcome:
    """Poll the job until it finishes or `wait_seconds` pass.

    If the caller is cancelled while waiting (the MCP client cancelled the request), the
    Salesforce job is aborted before the cancellation goes on: a cancelled tool call must
    not leave a job running on the server.
    """
    deadline = time.monotonic() + max(0.0, wait_seconds)
    interval = poll_initial
    try:
        while True:
            info = await client.bulk_get_job(kind, job_id)
            if on_progress is not None:
                await on_progress(info)
            if str(info.get("state")) in FINAL_STATES:
                return WaitOutcome(info, True)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return WaitOutcome(info, False)
            await anyio.sleep(min(interval, remaining))
            interval = min(poll_max, interval * 1.5)
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True), anyio.move_on_after(15):
            await abort_quietly(client, kind, job_id)
        raise


async def abort_quietly(client: Any, kind: JobKind, job_id: str) -> None:
    """Abort a job, ignoring a job that already finished."""
    try:
        await client.bulk_abort_job(kind, job_id)
    except SalesforceError as exc:  # already finished or gone: nothing left to stop
        log.debug("abort of %s job %s refused: %s", kind, job_id, exc.error_code)


async def save_query_results(
    client: Any,
    job_id: str,
    soql: str | None,
    files: ResultFiles,
    *,
    owner: str,
    fmt: FileFormat,
    info: dict[str, Any] | None = None,
) -> ResultFile:
    """Download every result page of a finished query job into one typed file."""
    info = info or await client.bulk_get_job("query", job_id)
    soql = soql or str(info.get("query") or "")
    delimiter = str(info.get("columnDelimiter") or "COMMA")
    line_ending = str(info.get("lineEnding") or "LF")
    objects = soql_objects(soql)
    obj = objects[0] if objects else str(info.get("object") or "")
    name, final = files.new_path(f"{obj or 'bulk'}-{job_id}", fmt)
    parts_dir = final.with_suffix(".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    schema: dict[str, str] | None = None
    parts: list[Path] = []
    async for page in client.bulk_query_pages(job_id):
        if schema is None:
            header = parse_header_line(page.data, _delimiter_char(delimiter)) or []
            resolved = await resolve_schema(obj, header, client.describe) if obj else {}
            schema = schema_for_header(header, resolved)
        if not page.data.strip():
            continue
        part = parts_dir / f"{len(parts):06d}.parquet"
        await anyio.to_thread.run_sync(
            partial(
                write_parquet_page, [page.data], part, schema,
                delimiter=delimiter, line_ending=line_ending,
            )
        )
        parts.append(part)
    await anyio.to_thread.run_sync(lambda: _combine(parts, final, schema or {}, fmt))
    for part in parts:
        part.unlink(missing_ok=True)
    parts_dir.rmdir()
    return files.register(name, final, owner=owner, fmt=fmt)


def _combine(parts: list[Path], final: Path, schema: dict[str, str], fmt: FileFormat) -> None:
    tmp = final.with_suffix(final.suffix + ".part")
    if parts:
        lazy = pl.scan_parquet(parts)
    else:
        from sfbulk_mcp.bulk.codec import polars_type

        lazy = pl.DataFrame(schema={k: polars_type(v) for k, v in schema.items()}).lazy()
    if fmt == "parquet":
        lazy.sink_parquet(tmp, compression="zstd")
    else:
        lazy.sink_csv(tmp)
    tmp.replace(final)


def _delimiter_char(name: str) -> str:
    return {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^",
            "BACKQUOTE": "`"}.get(name.upper(), ",")


def ingest_csv(frame: pl.DataFrame) -> bytes:
    """The upload body for `frame`: UTF-8 CSV, header first, null as an empty cell."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, null_value="", datetime_format="%Y-%m-%dT%H:%M:%S%.3fZ")
    return buffer.getvalue()


async def save_ingest_results(
    client: Any, job_id: str, files: ResultFiles, *, owner: str
) -> dict[str, ResultFile | None]:
    """The successful, failed and unprocessed records of an ingest job, as CSV files."""
    saved: dict[str, ResultFile | None] = {}
    for kind in ("successful", "failed", "unprocessed"):
        async with client.bulk_ingest_results(job_id, kind) as stream:
            data = await stream.aread()
        header = data.split(b"\n", 1)[0].strip()
        if not header:
            saved[kind] = None
            continue
        frame = decode_page([data], {}, delimiter="COMMA", line_ending="LF")
        if frame.height == 0:
            saved[kind] = None
            continue
        saved[kind] = files.save_frame(frame, stem=f"{kind}-{job_id}", owner=owner, fmt="csv")
    return saved


def read_input(path: Path) -> pl.DataFrame:
    """Rows to load from a CSV or Parquet file (every CSV value kept as text)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pl.read_parquet(path)
    if suffix in {".csv", ".txt"}:
        return pl.read_csv(path, infer_schema=False)
    if suffix in {".jsonl", ".ndjson"}:
        return pl.read_ndjson(path)
    raise ValueError(f"cannot read {path.name}: use a .csv, .parquet or .jsonl file")
