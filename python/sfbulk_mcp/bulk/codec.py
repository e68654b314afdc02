"""The bridge between the pipelines and the engine: result pages → typed frames or Parquet
parts, and frames → upload CSV batches.

The Rust engine (`sfbulk_mcp.engine`) does the work when it offers the function; otherwise
Polars does the same job (slower, same types), so the pipelines work with any engine build.
"""

from __future__ import annotations

import gzip
import importlib
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Any, cast

import polars as pl

_DELIMITER_CHARS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}

# Salesforce field type → Polars type, for the Polars path (the engine has its own table).
_FLOAT_TYPES = frozenset({"double", "currency", "percent"})
_INT_TYPES = frozenset({"int", "long"})


# Stored pages are read in pieces of this size.
_FILE_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


def _engine() -> ModuleType | None:
    try:
        return importlib.import_module("sfbulk_mcp.engine")
    except ImportError:
        return None


def engine_has(name: str) -> bool:
    """True when the engine offers `name`."""
    module = _engine()
    return module is not None and hasattr(module, name)


def polars_type(sf_type: str) -> pl.DataType:
    """The Polars type a Salesforce field type decodes to."""
    kind = sf_type.lower()
    if kind == "boolean":
        return pl.Boolean()
    if kind in _INT_TYPES:
        return pl.Int64()
    if kind in _FLOAT_TYPES:
        return pl.Float64()
    if kind == "date":
        return pl.Date()
    if kind == "datetime":
        return pl.Datetime("ms", "UTC")
    if kind == "time":
        return pl.Time()
    return pl.String()


def _typed_column(name: str, sf_type: str) -> pl.Expr:
    col = pl.col(name)
    kind = sf_type.lower()
    if kind == "boolean":
        return col.str.to_lowercase().replace_strict(
            {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
        )
    if kind in _INT_TYPES:
        return col.cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)
    if kind in _FLOAT_TYPES:
        return col.cast(pl.Float64, strict=False)
    if kind == "date":
        return col.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    if kind == "datetime":
        return col.str.replace(r"\+0000$", "Z").str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ms", time_zone="UTC", strict=False
        )
    if kind == "time":
        return col.str.replace("Z$", "").str.to_time("%H:%M:%S%.f", strict=False)
    # Bulk writes null as an empty quoted value: there is no empty string to keep.
    return pl.when(col.str.len_bytes() == 0).then(None).otherwise(col)


def _decode_with_polars(
    chunks: Sequence[bytes], schema: dict[str, str], delimiter: str, line_ending: str
) -> pl.DataFrame:
    body = b"".join(chunks)
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    body = body.replace(b"\x00", b"")
    if not body.strip():
        return pl.DataFrame(schema={k: polars_type(v) for k, v in schema.items()})
    frame = pl.read_csv(
        body,
        infer_schema=False,
        separator=_DELIMITER_CHARS.get(delimiter.upper(), ","),
        empty_string_is_null=True,
        eol_char="\n",
    )
    if line_ending.upper() == "CRLF" and frame.width:
        last = frame.columns[-1]
        frame = frame.with_columns(pl.col(last).str.strip_suffix("\r"))
        frame = frame.rename({c: c.rstrip("\r") for c in frame.columns})
    by_lower = {k.lower(): v for k, v in schema.items()}
    return frame.select(
        [_typed_column(c, by_lower.get(c.lower(), "string")).alias(c) for c in frame.columns]
    )


def decode_page(
    chunks: Sequence[bytes],
    schema: dict[str, str],
    *,
    delimiter: str = "COMMA",
    line_ending: str = "LF",
) -> pl.DataFrame:
    """One result page (CSV bytes with its header) as a typed frame."""
    engine = _engine()
    if engine is not None and hasattr(engine, "decode"):
        frame: pl.DataFrame = engine.decode(
            list(chunks), schema=schema, delimiter=delimiter, line_ending=line_ending
        )
        return frame
    return _decode_with_polars(chunks, schema, delimiter, line_ending)


def write_parquet_page(
    chunks: Sequence[bytes],
    path: Path,
    schema: dict[str, str],
    *,
    delimiter: str = "COMMA",
    line_ending: str = "LF",
    compression: str = "zstd",
) -> int:
    """Decode one result page straight into a Parquet file; returns its row count."""
    engine = _engine()
    if engine is not None and hasattr(engine, "write_parquet"):
        rows: int = engine.write_parquet(
            list(chunks),
            str(path),
            schema=schema,
            delimiter=delimiter,
            line_ending=line_ending,
            compression=compression,
        )
        return rows
    frame = _decode_with_polars(chunks, schema, delimiter, line_ending)
    frame.write_parquet(path, compression=cast(Any, compression))
    return frame.height


class PageWriter:
    """Decodes one result page in memory as its bytes arrive (for frame results).

    The header row is read first so that the schema can be keyed by the names the result
    really uses. With the engine, chunks are decoded as they come; without it, the page is
    buffered and decoded by Polars at the end.
    """

    def __init__(
        self,
        resolved: dict[str, str],
        *,
        delimiter: str = "COMMA",
        line_ending: str = "LF",
        batch_size: int = 16_384,
    ) -> None:
        self.resolved = resolved
        self.delimiter = delimiter
        self.line_ending = line_ending
        self.batch_size = batch_size
        self.schema: dict[str, str] | None = None
        self.nbytes = 0
        self._head = bytearray()
        self._engine = _engine() if engine_has("Decoder") else None
        self._decoder: Any = None
        self._batches: list[Any] = []
        self._buffer: list[bytes] = []

    def _start(self, header: list[str]) -> None:
        from .schema import schema_for_header

        self.schema = schema_for_header(header, self.resolved)
        if self._engine is not None:
            self._decoder = self._engine.Decoder(
                schema=self.schema,
                delimiter=self.delimiter,
                line_ending=self.line_ending,
                batch_size=self.batch_size,
            )

    def feed(self, data: bytes) -> None:
        """Decode the next piece of the page body (any split)."""
        self.nbytes += len(data)
        if self.schema is None:
            from .schema import DELIMITERS, parse_header_line

            self._head += data
            header = parse_header_line(bytes(self._head), DELIMITERS.get(self.delimiter, ","))
            if header is None:
                return
            self._start(header)
            data, self._head = bytes(self._head), bytearray()
        if self._decoder is not None:
            self._batches.extend(self._decoder.feed(data))
        else:
            self._buffer.append(data)

    def finish(self) -> pl.DataFrame:
        """The page's rows as a typed frame."""
        if self.schema is None:
            from .schema import parse_header_line

            rest = bytes(self._head)
            self._start(parse_header_line(rest + b"\n") or [])
            if rest.strip():
                if self._decoder is not None:
                    self._batches.extend(self._decoder.feed(rest))
                else:
                    self._buffer.append(rest)
        if self._decoder is None:
            return _decode_with_polars(
                self._buffer, self.schema or {}, self.delimiter, self.line_ending
            )
        self._batches.extend(self._decoder.finish())
        engine = self._engine
        assert engine is not None
        schema = self._batches[0].schema if self._batches else self._decoder.schema
        if schema is None:
            return pl.DataFrame()
        return pl.DataFrame(engine.RecordBatchStream(self._batches, schema))


def _file_header(fh: IO[bytes], delimiter: str) -> list[str]:
    """The header row of a stored result page, plain or gzip (parts keep the body as it
    travelled); leaves `fh` at the start of the file."""
    from .schema import DELIMITERS, parse_header_line

    separator = DELIMITERS.get(delimiter, ",")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if fh.read(2) == _GZIP_MAGIC else None
    fh.seek(0)
    head = b""
    header: list[str] | None = None
    while header is None and (chunk := fh.read(1 << 16)):
        head += inflater.decompress(chunk) if inflater is not None else chunk
        header = parse_header_line(head, separator)
    fh.seek(0)
    if header is None:
        header = parse_header_line(head + b"\n", separator) or []
    return header


def decode_file_batches(
    path: Path,
    resolved: dict[str, str],
    *,
    delimiter: str = "COMMA",
    line_ending: str = "LF",
) -> tuple[Any, int, dict[str, str]] | None:
    """A stored result page as an Arrow stream of typed batches, its row count and the schema
    used; None without the engine, or for a page with no rows.

    No Polars frame is built: a Parquet output takes the engine's batches as they are, which
    saves converting every string column twice.
    """
    from .schema import schema_for_header

    if not engine_has("Decoder"):
        return None
    module: Any = _engine()
    with open(path, "rb") as fh:
        schema = schema_for_header(_file_header(fh, delimiter), resolved)
        decoder = module.Decoder(schema=schema, delimiter=delimiter, line_ending=line_ending)
        batches: list[Any] = []
        while chunk := fh.read(_FILE_CHUNK):
            batches.extend(decoder.feed(chunk))
        batches.extend(decoder.finish())
    if not batches:
        return None
    return module.RecordBatchStream(batches, decoder.schema), decoder.rows, schema


def decode_file(
    path: Path,
    resolved: dict[str, str],
    *,
    delimiter: str = "COMMA",
    line_ending: str = "LF",
) -> tuple[pl.DataFrame, dict[str, str]]:
    """A stored result page (CSV with its header) as a typed frame, and the schema used."""
    from .schema import schema_for_header

    with open(path, "rb") as fh:
        header = _file_header(fh, delimiter)
        schema = schema_for_header(header, resolved)
        engine = _engine()
        if engine is not None and hasattr(engine, "decode"):
            frame: pl.DataFrame = engine.decode(
                fh, schema=schema, delimiter=delimiter, line_ending=line_ending
            )
            if not frame.width and header:
                frame = engine.empty_frame(schema, header)
            return frame, schema
        body = fh.read()
        if body.startswith(_GZIP_MAGIC):
            body = gzip.decompress(body)
        return _decode_with_polars([body], schema, delimiter, line_ending), schema


# Rows per frame when an input is read in pieces: a few MB each; larger frames only add
# memory (65,536 rows held 27 MB more at peak on a 1,000,000-row import) for no speed.
INPUT_BATCH_ROWS = 16_384


def input_frames(
    frame: pl.DataFrame | pl.LazyFrame,
    source: Path | None = None,
    batch_rows: int = INPUT_BATCH_ROWS,
) -> Iterator[pl.DataFrame]:
    """The rows of an input, in order, as frames of at most `batch_rows` rows.

    A Parquet file is read by the engine a batch at a time: the Polars streaming engine reads
    ahead and can hold most of a file in memory. Other inputs are streamed by Polars."""
    suffix = source.suffix.lower() if source is not None else ""
    if source is not None and suffix in (".parquet", ".pq") and engine_has("ParquetReader"):
        module: Any = _engine()
        schema = frame.collect_schema()
        for batch in module.ParquetReader(str(source), batch_rows=batch_rows):
            rows = pl.DataFrame(batch)
            # Polars' own reading of the file is the reference for the column types.
            yield rows if rows.schema == schema else rows.cast(schema)
        return
    if isinstance(frame, pl.DataFrame):
        yield from frame.iter_slices(batch_rows)
        return
    yield from frame.collect_batches(chunk_size=batch_rows)


@dataclass(frozen=True)
class UploadBatch:
    """One upload: CSV bytes (header included) holding input rows `start` to `stop`."""

    data: bytes
    start: int
    stop: int

    @property
    def rows(self) -> int:
        """Rows in the batch."""
        return self.stop - self.start


def _upload_text(frame: pl.DataFrame, null_as_na: bool) -> pl.DataFrame:
    """Every column as the text Bulk ingest expects (ISO dates, `true`/`false`)."""
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        text: pl.Expr
        if dtype == pl.Boolean:
            text = pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false"))
        elif isinstance(dtype, pl.Datetime):
            utc = col.dt.convert_time_zone("UTC") if dtype.time_zone else col
            text = utc.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        elif dtype == pl.Date:
            text = col.dt.strftime("%Y-%m-%d")
        elif dtype == pl.Time:
            text = col.dt.strftime("%H:%M:%S%.3fZ")
        elif isinstance(dtype, pl.List):
            text = col.cast(pl.List(pl.String)).list.join(";")
        else:
            text = col.cast(pl.String)
        exprs.append(text.fill_null("#N/A" if null_as_na else "").alias(name))
    return frame.select(exprs)


def build_batches(
    frame: pl.DataFrame | pl.LazyFrame | Iterable[pl.DataFrame],
    *,
    max_bytes: int = 100_000_000,
    max_rows: int | None = None,
    null_as_na: bool = False,
) -> Iterator[UploadBatch]:
    """Split `frame` into upload CSVs of at most `max_bytes` bytes and `max_rows` rows."""
    engine = _engine()
    if engine is not None and hasattr(engine, "build_batches"):
        for chunk in engine.build_batches(
            frame, max_bytes=max_bytes, max_rows=max_rows, null_as_na=null_as_na
        ):
            yield UploadBatch(data=bytes(chunk.data), start=int(chunk.start), stop=int(chunk.stop))
        return
    if isinstance(frame, pl.LazyFrame):
        eager = frame.collect()
    elif isinstance(frame, pl.DataFrame):
        eager = frame
    else:
        eager = pl.concat(list(frame), how="vertical")
    yield from _build_batches_with_polars(eager, max_bytes, max_rows, null_as_na)


def _build_batches_with_polars(
    frame: pl.DataFrame, max_bytes: int, max_rows: int | None, null_as_na: bool
) -> Iterator[UploadBatch]:
    text = _upload_text(frame, null_as_na)
    header = text.head(0).write_csv().encode()
    # Rows are sized once, then packed greedily up to the byte and row limits.
    start = 0
    step = min(20_000, max_rows) if max_rows else 20_000
    while start < text.height:
        stop = min(start + step, text.height)
        body = text.slice(start, stop - start).write_csv(include_header=False).encode()
        if len(header) + len(body) <= max_bytes and (max_rows is None or stop - start <= max_rows):
            # Grow this batch with further slices while they fit.
            parts = [body]
            size = len(header) + len(body)
            while stop < text.height:
                nxt = min(stop + step, text.height)
                if max_rows is not None and nxt - start > max_rows:
                    nxt = start + max_rows
                    if nxt <= stop:
                        break
                more = text.slice(stop, nxt - stop).write_csv(include_header=False).encode()
                if size + len(more) > max_bytes:
                    break
                parts.append(more)
                size += len(more)
                stop = nxt
            yield UploadBatch(data=header + b"".join(parts), start=start, stop=stop)
            start = stop
            continue
        # The slice is too big: halve it (down to one row, which must fit on its own).
        if stop - start == 1:
            raise ValueError(f"row {start} alone is larger than the {max_bytes}-byte upload limit")
        step = max(1, (stop - start) // 2)


def engine_info() -> dict[str, Any]:
    """Which engine functions are in use (for diagnostics)."""
    names = ("decode", "write_parquet", "build_batches")
    return {name: engine_has(name) for name in names}
