"""Lines written by the engine, or by SQLite where the engine cannot, match byte for byte the
lines the Python formatter writes."""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest
from sfbulk_mcp.devorg.bulk import direct
from sfbulk_mcp.devorg.bulk.csvout import RowFormatter, format_value
from sfbulk_mcp.devorg.bulk.resultfile import LineBlock
from sfbulk_mcp.devorg.bulk.sqlcsv import BulkLines
from sfbulk_mcp.devorg.store import Store

TEXTS = ["plain", 'say "hi"', '"', "a,b|c\td;e^f`g", "two\nlines", "crlf\r\nx", "😀 東京 Zürich",
         "nul\x00byte", "\x00", " ", "#N/A"]
NUMBERS = [0.1, 1e-05, 1234567.891, -0.0, 3.0, 1e14, 0.30000000000000004, 2.5e-07, 1e16,
           -999999999999999.0, 123456789012345678.0, 1e300]
SOQL = ("SELECT Id, Name, Description, Site, AnnualRevenue, Health_Score__c, NumberOfEmployees, "
        "Active__c, IsDeleted, CreatedDate, Owner.Name, Owner.IsActive, Parent.AnnualRevenue "
        "FROM Account")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("org") / "org.sqlite3")
    parent = store.create("Account", {"Name": "Parent", "AnnualRevenue": 12.5})
    for text in TEXTS:
        store.create("Account", {"Name": text.strip() or "blank", "Description": text,
                                 "Site": text[:80], "ParentId": parent})
    conn = store._conn()
    for number in NUMBERS:
        # Written directly: the store rounds to the field's scale, these test the formatting.
        record = store.create("Account", {"Name": f"number {number!r}"})
        conn.execute('UPDATE "Account" SET "AnnualRevenue" = ?, "Health_Score__c" = ? '
                     'WHERE "Id" = ?', (number, -number, record))
    # Values no write path stores, which must still come out as the Python formatter has it.
    odd = store.create("Account", {"Name": "odd types"})
    conn.execute('UPDATE "Account" SET "NumberOfEmployees" = 0.5, "AnnualRevenue" = \'x"y\', '
                 '"Active__c" = 2, "Site" = x\'00ff41\' WHERE "Id" = ?', (odd,))
    store.delete("Account", odd)
    return store


@pytest.fixture(autouse=True, params=["engine", "sqlite printf"])
def readers(request: pytest.FixtureRequest,
            monkeypatch: pytest.MonkeyPatch) -> list[object] | None:
    """Each test runs with the engine's reader (the readers it opened are listed), and with
    SQLite's `printf` lines instead (None)."""
    if request.param == "sqlite printf":
        monkeypatch.setattr(direct, "open_lines", lambda *a, **k: None)
        return None
    if direct.sqlite_library() is None:
        pytest.skip("the engine cannot reach this process's SQLite library")
    opened: list[object] = []
    real = direct.open_lines

    def listed(*args: Any, **kwargs: Any) -> object:
        reader = real(*args, **kwargs)
        opened.append(reader)
        return reader

    monkeypatch.setattr(direct, "open_lines", listed)
    return opened


def _engine_read_all(readers: list[object] | None) -> None:
    if readers is not None:
        assert readers and all(r is not None for r in readers), "the engine did not read"


def _written(lines: BulkLines) -> list[bytes]:
    """Every line, cut from its block at the offsets the block gives."""
    out: list[bytes] = []
    position = 0  # the offset of the current block's first byte
    for block in lines.blocks():
        assert isinstance(block, LineBlock)
        start = position
        for end in block.ends:
            out.append(block.data[start - position:end - position])
            start = end
        assert start - position == len(block.data)  # whole lines only
        position = start
    return out


@pytest.mark.parametrize("delimiter", [",", "\t", "|", ";", "^", "`"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("include_deleted", [False, True])
def test_sql_lines_equal_python_lines(store: Store, delimiter: str, newline: str,
                                      include_deleted: bool, readers: list[object] | None) -> None:
    formatter = RowFormatter(delimiter, newline)
    columns, rows = store.query_rows(SOQL, include_deleted=include_deleted)
    expected = "".join(formatter.line(row) for row in rows).encode("utf-8")
    lines = BulkLines(store, SOQL, formatter, include_deleted=include_deleted)
    written = _written(lines)
    assert lines.columns == columns
    assert b"".join(written) == expected
    assert len(written) == store.count("Account", include_deleted=include_deleted)
    _engine_read_all(readers)


def test_more_columns_than_one_printf_takes(store: Store, readers: list[object] | None) -> None:
    account = store.catalog.get("Account")
    names = [f.name for f in account.fields
             if f.stored and f.type not in ("address", "base64", "location")]
    soql = f"SELECT {', '.join(names + ['Parent.' + n for n in names] + ['Parent.Parent.' + n for n in names])} FROM Account"
    formatter = RowFormatter(";", "\r\n")
    _, rows = store.query_rows(soql)
    lines = BulkLines(store, soql, formatter, include_deleted=False)
    assert len(lines.columns) > 100
    assert b"".join(_written(lines)) == "".join(
        formatter.line(row) for row in rows).encode("utf-8")
    _engine_read_all(readers)


def test_floats_of_every_size_are_written_as_python_writes_them(
        tmp_path_factory: pytest.TempPathFactory, readers: list[object] | None) -> None:
    # Random bit patterns reach every exponent; rounded decimals are what real data holds.
    generator = random.Random(20261202)
    numbers = [struct.unpack("<d", generator.getrandbits(64).to_bytes(8, "little"))[0]
               for _ in range(3000)]
    numbers += [round(generator.uniform(-1e6, 1e6), generator.randrange(0, 8))
                for _ in range(3000)]
    numbers += [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 9007199254740993.0,
                0.1 + 0.2, 1e-4, 9.999999999999999e-05, 1e16 - 2, 123456789012345.67,
                float("inf"), float("-inf"), float("nan")]
    store = Store(tmp_path_factory.mktemp("floats") / "org.sqlite3")
    conn = store._conn()
    for number in numbers:
        record = store.create("Account", {"Name": "float"})
        conn.execute('UPDATE "Account" SET "AnnualRevenue" = ? WHERE "Id" = ?', (number, record))
    soql = "SELECT AnnualRevenue FROM Account"
    lines = BulkLines(store, soql, RowFormatter(",", "\n"), include_deleted=False)
    _, rows = store.query_rows(soql)
    # SQLite stores a NaN as NULL.
    expected = [f'"{format_value(value)}"\n'.encode() for (value,) in rows]
    assert _written(lines) == expected
    assert len(expected) == len(numbers)
    _engine_read_all(readers)


def test_a_query_the_engine_cannot_prepare_is_read_through_python(
        store: Store, readers: list[object] | None) -> None:
    # Comparing non-ASCII text calls a function the store registers in Python.
    soql = "SELECT Name, Description FROM Account WHERE Name = 'ZÜRICH' OR Name = '😀 東京 Zürich'"
    formatter = RowFormatter(",", "\n")
    rows = list(store.query_rows(soql)[1])
    lines = BulkLines(store, soql, formatter, include_deleted=False)
    assert b"".join(_written(lines)) == "".join(formatter.line(r) for r in rows).encode()
    assert len(rows) == 1
    assert readers is None or readers == [None]


def test_sql_lines_of_an_empty_result(store: Store) -> None:
    lines = BulkLines(store, "SELECT Id FROM Account WHERE Name = 'none'", RowFormatter(",", "\n"),
                      include_deleted=False)
    assert _written(lines) == []


def _lines(store: Store, soql: str) -> bytes:
    lines = BulkLines(store, soql, RowFormatter(",", "\n"), include_deleted=False)
    return b"".join(_written(lines))


def test_a_nul_byte_written_after_a_clean_query_is_still_written_whole(tmp_path) -> None:
    # A query found clean runs without its per-row checks next time; a write since must bring
    # the checks back, whichever way it was made.
    store = Store(tmp_path / "org.sqlite3")
    store.create("Account", {"Name": "clean"})
    soql = "SELECT Name, Description FROM Account ORDER BY Name"
    assert _lines(store, soql) == b'"clean",""\n'
    assert _lines(store, soql) == b'"clean",""\n'  # without the checks: known clean

    store.create("Account", {"Name": "with nul", "Description": "a\x00b"})
    assert _lines(store, soql) == b'"clean",""\n"with nul","a\x00b"\n'


def test_a_nul_byte_written_outside_a_store_transaction_is_noticed_too(tmp_path) -> None:
    store = Store(tmp_path / "org.sqlite3")
    record = store.create("Account", {"Name": "clean"})
    soql = "SELECT Name, Description FROM Account"
    assert _lines(store, soql) == b'"clean",""\n'
    store._conn().execute('UPDATE "Account" SET "Description" = ? WHERE "Id" = ?',
                          ("c\x00d", record))
    assert _lines(store, soql) == b'"clean","c\x00d"\n'
