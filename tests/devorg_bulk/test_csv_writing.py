"""Result CSV as Bulk API 2.0 writes it, checked with Python's csv module as the reader."""

from __future__ import annotations

import builtins
import csv
import gzip
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sfbulk_mcp.devorg.bulk.csvout import RowFormatter
from sfbulk_mcp.devorg.bulk.resultfile import (
    ResultSet,
    compress_range,
    decode_locator,
    encode_locator,
    write_rows,
)

cells = st.one_of(st.none(), st.text(max_size=20))


def test_every_value_is_quoted_and_null_is_empty_quotes() -> None:
    line = RowFormatter(",", "\n").line(["a", None, 'say "hi"', "x,y", "two\nlines", True])
    assert line == '"a","","say ""hi""","x,y","two\nlines","true"\n'


def test_values_holding_nul_bytes_are_still_quoted_one_by_one() -> None:
    line = RowFormatter("|", "\r\n").line(["a\x00b", "c"])
    assert line == '"a\x00b"|"c"\r\n'


@given(st.lists(st.lists(cells, min_size=3, max_size=3), max_size=8),
       st.sampled_from([",", "\t", "|", ";", "^", "`"]), st.sampled_from(["\n", "\r\n"]))
def test_rows_read_back_with_the_csv_module(rows: list[list[str | None]], delimiter: str,
                                            newline: str) -> None:
    formatter = RowFormatter(delimiter, newline)
    text = formatter.header(["A", "B", "C"]) + "".join(formatter.line(r) for r in rows)
    parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert parsed[0] == ["A", "B", "C"]
    assert parsed[1:] == [["" if v is None else v for v in row] for row in rows]


def test_pages_are_byte_ranges_capped_by_rows_and_bytes(tmp_path: Path) -> None:
    formatter = RowFormatter(",", "\n")
    rows = [[f"row {i}", "é" * (i % 5)] for i in range(100)]
    count = write_rows(tmp_path, formatter.header(["Name", "Text"]), rows, formatter)
    result = ResultSet(tmp_path)
    assert count == result.row_count == 100
    data = result.data_path.read_bytes()
    page = result.page(10, 20, 10**9)
    assert (page.start, page.end) == (10, 30)
    chunk = data[page.byte_start:page.byte_end].decode()
    assert chunk.splitlines()[0] == f'"row 10","{"é" * 0}"'
    assert len(chunk.splitlines()) == 20
    small = result.page(0, None, 50)
    assert small.records >= 1 and small.byte_end - small.byte_start <= 50
    single = result.page(0, None, 1)
    assert single.records == 1


def test_locators_round_trip_and_reject_strangers() -> None:
    assert encode_locator(10000) == "MTAwMDA"
    assert decode_locator("MTAwMDA") == 10000
    assert decode_locator("null") is None
    assert decode_locator("!!") is None


@pytest.mark.parametrize("with_engine", [True, False])
def test_gzip_pages_inflate_to_the_header_and_their_byte_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_engine: bool
) -> None:
    if not with_engine:
        real_import = builtins.__import__

        def no_engine(name: str, *args: Any, **kwargs: Any) -> Any:
            if name == "sfbulk_mcp._engine":
                raise ImportError(name)
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_engine)
    source = tmp_path / "rows.csv"
    rows = b"".join(b'"%d","caf\xc3\xa9 ""%d"""\n' % (i, i) for i in range(50_000))
    source.write_bytes(rows)
    target = tmp_path / "page.gz"
    compress_range(b'"Id","Name"\n', source, 12, 700_000, target)
    assert gzip.decompress(target.read_bytes()) == b'"Id","Name"\n' + rows[12:700_000]
