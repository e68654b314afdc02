"""Resume state of an export: a small JSON file beside the output.

It names the job (and the API version that created it, which results must be fetched with),
the query and format it was made for, and every page already committed to a part file with
the locator that fetched it and the locator of the page after it. A rerun with the same output
and the same query continues from the first page that is not committed — no row is fetched
twice into the output and none is skipped.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

STATE_SUFFIX = ".sfbulk-state.json"
PARTS_SUFFIX = ".sfbulk-parts"
STATE_VERSION = 2


def state_path(out: Path) -> Path:
    """Where the resume state of an export to `out` lives."""
    return out.with_name(out.name + STATE_SUFFIX)


def parts_dir(out: Path) -> Path:
    """The folder holding the committed page files of an export to `out`."""
    return out.with_name(out.name + PARTS_SUFFIX)


def query_fingerprint(soql: str, operation: str, fmt: str) -> str:
    """A short digest naming what an export produces, to refuse resuming a different one."""
    normal = " ".join(soql.split())
    return hashlib.sha256(f"{operation}\n{fmt}\n{normal}".encode()).hexdigest()[:24]


@dataclass
class PageRecord:
    """One committed page: its number, the locator that fetched it, and what it held."""

    index: int
    locator: str | None
    next_locator: str | None
    rows: int
    part: str
    bytes: int = 0


@dataclass
class ExportState:
    """Everything a rerun needs to continue an export."""

    job_id: str
    api_version: str
    soql: str
    operation: str
    fmt: str
    fingerprint: str
    schema: dict[str, str] = field(default_factory=dict)
    pages: list[PageRecord] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    version: int = STATE_VERSION

    @property
    def committed_rows(self) -> int:
        """Rows already committed."""
        return sum(p.rows for p in self.pages)

    @property
    def committed_bytes(self) -> int:
        """Result bytes already committed."""
        return sum(p.bytes for p in self.pages)

    def next_locator(self) -> tuple[int, str | None, bool]:
        """(next page index, its locator, done) from the committed pages.

        Pages are committed in order, so the continuation is the `next_locator` of the last
        page; `done` is True when that page was the last one of the job.
        """
        if not self.pages:
            return 0, None, False
        last = max(self.pages, key=lambda p: p.index)
        return last.index + 1, last.next_locator, last.next_locator is None

    def to_json(self) -> bytes:
        """The state as JSON bytes."""
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> ExportState:
        """A state read back from `to_json` output."""
        raw: dict[str, Any] = orjson.loads(data)
        pages = [PageRecord(**p) for p in raw.pop("pages", [])]
        return cls(pages=pages, **raw)


def load_state(out: Path) -> ExportState | None:
    """The resume state for `out`, or None when there is none or it cannot be read."""
    path = state_path(out)
    try:
        state = ExportState.from_json(path.read_bytes())
    except (OSError, ValueError, TypeError):
        return None
    if state.version != STATE_VERSION:
        return None
    return state


def save_state(out: Path, state: ExportState) -> None:
    """Write the state atomically (temp file + rename), so a crash never leaves half a file."""
    path = state_path(out)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(state.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def clear_state(out: Path) -> None:
    """Remove the state file and the parts folder of `out`."""
    state_path(out).unlink(missing_ok=True)
    folder = parts_dir(out)
    if folder.is_dir():
        for child in folder.iterdir():
            child.unlink(missing_ok=True)
        folder.rmdir()
