"""Output files of an export: one committed part per result page, merged in page order at the
end into Parquet, CSV or JSON Lines, then moved into place atomically.

Parts make an export resumable: a part is written to a temp name and renamed, so a part that
exists is complete. Merging streams, so memory stays at one page whatever the row count.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import polars as pl

FORMATS = ("parquet", "csv", "jsonl")
# Parts of a Parquet export are Arrow IPC files: cheap to write and to read back memory-mapped,
# so the data is encoded to Parquet once, when the parts are merged.
_EXTENSIONS = {"parquet": "arrow", "csv": "csv", "jsonl": "jsonl"}


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


def part_name(index: int, fmt: str) -> str:
    """File name of page `index`'s part."""
    return f"page-{index:06d}.{_EXTENSIONS[fmt]}"


def write_part(frame: pl.DataFrame, path: Path, fmt: str) -> int:
    """Write one page's part (see `part_name`) via a temp name; returns the bytes written."""
    if fmt != "parquet":
        return write_frame(frame, path, fmt)
    tmp = path.with_name(path.name + ".tmp")
    frame.write_ipc(tmp, compression="lz4")
    size = tmp.stat().st_size
    os.replace(tmp, path)
    return size


def write_frame(frame: pl.DataFrame, path: Path, fmt: str, *, compression: str = "zstd") -> int:
    """Write `frame` to `path` in `fmt` via a temp name; returns the bytes written."""
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "parquet":
        frame.write_parquet(tmp, compression=cast(Any, compression))
    elif fmt == "csv":
        frame.write_csv(tmp)
    elif fmt == "jsonl":
        frame.write_ndjson(tmp)
    else:  # pragma: no cover - format_for rejects it first
        raise ValueError(fmt)
    size = tmp.stat().st_size
    os.replace(tmp, path)
    return size


def merge_parts(parts: Sequence[Path], out: Path, fmt: str, *, compression: str = "zstd") -> None:
    """Concatenate part files (in the given order) into `out`, atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".sfbulk-tmp")
    if len(parts) == 1 and fmt != "parquet":
        os.replace(parts[0], tmp)
    elif fmt == "parquet":
        _merge_parquet(parts, tmp, compression)
    elif fmt == "csv":
        _merge_text(parts, tmp, skip_header=True)
    else:
        _merge_text(parts, tmp, skip_header=False)
    os.replace(tmp, out)


def _merge_parquet(parts: Sequence[Path], tmp: Path, compression: str) -> None:
    if not parts:
        pl.DataFrame().write_parquet(tmp)
        return
    from .codec import _engine

    engine = _engine()
    if engine is not None and hasattr(engine, "ParquetWriter"):
        # One part (one page) in memory at a time.
        writer = engine.ParquetWriter(str(tmp), compression=compression)
        first: pl.DataFrame | None = None
        for part in parts:
            frame = pl.read_ipc(part)
            first = frame if first is None else first
            if frame.height:
                writer.write(frame)
        if writer.rows == 0:
            writer.close()
            assert first is not None
            first.write_parquet(tmp, compression=cast(Any, compression))
        else:
            writer.close()
        return
    # Streaming: batches flow from the parts into the new file without a full-table copy.
    pl.scan_ipc([str(p) for p in parts]).sink_parquet(
        tmp,
        compression=cast(Any, compression),
    )


def _merge_text(parts: Sequence[Path], tmp: Path, *, skip_header: bool) -> None:
    with open(tmp, "wb") as dst:
        for n, part in enumerate(parts):
            with open(part, "rb") as src:
                if skip_header and n > 0:
                    # Column names never hold newlines, so the header ends at the first one.
                    src.readline()
                shutil.copyfileobj(src, dst, length=4 << 20)


def write_empty(out: Path, fmt: str, schema: dict[str, pl.DataType]) -> None:
    """An output with the columns and no rows (a query that matched nothing)."""
    write_frame(pl.DataFrame(schema=schema), out, fmt)
