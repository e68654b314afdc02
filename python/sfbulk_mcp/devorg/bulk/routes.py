"""Bulk API 2.0 HTTP resources: `/services/data/vXX.X/jobs/query` and `/jobs/ingest`.

Authentication, API usage counting and the conversion of a raised `DevOrgError` into
Salesforce's error JSON happen in the HTTP layer in front of these routes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sfbulk_mcp.devorg.bulk import errors
from sfbulk_mcp.devorg.bulk.manager import INGEST_RESULTS, BulkJobs, base64_size
from sfbulk_mcp.devorg.bulk.model import JobKind
from sfbulk_mcp.devorg.bulk.resultfile import (
    DATA_FILE,
    HEADER_FILE,
    ResultSet,
    decode_locator,
    decode_span_locator,
    encode_locator,
)
from sfbulk_mcp.devorg.bulk.serving import FileRangeResponse
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.responses import json_response
from sfbulk_mcp.devorg.state import OrgState

CSV_TYPE = "text/csv"
# The parallel result pages resource answers at most five result URLs at a time.
RESULT_PAGES_PER_RESPONSE = 5
RESULT_PAGES_SINCE = 58.0
# Bulk API 2.0 ingest arrived in API version 41.0, query jobs in 47.0.
INGEST_SINCE = 41.0
QUERY_SINCE = 47.0
# Uploads reach the disk in blocks of this size (one worker-thread hop per block).
UPLOAD_BLOCK_BYTES = 4 * 1024 * 1024
# "For data sets under 100,000 characters, upload the data as part of a multipart request."
MULTIPART_CONTENT_LIMIT = 100_000
_RESULT_NAMES = {name.lower(): name for name in INGEST_RESULTS}


def bulk_routes(state: OrgState) -> list[BaseRoute]:
    """The Bulk API 2.0 routes of one org (its `BulkJobs` is created on `state.bulk`)."""
    api = BulkApi(state, BulkJobs.of(state))
    base = "/services/data/v{version}/jobs"
    return [
        Route(f"{base}/query", api.query_collection, methods=["GET", "POST"]),
        Route(f"{base}/query/{{job_id}}", api.query_job, methods=["GET", "PATCH", "DELETE"]),
        Route(f"{base}/query/{{job_id}}/results", api.query_results, methods=["GET"]),
        Route(f"{base}/query/{{job_id}}/resultPages", api.result_pages, methods=["GET"]),
        Route(f"{base}/ingest", api.ingest_collection, methods=["GET", "POST"]),
        Route(f"{base}/ingest/{{job_id}}", api.ingest_job, methods=["GET", "PATCH", "DELETE"]),
        Route(f"{base}/ingest/{{job_id}}/batches", api.upload, methods=["PUT"]),
        Route(f"{base}/ingest/{{job_id}}/{{which}}", api.ingest_results, methods=["GET"]),
    ]


class BulkApi:
    """Request handlers over one org's `BulkJobs`."""

    def __init__(self, state: OrgState, jobs: BulkJobs) -> None:
        self.state = state
        self.jobs = jobs

    # Collections -------------------------------------------------------------------------

    async def query_collection(self, request: Request) -> Response:
        """POST creates a query job; GET lists query jobs."""
        return await self._collection(request, JobKind.QUERY)

    async def ingest_collection(self, request: Request) -> Response:
        """POST creates an ingest job; GET lists ingest jobs."""
        return await self._collection(request, JobKind.INGEST)

    async def _collection(self, request: Request, kind: JobKind) -> Response:
        version = _version(request, kind)
        if request.method == "GET":
            listing = self.jobs.list_jobs(
                kind, dict(request.query_params),
                f"/services/data/v{version}/jobs/{kind.value}",
            )
            return json_response(listing)
        user_id = _user_id(request, self.state)
        content_type = request.headers.get("content-type", "").lower()
        if kind is JobKind.INGEST and content_type.startswith("multipart/form-data"):
            return await self._create_with_data(request, version, user_id)
        body = await _json_body(request)
        create = (self.jobs.create_query_job if kind is JobKind.QUERY
                  else self.jobs.create_ingest_job)
        # Creating a query job prepares its SOQL against the store: keep it off the loop.
        created = await anyio.to_thread.run_sync(create, body, version, user_id)
        return json_response(created)

    async def _create_with_data(self, request: Request, version: str,
                                user_id: str) -> Response:
        """A multipart request holding the job (`job`) and its CSV (`content`): the job is
        created, given its data and closed in one call."""
        async with request.form(max_part_size=MULTIPART_CONTENT_LIMIT + 1) as form:
            job_part, content_part = form.get("job"), form.get("content")
            if job_part is None or content_part is None:
                raise errors.invalid_job(
                    "A multipart job request needs a 'job' part and a 'content' part")
            job_text = job_part if isinstance(job_part, str) else (await job_part.read()).decode()
            content = (content_part.encode() if isinstance(content_part, str)
                       else await content_part.read())
        try:
            body = orjson.loads(job_text)
        except orjson.JSONDecodeError as exc:
            raise DevOrgError("JSON_PARSER_ERROR", f"Unexpected character in the job: {exc}")
        if not isinstance(body, dict):
            raise DevOrgError("JSON_PARSER_ERROR", "The job part must be a JSON object")
        if len(content) > MULTIPART_CONTENT_LIMIT:
            raise errors.invalid_job(
                f"Multipart uploads are limited to {MULTIPART_CONTENT_LIMIT:,} characters of "
                "CSV; upload larger data with PUT on the job's contentUrl")

        def create_upload_close() -> dict[str, Any]:
            created = self.jobs.create_ingest_job(body, version, user_id)
            job = self.jobs.get(JobKind.INGEST, created["id"])
            try:
                self.jobs.upload(job, content)
            except DevOrgError:
                self.jobs.abort(job)  # the caller never learns this job's Id: don't leave it Open
                raise
            closed = self.jobs.upload_complete(job)
            # The create body, showing the job already closed.
            return {**created, "state": closed["state"],
                    "systemModstamp": closed["systemModstamp"]}

        return json_response(await anyio.to_thread.run_sync(create_upload_close))

    # One job -----------------------------------------------------------------------------

    async def query_job(self, request: Request) -> Response:
        """GET, PATCH (abort) or DELETE one query job."""
        return await self._job(request, JobKind.QUERY)

    async def ingest_job(self, request: Request) -> Response:
        """GET, PATCH (UploadComplete / Aborted) or DELETE one ingest job."""
        return await self._job(request, JobKind.INGEST)

    async def _job(self, request: Request, kind: JobKind) -> Response:
        _version(request, kind)
        job = self.jobs.get(kind, request.path_params["job_id"])
        if request.method == "GET":
            return json_response(job.info_json())
        if request.method == "PATCH":
            body = await _json_body(request)
            # Aborting waits for the job's worker to stop: keep that off the event loop.
            changed = await anyio.to_thread.run_sync(self.jobs.change_state, job,
                                                     body.get("state"))
            return json_response(changed)
        await anyio.to_thread.run_sync(self.jobs.delete, job)
        return Response(status_code=204)

    # Query results -----------------------------------------------------------------------

    async def query_results(self, request: Request) -> Response:
        """One page of a query job's CSV, selected by `locator` and `maxRecords`."""
        version = _version(request, JobKind.QUERY)
        job = self.jobs.get(JobKind.QUERY, request.path_params["job_id"])
        params = request.query_params
        rows = decode_span_locator(params.get("locator") or "")
        if rows is not None:
            return await self._partial_result(request, job, version, rows)
        result = self.jobs.query_results(job, version)
        start = _start_row(params.get("locator"), result)
        max_records = _max_records(params.get("maxRecords"))
        page = result.page(start, max_records, self.jobs.page_bytes)
        next_locator = encode_locator(page.end) if page.end < result.row_count else "null"
        headers = {
            "Sforce-Locator": next_locator,
            "Sforce-NumberOfRecords": str(page.records),
        }
        if _accepts_gzip(request):
            if page.end < result.row_count:
                self.jobs.gzip_ahead(result, result.page(page.end, max_records,
                                                         self.jobs.page_bytes))
            packed = await anyio.to_thread.run_sync(result.gzip_file, page)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
            return FileRangeResponse(b"", packed, 0, packed.stat().st_size,
                                     headers=headers, media_type=CSV_TYPE)
        return FileRangeResponse(result.header, result.data_path, page.byte_start,
                                 page.byte_end, headers=headers, media_type=CSV_TYPE)

    async def _partial_result(
        self, request: Request, job: Any, version: str, rows: tuple[int, int]
    ) -> Response:
        """A result set announced by a BulkApi2JobEvent, served while the job still runs."""
        page, folder = await anyio.to_thread.run_sync(
            self.jobs.partial_result, job, version, rows
        )
        headers = {"Sforce-Locator": "null", "Sforce-NumberOfRecords": str(page.records)}
        if _accepts_gzip(request):
            packed = await anyio.to_thread.run_sync(self.jobs.partial_gzip, folder, page)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
            return FileRangeResponse(b"", packed, 0, packed.stat().st_size,
                                     headers=headers, media_type=CSV_TYPE)
        header = (folder / HEADER_FILE).read_bytes()
        return FileRangeResponse(header, folder / DATA_FILE, page.byte_start, page.byte_end,
                                 headers=headers, media_type=CSV_TYPE)

    async def result_pages(self, request: Request) -> Response:
        """Up to five result URLs at a time, for downloading pages in parallel (v58.0+)."""
        version = _version(request, JobKind.QUERY)
        if float(version) < RESULT_PAGES_SINCE:
            raise errors.unsupported_version(version, f"{RESULT_PAGES_SINCE:.1f}")
        job = self.jobs.get(JobKind.QUERY, request.path_params["job_id"])
        result = self.jobs.query_results(job, version)
        params = request.query_params
        max_records = _max_records(params.get("maxRecords"))
        starts = await anyio.to_thread.run_sync(
            _page_starts, result, max_records, self.jobs.page_bytes
        )
        first = 0
        if params.get("locator"):
            offset = decode_locator(params["locator"])
            if offset is None or offset >= len(starts):
                raise errors.invalid_locator(params["locator"])
            first = offset
        base = f"/services/data/v{version}/jobs/query/{job.id}"
        suffix = f"&maxRecords={max_records}" if max_records is not None else ""
        chosen = starts[first:first + RESULT_PAGES_PER_RESPONSE]
        following = first + RESULT_PAGES_PER_RESPONSE
        done = following >= len(starts)
        body: dict[str, Any] = {
            "resultPages": [
                {"resultUrl": f"{base}/results?locator={encode_locator(row)}{suffix}"}
                for row in chosen
            ],
            "nextRecordsUrl": None if done else (
                f"{base}/resultPages?locator={encode_locator(following)}{suffix}"
            ),
            "done": done,
        }
        return json_response(body)

    # Ingest data and results -------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        """PUT the job's CSV (one upload per job), streamed to disk as it arrives."""
        _version(request, JobKind.INGEST)
        job = self.jobs.get(JobKind.INGEST, request.path_params["job_id"])
        declared = request.headers.get("content-length")
        self.jobs.check_upload(job, int(declared) if declared and declared.isdigit() else 0)
        partial = self.jobs.upload_path(job)
        try:
            await _receive_to_file(request, partial, self.jobs.upload_limit)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        await anyio.to_thread.run_sync(self.jobs.adopt_upload, job, partial)
        return Response(status_code=201)

    async def ingest_results(self, request: Request) -> Response:
        """`successfulResults`, `failedResults` or `unprocessedrecords` of an ingest job."""
        # Salesforce documents `unprocessedrecords`; clients also send `unprocessedRecords`.
        which = _RESULT_NAMES.get(request.path_params["which"].lower())
        if which is None:
            raise errors.job_not_found()
        version = _version(request, JobKind.INGEST)
        job = self.jobs.get(JobKind.INGEST, request.path_params["job_id"])
        result = await anyio.to_thread.run_sync(self.jobs.ingest_results, job, which, version)
        page = result.page(0, None, max(result.data_bytes, 1))
        if _accepts_gzip(request):
            packed = await anyio.to_thread.run_sync(result.gzip_file, page)
            return FileRangeResponse(
                b"", packed, 0, packed.stat().st_size,
                headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
                media_type=CSV_TYPE,
            )
        return FileRangeResponse(result.header, result.data_path, 0, result.data_bytes,
                                 headers={}, media_type=CSV_TYPE)


def _version(request: Request, kind: JobKind) -> str:
    """The API version of the request; 404 below the version that introduced the resource."""
    version: str = request.path_params["version"]
    since = QUERY_SINCE if kind is JobKind.QUERY else INGEST_SINCE
    try:
        number = float(version)
    except ValueError:
        raise errors.job_not_found() from None
    if number < since:
        raise errors.unsupported_version(version, f"{since:.1f}")
    return version


def _page_starts(result: ResultSet, max_records: int | None, page_bytes: int) -> list[int]:
    if max_records is None:
        return result.page_starts(page_bytes)
    starts, row = [], 0
    while row < result.row_count:
        starts.append(row)
        row = result.page(row, max_records, page_bytes).end
    return starts or [0]


def _start_row(locator: str | None, result: ResultSet) -> int:
    if locator is None or locator == "":
        return 0
    row = decode_locator(locator)
    if row is None or (row >= result.row_count and row != 0):
        raise errors.invalid_locator(locator)
    return row


def _max_records(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or int(value) <= 0:
        raise errors.invalid_max_records(value)
    return int(value)


def _accepts_gzip(request: Request) -> bool:
    accepted = request.headers.get("accept-encoding", "")
    for part in accepted.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() == "gzip" and params.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise DevOrgError("JSON_PARSER_ERROR", f"Unexpected character in the request: {exc}")
    if not isinstance(body, dict):
        raise DevOrgError("JSON_PARSER_ERROR", "The request body must be a JSON object")
    return body


async def _receive_to_file(request: Request, path: Path, limit: int) -> None:
    """Write the request body to `path` in large blocks, refusing it past `limit`."""
    size = 0
    block: list[bytes] = []
    pending = 0
    async with await anyio.open_file(path, "wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if base64_size(size) > limit:
                raise errors.upload_too_large(limit)
            block.append(chunk)
            pending += len(chunk)
            if pending >= UPLOAD_BLOCK_BYTES:
                await out.write(b"".join(block))
                block.clear()
                pending = 0
        if block:
            await out.write(b"".join(block))


def _user_id(request: Request, state: OrgState) -> str:
    session = getattr(request.state, "session", None)
    user_id = getattr(session, "user_id", None)
    if isinstance(user_id, str) and user_id:
        return user_id
    return str(state.store.admin_user_id)

