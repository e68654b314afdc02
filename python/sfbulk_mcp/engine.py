"""The bulk engine's Python surface: Bulk API 2.0 CSV in, typed Polars/Arrow data out, and back.

Everything heavy runs in Rust (``sfbulk_mcp._engine``) with the GIL released, so result pages
can be decoded on several threads at once. Data crosses into Python through the Arrow PyCapsule
interface: ``pl.DataFrame(batch)`` works with no pyarrow installed.

Reading results::

    df = decode(pages, schema={"Id": "id", "AnnualRevenue": "currency"})
    rows = write_parquet(pages, "accounts.parquet", schema=types)

Streaming, one batch at a time, in bounded memory::

    dec = Decoder(schema=types, on_error="null")
    for chunk in body_chunks:
        for batch in dec.feed(chunk):
            sink.write(batch)
    for batch in dec.finish():
        sink.write(batch)

Building uploads::

    for chunk in build_batches(df, max_bytes=100_000_000):
        upload(chunk.data)          # rows chunk.start .. chunk.stop of df

Type names are Salesforce's (``describe`` field ``type``): id, reference, string, picklist,
multipicklist, textarea, email, phone, url, combobox, encryptedstring, base64, address, location,
anyType (all strings), boolean, int, long (Int64), double, currency, percent (Float64), date
(Date), datetime (UTC Datetime, µs), time (Time). Columns the schema does not name stay strings.
Empty values (``""``) are nulls: Salesforce has no empty string.

Errors are :class:`EngineError` subclasses (``CsvFormatError``, ``TypeConversionError``,
``Utf8Error``, ``GzipError``; all ``ValueError``) with ``row`` (1-based data row; the header is
row 0), ``column`` (name, for value errors) and ``byte_offset`` (where that row starts in the
decompressed stream).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from os import PathLike
from typing import IO, TypeAlias

import polars as pl

from sfbulk_mcp._engine import (
    BatchBuilder,
    CsvFormatError,
    Decoder,
    EngineError,
    GzipError,
    ParquetReader,
    ParquetWriter,
    RecordBatch,
    RecordBatchStream,
    Schema,
    TypeConversionError,
    UploadChunk,
    Utf8Error,
    csv_file_to_parquet,
    decode_body,
    row_digests,
    schema_for,
)

__all__ = [
    "BatchBuilder",
    "CsvFormatError",
    "Decoder",
    "EngineError",
    "GzipError",
    "ParquetReader",
    "ParquetWriter",
    "RecordBatch",
    "RecordBatchStream",
    "Schema",
    "TypeConversionError",
    "UploadChunk",
    "Utf8Error",
    "build_batches",
    "csv_file_to_parquet",
    "decode",
    "decode_batches",
    "decode_body",
    "decode_pages",
    "empty_frame",
    "parse_failed_results",
    "parse_successful_results",
    "parse_unprocessed_records",
    "polars_schema",
    "row_digests",
    "schema_for",
    "split_sf_error",
    "write_parquet",
]

# Plain strings, as a job's JSON gives them; checked at run time with a helpful message.
Delimiter: TypeAlias = str
"""A Bulk ``columnDelimiter``: COMMA, TAB, PIPE, SEMICOLON, CARET or BACKQUOTE."""
LineEnding: TypeAlias = str
"""A Bulk ``lineEnding``: LF or CRLF."""
OnError: TypeAlias = str
"""``"raise"`` (default) or ``"null"`` (bad values become nulls, counted by the decoder)."""
SalesforceTypes: TypeAlias = Mapping[str, str] | Mapping[str, object]
"""Column name → Salesforce field type name, e.g. ``{"AnnualRevenue": "currency"}`` (a Polars
dtype such as ``pl.Float64`` is accepted too)."""
BytesLike: TypeAlias = bytes | bytearray | memoryview
Chunks: TypeAlias = BytesLike | str | IO[bytes] | Iterable[BytesLike | str]
"""A whole body, a binary file object, or any iterable of byte chunks split anywhere."""

_READ_SIZE = 1 << 20


def _as_bytes(chunk: BytesLike | str) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"expected bytes chunks, got {type(chunk).__name__}")


def _iter_chunks(chunks: Chunks) -> Iterator[bytes]:
    """Normalises the accepted inputs into a stream of ``bytes``."""
    if isinstance(chunks, (bytes, bytearray, memoryview, str)):
        yield _as_bytes(chunks)
        return
    read = getattr(chunks, "read", None)
    if callable(read):
        while block := read(_READ_SIZE):
            yield _as_bytes(block)
        return
    for chunk in chunks:
        yield _as_bytes(chunk)


def _type_name(value: object) -> str:
    """A Salesforce type name; Polars dtypes are accepted and mapped to the matching kind."""
    if isinstance(value, str):
        return value
    dtype = value() if isinstance(value, type) else value
    if isinstance(dtype, pl.DataType):
        if dtype == pl.Boolean:
            return "boolean"
        if dtype.is_integer():
            return "long"
        if dtype.is_float() or dtype.is_decimal():
            return "double"
        if dtype == pl.Date:
            return "date"
        if isinstance(dtype, pl.Datetime):
            return "datetime"
        if dtype == pl.Time:
            return "time"
        return "string"
    raise TypeError(f"schema values are Salesforce type names such as 'int', not {value!r}")


def _types(schema: Mapping[str, object] | None) -> dict[str, str] | None:
    return None if schema is None else {k: _type_name(v) for k, v in schema.items()}


def _frame(batches: list[RecordBatch], schema: Schema | None) -> pl.DataFrame:
    if schema is None:
        return pl.DataFrame()
    return pl.DataFrame(RecordBatchStream(batches, schema))


def decode_batches(
    chunks: Chunks,
    *,
    schema: SalesforceTypes | None = None,
    delimiter: Delimiter = "COMMA",
    line_ending: LineEnding = "LF",
    columns: list[str] | None = None,
    has_header: bool = True,
    batch_size: int = 8192,
    gzip: bool | None = None,
    on_error: OnError = "raise",
    pages: bool = False,
    na_as_null: bool = False,
) -> Iterator[RecordBatch]:
    """Decodes a result stream lazily, yielding Arrow record batches of ``batch_size`` rows.

    With ``pages=True`` every item of ``chunks`` is one complete result page (its own header
    row, maybe its own gzip body); otherwise the items are pieces of one stream, and repeated
    header rows (concatenated pages) are still recognised and skipped.
    """
    dec = Decoder(
        schema=_types(schema),
        columns=columns,
        has_header=has_header,
        delimiter=delimiter,
        line_ending=line_ending,
        batch_size=batch_size,
        gzip=gzip,
        on_error=on_error,
        na_as_null=na_as_null,
    )
    for chunk in _iter_chunks(chunks):
        yield from dec.feed(chunk)
        if pages:
            yield from dec.end_page()
    yield from dec.finish()


def decode(
    chunks: Chunks,
    *,
    schema: SalesforceTypes | None = None,
    delimiter: Delimiter = "COMMA",
    line_ending: LineEnding = "LF",
    columns: list[str] | None = None,
    has_header: bool = True,
    batch_size: int = 8192,
    gzip: bool | None = None,
    on_error: OnError = "raise",
    pages: bool = False,
    na_as_null: bool = False,
) -> pl.DataFrame:
    """Decodes Bulk API 2.0 result CSV into a typed Polars frame.

    ``chunks`` is a whole body, a binary file, or any iterable of byte chunks split anywhere.
    ``schema`` maps column names to Salesforce field types; other columns stay strings and
    ``""`` is null. ``gzip=None`` detects gzip bodies by their magic number. Bad values raise a
    :class:`TypeConversionError` naming the row, column and byte offset, unless
    ``on_error="null"``. ``na_as_null=True`` reads ``#N/A`` as null (ingest result files echo
    uploads that used it). A result with no data rows gives an empty frame with typed columns.
    """
    dec = Decoder(
        schema=_types(schema),
        columns=columns,
        has_header=has_header,
        delimiter=delimiter,
        line_ending=line_ending,
        batch_size=batch_size,
        gzip=gzip,
        on_error=on_error,
        na_as_null=na_as_null,
    )
    batches: list[RecordBatch] = []
    for chunk in _iter_chunks(chunks):
        batches.extend(dec.feed(chunk))
        if pages:
            batches.extend(dec.end_page())
    batches.extend(dec.finish())
    return _frame(batches, dec.schema)


def decode_pages(
    pages: Iterable[BytesLike],
    *,
    schema: SalesforceTypes | None = None,
    delimiter: Delimiter = "COMMA",
    line_ending: LineEnding = "LF",
    batch_size: int = 8192,
    gzip: bool | None = None,
    on_error: OnError = "raise",
    threads: int | None = None,
) -> pl.DataFrame:
    """Decodes complete result pages on several threads at once, keeping page order.

    Each page is a whole body with its own header row. Pages must share their columns.
    """
    types = _types(schema)

    def one(page: BytesLike) -> tuple[list[RecordBatch], Schema | None]:
        batches, page_schema, _ = decode_body(
            _as_bytes(page),
            schema=types,
            delimiter=delimiter,
            line_ending=line_ending,
            batch_size=batch_size,
            gzip=gzip,
            on_error=on_error,
        )
        return batches, page_schema

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(one, pages))
    schema_out = next((s for _, s in results if s is not None), None)
    batches = [b for bs, _ in results for b in bs]
    return _frame(batches, schema_out)


def polars_schema(types: SalesforceTypes, columns: Iterable[str] | None = None) -> pl.Schema:
    """The Polars schema the decoder produces for ``columns`` (default: the keys of ``types``)."""
    return empty_frame(types, columns).schema


def empty_frame(types: SalesforceTypes, columns: Iterable[str] | None = None) -> pl.DataFrame:
    """A zero-row frame typed as the decoder would type ``columns``; for empty results."""
    cols = list(types) if columns is None else list(columns)
    return pl.DataFrame(schema_for(cols, _types(types)))


def write_parquet(
    chunks: Chunks,
    path: str | PathLike[str],
    *,
    schema: SalesforceTypes | None = None,
    delimiter: Delimiter = "COMMA",
    line_ending: LineEnding = "LF",
    compression: str = "zstd",
    batch_size: int = 8192,
    gzip: bool | None = None,
    on_error: OnError = "raise",
    pages: bool = False,
) -> int:
    """Decodes a result stream straight into one Parquet file; returns the rows written.

    Memory stays bounded by ``batch_size`` rows and one row group, whatever the stream's size.
    ``compression`` is ``"zstd"`` (or ``"zstd:LEVEL"``), ``"snappy"`` or ``"none"``.
    """
    writer: ParquetWriter | None = None
    dec = Decoder(
        schema=_types(schema),
        delimiter=delimiter,
        line_ending=line_ending,
        batch_size=batch_size,
        gzip=gzip,
        on_error=on_error,
    )
    try:
        for batch in _decoded(dec, chunks, pages):
            if writer is None:
                writer = ParquetWriter(path, schema=batch.schema, compression=compression)
            writer.write(batch)
        if writer is None:
            # No data rows: the file still gets the typed columns of the header.
            writer = ParquetWriter(path, schema=dec.schema, compression=compression)
        return writer.close()
    except BaseException as exc:
        if writer is not None:
            writer.__exit__(type(exc), exc, exc.__traceback__)
        raise


def _decoded(dec: Decoder, chunks: Chunks, pages: bool) -> Iterator[RecordBatch]:
    for chunk in _iter_chunks(chunks):
        yield from dec.feed(chunk)
        if pages:
            yield from dec.end_page()
    yield from dec.finish()


def _sources(data: object) -> Iterator[object]:
    """Splits the builder's input into Arrow sources, streaming lazy and iterable inputs."""
    if isinstance(data, pl.LazyFrame):
        yield from data.collect_batches()
    elif hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__"):
        yield data
    elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, Mapping)):
        for item in data:
            yield from _sources(item)
    else:
        raise TypeError(
            "build_batches takes a polars DataFrame or LazyFrame, an Arrow table, record batch "
            f"or stream, or an iterable of those; got {type(data).__name__}"
        )


def build_batches(
    data: object,
    *,
    max_bytes: int = 100_000_000,
    max_rows: int | None = None,
    delimiter: Delimiter = "COMMA",
    line_ending: LineEnding = "LF",
    null_as_na: bool = False,
) -> Iterator[UploadChunk]:
    """Splits tabular data into Bulk ingest CSV uploads.

    ``data`` is a Polars frame (a LazyFrame is streamed), anything with ``__arrow_c_stream__``
    or ``__arrow_c_array__``, or an iterable of those (e.g. batches read from Parquet). Each
    chunk has a header row, whole rows only, at most ``max_bytes`` bytes and ``max_rows`` rows;
    ``chunk.start``/``chunk.stop`` give the input rows it holds. Nulls are written empty
    (leave the field unchanged on update/upsert) or, with ``null_as_na=True``, as ``#N/A``
    (set it to null). Booleans are ``true``/``false``, dates ``YYYY-MM-DD``, datetimes UTC
    ``YYYY-MM-DDTHH:MM:SS.sssZ``, numbers plain decimals.
    """
    builder = BatchBuilder(
        max_bytes=max_bytes,
        max_rows=max_rows,
        delimiter=delimiter,
        line_ending=line_ending,
        null_as_na=null_as_na,
    )
    for source in _sources(data):
        builder.feed(source)
        while (chunk := builder.next_chunk()) is not None:
            yield chunk
    last = builder.finish()
    if last is not None:
        yield last


# ---- ingest results -------------------------------------------------------------------------

_ERROR_CODE = re.compile(r"^([A-Z][A-Z0-9_]*):")


def split_sf_error(text: str | None) -> tuple[str | None, str | None, list[str]]:
    """Splits an ``sf__Error`` value into (status code, message, fields).

    ``"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"`` gives
    ``("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"])``.
    """
    if not text:
        return None, None, []
    match = _ERROR_CODE.match(text)
    if match is None:
        return None, text.strip(), []
    code, rest = match.group(1), text[match.end() :]
    body = rest.rstrip()
    if not body.endswith("--"):
        return code, body.strip(), []
    body = body[:-2].rstrip()
    message, sep, fields = body.rpartition(":")
    if not sep:
        return code, body.strip(), []
    names = [f.strip() for f in fields.split(",") if f.strip()]
    return code, message.strip(), names


def _results(
    body: Chunks,
    fixed: dict[str, str],
    schema: SalesforceTypes | None,
    delimiter: Delimiter,
    line_ending: LineEnding,
) -> pl.DataFrame:
    types = {**(_types(schema) or {}), **fixed}
    # Result files echo the uploaded values: `#N/A` (null the field) reads as null.
    return decode(body, schema=types, delimiter=delimiter, line_ending=line_ending, na_as_null=True)


def parse_successful_results(
    body: Chunks,
    *,
    schema: SalesforceTypes | None = None,
    delimiter: Delimiter = "COMMA",
    line_ending: LineEnding = "LF",
) -> pl.DataFrame:
    """Parses a ``successfulResults`` body: ``sf__Id``, ``sf__Created`` (boolean), then the
    uploaded columns (typed by ``schema`` if given)."""
    return _results(
        body, {"sf__Id": "id", "sf__Created": "boolean"}, schema, delimiter, line_ending
    )


def parse_failed_results(
    body: Chunks,
    *,
    schema: SalesforceTypes | None = None,
    delimiter: Delimiter = "COMMA",
    line_ending: LineEnding = "LF",
) -> pl.DataFrame:
    """Parses a ``failedResults`` body; ``sf__Error`` is kept and split into ``error_code``,
    ``error_message`` and ``error_fields`` (list of field names), placed right after it."""
    df = _results(body, {"sf__Id": "id", "sf__Error": "string"}, schema, delimiter, line_ending)
    if "sf__Error" not in df.columns:
        return df
    parts = [split_sf_error(v) for v in df.get_column("sf__Error").to_list()]
    extra = pl.DataFrame(
        {
            "error_code": [p[0] for p in parts],
            "error_message": [p[1] for p in parts],
            "error_fields": [p[2] for p in parts],
        },
        schema={
            "error_code": pl.String,
            "error_message": pl.String,
            "error_fields": pl.List(pl.String),
        },
    )
    at = df.columns.index("sf__Error") + 1
    ordered = df.columns[:at] + extra.columns + df.columns[at:]
    return pl.concat([df, extra], how="horizontal").select(ordered)


def parse_unprocessed_records(
    body: Chunks,
    *,
    schema: SalesforceTypes | None = None,
    delimiter: Delimiter = "COMMA",
    line_ending: LineEnding = "LF",
) -> pl.DataFrame:
    """Parses an ``unprocessedrecords`` body: the uploaded columns of rows never processed."""
    return _results(body, {}, schema, delimiter, line_ending)
