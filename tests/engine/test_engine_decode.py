"""The decoder's Python surface: typed frames from Bulk result CSV, split anywhere."""

from __future__ import annotations

import datetime as dt
import gzip
import threading
import time

import polars as pl
import pytest
from sfbulk_mcp import engine
from sfbulk_mcp.engine import (
    CsvFormatError,
    Decoder,
    EngineError,
    GzipError,
    TypeConversionError,
    Utf8Error,
)

# A real Bulk API 2.0 query result (API v52): every value quoted, null as "".
RECORDED = (
    b'"Id","Name","Phone"\n'
    b'"0013h00000Ffg18AAB","Boone625 Inc",""\n'
    b'"0013h00000Ffg19AAB","Rodriquez626 Inc","881-222-2391"\n'
    b'"0013h00000Ffg1AAAR","Hale627 Inc","882-222-2392"\n'
    b'"0013h00000Ffg1BAAR","Stokes628 Inc","883-222-2393"\n'
    b'"0013h00000Ffg1CAAR","Edwards629 Inc","884-222-2394"\n'
)

TYPED = (
    '"Id","Amount","Employees","Active","Since","Seen","At","Tags","Note"\n'
    '"001A","1234.5","12","true","2024-01-31","2024-01-31T12:34:56.789Z","12:34:56.000Z",'
    '"a;b","multi\nline ""quoted"" café 😀"\n'
    '"001B","","","","","","","",""\n'
).encode()
TYPES = {
    "Id": "id",
    "Amount": "currency",
    "Employees": "int",
    "Active": "boolean",
    "Since": "date",
    "Seen": "datetime",
    "At": "time",
    "Tags": "multipicklist",
    "Note": "textarea",
}


def test_recorded_query_result_decodes_with_empty_quotes_as_null() -> None:
    df = engine.decode(RECORDED)
    assert df.columns == ["Id", "Name", "Phone"]
    assert df.height == 5
    assert df["Phone"][0] is None
    assert df["Phone"][1] == "881-222-2391"
    assert df.schema["Id"] == pl.String()


def test_typed_columns_follow_salesforce_types() -> None:
    df = engine.decode(TYPED, schema=TYPES)
    assert df.schema == pl.Schema(
        {
            "Id": pl.String(),
            "Amount": pl.Float64(),
            "Employees": pl.Int64(),
            "Active": pl.Boolean(),
            "Since": pl.Date(),
            "Seen": pl.Datetime("us", "UTC"),
            "At": pl.Time(),
            "Tags": pl.String(),
            "Note": pl.String(),
        }
    )
    first = df.row(0, named=True)
    assert first["Amount"] == 1234.5
    assert first["Employees"] == 12
    assert first["Active"] is True
    assert first["Since"] == dt.date(2024, 1, 31)
    assert first["Seen"] == dt.datetime(2024, 1, 31, 12, 34, 56, 789000, tzinfo=dt.UTC)
    assert first["At"] == dt.time(12, 34, 56)
    assert first["Note"] == 'multi\nline "quoted" café 😀'
    assert df.row(1) == ("001B",) + (None,) * 8


def test_polars_dtypes_are_accepted_in_the_schema() -> None:
    df = engine.decode(
        b'"A","B","C"\n"1","2.5","true"\n',
        schema={"A": pl.Int64, "B": pl.Float64(), "C": pl.Boolean},
    )
    assert df.schema == pl.Schema({"A": pl.Int64(), "B": pl.Float64(), "C": pl.Boolean()})


def test_datetime_offsets_without_colon_are_accepted() -> None:
    df = engine.decode(
        b'"D"\n"2024-01-31T13:34:56.000+0100"\n"2024-01-31T12:34:56.000+0000"\n',
        schema={"D": "datetime"},
    )
    assert df["D"].to_list() == [dt.datetime(2024, 1, 31, 12, 34, 56, tzinfo=dt.UTC)] * 2


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64])
def test_any_chunking_gives_the_same_frame(step: int) -> None:
    whole = engine.decode(TYPED, schema=TYPES)
    pieces = [TYPED[i : i + step] for i in range(0, len(TYPED), step)]
    assert engine.decode(pieces, schema=TYPES).equals(whole)


def test_crlf_and_other_delimiters() -> None:
    body = b'"A"|"B"\r\n"x|y"|"line\r\nbreak"\r\n'
    df = engine.decode([body[:9], body[9:]], delimiter="PIPE", line_ending="CRLF")
    assert df.rows() == [("x|y", "line\r\nbreak")]


def test_columns_missing_from_schema_stay_strings_and_lookup_ignores_case() -> None:
    df = engine.decode(b'"Id","numberofemployees"\n"1","5"\n', schema={"NumberOfEmployees": "int"})
    assert df.schema["numberofemployees"] == pl.Int64()
    assert df.schema["Id"] == pl.String()


def test_zero_rows_still_give_typed_columns() -> None:
    df = engine.decode(b'"Id","Amount"\n', schema={"Amount": "currency"})
    assert df.shape == (0, 2)
    assert df.schema == pl.Schema({"Id": pl.String(), "Amount": pl.Float64()})
    assert engine.decode(b"").shape == (0, 0)
    assert engine.polars_schema({"Amount": "currency", "Id": "id"}) == pl.Schema(
        {"Amount": pl.Float64(), "Id": pl.String()}
    )


def test_bom_nul_and_repeated_header_of_concatenated_pages() -> None:
    body = b'\xef\xbb\xbf"Id","Name"\n"1","a\x00b"\n"Id","Name"\n"2","c"\n'
    df = engine.decode([body[:2], body[2:]])
    assert df.columns == ["Id", "Name"]
    assert df.rows() == [("1", "ab"), ("2", "c")]


def test_joined_pages_each_with_a_bom_decode_as_one_typed_stream() -> None:
    page = b'\xef\xbb\xbf"Id","N"\n"%d","%d"\n'
    plain = page % (1, 2) + page % (3, 4)
    zipped = gzip.compress(page % (1, 2)) + gzip.compress(page % (3, 4))
    for body in (plain, zipped):
        df = engine.decode([body[:7], body[7:]], schema={"N": "int"})
        assert df.rows() == [("1", 2), ("3", 4)]


def test_pages_mode_handles_per_page_gzip_and_missing_final_newline() -> None:
    pages = [gzip.compress(b'"Id"\n"1"\n"2"'), b'"Id"\n"3"\n', gzip.compress(b'"Id"\n')]
    df = engine.decode(pages, pages=True)
    assert df["Id"].to_list() == ["1", "2", "3"]


def test_gzip_body_split_anywhere_is_detected_and_inflated() -> None:
    body = gzip.compress(RECORDED)
    pieces = [body[i : i + 5] for i in range(0, len(body), 5)]
    assert engine.decode(pieces).equals(engine.decode(RECORDED))
    assert engine.decode(body, gzip=True).height == 5


def test_corrupt_gzip_raises_gzip_error() -> None:
    body = bytearray(gzip.compress(RECORDED * 20))
    body[len(body) // 2 : len(body) // 2 + 8] = b"\xff" * 8
    with pytest.raises(GzipError):
        engine.decode(bytes(body))


def test_truncated_gzip_body_is_an_error() -> None:
    body = gzip.compress(RECORDED)
    with pytest.raises(GzipError, match="cut short"):
        engine.decode(body[: len(body) - 6])


def test_bad_value_error_names_row_column_and_offset() -> None:
    body = b'"Id","N"\n"a","1"\n"b","x1"\n'
    with pytest.raises(TypeConversionError) as info:
        engine.decode(body, schema={"N": "int"})
    err = info.value
    assert isinstance(err, EngineError) and isinstance(err, ValueError)
    assert (err.row, err.column, err.byte_offset) == (2, "N", 17)
    assert "on_error='null'" in str(err)


def test_on_error_null_turns_bad_values_into_counted_nulls() -> None:
    dec = Decoder(schema={"N": "int", "D": "date"}, on_error="null")
    batches = dec.feed(b'"N","D"\n"1","2024-13-01"\n"x","2024-01-01"\n') + dec.finish()
    df = pl.DataFrame(batches[0])
    assert df["N"].to_list() == [1, None]
    assert df["D"].to_list() == [None, dt.date(2024, 1, 1)]
    assert dec.nulled == 2


def test_wrong_field_count_is_a_csv_format_error() -> None:
    with pytest.raises(CsvFormatError) as info:
        engine.decode(b'"A","B"\n"1","2"\n"3"\n')
    assert info.value.row == 2
    assert info.value.byte_offset == 16


def test_header_naming_a_column_twice_is_a_csv_format_error() -> None:
    with pytest.raises(CsvFormatError, match="more than once") as info:
        engine.decode(b'"A","",""\n"1","2","3"\n')
    assert (info.value.row, info.value.byte_offset) == (0, 0)


def test_unterminated_quote_at_end_of_stream_is_an_error() -> None:
    with pytest.raises(CsvFormatError, match="never closed") as info:
        engine.decode([b'"A"\n"1"\n"trunc', b"ated"])
    assert info.value.row == 2


def test_invalid_utf8_is_an_error_or_null_on_request() -> None:
    body = b'"A"\n"ok"\n"bad \xff"\n'
    with pytest.raises(Utf8Error) as info:
        engine.decode(body)
    assert (info.value.row, info.value.column) == (2, "A")
    dec = Decoder(on_error="null")
    df = pl.DataFrame((dec.feed(body) + dec.finish())[0])
    assert df["A"].to_list() == ["ok", None]
    assert dec.nulled == 1


def test_decoder_streams_batches_of_the_requested_size() -> None:
    body = b'"N"\n' + b"".join(b'"%d"\n' % i for i in range(10))
    dec = Decoder(schema={"N": "int"}, batch_size=4)
    batches = dec.feed(body) + dec.finish()
    assert [b.num_rows for b in batches] == [4, 4, 2]
    assert dec.rows == 10
    assert dec.schema is not None and dec.schema.names == ["N"]
    assert pl.DataFrame(batches[0])["N"].to_list() == [0, 1, 2, 3]


def test_decoder_refuses_input_after_finish() -> None:
    dec = Decoder()
    dec.feed(RECORDED)
    dec.finish()
    with pytest.raises(EngineError):
        dec.feed(RECORDED)


def test_page_with_different_header_is_rejected() -> None:
    dec = Decoder()
    dec.feed(b'"Id"\n"1"\n')
    dec.end_page()
    with pytest.raises(CsvFormatError):
        dec.feed(b'"Name"\n"x"\n')


def test_known_columns_can_be_given_once_for_many_pages() -> None:
    dec = Decoder(columns=["Id", "N"], schema={"N": "int"})
    assert dec.schema is not None and dec.schema.names == ["Id", "N"]
    out = []
    for page in [b'"Id","N"\n"a","1"\n', b'"Id","N"\n', b'"Id","N"\n"b","2"\n']:
        out += dec.feed(page) + dec.end_page()
    out += dec.finish()
    df = pl.DataFrame(engine.RecordBatchStream(out, dec.schema))
    assert df.rows() == [("a", 1), ("b", 2)]
    with pytest.raises(CsvFormatError):
        engine.decode(b'"N","Id"\n', columns=["Id", "N"])


def test_unknown_type_name_or_option_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="not a Salesforce field type"):
        Decoder(schema={"A": "bigint"})
    with pytest.raises(ValueError, match="COMMA, TAB, PIPE"):
        Decoder(delimiter="COLON")
    with pytest.raises(ValueError, match="LF or CRLF"):
        Decoder(line_ending="CR")


def test_pages_decode_in_parallel_in_page_order() -> None:
    pages = [b'"N"\n' + b"".join(b'"%d"\n' % (p * 100 + i) for i in range(100)) for p in range(8)]
    df = engine.decode_pages(pages, schema={"N": "int"}, threads=4)
    assert df["N"].to_list() == list(range(800))


def test_gil_is_released_while_parsing() -> None:
    row = b'"001000000000000AAA","' + b"x" * 200 + b'","2024-01-31T12:34:56.000Z"\n'
    body = b'"Id","Text","D"\n' + row * 200_000
    ticks = 0
    done = threading.Event()

    def work() -> None:
        engine.decode_body(body, schema={"D": "datetime"})
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    start = time.perf_counter()
    while not done.is_set():
        ticks += 1
        time.sleep(0)
    elapsed = time.perf_counter() - start
    worker.join()
    # With the GIL held for the whole parse, this loop could not run meanwhile.
    assert elapsed > 0.02
    assert ticks > 100


def test_batches_are_arrow_capsule_objects() -> None:
    dec = Decoder()
    batch = (dec.feed(RECORDED) + dec.finish())[0]
    assert batch.num_rows == 5 and batch.column_names == ["Id", "Name", "Phone"]
    assert hasattr(batch, "__arrow_c_stream__") and hasattr(batch, "__arrow_c_array__")
    assert pl.DataFrame(batch).height == 5
