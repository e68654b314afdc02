"""Insert jobs read through the engine's ingest table answer exactly as the general path does.

The table path (`ingest._run_table_insert`) parses the upload in the engine, checks plain
values column-wise and binds them without per-row Python; rows it cannot vouch for go through
`FastInserter.insert`. These tests hold it to the general path (`read_upload` + `_apply_chunk`):
the same parse, the same stored records, the same result rows and errors.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sfbulk_mcp._engine import IngestTable
from sfbulk_mcp.devorg.bulk import ingest
from sfbulk_mcp.devorg.bulk.model import DELIMITERS, Job, JobKind, Outcome
from sfbulk_mcp.devorg.bulk.resultfile import ResultSet
from sfbulk_mcp.devorg.store import Store

from .conftest import OrgUnderTest, start_org


def make_job(operation: str = "insert", sobject: str = "Account", delimiter: str = "COMMA",
             line_ending: str = "LF") -> Job:
    return Job(id="750000000000001AAA", kind=JobKind.INGEST, operation=operation,
               object_name=sobject, created_by_id="005000000000001AAA", api_version=60.0,
               column_delimiter=delimiter, line_ending=line_ending)


# --- parsing: whatever the engine takes, it reads as Python's csv module does ---------------

CELL = st.text(alphabet=st.sampled_from(list('ab ,;|\t"\n\r#N/Aé東\u2028')), max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(CELL, min_size=1, max_size=4), min_size=1, max_size=6),
    delimiter=st.sampled_from(sorted(DELIMITERS)),
    crlf=st.booleans(),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    blank_lines=st.booleans(),
)
def test_engine_reads_written_csv_as_python_does(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]], delimiter: str,
    crlf: bool, quoting: int, blank_lines: bool,
) -> None:
    job = make_job(delimiter=delimiter, line_ending="CRLF" if crlf else "LF")
    newline = "\r\n" if crlf else "\n"
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=job.delimiter, lineterminator=newline, quoting=quoting)
    for index, row in enumerate(rows):
        writer.writerow(row)
        if blank_lines and index % 2:
            out.write(newline)
    path = tmp_path_factory.mktemp("upload") / "upload.csv"
    path.write_bytes(out.getvalue().encode("utf-8"))
    assert_same_reading(job, path)


@settings(max_examples=400, deadline=None)
@given(raw=st.text(alphabet=st.sampled_from(list('a,"\n\r é')), max_size=40),
       bom=st.booleans())
def test_engine_takes_odd_bytes_only_when_it_reads_them_as_python_does(
    tmp_path_factory: pytest.TempPathFactory, raw: str, bom: bool
) -> None:
    path = tmp_path_factory.mktemp("upload") / "upload.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + raw.encode("utf-8"))
    assert_same_reading(make_job(), path)


def assert_same_reading(job: Job, path: Path) -> None:
    try:
        table = IngestTable.read(path, delimiter=job.column_delimiter,
                                 line_ending=job.line_ending)
    except ValueError:
        return  # refused: the general reader takes it
    upload = ingest.read_upload(job, path)  # must not fail where the engine did not
    assert table.header_line == upload.header_line
    assert [c.strip() for c in table.columns] == upload.columns
    assert [table.row(i) for i in range(len(table))] == upload.rows


@pytest.mark.parametrize("text", [
    'Name\nab"c\n',            # a quote inside an unquoted cell
    'Name\n"ab"c\n',           # text after a closing quote
    'Name\na\rb\n',            # a bare carriage return
    'Name\n"open\n',           # an unterminated quote
    'Name\r\nA\r\n',           # CRLF for an LF job
    '\nName\nA\n',             # a blank header line
    '',                        # nothing at all
    'Name\n' + 'x' * 140_000 + '\n',  # longer than the csv module's field limit
])
def test_engine_refuses_what_only_the_general_reader_words(tmp_path: Path, text: str) -> None:
    path = tmp_path / "upload.csv"
    path.write_text(text, encoding="utf-8", newline="")
    with pytest.raises(ValueError):
        IngestTable.read(path)


def test_engine_refuses_bad_utf8_and_nul(tmp_path: Path) -> None:
    for data in (b"Name\n\xff\n", b"Name\nA\x00B\n"):
        path = tmp_path / "upload.csv"
        path.write_bytes(data)
        with pytest.raises(ValueError):
            IngestTable.read(path)


# --- inserting: the table path stores and reports what the general path does ---------------

ACCOUNT_CSV = "\n".join([
    ("Name,NumberOfEmployees,AnnualRevenue,Health_Score__c,Active__c,Rating,BillingCity,"
     "Phone,ParentId,Description"),
    'Plain,12,1500.5,12.345,true,Hot,Zürich,555,,"two\nlines"',
    'Ints,-0,007,0.005,TRUE,,,,,',
    'Int range,2147483647,2.5,99.995,yes,,,,,',
    'Int too big,2147483648,,,,,,,,',
    'Int spaced, 12,,,,,,,,',
    'Int decimal,1.0,,,,,,,,',
    'Int words,twelve,,,,,,,,',
    'Half up,,-2.5,-0.125,NO,,,,,',
    'Percent range,,,999.995,,,,,,',
    'Percent over,,,1000,,,,,,',
    'Exponent,,1e3,,,,,,,',
    'Many digits,,1234567890.123456789,,,,,,,',
    'Bool odd,,,,maybe,,,,,',
    'Bool spaced,,,, true,,,,,',
    'Nulls,#N/A,#N/A,#N/A,#N/A,#N/A,#N/A,#N/A,#N/A,#N/A',
    ',,,,,,,,,',
    '#N/A,1,,,,,,,,',
    'City too long,,,,,,' + 'C' * 41 + ',,,',
    'Bad parent,,,,,,,,001000000000000AAA,',
    'Too many cells,1,,,,,,,,,extra',
    'Too few,1',
    '"Quoted ""name""",3,,,,,,,,',
]) + "\n"

INVOICE_CSV = """\
Name,External_Id__c,Amount__c,Discount__c,Quantity__c,Line_Count__c,Status__c,Paid__c,Due_Date__c
INV-1,E-1,10.005,5.5,3,1,Sent,true,2024-05-01
,E-2,1,,,,,,
#N/A,E-3,,,,,,,
INV-4,E-4,99999999999999.99,,,,Nope,,
INV-5,E-5,,,,,#N/A,#N/A,
INV-7,,,,,,,,not a date
"""


@pytest.fixture
def orgs(tmp_path: Path) -> Iterator[tuple[OrgUnderTest, OrgUnderTest]]:
    """Two fresh orgs: one for the table path, one for the general path."""
    table, general = start_org(tmp_path / "table"), start_org(tmp_path / "general")
    try:
        yield table, general
    finally:
        table.stop()
        general.stop()


def run_both(orgs: tuple[OrgUnderTest, OrgUnderTest], tmp_path: Path, sobject: str,
             text: str, monkeypatch: pytest.MonkeyPatch,
             binding: str = "engine") -> list[dict[str, Any]]:
    """Run the upload as an insert on both orgs, the first through the table path (rows
    bound by the engine's `SqliteWriter`, or through Python); returns what each did."""
    upload = tmp_path / "upload.csv"
    upload.write_text(text, encoding="utf-8", newline="")
    done = []
    real_chunk = ingest._table_chunk
    for org, use_table in zip(orgs, (True, False), strict=True):
        job = make_job(sobject=sobject)
        folder = tmp_path / ("table" if use_table else "general")
        writers: list[object] = []

        def counting_chunk(*args: Any, writers: list[object] = writers) -> None:
            writers.append(args[-1])
            real_chunk(*args)

        with monkeypatch.context() as patch:
            patch.setattr(ingest, "_table_chunk", counting_chunk)
            if not use_table:
                patch.setattr(ingest, "_read_table", lambda job, path: None)
            if binding == "python":
                patch.setattr(ingest, "open_writer", lambda *args: None)
            outcome = ingest.run_ingest(org.state, job, folder, upload, lambda: False)
        assert bool(writers) == use_table
        assert all((w is not None) == (binding == "engine") for w in writers)
        done.append({
            "outcome": (outcome.processed, outcome.failed, outcome.error_message),
            "successful": result_rows(folder / "successful", drop_first=True),
            "failed": result_rows(folder / "failed"),
            "unprocessed": result_rows(folder / "unprocessed"),
            "records": stored(org.state.store, sobject),
        })
    return done


def result_rows(directory: Path, drop_first: bool = False) -> tuple[bytes, Counter[tuple[str, ...]]]:
    """A result set's header and its rows as a multiset (the order is shuffled)."""
    result = ResultSet(directory)
    data = result.data_path.read_bytes().decode("utf-8")
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert len(rows) == result.row_count
    # Success Ids depend on the order rows were inserted in: compare the rest.
    return result.header, Counter(tuple(r[1:] if drop_first else r) for r in rows)


def stored(store: Store, sobject: str) -> list[tuple[Any, ...]]:
    """Every record's values but those set by the clock or the order of inserts; a value
    equal to the record's own Id (a custom object's Name left empty) reads `<Id>`."""
    moving = {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "CreatedById",
              "LastModifiedById", "OwnerId"}
    described = store.catalog.get(sobject)
    names = [f.name for f in described.stored_fields() if f.name not in moving]
    conn = store._conn()
    columns = ", ".join(f'"{n}"' for n in names)
    rows = conn.execute(f'SELECT "Id", {columns} FROM "{described.table}"').fetchall()
    return sorted((tuple("<Id>" if v == row[0] else v for v in row[1:]) for row in rows),
                  key=repr)


@pytest.mark.parametrize("binding", ["engine", "python"])
@pytest.mark.parametrize(("sobject", "text"), [("Account", ACCOUNT_CSV),
                                                ("Invoice__c", INVOICE_CSV)])
def test_table_insert_matches_the_general_path(
    orgs: tuple[OrgUnderTest, OrgUnderTest], tmp_path: Path, sobject: str, text: str,
    binding: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    table, general = run_both(orgs, tmp_path, sobject, text, monkeypatch, binding)
    assert table == general
    assert table["successful"][1] and table["failed"][1]  # both kinds of outcome were seen


@pytest.mark.parametrize("binding", ["engine", "python"])
@pytest.mark.parametrize(("chunk", "rows", "again"), [(10, 30, 30), (100, 230, 50)],
                         ids=["small-chunks", "duplicate-mid-chunk"])
def test_a_duplicate_unique_value_sends_its_chunk_through_the_general_path(
    orgs: tuple[OrgUnderTest, OrgUnderTest], tmp_path: Path, binding: str,
    monkeypatch: pytest.MonkeyPatch, chunk: int, rows: int, again: int,
) -> None:
    # 100-row chunks: the engine stores rows several to a statement, the last few singly.
    monkeypatch.setattr(ingest, "CHUNK_ROWS", chunk)
    lines = [f"N{i},E-{i}" for i in range(rows)]
    lines.insert(again, "Again,E-7")
    table, general = run_both(orgs, tmp_path, "Invoice__c",
                              "\n".join(["Name,External_Id__c", *lines]) + "\n",
                              monkeypatch, binding)
    for done in (table, general):
        # The record the duplicate names got its Id in the order rows were stored.
        header, failed = done["failed"]
        done["failed"] = header, Counter(
            tuple(re.sub(r"record with id: \w+", "record with id: <Id>", v) for v in row)
            for row in failed.elements()
        )
    assert table == general
    assert sum(table["failed"][1].values()) == 1
    assert sum(table["successful"][1].values()) == rows


def insert_names(org: OrgUnderTest, folder: Path, count: int,
                 stopped: Callable[[], bool] = lambda: False) -> Outcome:
    """An insert job of `count` accounts named A0, A1, … run in `folder`."""
    folder.mkdir()
    upload = folder / "upload.csv"
    upload.write_text("Name\n" + "".join(f"A{i}\n" for i in range(count)), encoding="utf-8")
    return ingest.run_ingest(org.state, make_job(), folder, upload, stopped)


def test_results_of_a_large_insert_come_shuffled_and_complete(
    bulk_org: OrgUnderTest, tmp_path: Path
) -> None:
    folder = tmp_path / "job"
    outcome = insert_names(bulk_org, folder, 5000)
    assert (outcome.processed, outcome.failed) == (5000, 0)
    rows = list(csv.reader(io.StringIO((folder / "successful" / "rows.csv").read_text())))
    names = [r[2] for r in rows]
    assert sorted(names) == sorted(f"A{i}" for i in range(5000))
    assert names != [f"A{i}" for i in range(5000)]
    assert len({r[0] for r in rows}) == 5000


def test_a_stopped_table_insert_leaves_the_rest_unprocessed(
    bulk_org: OrgUnderTest, tmp_path: Path
) -> None:
    folder = tmp_path / "job"
    calls = iter(range(100))
    outcome = insert_names(bulk_org, folder, 2500,
                           lambda: next(calls) >= 2)  # two chunks, then stop
    assert (outcome.processed, outcome.failed) == (2 * ingest.CHUNK_ROWS, 0)
    assert ResultSet(folder / "unprocessed").row_count == 2500 - 2 * ingest.CHUNK_ROWS


# --- `Store.underived_insert` tells the truth about `_derive` -------------------------------

def test_underived_insert_agrees_with_derive(tmp_path: Path) -> None:
    store = Store(tmp_path / "org.sqlite3")
    try:
        conn = store._conn()
        checked: set[str] = set()
        for sobject in store.catalog:
            names = [f.name for f in sobject.fields if f.stored and f.createable]
            for fields in (names, [n for n in names if n not in ("FirstName", "LastName")]):
                must = store.underived_insert(sobject, fields)
                if must is None:
                    continue
                row: dict[str, Any] = {name: None for name in fields}
                row.update({name: "value" for name in must})
                before = dict(row)
                store._derive(conn, sobject, row, None)
                assert row == before, sobject.name
                checked.add(sobject.name)
        assert {"Account", "Contact", "Invoice__c"} <= checked
    finally:
        store.close()


def test_the_engine_reaches_the_sqlite_library_of_python() -> None:
    """On Linux the direct path is available, so the tests above exercise it."""
    import sys

    from sfbulk_mcp.devorg.bulk.direct import sqlite_library

    if sys.platform == "linux":
        assert sqlite_library() is not None


def test_a_library_not_loaded_is_never_loaded(tmp_path: Path) -> None:
    from sfbulk_mcp._engine import SqliteWriter, sqlite_library_version

    assert sqlite_library_version(tmp_path / "libsqlite3.so.0") is None
    with pytest.raises(ValueError):
        SqliteWriter(tmp_path / "libsqlite3.so.0", tmp_path / "db.sqlite3", pragmas="",
                     insert="INSERT INTO t VALUES (?)", parameters=1)


def test_records_inserted_by_the_engine_are_seen_by_rest_and_soql(
    bulk_org: OrgUnderTest, tmp_path: Path
) -> None:
    upload = tmp_path / "upload.csv"
    upload.write_text("Name,NumberOfEmployees\nSeen,5\n", encoding="utf-8")
    outcome = ingest.run_ingest(bulk_org.state, make_job(), tmp_path / "job", upload,
                                lambda: False)
    assert (outcome.processed, outcome.failed) == (1, 0)
    _, found = bulk_org.state.store.query_rows(
        "SELECT Id, NumberOfEmployees FROM Account WHERE Name = 'Seen'")
    rows = list(found)
    assert len(rows) == 1 and rows[0][1] == 5
    record = bulk_org.state.store.retrieve("Account", str(rows[0][0]))
    assert record["NumberOfEmployees"] == 5
