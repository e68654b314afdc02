"""`BulkJobs`: the Bulk API 2.0 jobs of one org, their state machine and their files.

Jobs advance on worker threads (`UploadComplete → InProgress → JobComplete | Failed |
Aborted`), so clients observe them exactly as they would a real org's. Every job keeps a
folder under `<data_dir>/bulk/<jobId>/` with its metadata, its upload and its result files;
metadata is saved on every change so jobs survive a restart of the devorg.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import logging
import math
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from sfbulk_mcp.devorg.bulk import errors
from sfbulk_mcp.devorg.bulk.ingest import run_ingest, write_unprocessed_only
from sfbulk_mcp.devorg.bulk.model import (
    DELIMITERS,
    INGEST_OPERATIONS,
    LINE_ENDINGS,
    QUERY_OPERATIONS,
    Job,
    JobKind,
    JobState,
    format_sf_datetime,
)
from sfbulk_mcp.devorg.bulk.query import check_bulk_query, run_query
from sfbulk_mcp.devorg.bulk.resultfile import (
    DATA_FILE,
    GZIP_DIR,
    HEADER_FILE,
    JobStopped,
    Page,
    ResultSet,
    compress_range,
    encode_span_locator,
)
from sfbulk_mcp.devorg.ids import IdFactory, sequence_of
from sfbulk_mcp.devorg.state import OrgState
from sfbulk_mcp.devorg.streaming import BULK_JOB_CHANNEL, EventHub

log = logging.getLogger(__name__)

JOB_KEY_PREFIX = "750"
JOB_FILE = "job.json"
UPLOAD_FILE = "upload.csv"
QUERY_RESULTS = "results"
INGEST_RESULTS = {
    "successfulResults": "successful",
    "failedResults": "failed",
    "unprocessedrecords": "unprocessed",
}

# Salesforce picks the size of a result page from the data size when maxRecords is absent.
DEFAULT_PAGE_BYTES = 64 * 1024 * 1024
# "A request can provide CSV data that does not in total exceed 150 MB of base64 encoded
# content."
UPLOAD_LIMIT_BASE64_BYTES = 150 * 1024 * 1024
LIST_PAGE_SIZE = 1000
# How long a job stays InProgress at least, so that polling clients can see the state.
MIN_IN_PROGRESS_SECONDS = 0.1
OPEN_RESULT_SETS = 16
# Threads compressing the page after the one a client just asked for.
GZIP_AHEAD_THREADS = 2
# Loads in a row fold the write-ahead log into the database at least this often.
FOLD_LOG_BYTES = 256 * 1024 * 1024


class TakingTurns:
    """Ingest jobs apply their rows one job at a time, first come first served.

    The org has one SQLite writer: jobs sharing it chunk by chunk would all finish late,
    together, where in turn the first is done (and its results readable) after its own rows.
    Salesforce too queues a job's work behind others'. A job waiting its turn shows
    InProgress.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queue: collections.deque[str] = collections.deque()
        self._busy = False

    def acquire(self, job_id: str, stopped: Callable[[], bool]) -> bool:
        """Wait for `job_id`'s turn; False if `stopped` turned true first."""
        with self._changed:
            self._queue.append(job_id)
            while self._busy or self._queue[0] != job_id:
                if stopped():
                    self._queue.remove(job_id)
                    self._changed.notify_all()
                    return False
                self._changed.wait(0.1)
            self._queue.popleft()
            self._busy = True
            return True

    def release(self) -> bool:
        """End the current turn; True if no other job is waiting for one."""
        with self._changed:
            self._busy = False
            self._changed.notify_all()
            return not self._queue


class BulkJobs:
    """All Bulk API 2.0 jobs of one org. Create one per `OrgState` with `BulkJobs.of(state)`."""

    def __init__(
        self,
        state: OrgState,
        *,
        page_bytes: int = DEFAULT_PAGE_BYTES,
        upload_limit: int = UPLOAD_LIMIT_BASE64_BYTES,
        min_in_progress: float = MIN_IN_PROGRESS_SECONDS,
    ) -> None:
        self.state = state
        self.root = Path(state.config.data_dir) / "bulk"
        self.root.mkdir(parents=True, exist_ok=True)
        self.page_bytes = page_bytes
        self.upload_limit = upload_limit
        self.min_in_progress = min_in_progress
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._ids = IdFactory()
        self._stopping = threading.Event()
        self._gzip_pool = ThreadPoolExecutor(max_workers=GZIP_AHEAD_THREADS,
                                             thread_name_prefix="devorg-gzip")
        self._aborts: dict[str, threading.Event] = {}
        self._workers: dict[str, threading.Thread] = {}
        # Workers whose job is done, still tidying up after it (see `_run`).
        self._tidying: set[threading.Thread] = set()
        self._ingest_turns = TakingTurns()
        # Uploads applied since the write-ahead log was last folded into the database.
        self._unfolded_bytes = 0
        self._results: dict[tuple[str, str], ResultSet] = {}
        # Partial result sets announced while query jobs run: job id → (start, end) → page.
        self._announced: dict[str, dict[tuple[int, int], Page]] = {}
        self._load()

    @classmethod
    def of(cls, state: OrgState) -> BulkJobs:
        """The manager of `state`, created on first use and kept on `state.bulk`."""
        existing = getattr(state, "bulk", None)
        if isinstance(existing, BulkJobs):
            return existing
        manager = cls(state)
        state.bulk = manager
        return manager

    # Lifecycle ---------------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker (jobs still running stay resumable) and wait for them."""
        self._stopping.set()
        self._gzip_pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            events = list(self._aborts.values())
            workers = [*self._workers.values(), *self._tidying]
        for event in events:
            event.set()
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    def _load(self) -> None:
        for job_file in sorted(self.root.glob(f"*/{JOB_FILE}")):
            try:
                job = Job.from_record(orjson.loads(job_file.read_bytes()))
            except (ValueError, KeyError, OSError):
                log.warning("skipping unreadable bulk job file %s", job_file)
                continue
            self._jobs[job.id] = job
            sequence = sequence_of(job.id)
            if sequence is not None:
                self._ids.advance_past(JOB_KEY_PREFIX, sequence)
        for job in list(self._jobs.values()):
            if job.state in (JobState.UPLOAD_COMPLETE, JobState.IN_PROGRESS):
                if job.kind is JobKind.INGEST and job.state is JobState.IN_PROGRESS:
                    # Rows may be half applied: say so rather than apply them twice.
                    self._finish(job, JobState.FAILED, "The org restarted while the job ran")
                else:
                    self._start_worker(job)

    # Paths -------------------------------------------------------------------------------

    def job_dir(self, job: Job) -> Path:
        """The folder holding a job's files."""
        return self.root / job.id

    def _save(self, job: Job) -> None:
        folder = self.job_dir(job)
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / (JOB_FILE + ".part")
        partial.write_bytes(orjson.dumps(job.to_record()))
        partial.replace(folder / JOB_FILE)

    # Creating jobs -----------------------------------------------------------------------

    def create_query_job(self, body: dict[str, Any], version: str,
                         user_id: str) -> dict[str, Any]:
        """Validate a query job request, create the job, start it; returns the create body."""
        operation = body.get("operation")
        if operation not in QUERY_OPERATIONS:
            raise errors.invalid_operation(operation, QUERY_OPERATIONS)
        soql = body.get("query")
        if not isinstance(soql, str) or not soql.strip():
            raise errors.missing_field("query")
        delimiter, line_ending = _format_options(body)
        _check_content_type(body)
        object_name = check_bulk_query(self.state, soql, include_deleted=operation == "queryAll",
                                       user_id=user_id)
        if not self.state.limits.count_bulk_query_job():
            raise errors.exceeded_quota("DailyBulkV2QueryJobs")
        job = self._new_job(
            JobKind.QUERY, operation, object_name, version, user_id, delimiter, line_ending
        )
        job.query = soql
        job.state = JobState.UPLOAD_COMPLETE
        created = job.created_json()
        self._register(job)
        self._start_worker(job)
        return created

    def create_ingest_job(self, body: dict[str, Any], version: str,
                          user_id: str) -> dict[str, Any]:
        """Validate an ingest job request, create the job Open; returns the create body."""
        operation = body.get("operation")
        if operation not in INGEST_OPERATIONS:
            raise errors.invalid_operation(operation, INGEST_OPERATIONS)
        object_name = body.get("object")
        if not isinstance(object_name, str) or not object_name:
            raise errors.missing_field("object")
        sobject = self.state.store.catalog.find(object_name)
        if sobject is None:
            raise errors.invalid_object(object_name)
        delimiter, line_ending = _format_options(body)
        _check_content_type(body)
        external_id = body.get("externalIdFieldName")
        if operation == "upsert":
            external_id = _check_external_id(sobject, external_id)
        elif external_id is not None:
            raise errors.invalid_job(
                "externalIdFieldName can only be specified for upsert operations"
            )
        job = self._new_job(
            JobKind.INGEST, operation, sobject.name, version, user_id, delimiter, line_ending
        )
        job.external_id_field = external_id
        rule = body.get("assignmentRuleId")
        job.assignment_rule_id = rule if isinstance(rule, str) and rule else None
        self._register(job)
        return job.created_json()

    def _new_job(
        self,
        kind: JobKind,
        operation: str,
        object_name: str,
        version: str,
        user_id: str,
        delimiter: str,
        line_ending: str,
    ) -> Job:
        now = _whole_second(time.time())
        return Job(
            id=self._ids.new_id(JOB_KEY_PREFIX),
            kind=kind,
            operation=operation,
            object_name=object_name,
            created_by_id=user_id,
            api_version=float(version),
            column_delimiter=delimiter,
            line_ending=line_ending,
            created_at=now,
            modified_at=now,
        )

    def _register(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job
        self._save(job)

    # Finding and listing -----------------------------------------------------------------

    def get(self, kind: JobKind, job_id: str) -> Job:
        """The job with this Id (15 or 18 characters), or 404 NOT_FOUND."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None and len(job_id) == 15:
                job = next((j for j in self._jobs.values() if j.id[:15] == job_id), None)
        if job is None or job.kind is not kind:
            raise errors.job_not_found()
        return job

    def list_jobs(self, kind: JobKind, params: dict[str, str], base_url: str) -> dict[str, Any]:
        """The job list resource: filters, `queryLocator` paging, `done`, `records`."""
        with self._lock:
            jobs = sorted(
                (j for j in self._jobs.values() if j.kind is kind), key=lambda j: j.id
            )
        job_type = params.get("jobType")
        if job_type is not None and job_type not in ("V2Query", "V2Ingest", "Classic",
                                                     "BigObjectIngest"):
            raise errors.invalid_filter("jobType", job_type)
        chunking = params.get("isPkChunkingEnabled")
        if chunking is not None and chunking.lower() not in ("true", "false"):
            raise errors.invalid_filter("isPkChunkingEnabled", chunking)
        mode = params.get("concurrencyMode")
        if mode is not None and mode not in ("Parallel", "Serial"):
            raise errors.invalid_filter("concurrencyMode", mode)
        # Bulk API 2.0 jobs are never PK-chunked Classic jobs and always run in parallel.
        if (
            (job_type is not None and job_type != ("V2Query" if kind is JobKind.QUERY
                                                   else "V2Ingest"))
            or (chunking is not None and chunking.lower() == "true")
            or (mode is not None and mode != "Parallel")
        ):
            jobs = []
        start = 0
        locator = params.get("queryLocator")
        if locator:
            start = _decode_list_locator(locator, len(jobs))
        page = jobs[start:start + LIST_PAGE_SIZE]
        done = start + LIST_PAGE_SIZE >= len(jobs)
        next_url = None
        if not done:
            query = "&".join(
                f"{k}={v}" for k, v in params.items() if k != "queryLocator"
            )
            token = _encode_list_locator(start + LIST_PAGE_SIZE)
            next_url = f"{base_url}?{query + '&' if query else ''}queryLocator={token}"
        return {
            "done": done,
            "records": [job.list_json() for job in page],
            "nextRecordsUrl": next_url,
        }

    # State changes -----------------------------------------------------------------------

    def change_state(self, job: Job, requested: object) -> dict[str, Any]:
        """Apply a PATCH `{"state": ...}` (`UploadComplete` or `Aborted`); returns its body.

        The body shows the state just set, even if a worker moves the job on at once.
        """
        if requested == JobState.ABORTED.value:
            return self.abort(job)
        if requested == JobState.UPLOAD_COMPLETE.value and job.kind is JobKind.INGEST:
            return self.upload_complete(job)
        raise errors.invalid_state_request(requested, job)

    def abort(self, job: Job) -> dict[str, Any]:
        """Abort a job that has not finished yet; returns the state change body."""
        with job.lock:
            if job.state.is_terminal:
                raise errors.cannot_abort(job)
            job.state = JobState.ABORTED
            job.touch()
            body = job.state_change_json()
        event = self._aborts.get(job.id)
        if event is not None:
            event.set()
        # The worker stops after the chunk it is applying; once it has, the counters are final.
        self._wait_for_worker(job)
        self._save(job)
        return body

    def upload_complete(self, job: Job) -> dict[str, Any]:
        """Close an ingest job's upload and queue it; returns the state change body."""
        with job.lock:
            if job.state is not JobState.OPEN:
                raise errors.cannot_close(job)
            job.state = JobState.UPLOAD_COMPLETE
            job.touch()
            body = job.state_change_json()
        self._save(job)
        self._start_worker(job)
        return body

    def delete(self, job: Job) -> None:
        """Delete a finished job and its files."""
        with job.lock:
            deletable = job.state.is_terminal or (
                job.kind is JobKind.QUERY and job.state is JobState.UPLOAD_COMPLETE
            )
            if not deletable:
                raise errors.cannot_delete(job)
        event = self._aborts.get(job.id)
        if event is not None:
            event.set()
        self._wait_for_worker(job)
        with self._lock:
            self._jobs.pop(job.id, None)
            for key in [k for k in self._results if k[0] == job.id]:
                del self._results[key]
        shutil.rmtree(self.job_dir(job), ignore_errors=True)
        self._report_storage()

    # Uploads -----------------------------------------------------------------------------

    def upload(self, job: Job, data: bytes) -> None:
        """Store the CSV of an Open ingest job (one upload per job, size-limited)."""
        self.check_upload(job, len(data))
        partial = self.upload_path(job)
        partial.write_bytes(data)
        self.adopt_upload(job, partial)

    def check_upload(self, job: Job, size: int = 0) -> None:
        """Refuse an upload the job cannot take: not Open, already uploaded, or too large."""
        with job.lock:
            if job.state is not JobState.OPEN:
                raise errors.upload_not_open(job)
            if job.upload_bytes or (self.job_dir(job) / UPLOAD_FILE).exists():
                raise errors.multiple_uploads(job)
        if base64_size(size) > self.upload_limit:
            raise errors.upload_too_large(self.upload_limit)

    def upload_path(self, job: Job) -> Path:
        """A fresh file for an upload in progress, until `adopt_upload` takes it."""
        folder = self.job_dir(job)
        folder.mkdir(parents=True, exist_ok=True)
        # One file per request: two racing PUTs must not write into the same file.
        return folder / f"{UPLOAD_FILE}.{uuid.uuid4().hex}.part"

    def adopt_upload(self, job: Job, partial: Path) -> None:
        """Make a fully received upload the job's data (checked again: uploads may race)."""
        size = partial.stat().st_size
        try:
            if size == 0:
                raise errors.empty_upload()
            self.check_upload(job, size)
            with job.lock:
                partial.replace(self.job_dir(job) / UPLOAD_FILE)
                job.upload_bytes = size
        finally:
            partial.unlink(missing_ok=True)
        self._save(job)

    # Results -----------------------------------------------------------------------------

    def query_results(self, job: Job, version: str) -> ResultSet:
        """The result set of a completed query job, fetched with the job's API version."""
        _check_same_version(job, version)
        if job.state is not JobState.JOB_COMPLETE:
            raise errors.results_not_ready(job)
        return self._result_set(job, QUERY_RESULTS)

    def ingest_results(self, job: Job, which: str, version: str) -> ResultSet:
        """One of an ingest job's result files (`successfulResults`, ...)."""
        _check_same_version(job, version)
        if job.state not in (JobState.JOB_COMPLETE, JobState.FAILED, JobState.ABORTED):
            raise errors.results_not_ready(job)
        folder = INGEST_RESULTS[which]
        # An aborted job's worker stops within a chunk; let it finish writing its results.
        self._wait_for_worker(job)
        if not (self.job_dir(job) / folder).exists():
            self._write_empty_ingest_results(job)
        return self._result_set(job, folder)

    def partial_result(self, job: Job, version: str, rows: tuple[int, int]) -> tuple[Page, Path]:
        """A partial result set (rows [start, end)) announced by a BulkApi2JobEvent, and the
        folder holding its bytes; any such range once the job is complete."""
        _check_same_version(job, version)
        folder = self.job_dir(job) / QUERY_RESULTS
        with self._lock:
            page = self._announced.get(job.id, {}).get(rows)
        if page is None and job.state is JobState.JOB_COMPLETE:
            result = self._result_set(job, QUERY_RESULTS)
            start, end = rows
            if end <= result.row_count:
                page = Page(start, end, result.offsets[start], result.offsets[end])
        if page is None:
            raise errors.invalid_locator(encode_span_locator(*rows))
        return page, folder

    @staticmethod
    def partial_gzip(folder: Path, page: Page) -> Path:
        """A partial result set compressed (made once, kept beside the full pages' ones)."""
        target = folder / GZIP_DIR / f"{page.start}-{page.end}.gz"
        if not target.exists():
            target.parent.mkdir(exist_ok=True)
            partial = target.with_name(f"{target.name}.{uuid.uuid4().hex}.part")
            compress_range((folder / HEADER_FILE).read_bytes(), folder / DATA_FILE,
                           page.byte_start, page.byte_end, partial)
            partial.replace(target)
        return target

    def _announce(self, job: Job, kind: str, result_type: str | None = None,
                  page: Page | None = None) -> None:
        """Publish a BulkApi2JobEvent (query jobs, on an org with streaming events)."""
        hub = EventHub.of(self.state)
        if hub is None or job.kind is not JobKind.QUERY:
            return
        url = None
        if page is not None:
            with self._lock:
                self._announced.setdefault(job.id, {})[(page.start, page.end)] = page
            url = (f"{self.state.instance_url}/services/data/v{job.version_text()}/jobs/query/"
                   f"{job.id}/results?locator={encode_span_locator(page.start, page.end)}")
        hub.publish(BULK_JOB_CHANNEL, {
            "CreatedDate": format_sf_datetime(time.time()),
            "CreatedById": job.created_by_id,
            "Type": kind,
            "JobIdentifier": job.id,
            "JobState": job.state.value,
            "ResultType": result_type,
            "ResultUrl": url,
        })

    def _announce_end(self, job: Job) -> None:
        """The event of a query job that just ended: its last result set, or its state."""
        if EventHub.of(self.state) is None or job.kind is not JobKind.QUERY:
            return
        if job.state is not JobState.JOB_COMPLETE:
            self._announce(job, "JOB_STATE")
            return
        result = self._result_set(job, QUERY_RESULTS)
        with self._lock:
            start = max((end for _, end in self._announced.get(job.id, {})), default=0)
        end = result.row_count
        self._announce(job, "RESULT", "FINAL",
                       Page(start, end, result.offsets[start], result.offsets[end]))

    def _partial_results(self, job: Job) -> Any:
        """What `run_query` calls with each run of rows written, or None without events."""
        if EventHub.of(self.state) is None:
            return None
        return lambda page: self._announce(job, "RESULT", "PARTIAL", page)

    def gzip_ahead(self, result: ResultSet, page: Page) -> None:
        """Compress `page` in the background, for a client reading pages one after another.

        Gzip bodies are made on request (a job completes as soon as its rows are written),
        and a client that asks for page n asks for page n+1 next: starting on it now overlaps
        its compression with the download of page n.
        """
        if self._stopping.is_set() or result.has_gzip(page):
            return

        def compress() -> None:
            try:
                result.gzip_file(page)
            except OSError as exc:  # the job was deleted meanwhile: nothing to serve
                log.debug("compressing a result page ahead failed: %s", exc)

        with contextlib.suppress(RuntimeError):  # the pool is shut down: the org is stopping
            self._gzip_pool.submit(compress)

    def _result_set(self, job: Job, folder: str) -> ResultSet:
        key = (job.id, folder)
        with self._lock:
            cached = self._results.get(key)
        if cached is not None:
            return cached
        result = ResultSet(self.job_dir(job) / folder)
        with self._lock:
            self._results[key] = result
            # Row offsets take 8 bytes a row: keep only the most recently opened results.
            while len(self._results) > OPEN_RESULT_SETS:
                del self._results[next(iter(self._results))]
        return result

    def _write_empty_ingest_results(self, job: Job) -> None:
        # A job aborted or failed before processing still answers its three resources,
        # with every uploaded row unprocessed.
        write_unprocessed_only(job, self.job_dir(job), self.job_dir(job) / UPLOAD_FILE)

    # Workers -----------------------------------------------------------------------------

    def _wait_for_worker(self, job: Job, timeout: float = 60.0) -> None:
        with self._lock:
            worker = self._workers.get(job.id)
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)

    def _start_worker(self, job: Job) -> None:
        abort = threading.Event()
        worker = threading.Thread(
            target=self._run, args=(job, abort), name=f"bulk-{job.id}", daemon=True
        )
        with self._lock:
            self._aborts[job.id] = abort
            self._workers[job.id] = worker
        worker.start()

    def _run(self, job: Job, abort: threading.Event) -> None:
        fold: bool | None = None
        me = threading.current_thread()
        try:
            fold = self._process(job, abort)
        except JobStopped:
            pass
        except Exception as exc:  # a bug must fail the job, not leave it InProgress forever
            log.exception("bulk job %s crashed", job.id)
            self._finish(job, JobState.FAILED, f"InternalError : {exc}")
        finally:
            with self._lock:
                self._aborts.pop(job.id, None)
                self._workers.pop(job.id, None)
                if fold is not None:
                    self._tidying.add(me)
        if fold is None:
            return
        # The job's own work is over: its results are served without waiting for this.
        try:
            if fold and not self._stopping.is_set():
                # The rows are committed and the job reported done: fold the log (it grows
                # unchecked during loads) into the database, once no other load is waiting.
                self.state.store.checkpoint()
            self._report_storage()
        except Exception:  # the org is closing under it, or a disk error: the next one retries
            log.warning("tidying up after bulk job %s failed", job.id, exc_info=True)
        finally:
            with self._lock:
                self._tidying.discard(me)

    def _process(self, job: Job, abort: threading.Event) -> bool | None:
        """Runs the job to its end; then whether the write-ahead log wants folding (None: the
        job stopped, nothing to tidy)."""
        faults = self.state.faults
        started = time.monotonic()
        if not self._enter(job, JobState.IN_PROGRESS):
            return None
        if faults.job_delay > 0 and abort.wait(faults.job_delay):
            return None
        failure = faults.take_job_failure()
        if faults.take_job_hang():
            abort.wait()
            return None
        if failure is not None:
            self._finish(job, JobState.FAILED, failure, started=started)
            return None

        def stopped() -> bool:
            return abort.is_set() or self._stopping.is_set()

        folder = self.job_dir(job)
        fold = False
        if job.kind is JobKind.QUERY:
            self._announce(job, "JOB_STATE")
            outcome = run_query(self.state, job, folder / QUERY_RESULTS, stopped,
                                self._partial_results(job),
                                self.state.config.partial_result_rows)
        else:
            if not self._ingest_turns.acquire(job.id, stopped):
                return None
            try:
                with self.state.store.bulk_load():
                    outcome = run_ingest(self.state, job, folder, folder / UPLOAD_FILE,
                                         stopped)
            finally:
                idle = self._ingest_turns.release()
            with self._lock:
                self._unfolded_bytes += job.upload_bytes
                fold = idle or self._unfolded_bytes >= FOLD_LOG_BYTES
                if fold:
                    self._unfolded_bytes = 0
        if stopped():
            return None
        # A real job is never done in an instant: keep InProgress visible to pollers.
        remaining = self.min_in_progress - (time.monotonic() - started)
        if remaining > 0 and abort.wait(remaining):
            return None
        with job.lock:
            job.records_processed = outcome.processed
            job.records_failed = outcome.failed
        self._finish(
            job,
            JobState.FAILED if outcome.error_message else JobState.JOB_COMPLETE,
            outcome.error_message,
            started=started,
        )
        return job.kind is JobKind.INGEST and fold

    def _enter(self, job: Job, state: JobState) -> bool:
        with job.lock:
            if job.state.is_terminal:
                return False
            job.state = state
            job.touch()
        self._save(job)
        return True

    def _finish(
        self,
        job: Job,
        state: JobState,
        message: str | None,
        *,
        started: float | None = None,
    ) -> None:
        with job.lock:
            if job.state.is_terminal:
                return
            job.state = state
            job.error_message = message
            if started is not None:
                job.processing_ms = max(1, int((time.monotonic() - started) * 1000))
            job.touch()
        self._save(job)
        self._announce_end(job)

    def _report_storage(self) -> None:
        total = 0
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.kind is JobKind.QUERY]
        for job in jobs:
            rows = self.job_dir(job) / QUERY_RESULTS / "rows.csv"
            with contextlib.suppress(FileNotFoundError):  # not written yet, or deleted
                total += rows.stat().st_size
        self.state.limits.set_bulk_storage_mb(total / (1024 * 1024))

    def wait(self, job_id: str, timeout: float = 30.0) -> Job:
        """Block until a job reaches a terminal state (for tests and in-process callers)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            job = self._jobs[job_id]
        while not job.state.is_terminal:
            if time.monotonic() > deadline:
                raise TimeoutError(f"bulk job {job_id} still {job.state.value}")
            time.sleep(0.01)
        return job


def base64_size(raw_bytes: int) -> int:
    """How large `raw_bytes` bytes become once base64 encoded, as Salesforce counts uploads."""
    return 4 * math.ceil(raw_bytes / 3)


def _whole_second(epoch: float) -> float:
    # Salesforce job dates carry milliseconds that are always .000.
    return float(int(epoch))


def _format_options(body: dict[str, Any]) -> tuple[str, str]:
    delimiter = body.get("columnDelimiter", "COMMA")
    if delimiter not in DELIMITERS:
        raise errors.invalid_enum("columnDelimiter", delimiter, tuple(DELIMITERS))
    line_ending = body.get("lineEnding", "LF")
    if line_ending not in LINE_ENDINGS:
        raise errors.invalid_enum("lineEnding", line_ending, tuple(LINE_ENDINGS))
    return str(delimiter), str(line_ending)


def _check_content_type(body: dict[str, Any]) -> None:
    content_type = body.get("contentType", "CSV")
    if content_type != "CSV":
        raise errors.invalid_enum("contentType", content_type, ("CSV",))


def _check_external_id(sobject: Any, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise errors.invalid_job("External ID was blank for " + sobject.name
                                 + ". An External ID must be specified for upsert.")
    field = sobject.field(name)
    if field is None or not (field.external_id or field.name == "Id"):
        raise errors.invalid_job(
            f"The field {name} on {sobject.name} is not an External ID or the Id field"
        )
    return str(field.name)


def _check_same_version(job: Job, version: str) -> None:
    if abs(float(version) - job.api_version) > 1e-9:
        raise errors.version_mismatch(job, version)


def _encode_list_locator(start: int) -> str:
    return base64.urlsafe_b64encode(f"jobs-{start}".encode()).decode().rstrip("=")


def _decode_list_locator(token: str, total: int) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        start = int(text.removeprefix("jobs-")) if text.startswith("jobs-") else -1
    except (ValueError, UnicodeError):
        start = -1
    if start < 0 or start > total:
        raise errors.invalid_query_locator(token)
    return start

