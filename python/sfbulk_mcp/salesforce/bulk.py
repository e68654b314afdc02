"""Bulk API 2.0: query and ingest jobs, polling, and fetching result pages.

Result bodies arrive gunzipped (see `results.py`). Every result request uses the API version
the job was created with (Salesforce answers 409 otherwise); the client remembers it from the
job's `apiVersion`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal
from urllib.parse import urlsplit

from ._api import ApiBase
from .errors import (
    BulkJobError,
    BulkJobTimeoutError,
    MalformedQueryError,
    SalesforceError,
)
from .hosts import is_loopback_host
from .results import (
    BulkResultStream,
    OpenResults,
    ResultLink,
    ResultPage,
    ResultStreamBrokenError,
)
from .versions import normalize_version

logger = logging.getLogger("sfbulk_mcp.salesforce")

JobKind = Literal["query", "ingest"]
Operation = Literal["insert", "update", "upsert", "delete", "hardDelete"]
ProgressCallback = Callable[[dict[str, Any]], Awaitable[None] | None]

DELIMITERS = frozenset({"COMMA", "TAB", "PIPE", "SEMICOLON", "CARET", "BACKQUOTE"})
LINE_ENDINGS = frozenset({"LF", "CRLF"})
# Salesforce's cap is 150 MB after its own base64 encoding, i.e. 100 MB of raw CSV.
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
_INGEST_RESULTS = {
    "successful": "successfulResults",
    "successfulresults": "successfulResults",
    "failed": "failedResults",
    "failedresults": "failedResults",
    "unprocessed": "unprocessedrecords",
    "unprocessedrecords": "unprocessedrecords",
}
_OPERATIONS = {"insert", "update", "upsert", "delete", "harddelete"}


def bulk_query_problems(soql: str) -> list[str]:
    """Why Bulk API 2.0 would reject this SOQL (empty when it looks acceptable)."""
    # String literals may legitimately contain any keyword.
    text = re.sub(r"'(?:\\.|[^'\\])*'", "''", soql)
    problems = []
    checks = [
        (r"\bGROUP\s+BY\b", "GROUP BY"),
        (r"\bOFFSET\b", "OFFSET"),
        (r"\bTYPEOF\b", "TYPEOF"),
        (r"\b(?:COUNT|COUNT_DISTINCT|SUM|AVG|MIN|MAX)\s*\(", "aggregate functions"),
        (r"\(\s*SELECT\b", "parent-to-child subqueries"),
    ]
    for pattern, name in checks:
        if re.search(pattern, text, re.IGNORECASE):
            problems.append(f"Bulk API 2.0 queries do not support {name}")
    return problems


class BulkApi(ApiBase):
    """Bulk API 2.0 under `/services/data/vXX.X/jobs/`."""

    _job_versions: dict[str, str]

    def _init_bulk(self) -> None:
        self._job_versions = {}

    # ---- jobs -----------------------------------------------------------------------------

    async def bulk_create_query_job(
        self,
        soql: str,
        *,
        query_all: bool = False,
        column_delimiter: str = "COMMA",
        line_ending: str = "LF",
    ) -> dict[str, Any]:
        """Start a query job; `query_all` includes deleted and archived rows."""
        problems = bulk_query_problems(soql)
        if problems:
            raise MalformedQueryError(
                "; ".join(problems) + ": run it through the REST query instead",
                error_code="MALFORMED_QUERY",
            )
        body = {
            "operation": "queryAll" if query_all else "query",
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": _delimiter(column_delimiter),
            "lineEnding": _line_ending(line_ending),
        }
        # Creating a query job changes no data: sending it again after a 503, a 429 or a lost
        # answer costs at most one extra read-only job, so it gets the idempotent retries.
        info = await self._json(
            "POST", await self._data_path("jobs/query"), json=body, idempotent=True
        )
        return self._remember(info)

    async def bulk_create_ingest_job(
        self,
        sobject: str,
        operation: str,
        *,
        external_id_field: str | None = None,
        column_delimiter: str = "COMMA",
        line_ending: str = "LF",
        assignment_rule_id: str | None = None,
    ) -> dict[str, Any]:
        """Open an ingest job (`insert|update|upsert|delete|hardDelete`) ready for upload."""
        op = operation.replace("-", "").replace("_", "").lower()
        if op not in _OPERATIONS:
            raise ValueError(f"unknown Bulk operation {operation!r}: use one of {_OPERATIONS}")
        op = "hardDelete" if op == "harddelete" else op
        if op == "upsert" and not external_id_field:
            raise ValueError("an upsert needs external_id_field")
        body: dict[str, Any] = {
            "object": sobject,
            "operation": op,
            "contentType": "CSV",
            "columnDelimiter": _delimiter(column_delimiter),
            "lineEnding": _line_ending(line_ending),
        }
        if external_id_field:
            body["externalIdFieldName"] = external_id_field
        if assignment_rule_id:
            body["assignmentRuleId"] = assignment_rule_id
        info = await self._json("POST", await self._data_path("jobs/ingest"), json=body)
        return self._remember(info)

    async def bulk_get_job(self, kind: JobKind, job_id: str) -> dict[str, Any]:
        """The job's current info (state, counts, errorMessage, apiVersion)."""
        path = await self._job_path(kind, job_id)
        return self._remember(await self._json("GET", path))

    async def bulk_list_jobs(
        self,
        kind: JobKind,
        *,
        concurrency_mode: str | None = None,
        is_pk_chunking_enabled: bool | None = None,
        job_type: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every job of this kind in the org (all pages)."""
        params: dict[str, str] = {}
        if concurrency_mode:
            params["concurrencyMode"] = concurrency_mode
        if is_pk_chunking_enabled is not None:
            params["isPkChunkingEnabled"] = "true" if is_pk_chunking_enabled else "false"
        if job_type:
            params["jobType"] = job_type
        page = await self._json(
            "GET", await self._data_path(f"jobs/{_kind(kind)}"), params=params or None
        )
        jobs: list[dict[str, Any]] = list(page.get("records") or [])
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = await self._json("GET", page["nextRecordsUrl"])
            jobs.extend(page.get("records") or [])
        return jobs

    async def bulk_abort_job(self, kind: JobKind, job_id: str) -> dict[str, Any]:
        """Ask Salesforce to stop the job (state → Aborted)."""
        return await self._set_state(kind, job_id, "Aborted", {"Aborted"})

    async def bulk_delete_job(self, kind: JobKind, job_id: str) -> None:
        """Delete a finished job and its stored data."""
        path = await self._job_path(kind, job_id)
        await self._core.send("DELETE", path)
        self._job_versions.pop(job_id, None)

    async def bulk_upload(self, job_id: str, data: bytes) -> None:
        """Upload the job's CSV (one upload per job, ≤ 100 MB)."""
        if len(data) > MAX_UPLOAD_BYTES:
            raise SalesforceError(
                f"the CSV is {len(data) / 1e6:.1f} MB; Bulk API 2.0 takes at most 100 MB per "
                "job: split the rows over several jobs"
            )
        path = await self._job_path("ingest", job_id, "batches")
        await self._core.send("PUT", path, content=data, headers={"Content-Type": "text/csv"})

    async def bulk_close_job(self, job_id: str) -> dict[str, Any]:
        """Mark the upload complete so Salesforce starts processing (state → UploadComplete)."""
        reached = {"UploadComplete", "InProgress", "JobComplete", "Failed"}
        return await self._set_state("ingest", job_id, "UploadComplete", reached)

    async def _set_state(
        self, kind: JobKind, job_id: str, state: str, reached: set[str]
    ) -> dict[str, Any]:
        # The PATCH is resent after a dropped connection or a 503; if the first one had in
        # fact landed, Salesforce refuses the second (InvalidJobState). The job's own state
        # then tells whether the change happened.
        path = await self._job_path(kind, job_id)
        try:
            info = await self._json("PATCH", path, json={"state": state}, idempotent=True)
        except SalesforceError as exc:
            if exc.status not in (400, 409):
                raise
            current = await self.bulk_get_job(kind, job_id)
            if current.get("state") in reached:
                return current
            raise
        return self._remember(info)

    async def bulk_wait(
        self,
        kind: JobKind,
        job_id: str,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        poll_initial: float = 1.0,
        poll_max: float = 10.0,
        abort_on_timeout: bool = False,
    ) -> dict[str, Any]:
        """Poll until the job completes and return its final info.

        Polls after ~1 s, backing off to every ~10 s. Raises `BulkJobError` when the job
        ends Failed or Aborted, and `BulkJobTimeoutError` (with the job id) after `timeout`
        seconds — the server job keeps running unless `abort_on_timeout` is set.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll_initial
        while True:
            info = await self.bulk_get_job(kind, job_id)
            if on_progress is not None:
                outcome = on_progress(info)
                if inspect.isawaitable(outcome):
                    await outcome
            state = str(info.get("state"))
            if state == "JobComplete":
                return info
            if state in ("Failed", "Aborted"):
                detail = info.get("errorMessage")
                raise BulkJobError(
                    f"Bulk {kind} job {job_id} ended {state}"
                    + (f": {detail}" if detail else ""),
                    job_id=job_id,
                    state=state,
                    error_message=detail,
                )
            wait = interval
            if deadline is not None:
                remaining = deadline - time.monotonic()
                # One last look right at the deadline rather than giving up an interval early.
                wait = min(interval, max(remaining, 0.0))
            if deadline is not None and wait <= 0:
                if abort_on_timeout:
                    with suppress(SalesforceError):
                        await self.bulk_abort_job(kind, job_id)
                        state = "Aborted"
                raise BulkJobTimeoutError(
                    f"Bulk {kind} job {job_id} still {state} after {timeout:g} s"
                    + (" (aborted)" if abort_on_timeout else ""),
                    job_id=job_id,
                    state=state,
                )
            await self._core.retry.sleep(wait)
            interval = min(poll_max, interval * 1.5)

    @asynccontextmanager
    async def bulk_abort_on_error(self, kind: JobKind, job_id: str) -> AsyncIterator[None]:
        """Abort the server job if the block is cancelled or fails, so none is left running."""
        try:
            yield
        except BaseException:
            with suppress(SalesforceError):
                await asyncio.shield(self.bulk_abort_job(kind, job_id))
            raise

    # ---- results --------------------------------------------------------------------------

    def bulk_query_results(
        self, job_id: str, *, locator: str | None = None, max_records: int | None = None
    ) -> OpenResults:
        """One page of a completed query job's results, streamed.

        Use `async with client.bulk_query_results(job_id) as page:` (or `await` it and close
        the stream yourself). The stream gives `next_locator` (None on the last page),
        `number_of_records`, and the decoded CSV bytes. If it breaks mid-way, open the same
        `locator` again.
        """
        params: dict[str, str] = {}
        if locator:
            params["locator"] = locator
        if max_records is not None:
            params["maxRecords"] = str(max_records)

        async def open_page() -> BulkResultStream:
            await self.bulk_job_version("query", job_id)
            path = await self._job_path("query", job_id, "results")
            response = await self._core.send(
                "GET", path, params=params or None, headers=_CSV_HEADERS, stream=True
            )
            return BulkResultStream(response, job_id=job_id, locator=locator)

        return OpenResults(open_page)

    async def bulk_query_page(
        self, job_id: str, *, locator: str | None = None, max_records: int | None = None
    ) -> ResultPage:
        """One whole page, re-fetched from the same locator if the body breaks off."""
        attempt = 0
        while True:
            try:
                async with self.bulk_query_results(
                    job_id, locator=locator, max_records=max_records
                ) as stream:
                    data = await stream.aread()
                    return ResultPage(
                        data=data,
                        locator=locator,
                        next_locator=stream.next_locator,
                        number_of_records=stream.number_of_records,
                    )
            except ResultStreamBrokenError:
                if attempt >= self._core.retry.max_retries:
                    raise
                wait = self._core.retry.delay(attempt)
                logger.warning(
                    "result page of job %s broke off; fetching it again in %.1f s", job_id, wait
                )
                await self._core.retry.sleep(wait)
                attempt += 1

    async def bulk_query_pages(
        self, job_id: str, *, max_records: int | None = None
    ) -> AsyncIterator[ResultPage]:
        """Every page of a completed query job, in order, each read whole."""
        locator: str | None = None
        while True:
            page = await self.bulk_query_page(job_id, locator=locator, max_records=max_records)
            yield page
            if page.next_locator is None:
                return
            locator = page.next_locator

    async def bulk_result_pages(self, job_id: str) -> AsyncIterator[ResultLink]:
        """Links to result pages that can be fetched in parallel (`resultPages`, API 58.0+).

        Open each with `bulk_query_results(job_id, locator=link.locator,
        max_records=link.max_records)`.
        """
        await self.bulk_job_version("query", job_id)
        path: str | None = await self._job_path("query", job_id, "resultPages")
        while path:
            page = await self._json("GET", path)
            for entry in page.get("resultPages") or []:
                url = entry.get("resultUrl") or entry.get("resultLink")
                if url:
                    yield ResultLink.from_url(str(url))
            path = None if page.get("done", True) else page.get("nextRecordsUrl")

    def bulk_ingest_results(self, job_id: str, kind: str) -> OpenResults:
        """Stream an ingest job's `successful`, `failed` or `unprocessed` records (CSV).

        Use it like `bulk_query_results`: `async with` (or `await`, then `aclose()`).
        """
        resource = _INGEST_RESULTS.get(kind.replace("_", "").replace("-", "").lower())
        if resource is None:
            raise ValueError(f"unknown result kind {kind!r}: successful, failed or unprocessed")

        async def open_results() -> BulkResultStream:
            await self.bulk_job_version("ingest", job_id)
            path = await self._job_path("ingest", job_id, resource + "/")
            host = urlsplit(await self._core.instance_url()).hostname
            headers = _LOCAL_CSV_HEADERS if is_loopback_host(host or "") else _CSV_HEADERS
            response = await self._core.send("GET", path, headers=headers, stream=True)
            return BulkResultStream(response, job_id=job_id, locator=None)

        return OpenResults(open_results)

    # ---- helpers --------------------------------------------------------------------------

    def _remember(self, info: Any) -> dict[str, Any]:
        data: dict[str, Any] = dict(info) if isinstance(info, Mapping) else {}
        if "id" in data and data.get("apiVersion") is not None:
            self._job_versions[str(data["id"])] = normalize_version(data["apiVersion"])
        return data

    async def _job_path(self, kind: JobKind, job_id: str, suffix: str = "") -> str:
        version = self._job_versions.get(job_id)
        path = await self._data_path(f"jobs/{_kind(kind)}/{job_id}", version=version)
        return f"{path}/{suffix}" if suffix else path

    async def bulk_job_version(self, kind: JobKind, job_id: str) -> str:
        """The API version the job was created with (asked once, then remembered)."""
        if job_id not in self._job_versions:
            await self.bulk_get_job(kind, job_id)
        return self._job_versions.get(job_id) or await self.api_version()


_CSV_HEADERS = {"Accept": "text/csv", "Accept-Encoding": "gzip"}
# Ingest results from an org on this machine (a devorg) come uncompressed: a job's results
# echo its whole upload, and deflating and inflating them would cost both ends more CPU than
# the loopback bytes they save.
_LOCAL_CSV_HEADERS = {"Accept": "text/csv", "Accept-Encoding": "identity"}


def _kind(kind: str) -> str:
    if kind not in ("query", "ingest"):
        raise ValueError(f"job kind must be 'query' or 'ingest', not {kind!r}")
    return kind


def _delimiter(value: str) -> str:
    upper = value.upper()
    if upper not in DELIMITERS:
        raise ValueError(f"column delimiter must be one of {sorted(DELIMITERS)}, not {value!r}")
    return upper


def _line_ending(value: str) -> str:
    upper = value.upper()
    if upper not in LINE_ENDINGS:
        raise ValueError(f"line ending must be LF or CRLF, not {value!r}")
    return upper
