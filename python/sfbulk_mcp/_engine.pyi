"""Type stubs for the compiled engine module (``sfbulk_mcp._engine``).

Use it through :mod:`sfbulk_mcp.engine`, which documents the behaviour.
"""

from collections.abc import Mapping
from os import PathLike
from types import TracebackType
from typing import Any, final

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
    "__version__",
    "csv_file_to_parquet",
    "decode_body",
    "schema_for",
]

__version__: str

class EngineError(ValueError):
    """Base class of the engine's errors."""

    row: int | None
    """1-based data row (the header row is 0), when known."""
    column: str | None
    """Column name, when the error concerns one value."""
    byte_offset: int | None
    """Offset in the decompressed stream of the start of the offending row."""

class CsvFormatError(EngineError):
    """Malformed CSV: wrong field count, unterminated quote, header mismatch."""

class TypeConversionError(EngineError):
    """A value does not fit the Salesforce type declared for its column."""

class Utf8Error(EngineError):
    """Bytes that are not valid UTF-8."""

class GzipError(EngineError):
    """A corrupt or truncated gzip body."""

@final
class Schema:
    """An Arrow schema (``__arrow_c_schema__``; ``pl.DataFrame(schema)`` gives a 0-row frame)."""

    @property
    def names(self) -> list[str]: ...
    @property
    def types(self) -> list[tuple[str, str]]: ...
    def __arrow_c_schema__(self) -> object: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __len__(self) -> int: ...

@final
class RecordBatch:
    """One Arrow record batch; ``pl.DataFrame(batch)`` reads it without copying strings."""

    @property
    def num_rows(self) -> int: ...
    @property
    def num_columns(self) -> int: ...
    @property
    def column_names(self) -> list[str]: ...
    @property
    def schema(self) -> Schema: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __arrow_c_array__(
        self, requested_schema: object | None = None
    ) -> tuple[object, object]: ...
    def __len__(self) -> int: ...

@final
class RecordBatchStream:
    """Batches sharing one schema, as one Arrow stream."""

    def __new__(cls, batches: list[RecordBatch], schema: Schema) -> RecordBatchStream: ...
    @property
    def num_rows(self) -> int: ...
    @property
    def schema(self) -> Schema: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

@final
class Decoder:
    """Streaming decoder for Bulk API 2.0 result CSV (push API; GIL released while parsing)."""

    def __new__(
        cls,
        *,
        schema: Mapping[str, str] | None = None,
        columns: list[str] | None = None,
        has_header: bool = True,
        delimiter: str = "COMMA",
        line_ending: str = "LF",
        batch_size: int = 8192,
        gzip: bool | None = None,
        on_error: str = "raise",
        na_as_null: bool = False,
        skip_repeated_headers: bool = True,
        digest: tuple[str, str] | None = None,
        digest_keys: list[str] | None = None,
        keep: list[str] = ...,
    ) -> Decoder:
        """`digest` (the names of its two halves) turns on digest mode: each batch holds each
        row's digest of the `digest_keys` columns (all when None; found whatever their case,
        a missing one counting as empty), then the `keep` columns as text, instead of the
        row's columns."""
    def feed(self, data: bytes | bytearray) -> list[RecordBatch]:
        """Parses ``data``; returns the batches it completed."""
    def end_page(self) -> list[RecordBatch]:
        """Ends the current page; the next bytes start a new page with its own header."""
    def finish(self) -> list[RecordBatch]:
        """Ends the stream; returns the last batches."""
    @property
    def schema(self) -> Schema | None: ...
    @property
    def rows(self) -> int: ...
    @property
    def nulled(self) -> int: ...
    @property
    def bytes_consumed(self) -> int: ...
    @property
    def pages(self) -> int: ...

@final
class ParquetReader:
    """Reads a Parquet file as record batches of at most ``batch_rows`` rows, one at a time
    (memory holds one row group's column chunks and one batch)."""

    def __new__(cls, path: str | PathLike[str], *, batch_rows: int = 65_536) -> ParquetReader: ...
    def __iter__(self) -> ParquetReader: ...
    def __next__(self) -> RecordBatch: ...
    @property
    def schema(self) -> Schema: ...
    @property
    def rows(self) -> int: ...

@final
class ParquetWriter:
    """Writes Arrow batches to one Parquet file in bounded memory."""

    def __new__(
        cls,
        path: str | PathLike[str],
        *,
        schema: Schema | Mapping[str, str] | Any | None = None,
        compression: str = "zstd",
    ) -> ParquetWriter: ...
    def write(self, data: Any) -> int:
        """Appends a batch, frame or Arrow stream; returns the rows written so far."""
    def close(self, schema: Schema | Mapping[str, str] | Any | None = None) -> int:
        """Finishes the file; returns the rows written."""
    @property
    def rows(self) -> int: ...
    def __enter__(self) -> ParquetWriter: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> bool: ...

@final
class UploadChunk:
    """One Bulk ingest upload: ``data`` holds input rows ``start`` .. ``stop`` (exclusive)."""

    @property
    def data(self) -> bytes: ...
    @property
    def start(self) -> int: ...
    @property
    def stop(self) -> int: ...
    @property
    def rows(self) -> int: ...
    @property
    def nbytes(self) -> int: ...

@final
class BatchBuilder:
    """Turns Arrow data into Bulk ingest CSV chunks."""

    def __new__(
        cls,
        *,
        max_bytes: int = 100_000_000,
        max_rows: int | None = None,
        delimiter: str = "COMMA",
        line_ending: str = "LF",
        null_as_na: bool = False,
    ) -> BatchBuilder: ...
    def feed(self, data: Any) -> None: ...
    def next_chunk(self) -> UploadChunk | None: ...
    def finish(self) -> UploadChunk | None: ...
    @property
    def header(self) -> bytes: ...
    @property
    def rows(self) -> int: ...

def schema_for(columns: list[str], types: Mapping[str, str] | None = None) -> Schema:
    """The Arrow schema the decoder gives ``columns`` typed by Salesforce ``types``."""

def decode_body(
    data: bytes | bytearray,
    *,
    schema: Mapping[str, str] | None = None,
    columns: list[str] | None = None,
    has_header: bool = True,
    delimiter: str = "COMMA",
    line_ending: str = "LF",
    batch_size: int = 8192,
    gzip: bool | None = None,
    on_error: str = "raise",
    na_as_null: bool = False,
) -> tuple[list[RecordBatch], Schema | None, int]:
    """Decodes one whole body in one call: (batches, schema, nulled)."""

def row_digests(table: object, names: tuple[str, str]) -> list[RecordBatch]:
    """The digests (as the decoder's digest mode computes them) of each row of an Arrow
    table of string columns, the keys in order (a null counts as empty): batches of two
    UInt64 columns named `names`."""

def csv_file_to_parquet(
    source: str | PathLike[str],
    path: str | PathLike[str],
    *,
    schema: Mapping[str, str] | None = None,
    delimiter: str = "COMMA",
    line_ending: str = "LF",
    compression: str = "zstd",
    batch_size: int = 8192,
    gzip: bool | None = None,
    on_error: str = "raise",
) -> int:
    """Decodes a result CSV file straight to Parquet without entering Python; returns rows."""

def gzip_file_range(
    head: bytes,
    source: str | PathLike[str],
    start: int,
    end: int,
    target: str | PathLike[str],
    *,
    level: int = 1,
) -> int:
    """Compresses `head` then bytes [start, end) of `source` into one gzip member at `target`
    (mtime zero) without the GIL; returns the compressed size."""

class IngestTable:
    """A received ingest upload held as spans of its bytes (the devorg's insert jobs).

    Only plainly formed CSV is taken; `read` raises ValueError (with the reason) for anything
    else, and the caller reads the upload its general way.
    """

    @staticmethod
    def read(
        path: str | PathLike[str], *, delimiter: str = "COMMA", line_ending: str = "LF"
    ) -> IngestTable:
        """Reads and indexes an upload file without the GIL."""
    @property
    def columns(self) -> list[str]:
        """The header's cells."""
    @property
    def header_line(self) -> str:
        """The header line as sent, without its line ending."""
    def __len__(self) -> int: ...
    def row(self, row: int) -> list[str]:
        """The cells of data row `row`."""
    def prepare(
        self, specs: list[tuple[str, bool, int, list[str] | None, int | None, int]]
    ) -> None:
        """Checks every row against one rule per column (kind, required, max characters,
        allowed values, precision, scale), kind one of text, int, double, boolean, defer."""
    def fast_count(self, start: int, stop: int) -> int:
        """Rows in [start, stop) that passed the checks."""
    def is_fast(self, row: int) -> bool:
        """Whether `row` passed the checks."""
    def insert_params(
        self,
        start: int,
        stop: int,
        first: int,
        id_head: str,
        slots: list[int],
        defaults: list[Any],
    ) -> tuple[list[tuple[Any, ...]], list[int]]:
        """Insert parameters `(sequence, Id, *slot values)` of the passing rows of
        [start, stop), sequences counting from `first` (each row recorded as a success), and
        the numbers of the other rows."""
    def set_success(self, row: int, record_id: str, created: bool) -> None: ...
    def set_failure(self, row: int, record_id: str, error: str) -> None: ...
    def write_results(self, folder: str | PathLike[str], seed: int) -> tuple[int, int, int]:
        """Writes the successful, failed and unprocessed result sets under `folder`; returns
        their row counts."""

def record_id(id_head: str, sequence: int) -> str:
    """The 18-character Id made of `id_head` (6 characters), `sequence` in 9 base-62 digits
    and the case checksum."""

def sqlite_library_version(library: str | PathLike[str]) -> int | None:
    """The version number (e.g. 3040001) of the SQLite library reached through `library`
    (already loaded in this process: looked up in it and the libraries loaded with it), or
    None when it cannot be called directly."""

class SqliteLines:
    """A Bulk query's result lines, read on a connection of its own through the process's own
    SQLite library (the devorg's query jobs)."""

    def __init__(
        self,
        library: str | PathLike[str],
        database: str | PathLike[str],
        *,
        pragmas: str,
        snapshot: str,
        sql: str,
        params: list[Any],
        columns: int,
        booleans: list[int],
        delimiter: str,
        newline: str,
    ) -> None: ...
    def block(self, rows: int, base: int) -> tuple[bytes, bytes, tuple[Any, ...] | None, bool]:
        """Up to `rows` lines without the GIL (`base`: the offset of the first byte): their
        bytes, each line's end offset as native int64s, the values of a row holding a blob
        for Python to write (it ends the block), and whether the query has no more rows."""
    def close(self) -> None: ...

class SqliteWriter:
    """One connection to a devorg database through the process's own SQLite library, with one
    prepared INSERT (the devorg's bulk inserts)."""

    def __init__(
        self,
        library: str | PathLike[str],
        database: str | PathLike[str],
        *,
        pragmas: str,
        insert: str,
        parameters: int,
    ) -> None: ...
    def insert(
        self,
        table: IngestTable,
        start: int,
        stop: int,
        first: int,
        id_head: str,
        slots: list[int],
        defaults: list[Any],
        shared: list[Any],
    ) -> tuple[int | None, list[int]]:
        """Inserts the passing rows of [start, stop) of `table` in one transaction without
        the GIL, each then recorded as a success; returns the rows inserted (None when a
        constraint rolled the transaction back) and the numbers of the other rows."""
    def close(self) -> None: ...
