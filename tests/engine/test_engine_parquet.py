"""Decoded results written to Parquet from Rust, incrementally and in bounded memory."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from sfbulk_mcp import engine
from sfbulk_mcp.engine import Decoder, EngineError, ParquetWriter

TYPES = {"Id": "id", "Amount": "currency", "Seen": "datetime", "Active": "boolean"}


def _page(start: int, rows: int) -> bytes:
    lines = [b'"Id","Amount","Seen","Active"\n']
    for i in range(start, start + rows):
        lines.append(
            b'"%d","%d.5","2024-01-31T12:34:56.000Z","%s"\n'
            % (i, i, b"true" if i % 2 else b"false")
        )
    return b"".join(lines)


def test_write_parquet_streams_pages_into_one_typed_file(tmp_path: Path) -> None:
    out = tmp_path / "accounts.parquet"
    pages = [_page(0, 1000), gzip.compress(_page(1000, 500)), _page(1500, 0)]
    rows = engine.write_parquet(pages, out, schema=TYPES, pages=True, batch_size=128)
    assert rows == 1500
    df = pl.read_parquet(out)
    assert df.height == 1500
    assert df.schema["Amount"] == pl.Float64()
    assert df.schema["Seen"] == pl.Datetime("us", "UTC")
    assert df["Id"].to_list() == [str(i) for i in range(1500)]
    assert df.equals(engine.decode(pages, schema=TYPES, pages=True))


@pytest.mark.parametrize("compression", ["zstd", "snappy", "none", "zstd:9"])
def test_compressions(tmp_path: Path, compression: str) -> None:
    out = tmp_path / "x.parquet"
    assert engine.write_parquet(_page(0, 10), out, schema=TYPES, compression=compression) == 10
    assert pl.read_parquet(out).height == 10


def test_unknown_compression_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="zstd"):
        engine.write_parquet(_page(0, 1), tmp_path / "x.parquet", compression="brotli")


def test_empty_result_still_writes_typed_columns(tmp_path: Path) -> None:
    out = tmp_path / "empty.parquet"
    assert engine.write_parquet([_page(0, 0)], out, schema=TYPES) == 0
    assert pl.read_parquet(out).schema == pl.Schema(
        {
            "Id": pl.String(),
            "Amount": pl.Float64(),
            "Seen": pl.Datetime("us", "UTC"),
            "Active": pl.Boolean(),
        }
    )


def test_parquet_writer_is_incremental_and_checks_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "inc.parquet"
    dec = Decoder(schema=TYPES, batch_size=100)
    with ParquetWriter(out, compression="snappy") as writer:
        for batch in dec.feed(_page(0, 250)) + dec.finish():
            writer.write(batch)
        writer.write(
            pl.DataFrame({"Id": ["x"], "Amount": [1.0]}).pipe(
                lambda f: f.with_columns(
                    Seen=pl.lit(None, pl.Datetime("us", "UTC")), Active=pl.lit(True)
                )
            )
        )
        assert writer.rows == 251
        with pytest.raises(EngineError, match="differ"):
            writer.write(pl.DataFrame({"Other": [1]}))
    assert pl.read_parquet(out).height == 251


def test_parquet_writer_with_salesforce_schema_and_no_rows(tmp_path: Path) -> None:
    out = tmp_path / "none.parquet"
    writer = ParquetWriter(out, schema={"Id": "id", "N": "int"})
    assert writer.close() == 0
    assert pl.read_parquet(out).schema == pl.Schema({"Id": pl.String(), "N": pl.Int64()})


def test_failed_stream_leaves_no_parquet_file(tmp_path: Path) -> None:
    out = tmp_path / "bad.parquet"
    with pytest.raises(EngineError):
        engine.write_parquet(
            [_page(0, 300), b'"1","x","","true"\n'], out, schema=TYPES, batch_size=100
        )
    assert not out.exists()


def test_csv_file_to_parquet_never_enters_python(tmp_path: Path) -> None:
    src = tmp_path / "result.csv.gz"
    src.write_bytes(gzip.compress(_page(0, 2000)))
    out = tmp_path / "r.parquet"
    assert engine.csv_file_to_parquet(src, out, schema=TYPES) == 2000
    assert pl.read_parquet(out)["Amount"].sum() == sum(i + 0.5 for i in range(2000))
