"""Ingest jobs: the uploaded CSV applied through the store, and the three result files.

Rows are applied in chunks of 1000, each chunk in one SQLite transaction. Inserts of plain
values take the engine's path (`_run_table_insert`): the engine reads the upload, checks the
values column by column and binds the rows itself, and writes the result files; the rows it
cannot vouch for go through `FastInserter`, one statement per chunk. Other operations, and
uploads the engine does not take, are applied row by row, each store call its own savepoint.
A bad row fails alone while a million rows still commit quickly. Like Salesforce, results are
not written in input order; every input row lands in exactly one of `successfulResults`,
`failedResults` or `unprocessedrecords`.
"""

from __future__ import annotations

import csv
import io
import math
import random
import sqlite3
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfbulk_mcp.devorg.bulk.csvout import RowFormatter
from sfbulk_mcp.devorg.bulk.direct import open_writer
from sfbulk_mcp.devorg.bulk.fastinsert import FastInserter, TablePlan
from sfbulk_mcp.devorg.bulk.model import Job, Outcome
from sfbulk_mcp.devorg.bulk.resultfile import write_lines
from sfbulk_mcp.devorg.catalog import FieldDef, SObjectDef
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.ids import id_head
from sfbulk_mcp.devorg.state import OrgState
from sfbulk_mcp.devorg.store import utc_now_text

if TYPE_CHECKING:
    from sfbulk_mcp._engine import IngestTable, SqliteWriter

CHUNK_ROWS = 1000
# Salesforce counts one batch per 10,000 uploaded records against DailyBulkApiBatches.
BATCH_ROWS = 10_000
NULL_MARKER = "#N/A"
# Distinct parent keys looked up per SOQL query.
LOOKUP_BATCH = 500
BOM = "\ufeff"


class BatchError(Exception):
    """The upload as a whole is unusable; the job fails with this errorMessage."""


def sf_error(exc: DevOrgError) -> str:
    """The `sf__Error` cell: `CODE:message:fields --` (`CODE:message:--` with no field)."""
    fields = ",".join(exc.fields)
    return f"{exc.error_code}:{exc.message}:{fields + ' ' if fields else ''}--"


@dataclass
class Upload:
    """A parsed upload: the header line exactly as sent, its columns, and the data rows."""

    header_line: str
    columns: list[str]
    rows: list[list[str]]


def read_upload(job: Job, path: Path) -> Upload:
    """Parse an uploaded CSV with the job's delimiter; BatchError if it cannot be used."""
    if not path.exists():
        return Upload("", [], [])
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BatchError(
            f"InvalidBatch : Failed to parse CSV: the upload is not valid UTF-8 "
            f"(byte {exc.start})"
        ) from None
    text = text.removeprefix(BOM)
    newline = text.find("\n")
    raw_header = text if newline < 0 else text[:newline]
    has_cr = raw_header.endswith("\r")
    if (job.line_ending == "LF") == has_cr and newline >= 0:
        raise BatchError(
            "ClientInputError : LineEnding is invalid on user data. Current LineEnding "
            f"setting is {job.line_ending}"
        )
    header_line = raw_header.removesuffix("\r")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=job.delimiter, strict=False)
    try:
        columns = next(reader)
    except StopIteration:
        return Upload("", [], [])
    except csv.Error as exc:
        raise BatchError(f"InvalidBatch : Failed to parse CSV header: {exc}") from None
    try:
        rows = [row for row in reader if row]
    except csv.Error as exc:
        raise BatchError(f"InvalidBatch : Failed to parse CSV: {exc}") from None
    return Upload(header_line, [c.strip() for c in columns], rows)


@dataclass(frozen=True)
class Column:
    """How one upload column maps onto the object: a field, or a parent by external id."""

    name: str
    field: FieldDef | None
    # For `Account.External_Id__c` style columns: the reference field, parent and its key.
    reference: FieldDef | None = None
    parent: SObjectDef | None = None
    parent_key: FieldDef | None = None


def resolve_columns(state: OrgState, sobject: SObjectDef, job: Job,
                    columns: Sequence[str]) -> list[Column]:
    """Map each header name to a field; BatchError naming the first unknown one."""
    seen: set[str] = set()
    resolved: list[Column] = []
    for name in columns:
        lowered = name.lower()
        if lowered in seen:
            raise BatchError(f"InvalidBatch : Duplicate field name found: {name}")
        seen.add(lowered)
        if not name:
            raise BatchError("InvalidBatch : Field name not found : ")
        if "." in name:
            resolved.append(_relationship_column(state, sobject, name))
            continue
        field = sobject.field(name)
        if field is None:
            raise BatchError(f"InvalidBatch : Field name not found : {name}")
        resolved.append(Column(name, field))
    if job.operation in ("delete", "hardDelete") and not any(
        c.field is not None and c.field.name == "Id" for c in resolved
    ):
        raise BatchError("InvalidBatch : Field name not found : Id")
    return resolved


def _relationship_column(state: OrgState, sobject: SObjectDef, name: str) -> Column:
    relationship, _, key = name.partition(".")
    polymorphic_target = None
    if ":" in relationship:
        # `Account:What.External__c` names the parent object of a polymorphic lookup.
        polymorphic_target, _, relationship = relationship.partition(":")
    reference = sobject.reference_by_relationship(relationship)
    if reference is None or "." in key:
        raise BatchError(f"InvalidBatch : Field name not found : {name}")
    target_name = polymorphic_target or (reference.reference_to[0]
                                         if reference.reference_to else "")
    parent = state.store.catalog.find(target_name)
    if parent is None:
        raise BatchError(f"InvalidBatch : Field name not found : {name}")
    parent_key = parent.field(key)
    if parent_key is None or not (parent_key.external_id or parent_key.id_lookup
                                  or parent_key.name == "Id"):
        raise BatchError(f"InvalidBatch : Field name not found : {name}")
    return Column(name, None, reference, parent, parent_key)


class ParentLookup:
    """Parent Ids by external id value, looked up once per distinct value."""

    def __init__(self, state: OrgState) -> None:
        self.state = state
        self._cache: dict[tuple[str, str, str], str | None] = {}

    def id_for(self, column: Column, value: str) -> str:
        """The parent Id a relationship cell names, or a DevOrgError for the row."""
        assert column.parent is not None and column.parent_key is not None
        assert column.reference is not None
        key = (column.parent.name, column.parent_key.name, value)
        if key not in self._cache:
            self._cache[key] = self._lookup(column.parent.name, column.parent_key.name, value)
        found = self._cache[key]
        if found is None:
            raise DevOrgError(
                "INVALID_FIELD",
                f"Foreign key external ID: {value} not found for field "
                f"{column.parent_key.name} in entity {column.parent.name}",
                fields=[column.reference.name],
            )
        return found

    def prefetch(self, column: Column, values: Iterable[str]) -> None:
        """Look up a chunk's parent keys with a few `IN` queries instead of one per value."""
        assert column.parent is not None and column.parent_key is not None
        parent, key = column.parent.name, column.parent_key.name
        wanted = sorted({
            value for value in values
            if value and value != NULL_MARKER and (parent, key, value) not in self._cache
        })
        # External ids match regardless of case unless the field says otherwise.
        fold: Callable[[str], str] = (
            (lambda text: text) if column.parent_key.case_sensitive else str.lower
        )
        for start in range(0, len(wanted), LOOKUP_BATCH):
            batch = wanted[start:start + LOOKUP_BATCH]
            literals = ", ".join(_soql_literal(value) for value in batch)
            _, rows = self.state.store.query_rows(
                f"SELECT Id, {key} FROM {parent} WHERE {key} IN ({literals})"
            )
            matches: dict[str, list[str]] = {}
            for record_id, found_key in rows:
                matches.setdefault(fold(str(found_key)), []).append(str(record_id))
            for value in batch:
                found = matches.get(fold(value), [])
                # Several parents with the key: no single one to point at.
                self._cache[(parent, key, value)] = found[0] if len(found) == 1 else None

    def _lookup(self, parent: str, key: str, value: str) -> str | None:
        _, rows = self.state.store.query_rows(
            f"SELECT Id FROM {parent} WHERE {key} = {_soql_literal(value)} LIMIT 2"
        )
        found = [row[0] for row in rows]
        return str(found[0]) if len(found) == 1 else None


def _soql_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class RowApplier:
    """Applies one CSV row to the store according to the job's operation."""

    def __init__(self, state: OrgState, job: Job, sobject: SObjectDef,
                 columns: list[Column]) -> None:
        self.store = state.store
        self.job = job
        self.sobject = sobject.name
        self.columns = columns
        self.parents = ParentLookup(state)
        # Inserts go through the chunked writer; other operations row by row.
        self.inserter = FastInserter(state.store, sobject) if job.operation == "insert" else None
        self.id_index = next(
            (i for i, c in enumerate(columns) if c.field is not None and c.field.name == "Id"),
            None,
        )
        external = job.external_id_field
        self.external_index = next(
            (i for i, c in enumerate(columns)
             if external and c.field is not None and c.field.name.lower() == external.lower()),
            None,
        )

    def values(self, row: Sequence[str], skip: int | None) -> dict[str, Any]:
        """Field values of a row: empty cells left out, `#N/A` as null."""
        values: dict[str, Any] = {}
        for index, (column, cell) in enumerate(zip(self.columns, row, strict=False)):
            if index == skip or cell == "":
                continue
            value: str | None = None if cell == NULL_MARKER else cell
            if column.field is not None:
                values[column.field.name] = value
            else:
                assert column.reference is not None
                values[column.reference.name] = (
                    None if value is None else self.parents.id_for(column, value)
                )
        return values

    def record_id(self, row: Sequence[str]) -> str:
        """The Id cell of the row (update, delete, hardDelete)."""
        if self.id_index is None or self.id_index >= len(row) or not row[self.id_index]:
            operation = self.job.operation
            raise DevOrgError("MISSING_ARGUMENT", f"Id not specified in an {operation} call")
        return row[self.id_index]

    def prefetch_parents(self, rows: Sequence[Sequence[str]]) -> None:
        """Resolve the external ids of a chunk's relationship columns in bulk."""
        for index, column in enumerate(self.columns):
            if column.reference is not None:
                self.parents.prefetch(column, (row[index] for row in rows if index < len(row)))

    def check_width(self, row: Sequence[str]) -> None:
        """A row must have as many cells as the header has columns."""
        if len(row) != len(self.columns):
            raise DevOrgError(
                "INVALID_FIELD",
                f"Number of values ({len(row)}) does not match the number of fields in the "
                f"header ({len(self.columns)})",
            )

    def apply(self, row: Sequence[str]) -> tuple[str, bool]:
        """Apply the row; returns (record Id, created) or raises DevOrgError."""
        self.check_width(row)
        store, user, operation = self.store, self.job.created_by_id, self.job.operation
        if operation == "insert":
            return store.create(self.sobject, self.values(row, None), user_id=user), True
        if operation == "update":
            record_id = self.record_id(row)
            store.update(self.sobject, record_id, self.values(row, self.id_index), user_id=user)
            return _id18(record_id), False
        if operation == "upsert":
            external = self.job.external_id_field or "Id"
            key = "" if self.external_index is None else row[self.external_index]
            if external.lower() != "id" and key in ("", NULL_MARKER):
                raise DevOrgError(
                    "MISSING_ARGUMENT", f"{external} not specified", fields=[external]
                )
            return store.upsert(self.sobject, external, key,
                                self.values(row, self.external_index), user_id=user)
        record_id = self.record_id(row)
        if operation == "delete":
            store.delete(self.sobject, record_id, user_id=user)
        else:
            store.hard_delete(self.sobject, record_id)
        return _id18(record_id), False


def _id18(record_id: str) -> str:
    from sfbulk_mcp.devorg.ids import normalize_id

    return normalize_id(record_id, field="Id")


def duplicate_keys(upload: Upload, applier: RowApplier, job: Job) -> dict[int, DevOrgError]:
    """Rows that name the same record twice in one job fail, as they do in Salesforce."""
    if job.operation == "upsert" and applier.external_index is not None and (
        (job.external_id_field or "").lower() != "id"
    ):
        index = applier.external_index
        field = job.external_id_field or ""

        def error(value: str) -> DevOrgError:
            return DevOrgError("DUPLICATE_EXTERNAL_ID",
                               f"Duplicate external id specified: {value}", fields=[field])
    elif job.operation in ("update", "delete", "hardDelete") and applier.id_index is not None:
        index = applier.id_index

        def error(value: str) -> DevOrgError:
            return DevOrgError("DUPLICATE_VALUE", f"Duplicate id in list: {value}")
    else:
        return {}

    by_id = index == applier.id_index

    def key(row: Sequence[str]) -> str:
        # Ids compare on their case-sensitive 15 characters; external ids ignore case.
        cell = row[index] if index < len(row) else ""
        return cell[:15] if by_id else cell.lower()

    counts = Counter(key(row) for row in upload.rows)
    return {
        number: error(row[index])
        for number, row in enumerate(upload.rows)
        if index < len(row) and row[index] not in ("", NULL_MARKER) and counts[key(row)] > 1
    }


class ResultWriter:
    """Collects each row's outcome, then writes the three result files in a shuffled order."""

    def __init__(self, job: Job, upload: Upload) -> None:
        self.job = job
        self.upload = upload
        self.formatter = RowFormatter(job.delimiter, job.newline)
        self.successes: list[tuple[int, str, bool]] = []
        self.failures: list[tuple[int, str, str]] = []

    def success(self, number: int, record_id: str, created: bool) -> None:
        self.successes.append((number, record_id, created))

    def failure(self, number: int, record_id: str, error: str) -> None:
        self.failures.append((number, record_id, error))

    def write(self, folder: Path) -> None:
        """Write successful, failed and unprocessed results under `folder`."""
        job, rows, line = self.job, self.upload.rows, self.formatter.line
        quote = self.formatter.header
        echoed = self.upload.header_line
        sep, newline = job.delimiter, job.newline
        shuffle = random.Random(job.id)
        successes = list(self.successes)
        failures = list(self.failures)
        shuffle.shuffle(successes)
        shuffle.shuffle(failures)
        handled = {n for n, _, _ in successes} | {n for n, _, _ in failures}
        head_ok = quote(["sf__Id", "sf__Created"]).removesuffix(newline)
        head_failed = quote(["sf__Id", "sf__Error"]).removesuffix(newline)
        write_lines(
            folder / "successful",
            head_ok + (sep + echoed if echoed else "") + newline,
            (line([rid, "true" if created else "false", *rows[n]]) for n, rid, created
             in successes),
        )
        write_lines(
            folder / "failed",
            head_failed + (sep + echoed if echoed else "") + newline,
            (line([rid, error, *rows[n]]) for n, rid, error in failures),
        )
        write_lines(
            folder / "unprocessed",
            echoed + newline if echoed else "",
            (line(row) for n, row in enumerate(rows) if n not in handled),
        )


def run_ingest(
    state: OrgState, job: Job, folder: Path, upload_path: Path, stopped: Callable[[], bool]
) -> Outcome:
    """Apply an ingest job's upload; writes its result files and returns its counters."""
    sobject = state.store.catalog.get(job.object_name)
    if job.operation == "insert":
        outcome = _run_table_insert(state, job, sobject, folder, upload_path, stopped)
        if outcome is not None:
            return outcome
    try:
        upload = read_upload(job, upload_path)
        if not upload.columns:
            raise BatchError("InvalidBatch : Empty batch: no data was uploaded for this job")
    except BatchError as exc:
        write_unprocessed_only(job, folder, upload_path)
        return Outcome(processed=0, error_message=str(exc))
    writer = ResultWriter(job, upload)
    try:
        columns = resolve_columns(state, sobject, job, upload.columns)
    except BatchError as exc:
        writer.write(folder)
        return Outcome(processed=0, error_message=str(exc))
    batches = max(1, math.ceil(len(upload.rows) / BATCH_ROWS))
    if not state.limits.count_bulk_batch(batches):
        writer.write(folder)
        return Outcome(processed=0, error_message="ExceededQuota : DailyBulkApiBatches "
                                                  "limit exceeded")
    applier = RowApplier(state, job, sobject, columns)
    duplicates = duplicate_keys(upload, applier, job)
    for start in range(0, len(upload.rows), CHUNK_ROWS):
        if stopped():
            break
        _apply_chunk(state, applier, writer, upload, start, duplicates)
        # Counters move while the job runs, as Salesforce's do, so clients can show progress.
        with job.lock:
            job.records_failed = len(writer.failures)
            job.records_processed = len(writer.successes) + job.records_failed
    writer.write(folder)
    failed = len(writer.failures)
    return Outcome(processed=len(writer.successes) + failed, failed=failed)


def _apply_chunk(state: OrgState, applier: RowApplier, writer: ResultWriter, upload: Upload,
                 start: int, duplicates: dict[int, DevOrgError]) -> None:
    store = state.store
    numbers = range(start, min(start + CHUNK_ROWS, len(upload.rows)))
    applier.prefetch_parents(upload.rows[start:start + CHUNK_ROWS])
    with store.transaction():
        if applier.inserter is not None:
            _insert_chunk(applier, writer, upload, numbers)
            return
        for number in numbers:
            row = upload.rows[number]
            given_id = _given_id(applier, row)
            duplicate = duplicates.get(number)
            if duplicate is not None:
                writer.failure(number, given_id, sf_error(duplicate))
                continue
            try:
                # Each store operation is its own savepoint: a failed row leaves no trace.
                record_id, created = applier.apply(row)
            except DevOrgError as exc:
                writer.failure(number, given_id, sf_error(exc))
                continue
            writer.success(number, record_id, created)


def _insert_chunk(applier: RowApplier, writer: ResultWriter | TableOutcomes,
                  upload: Upload | IngestTable, numbers: Iterable[int]) -> None:
    assert applier.inserter is not None
    ready: list[int] = []
    values: list[dict[str, Any]] = []
    for number in numbers:
        row = upload.rows[number] if isinstance(upload, Upload) else upload.row(number)
        try:
            applier.check_width(row)
            values.append(applier.values(row, None))
        except DevOrgError as exc:
            writer.failure(number, "", sf_error(exc))
            continue
        ready.append(number)
    outcomes = applier.inserter.insert(values, applier.job.created_by_id)
    for number, outcome in zip(ready, outcomes, strict=True):
        if isinstance(outcome, DevOrgError):
            writer.failure(number, "", sf_error(outcome))
        else:
            writer.success(number, outcome, True)


class TableOutcomes:
    """Outcomes of an insert read through the engine's table, kept by the table itself."""

    def __init__(self, table: IngestTable) -> None:
        self.table = table
        self.succeeded = 0
        self.failed = 0

    def success(self, number: int, record_id: str, created: bool) -> None:
        self.table.set_success(number, record_id, created)
        self.succeeded += 1

    def failure(self, number: int, record_id: str, error: str) -> None:
        self.table.set_failure(number, record_id, error)
        self.failed += 1


def _read_table(job: Job, path: Path) -> IngestTable | None:
    """The upload as an engine table, or None when it needs the general reader."""
    try:
        from sfbulk_mcp._engine import IngestTable
    except ImportError:
        return None
    try:
        return IngestTable.read(path, delimiter=job.column_delimiter,
                                line_ending=job.line_ending)
    except ValueError:
        # Not plainly formed CSV (odd quoting, a bare CR, bad UTF-8, …): `read_upload`
        # parses it as it always has, and words the error if there is one.
        return None


def _run_table_insert(state: OrgState, job: Job, sobject: SObjectDef, folder: Path,
                      upload_path: Path, stopped: Callable[[], bool]) -> Outcome | None:
    """An insert job whose rows the engine checks and binds: no per-row Python for rows of
    plain values, `FastInserter.insert` for the others. None when the upload or the object
    needs the general path (which then reads the upload itself)."""
    table = _read_table(job, upload_path)
    if table is None or not table.columns:
        return None
    try:
        columns = resolve_columns(state, sobject, job, [c.strip() for c in table.columns])
    except BatchError:
        return None
    fields = [c.field for c in columns if c.field is not None]
    applier = RowApplier(state, job, sobject, columns)
    assert applier.inserter is not None
    plan = applier.inserter.table_plan(fields) if len(fields) == len(columns) else None
    if plan is None:
        return None
    if not state.limits.count_bulk_batch(max(1, math.ceil(len(table) / BATCH_ROWS))):
        table.write_results(folder, _seed(job))
        return Outcome(processed=0,
                       error_message="ExceededQuota : DailyBulkApiBatches limit exceeded")
    table.prepare(plan.rules)
    outcomes = TableOutcomes(table)
    writer = open_writer(state.store.path, *plan.bound_statement())
    try:
        for start in range(0, len(table), CHUNK_ROWS):
            if stopped():
                break
            _table_chunk(state, applier, plan, table, outcomes, start, writer)
            with job.lock:
                job.records_failed = outcomes.failed
                job.records_processed = outcomes.succeeded + outcomes.failed
    finally:
        if writer is not None:
            writer.close()
    table.write_results(folder, _seed(job))
    return Outcome(processed=outcomes.succeeded + outcomes.failed, failed=outcomes.failed)


def _seed(job: Job) -> int:
    # Results come shuffled, the same way each time for a job.
    return zlib.crc32(job.id.encode("ascii"))


def _table_chunk(state: OrgState, applier: RowApplier, plan: TablePlan, table: IngestTable,
                 outcomes: TableOutcomes, start: int, writer: SqliteWriter | None) -> None:
    assert applier.inserter is not None
    store, sobject = state.store, applier.inserter.sobject
    stop = min(start + CHUNK_ROWS, len(table))
    first = store.ids.reserve(sobject.key_prefix, table.fast_count(start, stop))
    head = id_head(sobject.key_prefix)
    user, now = applier.job.created_by_id, utc_now_text(store.now())
    if writer is not None:
        with store.outside_write():
            inserted, others = writer.insert(table, start, stop, first, head, plan.slots,
                                             plan.defaults, list(plan.shared(now, user).values()))
    else:
        inserted, others = _insert_in_python(state, plan, table, start, stop, first, head,
                                             now, user)
    if inserted is None:
        # A duplicate value somewhere in the chunk (rolled back): `insert` takes every row of
        # it, with the store's own errors.
        others = list(range(start, stop))
    else:
        outcomes.succeeded += inserted
    if others:
        with store.transaction():
            _insert_chunk(applier, outcomes, table, others)


def _insert_in_python(state: OrgState, plan: TablePlan, table: IngestTable, start: int,
                      stop: int, first: int, head: str, now: str,
                      user: str) -> tuple[int | None, list[int]]:
    """`SqliteWriter.insert`, bound through Python's sqlite3 module."""
    params, others = table.insert_params(start, stop, first, head, plan.slots, plan.defaults)
    if params:
        try:
            with state.store.transaction():
                state.store._conn().executemany(plan.statement(now, user), params)
        except sqlite3.IntegrityError:
            return None, others
    return len(params), others


def _given_id(applier: RowApplier, row: Sequence[str]) -> str:
    if applier.job.operation == "insert" or applier.id_index is None:
        return ""
    return row[applier.id_index] if applier.id_index < len(row) else ""


def write_unprocessed_only(job: Job, folder: Path, upload_path: Path) -> None:
    """Result files of a job that never processed its rows: all of them unprocessed."""
    try:
        upload = read_upload(job, upload_path)
    except BatchError:
        upload = _raw_lines_upload(upload_path)
    ResultWriter(job, upload).write(folder)


def _raw_lines_upload(path: Path) -> Upload:
    # The upload could not be parsed with the job's settings: keep its header line verbatim.
    if not path.exists():
        return Upload("", [], [])
    text = path.read_bytes().decode("utf-8", errors="replace").removeprefix(BOM)
    header = text.split("\n", 1)[0].removesuffix("\r")
    return Upload(header, [], [])

