"""Result bytes written once, then served as byte ranges of a file.

A query job's result is written when the job completes: the header line in one file, the data
rows in another, and the byte offset of every row in a third. Any page (any locator, any
`maxRecords`) is then the header plus one contiguous byte range, so serving costs no CSV work.
Gzip bodies are compressed on first request and kept next to the data.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import itertools
import os
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sfbulk_mcp.devorg.bulk.csvout import RowFormatter

HEADER_FILE = "header.csv"
DATA_FILE = "rows.csv"
OFFSETS_FILE = "offsets.bin"
GZIP_DIR = "gzip"

# Rows are buffered and encoded in blocks: one encode and one write per block.
_BLOCK_ROWS = 4096


class JobStopped(Exception):
    """The job was aborted or the org is shutting down while results were being written."""


@dataclass(frozen=True)
class Page:
    """One set of results: rows [start, end) of the result, at bytes [byte_start, byte_end)."""

    start: int
    end: int
    byte_start: int
    byte_end: int

    @property
    def records(self) -> int:
        """How many records the page holds."""
        return self.end - self.start


def encode_locator(row: int) -> str:
    """An opaque locator for a row offset, shaped like Salesforce's (`MTAwMDA`)."""
    return base64.b64encode(str(row).encode("ascii")).decode("ascii").rstrip("=")


def decode_locator(locator: str) -> int | None:
    """The row offset a locator stands for, or None if it is not one of ours."""
    padded = locator + "=" * (-len(locator) % 4)
    try:
        text = base64.b64decode(padded.encode("ascii"), validate=True).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    if not text.isdigit() or encode_locator(int(text)) != locator:
        return None
    return int(text)


def encode_span_locator(start: int, end: int) -> str:
    """The locator of a partial result set: rows [start, end), announced while the job runs."""
    return base64.b64encode(f"{start}-{end}".encode("ascii")).decode("ascii").rstrip("=")


def decode_span_locator(locator: str) -> tuple[int, int] | None:
    """The rows a partial result locator stands for, or None if it is not one."""
    padded = locator + "=" * (-len(locator) % 4)
    try:
        text = base64.b64decode(padded.encode("ascii"), validate=True).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    start, dash, end = text.partition("-")
    if not (dash and start.isdigit() and end.isdigit()) or int(start) > int(end):
        return None
    if encode_span_locator(int(start), int(end)) != locator:
        return None
    return int(start), int(end)


def write_rows(
    directory: Path,
    header_line: str,
    rows: Iterable[Sequence[object]],
    formatter: RowFormatter,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int], None] = lambda rows: None,
) -> int:
    """Write a header and rows as a paged result set under `directory`; returns the row count.

    `should_stop` is polled between blocks so that an abort stops a long write; `progress`
    hears the number of rows written so far.
    """
    line = formatter.line
    return write_lines(directory, header_line, (line(row) for row in rows), should_stop,
                       progress)


def write_lines(
    directory: Path,
    header_line: str,
    lines: Iterable[str],
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int], None] = lambda rows: None,
) -> int:
    """Write a header and formatted lines as a paged result set; returns the row count."""
    blocks = (
        [line.encode("utf-8") for line in block] for block in batched(lines, _BLOCK_ROWS)
    )
    return write_blocks(directory, header_line, line_blocks(blocks), should_stop, progress)


@dataclass(frozen=True)
class LineBlock:
    """Whole result lines as one run of bytes, and where each line ends: byte offsets into
    the result's data (the header not counted)."""

    data: bytes
    ends: array[int]


def line_blocks(blocks: Iterable[Sequence[bytes]]) -> Iterator[LineBlock]:
    """Blocks of encoded lines as `LineBlock`s, the first line starting at offset 0."""
    end = 0
    for block in blocks:
        ends = array("q", itertools.accumulate(map(len, block), initial=end))
        del ends[0]  # accumulate() yields its initial value first
        end = ends[-1] if ends else end
        yield LineBlock(b"".join(block), ends)


def write_blocks(
    directory: Path,
    header_line: str,
    blocks: Iterable[LineBlock],
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int], None] = lambda rows: None,
    written: Callable[[Page], None] | None = None,
    written_rows: int = 50_000,
) -> int:
    """Write a header and blocks of lines as a paged result set; returns the row count.

    `should_stop` is polled after each block so that an abort stops a long write; `progress`
    hears the number of rows written so far; `written` hears each run of at least
    `written_rows` rows once its bytes are in the file (the last rows are not announced: the
    caller knows them once the set is complete).
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / HEADER_FILE).write_bytes(header_line.encode("utf-8"))
    offsets = array("q", [0])
    announced = 0
    with open(directory / DATA_FILE, "wb") as data:
        for block in blocks:
            data.write(block.data)
            offsets.extend(block.ends)
            rows = len(offsets) - 1
            progress(rows)
            if written is not None and rows - announced >= written_rows:
                data.flush()
                written(Page(announced, rows, offsets[announced], offsets[rows]))
                announced = rows
            if should_stop():
                raise JobStopped
    with open(directory / OFFSETS_FILE, "wb") as out:
        offsets.tofile(out)
    return len(offsets) - 1


def batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """Consecutive lists of `size` items (the last one shorter)."""
    iterator = iter(items)
    while block := list(itertools.islice(iterator, size)):
        yield block


class ResultSet:
    """A result set written by `write_rows` or `write_lines`, opened for serving."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.header = (directory / HEADER_FILE).read_bytes()
        self.data_path = directory / DATA_FILE
        self.offsets = array("q")
        with open(directory / OFFSETS_FILE, "rb") as source:
            self.offsets.frombytes(source.read())
        self._gzip_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @property
    def row_count(self) -> int:
        """How many data rows the result holds."""
        return len(self.offsets) - 1

    @property
    def data_bytes(self) -> int:
        """Size of the data rows, header excluded."""
        return self.offsets[-1]

    def page(self, start: int, max_records: int | None, max_bytes: int) -> Page:
        """The page starting at row `start`: at most `max_records` rows and about `max_bytes`.

        A page always holds at least one row when rows remain, however large that row is.
        """
        total = self.row_count
        end = total if max_records is None else min(total, start + max_records)
        if end > start + 1 and self.offsets[end] - self.offsets[start] > max_bytes:
            end = self._last_row_within(start, end, self.offsets[start] + max_bytes)
        return Page(start, end, self.offsets[start], self.offsets[end])

    def _last_row_within(self, start: int, end: int, byte_limit: int) -> int:
        # Binary search for the largest end with offsets[end] <= byte_limit (at least start+1).
        low, high = start + 1, end
        while low < high:
            middle = (low + high + 1) // 2
            if self.offsets[middle] <= byte_limit:
                low = middle
            else:
                high = middle - 1
        return low

    def page_starts(self, max_bytes: int) -> list[int]:
        """Where each page of the default size starts, for parallel download."""
        starts: list[int] = []
        row = 0
        while row < self.row_count:
            starts.append(row)
            row = self.page(row, None, max_bytes).end
        return starts or [0]

    def _gzip_path(self, page: Page) -> Path:
        return self.directory / GZIP_DIR / f"{page.start}-{page.end}.gz"

    def has_gzip(self, page: Page) -> bool:
        """True once the page's gzip body is made."""
        return self._gzip_path(page).exists()

    def gzip_file(self, page: Page) -> Path:
        """The page (header included) compressed with gzip, made on first request."""
        target = self._gzip_path(page)
        if target.exists():
            return target
        # One lock per page: two clients asking for the same page compress it once, while
        # different pages compress in parallel (zlib releases the GIL).
        with self._locks_guard:
            lock = self._gzip_locks.setdefault(target.name, threading.Lock())
        with lock:
            if target.exists():
                return target
            target.parent.mkdir(exist_ok=True)
            partial = target.with_suffix(".part")
            compress_range(self.header, self.data_path, page.byte_start, page.byte_end, partial)
            os.replace(partial, target)
        return target


def compress_range(head: bytes, source: Path, start: int, end: int, target: Path) -> None:
    """Write `head` and bytes [start, end) of `source` to `target` as one gzip member.

    The engine's deflate (level 1) takes about half the time of Python's zlib at the same
    level on a 16 MB page; Python's is the fallback for a build without the engine.
    """
    try:
        from sfbulk_mcp._engine import gzip_file_range
    except ImportError:
        with open(target, "wb") as raw, gzip.GzipFile(
            fileobj=raw, mode="wb", compresslevel=1, mtime=0
        ) as packed:
            packed.write(head)
            for chunk in iter_file_range(source, start, end):
                packed.write(chunk)
        return
    gzip_file_range(head, source, start, end, target, level=1)


CHUNK_BYTES = 4 * 1024 * 1024


def iter_file_range(path: Path, start: int, end: int, chunk: int = CHUNK_BYTES) -> Iterable[bytes]:
    """Bytes [start, end) of a file, in large chunks."""
    with open(path, "rb", buffering=0) as source:
        position = start
        while position < end:
            data = os.pread(source.fileno(), min(chunk, end - position), position)
            if not data:
                return
            position += len(data)
            yield data
