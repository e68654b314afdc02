"""Lines written by SQLite match, byte for byte, the lines the Python formatter writes."""

from __future__ import annotations

import pytest
from sfbulk_mcp.devorg.bulk.csvout import RowFormatter
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


@pytest.mark.parametrize("delimiter", [",", "\t", "|", ";", "^", "`"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("include_deleted", [False, True])
def test_sql_lines_equal_python_lines(store: Store, delimiter: str, newline: str,
                                      include_deleted: bool) -> None:
    formatter = RowFormatter(delimiter, newline)
    columns, rows = store.query_rows(SOQL, include_deleted=include_deleted)
    expected = "".join(formatter.line(row) for row in rows).encode("utf-8")
    lines = BulkLines(store, SOQL, formatter, include_deleted=include_deleted)
    written = [line for block in lines.blocks() for line in block]
    assert lines.columns == columns
    assert b"".join(written) == expected
    assert len(written) == store.count("Account", include_deleted=include_deleted)


def test_more_columns_than_one_printf_takes(store: Store) -> None:
    account = store.catalog.get("Account")
    names = [f.name for f in account.fields
             if f.stored and f.type not in ("address", "base64", "location")]
    soql = f"SELECT {', '.join(names + ['Parent.' + n for n in names] + ['Parent.Parent.' + n for n in names])} FROM Account"
    formatter = RowFormatter(";", "\r\n")
    _, rows = store.query_rows(soql)
    lines = BulkLines(store, soql, formatter, include_deleted=False)
    assert len(lines.columns) > 100
    assert b"".join(line for block in lines.blocks() for line in block) == "".join(
        formatter.line(row) for row in rows).encode("utf-8")


def test_sql_lines_of_an_empty_result(store: Store) -> None:
    lines = BulkLines(store, "SELECT Id FROM Account WHERE Name = 'none'", RowFormatter(",", "\n"),
                      include_deleted=False)
    assert [line for block in lines.blocks() for line in block] == []


def _lines(store: Store, soql: str) -> bytes:
    lines = BulkLines(store, soql, RowFormatter(",", "\n"), include_deleted=False)
    return b"".join(line for block in lines.blocks() for line in block)


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
