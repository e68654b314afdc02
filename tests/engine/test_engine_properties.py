"""Property tests: random tables survive Bulk CSV in every dialect and any chunking."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from sfbulk_mcp import engine

DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
TEXT = st.text(alphabet=st.sampled_from(list('ab "\n\r,\t|;^`é€😀\u0301')), max_size=10)
CELL = st.one_of(st.none(), st.just(""), TEXT)


@st.composite
def tables(draw: st.DrawFn) -> list[list[str | None]]:
    ncols = draw(st.integers(1, 4))
    return draw(st.lists(st.lists(CELL, min_size=ncols, max_size=ncols), max_size=15))


def bulk_csv(header: list[str], rows: list[list[str | None]], sep: str, eol: str) -> bytes:
    def line(values: list[str]) -> str:
        return sep.join('"' + v.replace('"', '""') + '"' for v in values) + eol

    return (line(header) + "".join(line([v or "" for v in r]) for r in rows)).encode()


def splits(data: bytes, points: list[int]) -> list[bytes]:
    cuts = sorted(p % (len(data) + 1) for p in points)
    out, last = [], 0
    for c in cuts:
        out.append(data[last:c])
        last = c
    out.append(data[last:])
    return out


def as_nulls(rows: list[list[str | None]]) -> list[tuple[str | None, ...]]:
    """Bulk has no empty string: empty and null both come back as null."""
    return [tuple(v if v else None for v in r) for r in rows]


@settings(max_examples=150, deadline=None)
@given(
    rows=tables(),
    delimiter=st.sampled_from(sorted(DELIMITERS)),
    line_ending=st.sampled_from(["LF", "CRLF"]),
    points=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_decoder_round_trip(
    rows: list[list[str | None]], delimiter: str, line_ending: str, points: list[int]
) -> None:
    ncols = len(rows[0]) if rows else 2
    header = [f"C{i}" for i in range(ncols)]
    eol = "\r\n" if line_ending == "CRLF" else "\n"
    data = bulk_csv(header, rows, DELIMITERS[delimiter], eol)
    df = engine.decode(
        splits(data, points), delimiter=delimiter, line_ending=line_ending, batch_size=4
    )
    assert df.columns == header
    assert df.rows() == as_nulls(rows)


@settings(max_examples=100, deadline=None)
@given(
    rows=tables(),
    delimiter=st.sampled_from(sorted(DELIMITERS)),
    line_ending=st.sampled_from(["LF", "CRLF"]),
    max_rows=st.one_of(st.none(), st.integers(1, 5)),
    max_bytes=st.integers(60, 400),
)
def test_batch_builder_round_trip(
    rows: list[list[str | None]],
    delimiter: str,
    line_ending: str,
    max_rows: int | None,
    max_bytes: int,
) -> None:
    ncols = len(rows[0]) if rows else 2
    df = pl.DataFrame(
        {f"C{c}": [r[c] for r in rows] for c in range(ncols)},
        schema={f"C{c}": pl.String for c in range(ncols)},
    )
    try:
        chunks = list(
            engine.build_batches(
                df,
                max_bytes=max_bytes,
                max_rows=max_rows,
                delimiter=delimiter,
                line_ending=line_ending,
            )
        )
    except engine.EngineError as e:
        assert "max_bytes" in str(e)  # only a single oversized row may fail
        return
    header = DELIMITERS[delimiter].join(df.columns) + ("\r\n" if line_ending == "CRLF" else "\n")
    expected_start = 0
    decoded: list[tuple[str | None, ...]] = []
    for c in chunks:
        assert len(c.data) <= max_bytes
        assert c.data.startswith(header.encode())
        assert c.start == expected_start and c.stop > c.start
        assert max_rows is None or c.rows <= max_rows
        expected_start = c.stop
        part = engine.decode(c.data, delimiter=delimiter, line_ending=line_ending)
        assert part.height == c.rows
        decoded += part.rows()
    assert expected_start == len(rows)
    assert decoded == as_nulls(rows)
