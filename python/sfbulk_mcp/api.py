"""The Python API: `connect(org=...)` → an org handle with query, export, import and describe.

    import sfbulk_mcp

    with sfbulk_mcp.connect(org="devorg") as org:
        accounts = org.export("Account", fields=["Id", "Name"])        # a Polars frame
        org.export(soql="SELECT Id FROM Contact", out="contacts.parquet")
        result = org.import_("Contact", "contacts.csv", operation="insert")

    async with await sfbulk_mcp.connect_async(org="devorg") as org:   # the async twin
        frame = await org.query("SELECT COUNT() FROM Account")

`Org` runs its async twin (`Org.aio`) on a private event-loop thread, so it also works inside
Jupyter, where a loop is already running.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, overload

import polars as pl

from .bulk.export import ExportResult
from .bulk.export import ProgressFn as ExportProgressFn
from .bulk.export import export as run_export
from .bulk.ingest import ImportResult, import_data
from .bulk.ingest import ProgressFn as ImportProgressFn
from .bulk.soql import analyze
from .salesforce.client import SalesforceClient
from .salesforce.credentials import TokenProvider

T = TypeVar("T")


@asynccontextmanager
async def open_client(
    org: str | None = None,
    *,
    provider: TokenProvider | None = None,
    api_version: str | None = None,
) -> AsyncIterator[SalesforceClient]:
    """A client for `org` (an alias, `devorg`, or None for the default/env org), closed after.

    `provider` skips org resolution and uses that token source directly.
    """
    async with AsyncExitStack() as stack:
        if provider is None:
            from .auth.resolve import open_org

            provider = await stack.enter_async_context(open_org(org))
        client = SalesforceClient(provider, api_version=api_version)
        stack.push_async_callback(client.aclose)
        yield client


def records_frame(records: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """REST records as a frame: `attributes` dropped, parent records flattened to `Owner.Name`."""

    def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for key, value in record.items():
            if key == "attributes":
                continue
            if isinstance(value, dict) and "records" not in value:
                flat.update(flatten(value, f"{prefix}{key}."))
            else:
                flat[f"{prefix}{key}"] = value
        return flat

    rows = [flatten(r) for r in records]
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def strip_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """A REST record without the `attributes` noise, at every level."""
    clean: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            if "records" in value:
                value = {
                    **value,
                    "records": [strip_attributes(r) for r in value.get("records") or []],
                }
            else:
                value = strip_attributes(value)
        clean[key] = value
    return clean


class AsyncOrg:
    """An open connection to one org (async). Build it with `connect_async`."""

    def __init__(self, client: SalesforceClient, stack: AsyncExitStack | None = None) -> None:
        self.client = client
        self._stack = stack

    async def aclose(self) -> None:
        """Close the connection (and stop an embedded devorg)."""
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @overload
    async def query(
        self, soql: str, *, all_rows: bool = ..., as_dicts: Literal[False] = ...
    ) -> pl.DataFrame: ...

    @overload
    async def query(
        self, soql: str, *, all_rows: bool = ..., as_dicts: Literal[True]
    ) -> list[dict[str, Any]]: ...

    async def query(
        self, soql: str, *, all_rows: bool = False, as_dicts: bool = False
    ) -> pl.DataFrame | list[dict[str, Any]]:
        """Run a SOQL query through REST (every page). A frame by default, or plain dicts.

        `SELECT COUNT() FROM X` answers a one-row frame with `expr0` = the count.
        """
        page = await self.client.query(soql, include_deleted=all_rows)
        records: list[dict[str, Any]] = list(page.get("records") or [])
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = await self.client.query_more(str(page["nextRecordsUrl"]))
            records.extend(page.get("records") or [])
        shape = analyze(soql)
        if not records and shape.aggregate and "count()" in soql.lower().replace(" ", ""):
            # COUNT() answers in totalSize, with no records.
            total = int(page.get("totalSize", 0))
            return [{"expr0": total}] if as_dicts else pl.DataFrame({"expr0": [total]})
        if as_dicts:
            return [strip_attributes(r) for r in records]
        return records_frame(records)

    async def describe(self, object_name: str | None = None) -> dict[str, Any]:
        """The describe of an object, or of the whole org (describeGlobal) when None."""
        if object_name is None:
            return await self.client.describe_global()
        return await self.client.describe(object_name)

    async def export(
        self,
        object_name: str | None = None,
        *,
        soql: str | None = None,
        fields: Sequence[str] | None = None,
        where: str | None = None,
        out: str | Path | None = None,
        format: str | None = None,
        compression: str | None = None,
        early_results: bool = False,
        all_rows: bool = False,
        resume: bool = True,
        page_size: int | None = None,
        parallel: int = 4,
        timeout: float | None = None,
        progress: ExportProgressFn | None = None,
    ) -> Any:
        """Bulk-export an object (all fields unless `fields`) or a SOQL query.

        Returns a Polars frame, or the `ExportResult` summary when `out` names a file
        (Parquet, CSV or JSONL by `format` or extension), written in constant memory;
        `compression` is the Parquet codec (zstd by default, `zstd:LEVEL`, snappy, none).
        `early_results` downloads result sets while the job runs, on orgs that announce them
        (Bulk API 2.0 query job events, beta); elsewhere it changes nothing.
        """
        if object_name and object_name.lstrip().lower().startswith("select "):
            soql, object_name = object_name, None
        result: ExportResult = await run_export(
            self.client,
            soql,
            object_name=object_name,
            fields=fields,
            where=where,
            out=out,
            fmt=format,
            compression=compression,
            early_results=early_results,
            all_rows=all_rows,
            resume=resume,
            page_size=page_size,
            parallel=parallel,
            timeout=timeout,
            progress=progress,
        )
        if out is None:
            assert result.frame is not None
            return result.frame
        return result

    async def export_result(self, *args: Any, **kwargs: Any) -> ExportResult:
        """Like `export`, but always the `ExportResult` (its `.frame` holds in-memory rows)."""
        object_name = args[0] if args else kwargs.pop("object_name", None)
        soql = kwargs.pop("soql", None)
        if object_name and str(object_name).lstrip().lower().startswith("select "):
            soql, object_name = object_name, None
        fmt = kwargs.pop("format", None)
        return await run_export(self.client, soql, object_name=object_name, fmt=fmt, **kwargs)

    async def import_(
        self,
        object_name: str,
        data: str | Path | pl.DataFrame,
        *,
        operation: str = "insert",
        external_id: str | None = None,
        retries: int = 0,
        parallel: int = 4,
        max_rows: int | None = None,
        null_as_na: bool = False,
        results_dir: str | Path | None = None,
        timeout: float | None = None,
        progress: ImportProgressFn | None = None,
    ) -> ImportResult:
        """Bulk insert/update/upsert/delete/hard-delete rows from a file or a frame.

        Every input row ends in exactly one of `result.success`, `result.failures`,
        `result.unprocessed_rows`; for a file input they are also written beside it.
        """
        return await import_data(
            self.client,
            object_name,
            data,
            operation=operation,
            external_id=external_id,
            retries=retries,
            parallel=parallel,
            max_rows=max_rows,
            null_as_na=null_as_na,
            results_dir=results_dir,
            timeout=timeout,
            progress=progress,
        )

    load = import_

    async def jobs(self, kind: Literal["query", "ingest"] | None = None) -> list[dict[str, Any]]:
        """Bulk API 2.0 jobs of the org (both kinds unless `kind`), newest first, each tagged
        with `jobKind`."""
        from .bulk.jobs import list_jobs

        return await list_jobs(self.client, kind)

    async def abort_job(self, job_id: str, kind: Literal["query", "ingest"] | None = None) -> Any:
        """Abort a Bulk job (its kind is found from the id when not given)."""
        from .bulk.jobs import abort_job

        return await abort_job(self.client, job_id, kind)


def _provider(
    provider: TokenProvider | None, instance_url: str | None, access_token: str | None
) -> TokenProvider | None:
    if instance_url is None and access_token is None:
        return provider
    if not (instance_url and access_token):
        raise ValueError("give both instance_url and access_token")
    if provider is not None:
        raise ValueError("give either a provider or instance_url + access_token")
    from .salesforce.credentials import StaticTokenProvider

    return StaticTokenProvider(access_token, instance_url)


async def connect_async(
    org: str | None = None,
    *,
    provider: TokenProvider | None = None,
    instance_url: str | None = None,
    access_token: str | None = None,
    api_version: str | None = None,
) -> AsyncOrg:
    """Open an org for async use: `async with await connect_async("devorg") as org: ...`.

    See `connect` for the ways to name the org.
    """
    provider = _provider(provider, instance_url, access_token)
    stack = AsyncExitStack()
    try:
        client = await stack.enter_async_context(
            open_client(org, provider=provider, api_version=api_version)
        )
    except BaseException:
        await stack.aclose()
        raise
    return AsyncOrg(client, stack)


def _settle(future: Future[T], task: asyncio.Task[T]) -> None:
    """Hand the outcome of `task` (on the loop thread) to `future` (for the caller's thread)."""
    if task.cancelled():
        future.cancel()
    elif (error := task.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(task.result())


def _wait_interruptibly(future: Future[Any]) -> None:
    """Wait for `future` in short slices, so that Ctrl-C gets through: once Polars is
    imported, an untimed wait is no longer cut short by SIGINT (KeyboardInterrupt came only
    when the work was over); between slices it is raised within a tenth of a second."""
    while not future.done():
        wait_futures([future], timeout=0.1)


class _LoopThread:
    """An event loop on a daemon thread, so blocking code can drive async code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = Future()
        tasks: list[asyncio.Task[T]] = []

        def start() -> None:
            tasks.append(self.loop.create_task(coro))
            tasks[0].add_done_callback(lambda task: _settle(future, task))

        self.loop.call_soon_threadsafe(start)
        try:
            _wait_interruptibly(future)
            return future.result()
        except KeyboardInterrupt:
            # Ctrl-C in the caller: cancel the work and wait while it winds up (jobs aborted,
            # export state saved, import outcomes written); a second Ctrl-C stops waiting.
            # (`start` runs first: the loop runs its callbacks in order.)
            self.loop.call_soon_threadsafe(lambda: tasks[0].cancel())
            with contextlib.suppress(BaseException):
                _wait_interruptibly(future)
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class Org:
    """An open connection to one org (blocking). Build it with `connect`.

    Every method mirrors `AsyncOrg`; `aio` is the async twin, running on a private loop.
    """

    def __init__(self, runner: _LoopThread, aio: AsyncOrg) -> None:
        self._runner = runner
        self.aio = aio

    @property
    def client(self) -> SalesforceClient:
        """The underlying async client."""
        return self.aio.client

    def close(self) -> None:
        """Close the connection (and stop an embedded devorg)."""
        if self._runner.loop.is_closed():
            return
        self._runner.run(self.aio.aclose())
        self._runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def query(
        self, soql: str, *, all_rows: bool = False, as_dicts: bool = False
    ) -> pl.DataFrame | list[dict[str, Any]]:
        """See `AsyncOrg.query`."""
        result: pl.DataFrame | list[dict[str, Any]] = self._runner.run(
            self.aio.query(soql, all_rows=all_rows, as_dicts=as_dicts)  # type: ignore[call-overload]
        )
        return result

    def describe(self, object_name: str | None = None) -> dict[str, Any]:
        """See `AsyncOrg.describe`."""
        return self._runner.run(self.aio.describe(object_name))

    def export(self, object_name: str | None = None, **kwargs: Any) -> Any:
        """See `AsyncOrg.export`: a frame, or an `ExportResult` when `out` is given."""
        return self._runner.run(self.aio.export(object_name, **kwargs))

    def export_result(self, *args: Any, **kwargs: Any) -> ExportResult:
        """See `AsyncOrg.export_result`."""
        return self._runner.run(self.aio.export_result(*args, **kwargs))

    def import_(
        self, object_name: str, data: str | Path | pl.DataFrame, **kwargs: Any
    ) -> ImportResult:
        """See `AsyncOrg.import_`."""
        return self._runner.run(self.aio.import_(object_name, data, **kwargs))

    load = import_

    def jobs(self, kind: Literal["query", "ingest"] | None = None) -> list[dict[str, Any]]:
        """See `AsyncOrg.jobs`."""
        return self._runner.run(self.aio.jobs(kind))

    def abort_job(self, job_id: str, kind: Literal["query", "ingest"] | None = None) -> Any:
        """See `AsyncOrg.abort_job`."""
        return self._runner.run(self.aio.abort_job(job_id, kind))


def connect(
    org: str | None = None,
    *,
    provider: TokenProvider | None = None,
    instance_url: str | None = None,
    access_token: str | None = None,
    api_version: str | None = None,
) -> Org:
    """Open an org: an alias from `sfbulk login`, `"devorg"` (a local org, no set-up), or None
    for the default org / SALESFORCE_* environment variables. `instance_url` +
    `access_token` use a session directly; `provider` any `TokenProvider`."""
    provider = _provider(provider, instance_url, access_token)
    runner = _LoopThread()
    try:
        aio = runner.run(connect_async(org, provider=provider, api_version=api_version))
    except BaseException:
        runner.stop()
        raise
    return Org(runner, aio)
