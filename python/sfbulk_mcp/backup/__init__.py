"""Backups of a whole org as Parquet snapshots, a time machine over them, and restores.

- `backup(client, root, ...)`: one snapshot (full or incremental) of many objects at once.
- `diff_snapshots(old, new)` / `diff_live(client, snapshot)`: added, deleted, changed records.
- `plan_restore(...)` / `run_restore(...)`: import-ready files that bring records back.
"""

from __future__ import annotations

from .diff import DiffResult, ObjectDiff, diff_frames, diff_live, diff_snapshots
from .layout import Manifest, ObjectEntry, SnapshotError, iter_snapshots, resolve_snapshot
from .run import BackupLimitError, BackupProgress, backup, backup_objects

__all__ = [
    "BackupLimitError",
    "BackupProgress",
    "DiffResult",
    "Manifest",
    "ObjectDiff",
    "ObjectEntry",
    "SnapshotError",
    "backup",
    "backup_objects",
    "diff_frames",
    "diff_live",
    "diff_snapshots",
    "iter_snapshots",
    "resolve_snapshot",
]
