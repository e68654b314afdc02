"""The time machine: records added, deleted and changed between two states of the org.

Both sides are lazy frames (a snapshot, an incremental chain replayed, or a fresh export of
the live org) joined on Id; only the rows that differ are ever gathered, and field-level
changes are computed for those alone, so millions of unchanged rows cost a join and no more.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from . import layout
from .ids import id18
from .state import object_rows, snapshot_objects

# Fields Salesforce changes on its own (touching, viewing, recalculating a record): a record
# whose only difference is one of these has not been changed by anyone.
VOLATILE_FIELDS = frozenset(
    {
        "SystemModstamp",
        "LastModifiedDate",
        "LastModifiedById",
        "LastViewedDate",
        "LastReferencedDate",
    }
)
CHANGES_SCHEMA = {"Id": pl.String, "field": pl.String, "old": pl.String, "new": pl.String}
_NEW = "__new"


@dataclass
class ObjectDiff:
    """What differs for one object: whole rows added or deleted, and field-level changes."""

    object: str
    added: pl.DataFrame
    deleted: pl.DataFrame
    changes: pl.DataFrame  # Id, field, old, new (text), one row per changed field
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)

    @property
    def changed_ids(self) -> list[str]:
        return self.changes.get_column("Id").unique(maintain_order=True).to_list()

    def summary(self) -> dict[str, Any]:
        """Counts per kind of change, and how often each field changed."""
        counts = self.changes.group_by("field").len().sort(["len", "field"], descending=[True, False])
        return {
            "object": self.object,
            "added": self.added.height,
            "deleted": self.deleted.height,
            "changed": self.changes.get_column("Id").n_unique(),
            "fields": dict(zip(counts["field"].to_list(), counts["len"].to_list(), strict=True)),
            "columns_added": self.columns_added,
            "columns_removed": self.columns_removed,
        }

    def details(self, limit: int | None = None) -> dict[str, Any]:
        """Ids added and deleted, and the field changes per record (the first `limit` each)."""
        changes = self.changes if limit is None else self.changes.filter(
            pl.col("Id").is_in(self.changed_ids[:limit])
        )
        per_record: dict[str, dict[str, dict[str, Any]]] = {}
        for row in changes.iter_rows(named=True):
            per_record.setdefault(row["Id"], {})[row["field"]] = {
                "old": row["old"],
                "new": row["new"],
            }
        added = self.added.get_column("Id").to_list()
        deleted = self.deleted.get_column("Id").to_list()
        return {
            "added_ids": added if limit is None else added[:limit],
            "deleted_ids": deleted if limit is None else deleted[:limit],
            "changes": per_record,
        }

    @property
    def empty(self) -> bool:
        return self.added.height == 0 and self.deleted.height == 0 and self.changes.height == 0


@dataclass
class DiffResult:
    """A diff of several objects between two named states (snapshot names or `live`)."""

    old: str
    new: str
    objects: dict[str, ObjectDiff]
    # Objects held by one side only (not backed up, or failed, on the other), and why.
    not_compared: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        per_object = [d.summary() for d in self.objects.values()]
        return {
            "old": self.old,
            "new": self.new,
            "added": sum(s["added"] for s in per_object),
            "deleted": sum(s["deleted"] for s in per_object),
            "changed": sum(s["changed"] for s in per_object),
            "objects": per_object,
            "not_compared": dict(self.not_compared),
        }

    def to_dict(self, limit: int | None = 1000) -> dict[str, Any]:
        """Summary plus details (first `limit` records per kind and object)."""
        data = self.summary()
        for entry in data["objects"]:
            entry.update(self.objects[entry["object"]].details(limit))
        return data

    def write(self, folder: Path) -> dict[str, Path]:
        """Every detail as Parquet: `<Object>.added|deleted|changes.parquet`; returns the paths."""
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for name, diff in self.objects.items():
            for kind, frame in (
                ("added", diff.added),
                ("deleted", diff.deleted),
                ("changes", diff.changes),
            ):
                path = folder / f"{name}.{kind}.parquet"
                frame.write_parquet(path, compression="zstd")
                written[f"{name}.{kind}"] = path
        return written


def _text(column: str, dtype: pl.DataType) -> pl.Expr:
    """A column as text for the changes table (datetimes as Salesforce writes them)."""
    expr = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return expr.dt.to_string("%Y-%m-%dT%H:%M:%S%.3fZ")
    if dtype == pl.String:
        return expr
    return expr.cast(pl.String)


def _rows_with(frame: pl.LazyFrame, wanted: pl.DataFrame) -> pl.DataFrame:
    """The rows of `frame` whose Id is in `wanted` (a small set: the rows that differ)."""
    if wanted.height == 0:
        return frame.head(0).collect()
    return frame.filter(pl.col("Id").is_in(wanted.get_column("Id").implode())).collect(
        engine="streaming"
    )


def _row_hash(columns: list[pl.Expr]) -> pl.Expr:
    if not columns:
        return pl.lit(0, pl.UInt64).alias("__h")
    return pl.struct(columns).hash(seed=7).alias("__h")


def diff_frames(
    object_name: str,
    old: pl.LazyFrame,
    new: pl.LazyFrame,
    *,
    ids: Sequence[str] | None = None,
    ignore: Iterable[str] = VOLATILE_FIELDS,
) -> ObjectDiff:
    """Compare two states of one object, row by Id and field by field."""
    # An export of an object with no rows may hold no columns at all: read such a side as
    # the other side with no rows, so that every record of the other side is added/deleted.
    empty = pl.LazyFrame(schema={"Id": pl.String})
    if "Id" not in old.collect_schema():
        old = new.head(0) if "Id" in new.collect_schema() else empty
    if "Id" not in new.collect_schema():
        new = old.head(0)
    if ids:
        wanted = [id18(i) for i in ids]
        old = old.filter(pl.col("Id").is_in(wanted))
        new = new.filter(pl.col("Id").is_in(wanted))
    old_schema = old.collect_schema()
    new_schema = new.collect_schema()
    skipped = {c.lower() for c in ignore} | {"id"}
    common = [c for c in old_schema.names() if c in new_schema and c.lower() not in skipped]

    # Same name, different type (a field's type was changed between snapshots): compare text.
    left_cols = [
        pl.col(c) if old_schema[c] == new_schema[c] else _text(c, old_schema[c]) for c in common
    ]
    right_cols = [
        pl.col(c) if old_schema[c] == new_schema[c] else _text(c, new_schema[c]) for c in common
    ]
    # First pass: only Ids and one hash per row on each side, so that the join holds two
    # small columns whatever the width of the object; whole rows are read again only for the
    # Ids that were added, deleted or whose hash differs.
    keys = (
        old.select("Id", _row_hash(left_cols))
        .join(
            new.select(pl.col("Id").alias("Id_new"), _row_hash(right_cols).alias("__h_new")),
            left_on="Id",
            right_on="Id_new",
            how="full",
            coalesce=False,
        )
        .collect(engine="streaming")
    )
    deleted_ids = keys.filter(pl.col("Id_new").is_null()).select("Id")
    added_ids = keys.filter(pl.col("Id").is_null()).select(pl.col("Id_new").alias("Id"))
    maybe_ids = keys.filter(
        pl.col("Id").is_not_null()
        & pl.col("Id_new").is_not_null()
        & pl.col("__h").ne_missing(pl.col("__h_new"))
    ).select("Id")
    del keys

    # One streaming pass at a time: each holds only the rows it keeps.
    added_df = _rows_with(new, added_ids)
    deleted_df = _rows_with(old, deleted_ids)
    left = _rows_with(old.select("Id", *left_cols), maybe_ids)
    right = _rows_with(
        new.select(
            "Id", *[expr.alias(c + _NEW) for expr, c in zip(right_cols, common, strict=True)]
        ),
        maybe_ids,
    )
    flags = [pl.col(c).ne_missing(pl.col(c + _NEW)).alias(c + "__changed") for c in common]
    joined = left.join(right, on="Id", how="inner")
    changed_df = joined.with_columns(flags).filter(
        pl.any_horizontal([pl.col(c + "__changed") for c in common]) if flags else pl.lit(False)
    )
    pieces = []
    for c in common:
        subset = changed_df.filter(pl.col(c + "__changed"))
        if subset.height == 0:
            continue
        dtype = changed_df.schema[c]
        pieces.append(
            subset.select(
                pl.col("Id"),
                pl.lit(c).alias("field"),
                _text(c, dtype).alias("old"),
                _text(c + _NEW, dtype).alias("new"),
            )
        )
    changes = (
        pl.concat(pieces).sort("Id", maintain_order=True)
        if pieces
        else pl.DataFrame(schema=CHANGES_SCHEMA)
    )
    return ObjectDiff(
        object=object_name,
        added=added_df,
        deleted=deleted_df,
        changes=changes,
        columns_added=[c for c in new_schema.names() if c not in old_schema],
        columns_removed=[c for c in old_schema.names() if c not in new_schema],
    )


def _pick_objects(available: Sequence[str], chosen: Sequence[str] | None) -> list[str]:
    if not chosen:
        return list(available)
    by_lower = {name.lower(): name for name in available}
    missing = [c for c in chosen if c.lower() not in by_lower]
    if missing:
        raise layout.SnapshotError(
            f"{', '.join(missing)} not in the snapshot (it holds {', '.join(available) or 'nothing'})"
        )
    return [by_lower[c.lower()] for c in chosen]


def diff_snapshots(
    old: Path,
    new: Path,
    *,
    objects: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    ignore: Iterable[str] = VOLATILE_FIELDS,
) -> DiffResult:
    """Compare two snapshots (incremental ones replayed onto their base)."""
    old_names, new_names = snapshot_objects(old), snapshot_objects(new)
    new_lower = {m.lower() for m in new_names}
    old_lower = {m.lower() for m in old_names}
    in_both = [n for n in old_names if n.lower() in new_lower]
    names = _pick_objects(in_both, objects)
    ignored = frozenset(ignore)
    result = {
        name: diff_frames(
            name, object_rows(old, name), object_rows(new, name), ids=ids, ignore=ignored
        )
        for name in names
    }
    not_compared = {}
    if not objects:
        not_compared = {n: f"only in {old.name}" for n in old_names if n.lower() not in new_lower}
        not_compared |= {n: f"only in {new.name}" for n in new_names if n.lower() not in old_lower}
    return DiffResult(old=old.name, new=new.name, objects=result, not_compared=not_compared)


_FEW_IDS = 200  # up to this many Ids, a live diff reads just those records


async def _objects_of(client: Any, names: Sequence[str], ids: Sequence[str]) -> list[str]:
    """The objects among `names` whose key prefix starts one of `ids`."""
    catalog = await client.describe_global()
    prefixes = {i[:3] for i in ids}
    owners = {
        str(e.get("name", "")).lower()
        for e in catalog.get("sobjects", [])
        if e.get("keyPrefix") in prefixes
    }
    return [n for n in names if n.lower() in owners]


async def _export_records(
    client: Any, folder: Path, names: Sequence[str], ids: Sequence[str], poll_interval: float
) -> dict[str, pl.LazyFrame]:
    from ..bulk.export import export

    # Ids are letters and digits only: anything else cannot match and must not reach the SOQL.
    quoted = ", ".join(f"'{i}'" for i in ids if i.isalnum())
    live = {}
    for name in names:
        out = folder / f"{name}.parquet"
        await export(
            client,
            object_name=name,
            where=f"Id IN ({quoted})",
            out=out,
            fmt="parquet",
            resume=False,
            rest_fallback=False,
            poll_interval=poll_interval,
        )
        live[name] = pl.scan_parquet(out)
    return live


async def _export_objects(
    client: Any, folder: Path, names: Sequence[str], poll_interval: float
) -> dict[str, pl.LazyFrame]:
    from .run import backup

    snapshot, manifest = await backup(
        client, folder, objects=names, resume=False, poll_interval=poll_interval
    )
    failed = {n: e.error for n, e in manifest.objects.items() if e.status != "complete"}
    if failed:
        first = next(iter(failed.items()))
        raise layout.SnapshotError(f"could not read {first[0]} from the org: {first[1]}")
    return {name: object_rows(snapshot, name) for name in names}


async def diff_live(
    client: Any,
    snapshot: Path,
    *,
    objects: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    ignore: Iterable[str] = VOLATILE_FIELDS,
    poll_interval: float = 0.2,
) -> DiffResult:
    """Compare a snapshot with the org as it is now (exported afresh to a temporary folder).

    With a few `ids`, only those records are read from the org (and only from the objects
    their key prefixes name), instead of whole objects.
    """
    names = _pick_objects(snapshot_objects(snapshot), objects)
    ignored = frozenset(ignore)
    wanted = [id18(i) for i in ids] if ids else []
    with tempfile.TemporaryDirectory(prefix="sfbulk-live-") as tmp:
        if wanted and len(wanted) <= _FEW_IDS:
            if not objects:
                names = await _objects_of(client, names, wanted)
            live = await _export_records(client, Path(tmp), names, wanted, poll_interval)
        else:
            live = await _export_objects(client, Path(tmp), names, poll_interval)
        result = {
            name: diff_frames(name, object_rows(snapshot, name), live[name], ids=ids, ignore=ignored)
            for name in names
        }
    return DiffResult(old=snapshot.name, new="live", objects=result)
