"""Output files of an export: Parquet, CSV or JSON Lines, written page by page into a temp
file and moved into place atomically.

Each downloaded page is first committed as a part (its body as Salesforce sent it, gzip or
plain CSV, written to a temp name and renamed, so a part that exists is complete): that is what makes an export
resumable. Committed parts are decoded in page order into the output.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

import polars as pl

FORMATS = ("parquet", "csv", "jsonl")
# Parquet codecs the output can use; zstd also as `zstd:LEVEL`.
COMPRESSIONS = ("zstd", "snappy", "none")
DEFAULT_COMPRESSION = "zstd"


def format_for(path: Path, fmt: str | None) -> str:
    """The output format: the one asked for, else the file extension's, else Parquet."""
    if fmt:
        lowered = fmt.lower()
        if lowered in ("ndjson", "json"):
            lowered = "jsonl"
        if lowered not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
        return lowered
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("csv", "tsv"):
        return "csv"
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    return "parquet"


def parquet_compression(name: str | None, fmt: str) -> str:
    """The Parquet codec asked for (`zstd` when None), checked before any job is created:
    `zstd`, `zstd:LEVEL` (1-22), `snappy` or `none`. CSV and JSON Lines take none."""
    if name is None:
        return DEFAULT_COMPRESSION
    if fmt != "parquet":
        raise ValueError(f"compression applies to Parquet output, not {fmt}")
    lowered = name.strip().lower()
    codec, _, level = lowered.partition(":")
    if codec == "uncompressed":
        codec = "none"
    if codec in COMPRESSIONS and not level:
        return codec
    if codec == "zstd" and level.isdigit() and 1 <= int(level) <= 22:
        return lowered
    raise ValueError(
        f"unknown Parquet compression {name!r}: use zstd, zstd:LEVEL (1-22), snappy or none"
    )


def _polars_codec(compression: str) -> tuple[Any, int | None]:
    """`parquet_compression`'s name as Polars' `compression` and `compression_level`."""
    codec, _, level = compression.partition(":")
    return ("uncompressed" if codec == "none" else codec), (int(level) if level else None)


def part_name(index: int) -> str:
    """File name of page `index`'s part: the page's body exactly as Salesforce sent it (CSV,
    gzip-compressed when it travelled that way)."""
    return f"page-{index:06d}.csv"


def write_frame(frame: pl.DataFrame, path: Path, fmt: str, *, compression: str = "zstd") -> int:
    """Write `frame` to `path` in `fmt` via a temp name; returns the bytes written."""
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "parquet":
        codec, level = _polars_codec(compression)
        frame.write_parquet(tmp, compression=codec, compression_level=level)
    elif fmt == "csv":
        frame.write_csv(tmp)
    elif fmt == "jsonl":
        frame.write_ndjson(tmp)
    else:  # pragma: no cover - format_for rejects it first
        raise ValueError(fmt)
    size = tmp.stat().st_size
    os.replace(tmp, path)
    return size


class OutputSink:
    """The output file, written page after page into a temp name and moved into place by
    `commit` — a reader never sees half a file.

    Parquet goes through the engine's streaming writer (row groups are flushed as they fill),
    CSV and JSON Lines are appended; memory holds one page at a time.
    """

    def __init__(self, out: Path, fmt: str, *, compression: str = "zstd") -> None:
        self.out = out
        self.fmt = fmt
        self.compression = compression
        self.tmp = out.with_name(out.name + ".sfbulk-tmp")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.rows = 0
        self._first: pl.DataFrame | None = None
        self._writer: Any = None
        self._frames: list[pl.DataFrame] = []  # Parquet without the engine only
        self._fh: IO[bytes] | None = None

    def _parquet_writer(self) -> Any:
        """The engine's streaming Parquet writer (opened on first use), or None without it."""
        if self._writer is None:
            from .codec import _engine

            engine = _engine()
            if engine is None or not hasattr(engine, "ParquetWriter"):
                return None
            self._writer = engine.ParquetWriter(str(self.tmp), compression=self.compression)
        return self._writer

    def takes_arrow(self) -> bool:
        """True when pages can be appended as Arrow streams (`append_arrow`)."""
        from .codec import engine_has

        # Only asks: the writer opens with the first rows, so an empty result still gets
        # its typed columns at `commit`.
        return self.fmt == "parquet" and engine_has("ParquetWriter")

    def append_arrow(self, stream: Any, rows: int) -> None:
        """Add one page's rows as an Arrow stream of record batches (Parquet only)."""
        self._parquet_writer().write(stream)
        self.rows += rows

    def append(self, frame: pl.DataFrame) -> None:
        """Add one page's rows (pages must come in order)."""
        if self._first is None:
            self._first = frame.head(0)
        self.rows += frame.height
        if self.fmt == "parquet":
            if not frame.height:
                return
            writer = self._parquet_writer()
            if writer is None:
                self._frames.append(frame)
                return
            writer.write(frame)
            return
        if self._fh is None:
            self._fh = open(self.tmp, "wb")  # noqa: SIM115 - closed by commit/discard
            if self.fmt == "csv":
                frame.write_csv(self._fh, include_header=True)
                return
        if self.fmt == "csv":
            frame.write_csv(self._fh, include_header=False)
        else:
            frame.write_ndjson(self._fh)

    def commit(self, empty_schema: dict[str, pl.DataType] | None = None) -> None:
        """Finish the file and move it to `out`."""
        first = self._first if self._first is not None else pl.DataFrame(schema=empty_schema)
        if self.fmt == "parquet":
            if self._writer is not None:
                self._writer.close()
            else:
                codec, level = _polars_codec(self.compression)
                whole = pl.concat(self._frames, how="vertical_relaxed") if self._frames else first
                whole.write_parquet(self.tmp, compression=codec, compression_level=level)
        else:
            if self._fh is None:
                write_frame(first, self.tmp, self.fmt)
            else:
                self._fh.close()
        os.replace(self.tmp, self.out)

    def discard(self) -> None:
        """Drop the unfinished temp file."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        if self._fh is not None:
            self._fh.close()
        self.tmp.unlink(missing_ok=True)
