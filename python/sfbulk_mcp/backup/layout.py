"""Where a snapshot lives on disk, and its manifest.

    DIR/2026-11-21T08-30-00Z/
        manifest.json          what was backed up: counts, timings, API calls, versions, org
        Account.parquet        one file per object (every field Bulk can read)
        schema/Account.json    the object's describe at backup time
        files/ContentVersion/  file bodies (`--files`), one file per record Id

While an object is being exported, the export pipeline keeps its resume state beside the
object's file; it is gone once the object is complete.

A snapshot is *full* (every live row) or *incremental* (rows whose SystemModstamp is after
`since`, deleted ones included, chained onto the snapshot named in `base`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

MANIFEST = "manifest.json"
SCHEMA_DIR = "schema"
FILES_DIR = "files"
FORMAT_VERSION = 1
_NAME_FORMAT = "%Y-%m-%dT%H-%M-%SZ"


class SnapshotError(ValueError):
    """A snapshot is missing, unreadable or cannot be used the way asked."""


def snapshot_name(moment: dt.datetime) -> str:
    """`2026-11-21T08-30-00Z`: a folder name that sorts by time and is valid everywhere."""
    return moment.astimezone(dt.UTC).strftime(_NAME_FORMAT)


def utc_now() -> dt.datetime:
    """Now, in UTC, to the second (snapshot names have no finer grain)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(moment: dt.datetime) -> str:
    """A SOQL datetime literal / manifest timestamp: `2026-11-21T08:30:00Z`."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    """A timestamp from the command line or a manifest (ISO 8601; naive means UTC)."""
    value = text.strip().replace("+0000", "+00:00")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = dt.datetime.strptime(text.strip(), _NAME_FORMAT)
        except ValueError:
            raise SnapshotError(
                f"cannot read the time {text!r}: use ISO 8601, e.g. 2026-11-21T08:30:00Z"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


@dataclass
class ObjectEntry:
    """One object of a snapshot."""

    status: str = "pending"  # pending | running | complete | failed
    # "incremental" rows changed since the snapshot's `since` (deletions included);
    # "full" every live row (also used when an object has no SystemModstamp to filter on)
    mode: str = "full"
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    fields: int = 0
    file: str | None = None
    job_id: str | None = None
    resumed: bool = False
    error: str | None = None
    bodies: int = 0
    body_bytes: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObjectEntry:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class Manifest:
    """The manifest of one snapshot."""

    name: str
    started: str
    kind: str = "full"  # full | incremental
    since: str | None = None
    base: str | None = None
    status: str = "running"  # running | complete | partial
    finished: str | None = None
    seconds: float = 0.0
    org_id: str | None = None
    instance_url: str | None = None
    api_version: str | None = None
    package_version: str | None = None
    files: bool = False
    api_calls: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, ObjectEntry] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    @property
    def total_rows(self) -> int:
        return sum(entry.rows for entry in self.objects.values())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_rows"] = self.total_rows
        # At-a-glance views of the per-object entries.
        data["counts"] = {name: entry.rows for name, entry in self.objects.items()}
        data["timings"] = {name: entry.seconds for name, entry in self.objects.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        objects = {
            name: ObjectEntry.from_dict(entry) for name, entry in (data.get("objects") or {}).items()
        }
        known["objects"] = objects
        return cls(**known)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Save the manifest atomically (a crash never leaves half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_bytes(orjson.dumps(manifest.to_dict(), option=orjson.OPT_INDENT_2))
    os.replace(tmp, folder / MANIFEST)


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the snapshot in `folder`."""
    path = folder / MANIFEST
    try:
        return Manifest.from_dict(orjson.loads(path.read_bytes()))
    except FileNotFoundError:
        raise SnapshotError(f"{folder} is not a snapshot (no {MANIFEST})") from None
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise SnapshotError(f"the manifest of {folder} is unreadable: {exc}") from None


def iter_snapshots(root: Path) -> Iterator[tuple[Path, Manifest]]:
    """Every snapshot under `root`, oldest first."""
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if (folder / MANIFEST).is_file():
            try:
                yield folder, read_manifest(folder)
            except SnapshotError:
                continue


def latest_complete(root: Path, *, before: str | None = None) -> tuple[Path, Manifest] | None:
    """The newest complete snapshot under `root` (older than `before`, when given)."""
    found = None
    for folder, manifest in iter_snapshots(root):
        if manifest.status != "complete":
            continue
        if before is not None and manifest.name >= before:
            continue
        found = (folder, manifest)
    return found


def resolve_snapshot(ref: str | Path, root: Path | None) -> Path:
    """The folder of a snapshot given as a path, a name under `root`, `latest` or `previous`."""
    text = str(ref)
    if root is not None and text in ("latest", "previous"):
        complete = [f for f, m in iter_snapshots(root) if m.status == "complete"]
        wanted = 1 if text == "latest" else 2
        if len(complete) < wanted:
            raise SnapshotError(f"there is no {text} complete snapshot in {root}")
        return complete[-wanted]
    candidates = [Path(text)]
    if root is not None:
        candidates.insert(0, root / text)
    for candidate in candidates:
        if (candidate / MANIFEST).is_file():
            return candidate
    where = f" in {root}" if root is not None else ""
    raise SnapshotError(f"no snapshot {text}{where} (see `sfbulk backup list`)")


def object_file(folder: Path, object_name: str) -> Path:
    return folder / f"{object_name}.parquet"


def schema_file(folder: Path, object_name: str) -> Path:
    return folder / SCHEMA_DIR / f"{object_name}.json"


def bodies_dir(folder: Path, object_name: str) -> Path:
    return folder / FILES_DIR / object_name


def read_describe(folder: Path, object_name: str) -> dict[str, Any] | None:
    """The describe saved with the snapshot, or None."""
    path = schema_file(folder, object_name)
    if not path.is_file():
        return None
    data = orjson.loads(path.read_bytes())
    return data if isinstance(data, dict) else None
