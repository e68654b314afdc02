"""Full results kept outside the model's context: files exposed as MCP resources, and cursors.

A result too big for the budget is either continued with a cursor (`salesforce_query_more`) or
written whole to a Parquet/CSV file the client can read as the resource
`sfbulk://results/<name>`. Both are tied to the caller (`owner`) so that, in multi-user HTTP
mode, one user can never read another user's rows.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

RESOURCE_SCHEME = "sfbulk://results/"
FileFormat = Literal["parquet", "csv"]


@dataclass(frozen=True)
class ResultFile:
    """One saved result."""

    name: str
    path: Path
    rows: int
    bytes: int
    format: FileFormat
    owner: str
    columns: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return RESOURCE_SCHEME + self.name

    @property
    def mime_type(self) -> str:
        return "application/vnd.apache.parquet" if self.format == "parquet" else "text/csv"


class ResultFiles:
    """Result files under one directory, remembered with their owner."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._files: dict[str, ResultFile] = {}
        self._lock = threading.Lock()

    def new_path(self, stem: str, fmt: FileFormat) -> tuple[str, Path]:
        """A fresh, unguessable file name (the name is part of the resource URI)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in stem)[:40] or "result"
        name = f"{safe}-{secrets.token_hex(6)}.{fmt}"
        return name, self.directory / name

    def register(self, name: str, path: Path, *, owner: str, fmt: FileFormat) -> ResultFile:
        """Remember a file written by someone else (e.g. the engine's Parquet writer)."""
        rows, columns = _count(path, fmt)
        result = ResultFile(
            name=name,
            path=path,
            rows=rows,
            bytes=path.stat().st_size,
            format=fmt,
            owner=owner,
            columns=tuple(columns),
        )
        with self._lock:
            self._files[name] = result
        return result

    def save_frame(
        self, frame: pl.DataFrame, *, stem: str, owner: str, fmt: FileFormat = "parquet"
    ) -> ResultFile:
        """Write `frame` to a new file and expose it."""
        name, path = self.new_path(stem, fmt)
        tmp = path.with_suffix(path.suffix + ".part")
        if fmt == "parquet":
            frame.write_parquet(tmp, compression="zstd")
        else:
            frame.write_csv(tmp)
        os.replace(tmp, path)
        return self.register(name, path, owner=owner, fmt=fmt)

    def get(self, name: str, owner: str) -> ResultFile | None:
        """The file `name` when it belongs to `owner`."""
        with self._lock:
            result = self._files.get(name)
        if result is None or result.owner != owner or not result.path.exists():
            return None
        return result

    def list(self, owner: str) -> list[ResultFile]:
        with self._lock:
            return [f for f in self._files.values() if f.owner == owner]


def _count(path: Path, fmt: FileFormat) -> tuple[int, list[str]]:
    if fmt == "parquet":
        lazy = pl.scan_parquet(path)
    else:
        lazy = pl.scan_csv(path, infer_schema=False)
    columns = lazy.collect_schema().names()
    rows = int(lazy.select(pl.len()).collect().item())
    return rows, columns


def preview(result: ResultFile, rows: int = 5) -> list[dict[str, Any]]:
    """The first rows of a saved file, as plain dicts."""
    if result.format == "parquet":
        frame = pl.scan_parquet(result.path).head(rows).collect()
    else:
        frame = pl.scan_csv(result.path, infer_schema=False).head(rows).collect()
    return [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
        for row in frame.to_dicts()
    ]


@dataclass
class Cursor:
    """Where a cut query result continues: rows already fetched, then Salesforce's next page."""

    owner: str
    pending: list[dict[str, Any]]
    next_records_url: str | None
    total_size: int | None
    columns: Sequence[str] = ()
    created: float = field(default_factory=time.monotonic)


class Cursors:
    """A bounded, expiring map of cursor id → `Cursor`."""

    def __init__(self, *, capacity: int = 200, ttl_seconds: float = 3600.0) -> None:
        self._items: OrderedDict[str, Cursor] = OrderedDict()
        self._capacity = capacity
        self._ttl = ttl_seconds
        self._lock = threading.Lock()

    def put(self, cursor: Cursor) -> str:
        key = "c_" + secrets.token_urlsafe(12)
        with self._lock:
            self._items[key] = cursor
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return key

    def take(self, key: str, owner: str) -> Cursor | None:
        """The cursor `key` of `owner`, removed (each cursor is used once)."""
        with self._lock:
            cursor = self._items.get(key)
            if cursor is None or cursor.owner != owner:
                return None
            del self._items[key]
        if time.monotonic() - cursor.created > self._ttl:
            return None
        return cursor
