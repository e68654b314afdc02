"""An object's rows as of a snapshot: a full snapshot's file, or an incremental chain replayed.

An incremental snapshot holds the rows changed after its `since`, deleted ones included
(IsDeleted = true). Replaying it onto its base: every Id it holds replaces the base's row, and
the deleted ones are dropped. A chain is replayed from its full snapshot forwards.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from . import layout
from .layout import Manifest, SnapshotError


def snapshot_objects(folder: Path) -> list[str]:
    """Every object the snapshot (with its chain) holds a complete state of."""
    manifest = layout.read_manifest(folder)
    names = [n for n, e in manifest.objects.items() if e.status == "complete"]
    if manifest.kind == "incremental" and manifest.base:
        base = folder.parent / manifest.base
        if (base / layout.MANIFEST).is_file():
            names += [n for n in snapshot_objects(base) if n not in names]
    return names


def _live_rows(frame: pl.LazyFrame) -> pl.LazyFrame:
    if "IsDeleted" in frame.collect_schema().names():
        return frame.filter(~pl.col("IsDeleted").fill_null(False))
    return frame


def _find_name(manifest: Manifest, object_name: str) -> str | None:
    wanted = object_name.lower()
    return next((n for n in manifest.objects if n.lower() == wanted), None)


def object_rows(folder: Path, object_name: str) -> pl.LazyFrame:
    """The rows of `object_name` as of the snapshot in `folder` (deleted rows left out)."""
    manifest = layout.read_manifest(folder)
    name = _find_name(manifest, object_name)
    entry = manifest.objects.get(name) if name else None
    own = None
    if entry is not None and entry.status == "complete" and name is not None:
        path = layout.object_file(folder, name)
        if path.is_file():
            own = pl.scan_parquet(path)
    if manifest.kind != "incremental" or (entry is not None and entry.mode == "full" and own is not None):
        if own is None:
            raise SnapshotError(f"snapshot {manifest.name} holds no complete {object_name}")
        return _live_rows(own)
    if not manifest.base:
        raise SnapshotError(
            f"snapshot {manifest.name} is incremental (changes since {manifest.since}) with no "
            "full snapshot under it: compare it with a full one, or take a full backup"
        )
    base_folder = folder.parent / manifest.base
    if not (base_folder / layout.MANIFEST).is_file():
        raise SnapshotError(
            f"snapshot {manifest.name} builds on {manifest.base}, which is missing from "
            f"{folder.parent}"
        )
    base = object_rows(base_folder, object_name)
    if own is None:
        return base  # not part of this run: unchanged since the base, as far as we know
    changed_ids = own.select("Id")
    kept = base.join(changed_ids, on="Id", how="anti")
    return pl.concat([kept, _live_rows(own)], how="diagonal_relaxed")
