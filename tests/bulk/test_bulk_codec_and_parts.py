"""Pages decode to typed columns; parts merge in page order; resume state survives a crash."""

from __future__ import annotations

import datetime as dt
import gzip
import threading
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from sfbulk_mcp.bulk import codec, state, writers
from sfbulk_mcp.bulk.ingest import _ahead
from sfbulk_mcp.bulk.matching import read_csv_text

PAGE = (
    b'\xef\xbb\xbf"Id","Flag","N","Amount","Day","When","Note"\n'
    b'"001A","true","3","1.5","2024-02-29","2024-02-29T23:59:58.123Z","two\nlines"\n'
    b'"001B","false","","","","","say ""hi"" \xc3\xa9"\n'
)
SCHEMA = {
    "Id": "id",
    "Flag": "boolean",
    "N": "int",
    "Amount": "currency",
    "Day": "date",
    "When": "datetime",
    "Note": "textarea",
}


def test_a_page_decodes_to_salesforce_types_with_nulls() -> None:
    frame = codec.decode_page([PAGE[:7], PAGE[7:50], PAGE[50:]], SCHEMA)
    assert frame.columns == list(SCHEMA)
    assert frame.schema["Flag"] == pl.Boolean
    assert frame.schema["N"] == pl.Int64
    assert frame.schema["Amount"] == pl.Float64
    assert frame.schema["Day"] == pl.Date
    assert isinstance(frame.schema["When"], pl.Datetime)
    first = frame.row(0, named=True)
    assert first["Flag"] is True and first["N"] == 3 and first["Amount"] == 1.5
    assert first["Day"] == dt.date(2024, 2, 29)
    assert first["When"] == dt.datetime(2024, 2, 29, 23, 59, 58, 123000, tzinfo=dt.UTC)
    assert first["Note"] == "two\nlines"
    second = frame.row(1, named=True)
    assert second["N"] is None and second["Day"] is None and second["When"] is None
    assert second["Note"] == 'say "hi" é'


def test_upload_batches_respect_byte_and_row_limits_and_cover_every_row() -> None:
    frame = pl.DataFrame(
        {
            "Name": [f"Company {i}, Inc" for i in range(1000)],
            "Active": [i % 2 == 0 for i in range(1000)],
            "Since": [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(1000)],
            "Score": [None if i % 7 == 0 else i * 1.5 for i in range(1000)],
        }
    )
    batches = list(codec.build_batches(frame, max_bytes=8_000, max_rows=300))
    assert [b.start for b in batches] == [0, *[b.stop for b in batches[:-1]]]
    assert batches[-1].stop == 1000
    assert all(len(b.data) <= 8_000 and b.rows <= 300 for b in batches)
    back = pl.concat([read_csv_text(b.data) for b in batches])
    assert back.height == 1000
    assert back.row(0, named=True) == {
        "Name": "Company 0, Inc",
        "Active": "true",
        "Since": "2020-01-01",
        "Score": "",
    }


def test_nulls_can_be_sent_as_na_to_clear_fields() -> None:
    frame = pl.DataFrame(
        {"Id": ["001A"], "Phone": [None]}, schema={"Id": pl.String, "Phone": pl.String}
    )
    (batch,) = codec.build_batches(frame, null_as_na=True)
    assert batch.data.decode().splitlines()[1] == "001A,#N/A"


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_output_sink_appends_pages_in_order_and_commits_atomically(
    tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"out.{fmt}"
    sink = writers.OutputSink(out, fmt)
    for i in range(3):
        sink.append(pl.DataFrame({"n": [i * 10, i * 10 + 1], "s": ["x,y", "z"]}))
        assert not out.exists()  # nothing visible before the commit
    sink.commit()
    back = {"parquet": pl.read_parquet, "csv": pl.read_csv, "jsonl": pl.read_ndjson}[fmt](out)
    assert back["n"].to_list() == [0, 1, 10, 11, 20, 21]
    assert back["s"].to_list() == ["x,y", "z"] * 3


def test_output_sink_with_no_rows_keeps_the_columns(tmp_path: Path) -> None:
    out = tmp_path / "empty.parquet"
    sink = writers.OutputSink(out, "parquet")
    sink.append(pl.DataFrame(schema={"Id": pl.String, "N": pl.Int64}))
    sink.commit()
    assert pl.read_parquet(out).schema == pl.Schema({"Id": pl.String, "N": pl.Int64})


def test_a_stored_page_decodes_with_its_header_names(tmp_path: Path) -> None:
    page = tmp_path / writers.part_name(0)
    page.write_bytes(PAGE)
    frame, schema = codec.decode_file(page, {"id": "id", "n": "int", "flag": "boolean"})
    assert schema["N"] == "int" and schema["Flag"] == "boolean"
    assert frame.schema["N"] == pl.Int64 and frame.height == 2


def test_a_part_stored_as_it_travelled_gzip_decodes_like_the_plain_page(tmp_path: Path) -> None:
    plain, packed = tmp_path / "plain.csv", tmp_path / writers.part_name(1)
    plain.write_bytes(PAGE)
    packed.write_bytes(gzip.compress(PAGE))
    expected, _ = codec.decode_file(plain, SCHEMA)
    frame, schema = codec.decode_file(packed, SCHEMA)
    assert schema == SCHEMA and frame.equals(expected)
    decoded = codec.decode_file_batches(packed, SCHEMA)
    assert decoded is not None
    stream, rows, _ = decoded
    assert rows == 2 and pl.DataFrame(stream).equals(expected)


def test_parquet_output_from_arrow_parts_reads_back_typed(tmp_path: Path) -> None:
    part = tmp_path / writers.part_name(0)
    part.write_bytes(gzip.compress(PAGE))
    out = tmp_path / "out.parquet"
    sink = writers.OutputSink(out, "parquet")
    assert sink.takes_arrow()
    for _ in range(2):
        decoded = codec.decode_file_batches(part, SCHEMA)
        assert decoded is not None
        sink.append_arrow(decoded[0], decoded[1])
    sink.commit()
    expected, _ = codec.decode_file(part, SCHEMA)
    assert sink.rows == 4
    assert pl.read_parquet(out).equals(pl.concat([expected, expected]))


def test_resume_state_round_trips_and_names_the_next_page(tmp_path: Path) -> None:
    out = tmp_path / "accounts.parquet"
    saved = state.ExportState(
        job_id="750xx",
        api_version="62.0",
        soql="SELECT Id FROM Account",
        operation="query",
        fmt="parquet",
        fingerprint=state.query_fingerprint("SELECT Id FROM Account", "query", "parquet"),
    )
    saved.pages.append(state.PageRecord(0, None, "L1", 50, writers.part_name(0), 1000))
    saved.pages.append(state.PageRecord(1, "L1", "L2", 50, writers.part_name(1), 1000))
    state.save_state(out, saved)
    loaded = state.load_state(out)
    assert loaded is not None
    assert loaded.next_locator() == (2, "L2", False)
    assert loaded.committed_rows == 100
    state.clear_state(out)
    assert state.load_state(out) is None


def test_format_follows_the_extension_unless_asked() -> None:
    assert writers.format_for(Path("a.csv"), None) == "csv"
    assert writers.format_for(Path("a.ndjson"), None) == "jsonl"
    assert writers.format_for(Path("a.out"), None) == "parquet"
    assert writers.format_for(Path("a.csv"), "parquet") == "parquet"


def test_items_made_ahead_come_in_order_with_the_producers_error_and_stop_with_the_consumer() -> None:
    made: list[int] = []

    def numbers(fail_at: int | None = None) -> Iterator[int]:
        for n in range(50):
            if n == fail_at:
                raise ValueError(f"bad item {n}")
            made.append(n)
            yield n

    assert list(_ahead(numbers(), 1)) == list(range(50))
    got: list[int] = []
    with pytest.raises(ValueError, match="bad item 7"):
        got.extend(_ahead(numbers(fail_at=7), 2))
    assert got == list(range(7))
    made.clear()
    stream = _ahead(numbers(), 1)
    assert next(stream) == 0
    stream.close()  # the consumer stops: the producing thread ends, a few items ahead at most
    assert len(made) <= 3
    assert not [t for t in threading.enumerate() if t.name == "sfbulk-results-split"]
