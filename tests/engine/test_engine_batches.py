"""The upload batch builder: Bulk ingest CSV chunks from Arrow data."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import polars as pl
import pytest
from sfbulk_mcp import engine
from sfbulk_mcp.engine import EngineError


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "Name": ["Acme, Inc", 'say "hi"\nthere', None, ""],
            "NumberOfEmployees": [1, None, -3, 4],
            "AnnualRevenue": [0.1, 1e-7, 2e21, None],
            "IsActive": [True, False, None, True],
            "Since": [dt.date(2024, 1, 31), None, dt.date(1970, 1, 1), dt.date(1969, 12, 31)],
            "Seen": pl.Series(
                [dt.datetime(2024, 1, 31, 12, 34, 56, 789000), None, None, dt.datetime(1970, 1, 1)]
            ).dt.replace_time_zone("UTC"),
        }
    )


def test_values_are_written_in_salesforce_formats() -> None:
    chunks = list(engine.build_batches(_frame()))
    assert len(chunks) == 1
    assert (chunks[0].start, chunks[0].stop, chunks[0].rows) == (0, 4, 4)
    assert chunks[0].data.decode() == (
        "Name,NumberOfEmployees,AnnualRevenue,IsActive,Since,Seen\n"
        '"Acme, Inc",1,0.1,true,2024-01-31,2024-01-31T12:34:56.789Z\n'
        '"say ""hi""\nthere",,0.0000001,false,,\n'
        ",-3,2000000000000000000000,,1970-01-01,\n"
        ",4,,true,1969-12-31,1970-01-01T00:00:00.000Z\n"
    )


def test_null_as_na_sets_fields_to_null_on_update() -> None:
    data = next(engine.build_batches(_frame(), null_as_na=True)).data.decode()
    assert '"say ""hi""\nthere",#N/A,0.0000001,false,#N/A,#N/A\n' in data
    assert "#N/A,-3," in data


def test_other_time_zones_are_converted_to_utc() -> None:
    df = pl.DataFrame({"T": [dt.datetime(2024, 1, 31, 13, 0)]}).with_columns(
        pl.col("T").dt.replace_time_zone("Europe/Paris")
    )
    assert next(engine.build_batches(df)).data == b"T\n2024-01-31T12:00:00.000Z\n"


def test_decimals_categoricals_and_multipicklist_lists() -> None:
    df = pl.DataFrame(
        {
            "D": pl.Series([Decimal("12.50"), Decimal("-0.05")], dtype=pl.Decimal(10, 2)),
            "C": pl.Series(["Hot", "Cold"], dtype=pl.Categorical),
            "M": [["a", "b"], []],
            "I": pl.Series([1, 2], dtype=pl.UInt8),
        }
    )
    assert next(engine.build_batches(df)).data == b"D,C,M,I\n12.50,Hot,a;b,1\n-0.05,Cold,,2\n"


@pytest.mark.parametrize("delimiter,sep", [("TAB", "\t"), ("SEMICOLON", ";"), ("BACKQUOTE", "`")])
def test_delimiters_and_crlf(delimiter: str, sep: str) -> None:
    df = pl.DataFrame({"A": [f"x{sep}y", "z"], "B": [1, 2]})
    data = next(engine.build_batches(df, delimiter=delimiter, line_ending="CRLF")).data
    assert data == f'A{sep}B\r\n"x{sep}y"{sep}1\r\nz{sep}2\r\n'.encode()
    back = engine.decode(data, delimiter=delimiter, line_ending="CRLF", schema={"B": "int"})
    assert back.equals(df)


def test_limits_split_on_row_boundaries_with_a_header_each() -> None:
    df = pl.DataFrame({"Id": [f"{i:018d}" for i in range(1000)], "N": list(range(1000))})
    header = b"Id,N\n"
    for max_bytes, max_rows in [(200, None), (10_000, 37), (64, 1)]:
        chunks = list(engine.build_batches(df, max_bytes=max_bytes, max_rows=max_rows))
        assert chunks[0].start == 0 and chunks[-1].stop == 1000
        for prev, cur in itertools.pairwise(chunks):
            assert prev.stop == cur.start
        for c in chunks:
            assert c.data.startswith(header)
            assert len(c.data) <= max_bytes
            assert max_rows is None or c.rows <= max_rows
        rejoined = pl.concat([engine.decode(c.data, schema={"N": "int"}) for c in chunks])
        assert rejoined.equals(df)


def test_lazy_frames_and_iterables_stream_with_continuing_row_numbers() -> None:
    lf = pl.LazyFrame({"N": list(range(100))})
    chunks = list(engine.build_batches(lf, max_rows=30))
    assert [(c.start, c.stop) for c in chunks] == [(0, 30), (30, 60), (60, 90), (90, 100)]
    parts = [pl.DataFrame({"N": [1, 2]}), pl.DataFrame({"N": [3]})]
    chunks = list(engine.build_batches(parts))
    assert [(c.start, c.stop) for c in chunks] == [(0, 3)]
    assert chunks[0].data == b"N\n1\n2\n3\n"


def test_big_frames_yield_chunks_before_formatting_everything() -> None:
    df = pl.DataFrame({"N": list(range(200_000))})
    builder = engine.BatchBuilder(max_bytes=1000)
    builder.feed(df)
    first = builder.next_chunk()
    assert first is not None and first.start == 0
    # Only a slice of the frame has been formatted when the first chunk comes out.
    assert builder.rows < 20_000


def test_errors_say_what_to_do() -> None:
    with pytest.raises(EngineError, match="max_bytes"):
        list(engine.build_batches(pl.DataFrame({"A": ["x" * 100]}), max_bytes=50))
    with pytest.raises(EngineError, match="NaN"):
        list(engine.build_batches(pl.DataFrame({"A": [float("nan")]})))
    with pytest.raises(EngineError, match="no Bulk CSV form"):
        list(engine.build_batches(pl.DataFrame({"A": [{"x": 1}]})))
    with pytest.raises(TypeError, match="polars DataFrame"):
        list(engine.build_batches(42))
