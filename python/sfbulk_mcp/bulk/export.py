"""The export pipeline: SOQL → Bulk API 2.0 query job → typed pages → a file or a frame.

    query job ──poll (backoff)──► JobComplete
    result pages ──(several downloads in flight: the next page starts as soon as the current
    page's headers name its locator)──► each page streamed to its part file (the CSV as sent)
    ──committed in page order, with the resume state──► decoded by the engine (typed from
    describe) into the output's streaming writer ──► moved into place atomically.

Memory holds a few pages at most, whatever the row count. A rerun with the same output and
query continues the same job from the first page not yet committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import polars as pl

from ..salesforce.client import SalesforceClient
from ..salesforce.errors import (
    BulkJobError,
    BulkJobTimeoutError,
    ConnectionLostError,
    NotFoundError,
    SalesforceError,
)
from ..salesforce.streaming import EventSubscription, StreamingUnavailable
from . import codec, writers
from . import schema as schemas
from . import soql as soqls
from . import state as states
from .polling import job_ended, job_timed_out, wait_for_job

logger = logging.getLogger("sfbulk_mcp.bulk")
_T = TypeVar("_T")

DEFAULT_PARALLEL = 4
_PAGE_ATTEMPTS = 5


BulkClient = SalesforceClient


@dataclass(frozen=True)
class ExportProgress:
    """Where an export stands, for progress bars and MCP progress notifications."""

    stage: str  # "polling" | "downloading" | "writing" | "done"
    job_id: str | None
    rows: int
    bytes: int
    pages: int
    total_rows: int | None
    job_state: str | None = None


ProgressFn = Callable[[ExportProgress], Awaitable[None] | None]


@dataclass
class ExportResult:
    """What an export did."""

    soql: str
    rows: int
    bytes: int
    seconds: float
    pages: int
    job_id: str | None
    path: Path | None = None
    format: str | None = None
    resumed: bool = False
    via: str = "bulk"  # "bulk" or "rest" (aggregate queries)
    schema: dict[str, str] = field(default_factory=dict)
    frame: pl.DataFrame | None = field(default=None, repr=False)

    def summary(self) -> str:
        """The one-line summary the CLI prints: rows, bytes, seconds."""
        where = f" → {self.path}" if self.path else ""
        extra = " (resumed)" if self.resumed else ""
        via = " via REST" if self.via == "rest" else ""
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.rows:,} rows, {self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s "
            f"({rate:,.0f} rows/s){via}{extra}{where}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for `--json` and MCP results)."""
        return {
            "ok": True,
            "rows": self.rows,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "pages": self.pages,
            "jobId": self.job_id,
            "path": str(self.path) if self.path else None,
            "format": self.format,
            "resumed": self.resumed,
            "via": self.via,
            "soql": self.soql,
        }


async def resolve_soql(
    client: BulkClient,
    *,
    soql: str | None,
    object_name: str | None,
    fields: Sequence[str] | None,
    where: str | None,
    limit: int | None = None,
) -> str:
    """The query to run: `soql` as given, or built from object + fields (all fields when none)
    + where."""
    if soql:
        if object_name and fields:
            raise ValueError("give either a SOQL query or an object with fields, not both")
        return soql.strip()
    if not object_name:
        raise ValueError("nothing to export: give an object name or a SOQL query")
    chosen = [f.strip() for f in fields or [] if f.strip()]
    if not chosen or chosen == ["*"]:
        chosen = schemas.bulk_fields(await client.describe(object_name))
    return soqls.build_soql(object_name, chosen, where, limit)


async def _emit(progress: ProgressFn | None, event: ExportProgress) -> None:
    if progress is None:
        return
    outcome = progress(event)
    if outcome is not None:
        await outcome


def _rest_frame(records: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """REST records (nested relationships, `attributes`) flattened to dotted columns."""

    def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for key, value in record.items():
            if key == "attributes":
                continue
            name = f"{prefix}{key}"
            if isinstance(value, Mapping) and "records" not in value:
                flat.update(flatten(value, name + "."))
            else:
                flat[name] = value
        return flat

    rows = [flatten(r) for r in records]
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


async def _export_via_rest(
    client: BulkClient,
    soql: str,
    *,
    all_rows: bool,
    out: Path | None,
    fmt: str | None,
    compression: str,
    started: float,
) -> ExportResult:
    page = await client.query(soql, include_deleted=all_rows)
    records: list[dict[str, Any]] = list(page.get("records") or [])
    while not page.get("done", True) and page.get("nextRecordsUrl"):
        page = await client.query_more(str(page["nextRecordsUrl"]), include_deleted=all_rows)
        records.extend(page.get("records") or [])
    frame = _rest_frame(records)
    if not records and re.search(r"count\s*\(\s*\)", soql, re.IGNORECASE):
        # `SELECT COUNT() FROM X` answers in totalSize, with no records.
        frame = pl.DataFrame({"expr0": [int(page.get("totalSize", 0))]})
    result = ExportResult(
        soql=soql,
        rows=frame.height,
        bytes=int(frame.estimated_size()),
        seconds=0.0,
        pages=1,
        job_id=None,
        via="rest",
    )
    if out is not None:
        chosen = writers.format_for(out, fmt)
        out.parent.mkdir(parents=True, exist_ok=True)
        writers.write_frame(frame, out, chosen, compression=compression)
        result.path, result.format = out, chosen
    else:
        result.frame = frame
    result.seconds = time.perf_counter() - started
    return result


async def export(
    client: BulkClient,
    soql: str | None = None,
    *,
    object_name: str | None = None,
    fields: Sequence[str] | None = None,
    where: str | None = None,
    out: str | Path | None = None,
    fmt: str | None = None,
    compression: str | None = None,
    early_results: bool = False,
    all_rows: bool = False,
    resume: bool = True,
    page_size: int | None = None,
    parallel: int = DEFAULT_PARALLEL,
    rest_fallback: bool = True,
    timeout: float | None = None,
    poll_interval: float = 0.2,
    progress: ProgressFn | None = None,
) -> ExportResult:
    """Export a query (or an object's fields) with Bulk API 2.0.

    With `out`, writes Parquet/CSV/JSONL (from `fmt` or the extension) in constant memory and
    returns the summary; without, returns the rows as `result.frame`. `compression` is the
    Parquet codec: zstd (default), `zstd:LEVEL`, snappy or none.

    `early_results` downloads result sets while the job still runs, as the org announces them
    in `BulkApi2JobEvent` platform events (a beta an admin turns on); without those events, or
    if any goes missing, the results are read the usual way once the job is complete. `all_rows` uses
    queryAll (deleted and archived rows too). Aggregate queries, which Bulk rejects, run
    through REST when `rest_fallback` is set; other queries Bulk rejects raise
    `UnsupportedBulkQueryError` before any job exists.

    If the export is cut short, rerunning it with the same `out` and query continues the same
    job from the last committed page (`resume=True`). When `resume` is False, an interrupted
    export aborts its server job.
    """
    started = time.perf_counter()
    query = await resolve_soql(
        client, soql=soql, object_name=object_name, fields=fields, where=where
    )
    shape = soqls.analyze(query)
    out_path = Path(out) if out is not None else None
    chosen_fmt = writers.format_for(out_path, fmt) if out_path else None
    codec = writers.parquet_compression(compression, chosen_fmt or "parquet")
    if shape.problems:
        if rest_fallback and shape.rest_only_aggregate and not shape.offset:
            logger.info("aggregate query: running it through REST (Bulk API 2.0 rejects it)")
            return await _export_via_rest(
                client,
                query,
                all_rows=all_rows,
                out=out_path,
                fmt=fmt,
                compression=codec,
                started=started,
            )
        soqls.require_bulk(shape)
    if shape.object is None:
        raise ValueError(f"cannot find the object of the query: {query}")

    describe = await client.describe(shape.object)
    soqls.require_bulk(
        shape, soqls.compound_field_problems(shape.columns, schemas.field_types(describe))
    )
    resolved = await schemas.resolve_schema(shape.object, shape.columns, client.describe)

    pipeline = _Pipeline(
        client,
        soql=query,
        operation="queryAll" if all_rows else "query",
        out=out_path,
        fmt=chosen_fmt,
        compression=codec,
        early_results=early_results,
        resolved=resolved,
        resume=resume and out_path is not None,
        page_size=page_size,
        parallel=max(1, parallel),
        timeout=timeout,
        poll_interval=poll_interval,
        progress=progress,
    )
    result = await pipeline.run()
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class _Page:
    """One page, decoded and (for a file output) written to its part."""

    index: int
    locator: str | None
    next_locator: str | None
    rows: int
    nbytes: int
    frame: pl.DataFrame | None
    schema: dict[str, str] | None
    declared: int | None = None
    partial: bool = False  # a partial result set announced by an event (no maxRecords)


_FEED_BYTES = 1 << 20  # hand the decoder ~1 MB at a time, off the event loop

# Bulk API 2.0 query job events (beta): job states and result sets announced while a job runs.
JOB_EVENTS = "/event/BulkApi2JobEvent"
# Without an event for this long, the job's state is read as a check.
_EVENT_CHECK_SECONDS = 2.0
# A job seen complete whose last result set was not announced within this long: the events
# are taken as lost and the results are read the usual way.
_FINAL_EVENT_GRACE_SECONDS = 10.0


def _unused_future() -> asyncio.Future[str | None]:
    """A future nobody waits for (an announced result set names no next one)."""
    future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
    future.add_done_callback(lambda done: done.cancelled() or done.exception())
    return future


def _locator_of(url: object) -> str | None:
    """The `locator` of an announced result set's URL."""
    if not isinstance(url, str):
        return None
    query = url.partition("?")[2]
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name == "locator" and value:
            return urllib.parse.unquote(value)
    return None


@dataclass
class _Part:
    """A committed part, decoded: an Arrow stream for a Parquet output, else a frame."""

    rows: int
    schema: dict[str, str]
    frame: pl.DataFrame | None = None
    stream: Any = None

    @classmethod
    def read(cls, path: Path, resolved: dict[str, str], sink: writers.OutputSink) -> _Part:
        if sink.takes_arrow():
            decoded = codec.decode_file_batches(path, resolved)
            if decoded is not None:
                stream, rows, schema = decoded
                return cls(rows=rows, schema=schema, stream=stream)
        frame, schema = codec.decode_file(path, resolved)
        return cls(rows=frame.height, schema=schema, frame=frame)

    def append_to(self, sink: writers.OutputSink) -> None:
        if self.stream is not None:
            sink.append_arrow(self.stream, self.rows)
        else:
            assert self.frame is not None
            sink.append(self.frame)


class _Pipeline:
    """One export run: job, polling, page downloads, decoding, parts, resume state."""

    def __init__(
        self,
        client: BulkClient,
        *,
        soql: str,
        operation: str,
        out: Path | None,
        fmt: str | None,
        compression: str,
        early_results: bool,
        resolved: dict[str, str],
        resume: bool,
        page_size: int | None,
        parallel: int,
        timeout: float | None,
        poll_interval: float,
        progress: ProgressFn | None,
    ) -> None:
        self.client = client
        self.soql = soql
        self.operation = operation
        self.out = out
        self.fmt = fmt
        self.compression = compression
        self.early_results = early_results
        self.resolved = resolved
        self.resume = resume
        self.page_size = page_size
        self.parallel = parallel
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.progress = progress
        self.state: states.ExportState | None = None
        self.header_schema: dict[str, str] | None = None
        self.frames: list[pl.DataFrame] = []
        self.sink: writers.OutputSink | None = None
        self.rows = 0
        self.bytes = 0
        self.pages = 0
        self.total_rows: int | None = None
        self.job_id: str | None = None
        self.job_complete = False
        # Output work runs on two threads of its own, a page apart: one decodes page n+1
        # while the other encodes page n into the file. Pages are written in order anyway,
        # and fixed threads keep the allocator from holding a page's worth of freed memory
        # in every worker thread's arena.
        self._decode_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sfbulk-dec")
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sfbulk-out")
        self._appending: asyncio.Future[None] | None = None

    async def _on_decoder(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run `fn(*args)` on the decoding thread."""
        return await asyncio.get_running_loop().run_in_executor(self._decode_thread, fn, *args)

    async def _on_writer(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run `fn(*args)` on the output thread, after the page being appended."""
        await self._appended()
        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, fn, *args)

    async def _appended(self) -> None:
        """Wait until the page handed to the output thread is in the file."""
        appending, self._appending = self._appending, None
        if appending is not None:
            await appending

    async def _append(self, part: _Part) -> None:
        """Hand a decoded part to the output thread; returns once the previous one is in."""
        assert self.sink is not None
        await self._appended()
        self._appending = asyncio.get_running_loop().run_in_executor(
            self._writer_thread, part.append_to, self.sink
        )

    # ---- job ------------------------------------------------------------------------------

    async def _resumable_state(self) -> states.ExportState | None:
        assert self.out is not None and self.fmt is not None
        previous = states.load_state(self.out)
        fingerprint = states.query_fingerprint(self.soql, self.operation, self.fmt)
        if previous is None:
            states.clear_state(self.out)
            return None
        if previous.fingerprint != fingerprint:
            logger.info("the saved export state is for another query: starting afresh")
            states.clear_state(self.out)
            return None
        try:
            info = await self.client.bulk_get_job("query", previous.job_id)
        except NotFoundError:
            logger.info("job %s of the saved export is gone: starting afresh", previous.job_id)
            states.clear_state(self.out)
            return None
        if info.get("state") in ("Failed", "Aborted"):
            states.clear_state(self.out)
            return None
        # Drop pages whose part file went missing, and everything after the first gap.
        folder = states.parts_dir(self.out)
        kept: list[states.PageRecord] = []
        for expected, page in enumerate(sorted(previous.pages, key=lambda p: p.index)):
            if page.index != expected or not (folder / page.part).is_file():
                break
            kept.append(page)
        previous.pages = kept
        return previous

    async def _start_job(self) -> bool:
        """Create the job (or adopt the saved one); True when resuming."""
        if self.resume:
            self.state = await self._resumable_state()
            if self.state is not None:
                self.job_id = self.state.job_id
                logger.info(
                    "resuming job %s after %d committed page(s)",
                    self.job_id,
                    len(self.state.pages),
                )
                return True
        info = await self.client.bulk_create_query_job(
            self.soql, query_all=self.operation == "queryAll"
        )
        self.job_id = str(info["id"])
        if self.resume and self.out is not None and self.fmt is not None:
            self.state = states.ExportState(
                job_id=self.job_id,
                api_version=str(info.get("apiVersion", "")),
                soql=self.soql,
                operation=self.operation,
                fmt=self.fmt,
                fingerprint=states.query_fingerprint(self.soql, self.operation, self.fmt),
                schema=self.resolved,
            )
            self.out.parent.mkdir(parents=True, exist_ok=True)
            states.parts_dir(self.out).mkdir(exist_ok=True)
            states.save_state(self.out, self.state)
        return False

    async def _wait(self) -> None:
        assert self.job_id is not None

        async def on_info(info: dict[str, Any]) -> None:
            processed = info.get("numberRecordsProcessed")
            if isinstance(processed, int):
                self.total_rows = processed
            await _emit(
                self.progress,
                ExportProgress(
                    stage="polling",
                    job_id=self.job_id,
                    rows=0,
                    bytes=0,
                    pages=0,
                    total_rows=self.total_rows,
                    job_state=str(info.get("state")),
                ),
            )

        info = await wait_for_job(
            self.client,
            "query",
            self.job_id,
            timeout=self.timeout,
            on_info=on_info,
            first_interval=self.poll_interval,
        )
        self.job_complete = True
        processed = info.get("numberRecordsProcessed")
        self.total_rows = int(processed) if processed is not None else None

    # ---- pages ----------------------------------------------------------------------------

    def _part(self, index: int) -> Path:
        assert self.out is not None
        folder = states.parts_dir(self.out)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / writers.part_name(index)

    async def _fetch(
        self,
        index: int,
        locator: str | None,
        next_known: asyncio.Future[str | None],
        *,
        partial: bool = False,
    ) -> _Page:
        """Download one page, telling `next_known` its successor's locator early.

        For a file, the body goes to the page's part as it streams in (a temp name, renamed
        once complete); for a frame, it is decoded as it streams in. A page that breaks off
        mid-way is dropped and fetched again whole from the same locator, so none of its rows
        is used twice.
        """
        assert self.job_id is not None
        attempt = 0
        while True:
            part = self._part(index) if self.out is not None else None
            tmp = part.with_name(part.name + ".tmp") if part is not None else None
            decoder = codec.PageWriter(self.resolved) if part is None else None
            sink = open(tmp, "wb") if tmp is not None else None  # noqa: SIM115, ASYNC230
            try:
                async with self.client.bulk_query_results(
                    self.job_id, locator=locator, max_records=None if partial else self.page_size
                ) as stream:
                    if not next_known.done():
                        next_known.set_result(stream.next_locator)
                    pending: list[bytes] = []
                    size = nbytes = 0
                    # A part keeps the body as it travelled (gzip, mostly: a fifth of the
                    # bytes to write); the engine inflates it when the part is decoded, off
                    # the event loop. A frame result is decoded as the CSV arrives.
                    body = stream.aiter_raw() if sink is not None else stream.aiter_bytes()
                    async for chunk in body:
                        pending.append(chunk)
                        size += len(chunk)
                        if size >= _FEED_BYTES:
                            nbytes += size
                            await self._consume(b"".join(pending), sink, decoder)
                            pending, size = [], 0
                    if pending:
                        nbytes += size
                        await self._consume(b"".join(pending), sink, decoder)
                    frame = None
                    if sink is not None and tmp is not None and part is not None:
                        sink.close()
                        tmp.replace(part)
                    elif decoder is not None:
                        frame = await asyncio.to_thread(decoder.finish)
                        self._check_count(index, frame.height, stream.number_of_records)
                    return _Page(
                        index=index,
                        locator=locator,
                        next_locator=stream.next_locator,
                        rows=frame.height if frame is not None else -1,
                        nbytes=nbytes,
                        frame=frame,
                        schema=decoder.schema if decoder is not None else None,
                        declared=stream.number_of_records,
                        partial=partial,
                    )
            except ConnectionLostError as exc:
                attempt += 1
                if attempt >= _PAGE_ATTEMPTS:
                    if not next_known.done():
                        next_known.set_exception(exc)
                    raise
                logger.warning("page %d broke off (%s); fetching it again", index + 1, exc)
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
            except BaseException as exc:
                if not next_known.done():
                    next_known.set_exception(exc)
                raise
            finally:
                if sink is not None and not sink.closed:
                    sink.close()
                if tmp is not None:
                    tmp.unlink(missing_ok=True)

    @staticmethod
    async def _consume(
        data: bytes, sink: IO[bytes] | None, decoder: codec.PageWriter | None
    ) -> None:
        if sink is not None:
            sink.write(data)
        elif decoder is not None:
            await asyncio.to_thread(decoder.feed, data)

    def _check_count(self, index: int, rows: int, declared: int | None) -> None:
        if declared is not None and declared != rows:
            raise ConnectionLostError(
                f"page {index + 1} of job {self.job_id} held {rows} rows, "
                f"Salesforce announced {declared}"
            )

    async def _refetch(self, page: _Page) -> _Page:
        """Fetch one page again on its own (its part turned out short)."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        return await self._fetch(page.index, page.locator, future, partial=page.partial)

    async def _commit_part(self, page: _Page) -> int:
        """Decode a downloaded part into the output; returns its rows."""
        assert self.sink is not None
        for attempt in range(_PAGE_ATTEMPTS):
            part = await self._on_decoder(
                _Part.read, self._part(page.index), self.resolved, self.sink
            )
            if page.declared is None or page.declared == part.rows:
                break
            logger.warning(
                "page %d held %d rows, Salesforce announced %d; fetching it again",
                page.index + 1,
                part.rows,
                page.declared,
            )
            if attempt == _PAGE_ATTEMPTS - 1:
                self._check_count(page.index, part.rows, page.declared)
            page = await self._refetch(page)
        if self.header_schema is None:
            self.header_schema = part.schema
        await self._append(part)
        return part.rows

    async def _produce(
        self, first_index: int, first_locator: str | None, queue: asyncio.Queue[Any]
    ) -> None:
        """Start page downloads in order, each as soon as its locator is known."""
        index, locator = first_index, first_locator
        loop = asyncio.get_running_loop()
        while True:
            next_known: asyncio.Future[str | None] = loop.create_future()
            task = asyncio.create_task(self._fetch(index, locator, next_known))
            await queue.put(task)  # blocks while `parallel` pages wait to be consumed
            try:
                next_locator = await next_known
            except Exception:  # noqa: BLE001 - the page task itself carries the error
                await queue.put(None)
                return
            if next_locator is None:
                await queue.put(None)
                return
            index, locator = index + 1, next_locator

    async def _download(self) -> None:
        first_index, first_locator, done = 0, None, False
        if self.state is not None:
            first_index, first_locator, done = self.state.next_locator()
            self.rows, self.bytes, self.pages = (
                self.state.committed_rows,
                self.state.committed_bytes,
                len(self.state.pages),
            )
            if self.state.pages and self.state.schema:
                self.resolved = dict(self.state.schema)
        if self.out is not None:
            self.sink = self._open_sink()
            if self.state is not None:
                # The output is rebuilt from the committed parts, then continues.
                for record in self.state.pages:
                    part = await self._on_decoder(
                        _Part.read, self._part(record.index), self.resolved, self.sink
                    )
                    self.header_schema = self.header_schema or part.schema
                    await self._append(part)
        if done:
            return
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.parallel)
        producer = asyncio.create_task(self._produce(first_index, first_locator, queue))
        await self._take_pages(queue, producer, job_state="JobComplete")

    async def _take_pages(
        self, queue: asyncio.Queue[Any], producer: asyncio.Task[Any], *, job_state: str
    ) -> None:
        """Commit the pages `producer` queues, in order, until it queues None."""
        pending: list[asyncio.Task[_Page]] = []
        try:
            while True:
                task = await queue.get()
                if task is None:
                    break
                pending.append(task)
                page: _Page = await task
                pending.remove(task)
                if page.frame is not None:
                    rows = page.rows
                    if self.header_schema is None and page.schema is not None:
                        self.header_schema = page.schema
                    self.frames.append(page.frame)
                else:
                    rows = await self._commit_part(page)
                self.rows += rows
                self.bytes += page.nbytes
                self.pages += 1
                if (
                    self.state is not None
                    and self.out is not None
                    and self.fmt is not None
                    and not page.partial
                ):
                    self.state.pages.append(
                        states.PageRecord(
                            index=page.index,
                            locator=page.locator,
                            next_locator=page.next_locator,
                            rows=rows,
                            part=writers.part_name(page.index),
                            bytes=page.nbytes,
                        )
                    )
                    states.save_state(self.out, self.state)
                await _emit(
                    self.progress,
                    ExportProgress(
                        stage="downloading",
                        job_id=self.job_id,
                        rows=self.rows,
                        bytes=self.bytes,
                        pages=self.pages,
                        total_rows=self.total_rows,
                        job_state=job_state,
                    ),
                )
            await producer
        finally:
            if not producer.done():
                producer.cancel()
            while not queue.empty():
                leftover = queue.get_nowait()
                if leftover is not None:
                    pending.append(leftover)
            for task in pending:
                task.cancel()
            for task in [producer, *pending]:
                with contextlib.suppress(BaseException):
                    await task

    # ---- early results (BulkApi2JobEvent) --------------------------------------------------

    async def _subscribe(self) -> EventSubscription | None:
        """The job events subscription, or None when the org publishes none."""
        try:
            return await self.client.subscribe(JOB_EVENTS)
        except (StreamingUnavailable, SalesforceError, OSError) as exc:
            logger.info("no query job events (%s): results are read once the job is done", exc)
            return None

    async def _results(self, events: EventSubscription | None) -> None:
        """Wait for the job and download its results: as they are announced when `events`
        is given and all goes well, else the usual way once the job is complete."""
        if events is not None:
            try:
                early = await self._download_early(events)
            finally:
                await events.close()
            if early:
                return
            await self._restart_output()
        await self._wait()
        await self._download()

    async def _download_early(self, events: EventSubscription) -> bool:
        """Download each result set as an event announces it; False when the events could
        not be followed to the end (the caller then starts over the usual way)."""
        if self.out is not None:
            self.sink = self._open_sink()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.parallel)
        producer = asyncio.create_task(self._produce_announced(events, queue))
        await self._take_pages(queue, producer, job_state="InProgress")
        if not producer.result():
            return False
        assert self.job_id is not None
        info = await self.client.bulk_get_job("query", self.job_id)
        processed = info.get("numberRecordsProcessed")
        if info.get("state") != "JobComplete" or processed != self.rows:
            logger.info(
                "the announced result sets of job %s held %d rows, the job %s: reading them "
                "again the usual way",
                self.job_id,
                self.rows,
                processed,
            )
            return False
        self.job_complete = True
        self.total_rows = int(processed)
        return True

    async def _produce_announced(
        self, events: EventSubscription, queue: asyncio.Queue[Any]
    ) -> bool:
        """Queue a download for each result set announced for the job, in order; True once
        the last one is queued, False when the events cannot be trusted to be complete."""
        assert self.job_id is not None
        started = time.monotonic()
        seen_complete: float | None = None
        index = 0
        try:
            while True:
                try:
                    event = await events.next(_EVENT_CHECK_SECONDS)
                except StreamingUnavailable as exc:
                    logger.info("job events stopped (%s)", exc)
                    return False
                if event is None:
                    info = await self.client.bulk_get_job("query", self.job_id)
                    state = str(info.get("state"))
                    if state in ("Failed", "Aborted"):
                        raise job_ended("query", self.job_id, info)
                    if state == "JobComplete":
                        seen_complete = seen_complete or time.monotonic()
                        if time.monotonic() - seen_complete > _FINAL_EVENT_GRACE_SECONDS:
                            logger.info("job %s completed unannounced", self.job_id)
                            return False
                    elapsed = time.monotonic() - started
                    if self.timeout is not None and elapsed > self.timeout and not seen_complete:
                        raise job_timed_out("query", self.job_id, state, self.timeout)
                    continue
                if event.get("JobIdentifier") != self.job_id:
                    continue
                state = str(event.get("JobState"))
                if event.get("Type") == "RESULT":
                    locator = _locator_of(event.get("ResultUrl"))
                    if locator is None:
                        logger.info("a job event named no result locator: %s", event)
                        return False
                    task = asyncio.create_task(
                        self._fetch(index, locator, _unused_future(), partial=True)
                    )
                    await queue.put(task)
                    index += 1
                    if event.get("ResultType") == "FINAL":
                        return True
                elif state in ("Failed", "Aborted"):
                    info = await self.client.bulk_get_job("query", self.job_id)
                    raise job_ended("query", self.job_id, info)
        finally:
            await queue.put(None)

    async def _restart_output(self) -> None:
        """Forget what the announced result sets gave, before reading the results again."""
        await self._appended()
        if self.sink is not None:
            self.sink.discard()
            self.sink = None
        self.frames.clear()
        self.rows = self.bytes = self.pages = 0
        self.header_schema = None

    # ---- output ---------------------------------------------------------------------------

    def _open_sink(self) -> writers.OutputSink:
        """A fresh output file (written under a temp name until `_finish_file`)."""
        assert self.out is not None and self.fmt is not None
        return writers.OutputSink(self.out, self.fmt, compression=self.compression)

    def _finish_file(self) -> None:
        assert self.out is not None and self.sink is not None
        self.sink.commit({c: codec.polars_type(t) for c, t in self.resolved.items()})
        states.clear_state(self.out)

    def _frame(self) -> pl.DataFrame:
        if not self.frames:
            return pl.DataFrame(schema={c: codec.polars_type(t) for c, t in self.resolved.items()})
        return pl.concat(self.frames, how="vertical_relaxed", rechunk=True)

    async def _abort(self) -> bool:
        """Abort the server job if it still runs; True when it was aborted."""
        if self.job_id is None or self.job_complete:
            return False
        with contextlib.suppress(SalesforceError, OSError):
            await self.client.bulk_abort_job("query", self.job_id)
            logger.info("aborted query job %s", self.job_id)
            return True
        return False

    async def run(self) -> ExportResult:
        try:
            return await self._run()
        finally:
            self._decode_thread.shutdown(wait=False)
            self._writer_thread.shutdown(wait=False)

    async def _run(self) -> ExportResult:
        # Subscribed before the job exists, so that none of its events is missed.
        events = await self._subscribe() if self.early_results else None
        try:
            resumed = await self._start_job()
        except BaseException:
            if events is not None:
                await events.close()
            raise
        if resumed and events is not None:
            await events.close()
            events = None
        try:
            try:
                await self._results(events)
                if self.out is not None:
                    await self._on_writer(self._finish_file)
            except BaseException:
                if self._appending is not None:
                    # Let the page being written finish before the output is discarded.
                    with contextlib.suppress(BaseException):
                        await asyncio.shield(self._appending)
                if self.sink is not None:
                    self.sink.discard()
                raise
        except BulkJobError as exc:
            # A job that ended Failed/Aborted cannot be resumed; one we stopped waiting for can.
            if not isinstance(exc, BulkJobTimeoutError):
                if self.out is not None:
                    states.clear_state(self.out)
                raise
            if not self.resume:
                if await asyncio.shield(self._abort()):
                    exc.set_hint("the server job was aborted (--no-resume)")
                if self.out is not None:
                    states.clear_state(self.out)
            else:
                exc.set_hint(
                    "the job still runs on the server: rerun the same command to resume it"
                )
            raise
        except BaseException:
            if not self.resume:
                await asyncio.shield(self._abort())
                if self.out is not None:
                    states.clear_state(self.out)
            elif self.job_id is not None:
                logger.warning(
                    "export interrupted: rerun the same command to resume job %s", self.job_id
                )
            raise
        await _emit(
            self.progress,
            ExportProgress(
                stage="done",
                job_id=self.job_id,
                rows=self.rows,
                bytes=self.bytes,
                pages=self.pages,
                total_rows=self.total_rows,
                job_state="JobComplete",
            ),
        )
        if self.total_rows is not None and self.total_rows != self.rows:
            logger.warning(
                "job %s reported %d records but %d were exported",
                self.job_id,
                self.total_rows,
                self.rows,
            )
        return ExportResult(
            soql=self.soql,
            rows=self.rows,
            bytes=self.bytes,
            seconds=0.0,
            pages=self.pages,
            job_id=self.job_id,
            path=self.out,
            format=self.fmt,
            resumed=resumed,
            schema=dict(self.header_schema or self.resolved),
            frame=self._frame() if self.out is None else None,
        )
