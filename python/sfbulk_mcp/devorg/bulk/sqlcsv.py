"""A Bulk query's result lines, written without Python per row.

The engine's `SqliteLines` steps the query on a connection of its own and writes each line
itself (see `direct.open_lines`). Where it cannot, SQLite writes them: one `printf` per row
instead of Python per value.

A Bulk query's rows are mostly text stored exactly as Bulk writes it (ids, dates, datetimes,
picklists), so SQLite can quote them (`%w` doubles `"`) and join a whole line in C, handing
Python one bytes object per row. The bytes are the ones `RowFormatter` writes:

- text cells: `"%w"` of the value, `""` for null;
- booleans: `true` when the value equals 1, else `false`, as `_bool_converter` decides;
- integers: their decimal digits; doubles that are whole numbers below 1e15: digits and `.0`;
  any other number, and any value of an unexpected type, goes through `format_value` in a
  Python callback.

`printf` stops at a NUL byte, so a row holding one in a text cell (or a blob, which no write
path stores in a text column) is not formatted in SQL: the query yields the row's rid instead,
and that row is read again and written by the Python formatter. Checking every text cell of
every row costs about as much as formatting it, so a query that came back without any such row
is remembered as clean, and runs without the checks until the next write.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sfbulk_mcp.devorg.bulk import direct
from sfbulk_mcp.devorg.bulk.csvout import RowFormatter, format_value
from sfbulk_mcp.devorg.bulk.resultfile import LineBlock, line_blocks
from sfbulk_mcp.devorg.catalog import NUMBER_TYPES, FieldDef
from sfbulk_mcp.devorg.soql.execute import (
    BulkSelect,
    as_booleans,
    boolean_columns,
    compile_bulk_select,
)

if TYPE_CHECKING:
    from sfbulk_mcp._engine import SqliteLines
    from sfbulk_mcp.devorg.store import Store

# Rows fetched (and written) per block.
BLOCK_ROWS = 4096
# The read that fixes a snapshot (BEGIN alone does not).
SNAPSHOT_SQL = "SELECT 1 FROM _meta LIMIT 1"
# SQLite caps a function's arguments at 127: long select lists use several printf calls.
_PRINTF_ARGS = 100
_CELL_FUNCTION = "sf_csv_cell"


class BulkLines:
    """The CSV lines of a Bulk query, in blocks of UTF-8 bytes, written by SQLite."""

    def __init__(self, store: Store, soql: str, formatter: RowFormatter, *,
                 include_deleted: bool, user_id: str | None = None) -> None:
        self.select = compile_bulk_select(store, soql, include_deleted=include_deleted,
                                          user_id=user_id)
        self.formatter = formatter
        self._store = store
        self._booleans = boolean_columns(self.select)
        self._python_lines = 0  # rows of the current run written by Python

    @property
    def columns(self) -> list[str]:
        """The dotted column names, in SELECT order."""
        return self.select.columns

    def blocks(self) -> Iterator[LineBlock]:
        """Every result line, terminator included, in blocks of up to BLOCK_ROWS lines."""
        reader = self._engine_reader()
        if reader is None:
            yield from line_blocks(self._sql_blocks())
            return
        try:
            end = 0
            done = False
            while not done:
                data, ends, values, done = reader.block(BLOCK_ROWS, end)
                if data:
                    end += len(data)
                    yield LineBlock(data, _int64s(ends))
                if values is not None:  # a row holding a blob: written by Python
                    line = self.formatter.line(as_booleans(values, self._booleans))
                    data = line.encode("utf-8")
                    end += len(data)
                    yield LineBlock(data, array("q", [end]))
        finally:
            reader.close()

    def _engine_reader(self) -> SqliteLines | None:
        select = self.select
        # Begun while no store write is under way, as `begin_snapshot` is.
        with self._store.quiet():
            return direct.open_lines(
                self._store.path, snapshot=SNAPSHOT_SQL,
                sql=f"SELECT {select.select_list} {select.tail}", params=list(select.params),
                columns=max(len(select.cells), 1), booleans=self._booleans,
                delimiter=self.formatter.delimiter, newline=self.formatter.newline)

    def _sql_blocks(self) -> Iterator[list[bytes]]:
        """The lines written by SQLite's `printf` (read through Python)."""
        conn = self._store.connect()
        select = self.select
        try:
            conn.create_function(_CELL_FUNCTION, 1, _cell_text, deterministic=True)
            generation = self._store.begin_snapshot(conn)
            checked = line_query(select, self.formatter)
            clean = self._store.known_clean(checked, select.params, generation)
            sql = line_query(select, self.formatter, guarded=False) if clean else checked
            cursor = conn.execute(sql, select.params)
            self._python_lines = 0
            while rows := cursor.fetchmany(BLOCK_ROWS):
                yield [line if type(line) is bytes else self._python_line(conn, line)
                       for (line,) in rows]
            if not clean and self._python_lines == 0:
                self._store.remember_clean(checked, select.params, generation)
        finally:
            conn.close()

    def _python_line(self, conn: sqlite3.Connection, row_key: int) -> bytes:
        # Read on the same connection, so inside the same snapshot as the main query.
        self._python_lines += 1
        select = self.select
        row = conn.execute(f"SELECT {select.select_list} {select.from_sql} "
                           f"WHERE {select.row_key} = ?", (row_key,)).fetchone()
        return self.formatter.line(as_booleans(row, self._booleans)).encode("utf-8")


def nul_guards(select: BulkSelect) -> list[str]:
    """Conditions true for a row whose text cells `printf` cannot write (NUL byte, blob)."""
    return [f"instr({sql}, char(0)) OR {sql} >= x''"
            for sql, fdef in select.cells if _stored_as_text(fdef)]


def line_query(select: BulkSelect, formatter: RowFormatter, *, guarded: bool = True) -> str:
    """The SELECT yielding each row's line as a blob, or its rid when Python must write it.

    Unguarded, every row is written by SQL: only for a query known to select no NUL byte or
    blob in a text cell.
    """
    specs: list[str] = []
    args: list[str] = []
    guards = nul_guards(select) if guarded else []
    for sql, fdef in select.cells:
        spec, arg = _cell(sql, fdef)
        specs.append(spec)
        args.append(arg)
    delimiter = formatter.delimiter.replace("%", "%%")
    parts = []
    for start in range(0, len(specs), _PRINTF_ARGS):
        chunk = slice(start, start + _PRINTF_ARGS)
        text = delimiter.join(specs[chunk])
        if start > 0:
            text = delimiter + text
        if start + _PRINTF_ARGS >= len(specs):
            text += formatter.newline
        parts.append(f"printf({_literal(text)}, {', '.join(args[chunk])})" if args[chunk]
                     else _literal(text))
    line = "CAST(" + " || ".join(parts or [_literal(formatter.newline)]) + " AS BLOB)"
    if guards:
        line = f"CASE WHEN {' OR '.join(guards)} THEN {select.row_key} ELSE {line} END"
    return f"SELECT {line} {select.tail}"


def _cell(sql: str, fdef: FieldDef | None) -> tuple[str, str]:
    """The printf conversion and argument writing one cell."""
    if _stored_as_text(fdef):
        return '"%w"', f"ifnull({sql}, '')"
    assert fdef is None or fdef.type in NUMBER_TYPES or fdef.type == "boolean"
    if fdef is not None and fdef.type == "boolean":
        # Python compares the stored value with 1; so does SQL, for every storage class.
        return '"%s"', f"CASE WHEN {sql} IS NULL THEN '' WHEN {sql} = 1 THEN 'true' ELSE 'false' END"
    if fdef is not None and fdef.type == "int":
        return '"%w"', (f"CASE typeof({sql}) WHEN 'integer' THEN {sql} WHEN 'null' THEN '' "
                        f"ELSE {_CELL_FUNCTION}({sql}) END")
    if fdef is not None and fdef.type in NUMBER_TYPES:
        # Whole doubles print as `str(int(value)) + ".0"`; Python's shortest repr of the rest
        # is not something SQLite's printf can promise, so those take the callback.
        return '"%w"', (f"CASE WHEN {sql} IS NULL THEN '' WHEN {sql} = CAST({sql} AS INTEGER) "
                        f"AND abs({sql}) < 1e15 THEN printf('%d.0', {sql}) "
                        f"ELSE {_CELL_FUNCTION}({sql}) END")
    return '"%w"', f"{_CELL_FUNCTION}({sql})"


def _stored_as_text(fdef: FieldDef | None) -> bool:
    """True for fields kept in TEXT columns (everything but numbers and booleans)."""
    return fdef is not None and not (fdef.type in NUMBER_TYPES or fdef.type == "boolean")


def _cell_text(value: Any) -> str:
    text = format_value(value)
    if "\x00" in text:
        # Only text in a number column could get here, and no write path stores that; failing
        # the job beats serving a line cut short at the NUL.
        raise ValueError("a NUL byte in a number column cannot be written by SQLite")
    return text


def _int64s(data: bytes) -> array[int]:
    values = array("q")
    values.frombytes(data)
    return values


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
