"""Restore: bring records back to a snapshot's state, through the import pipeline.

From a diff of SNAPSHOT against the org (or a later snapshot):

- records deleted since the snapshot are re-created (insert, or upsert on an external id),
  every createable field as it was;
- records changed since the snapshot are reverted (update by Id) to their old values for the
  fields that changed and can be updated.

Re-created records get new Ids. Objects are restored parents first, and every reference to a
re-created record (`Contact.AccountId`, `Task.WhatId`, a self-lookup like `Account.ParentId`)
is re-linked to the new Id: before the upload when the parent already exists, or by a final
update when it is created later in the same run (cycles, self-references).

A restore may come in several runs (`--object Account`, later `--object Contact`). Every run
records the Ids it re-created in the snapshot's id map for that org
(`<snapshot>/id-maps/<org id>.parquet`), and a later restore from the same snapshot to the
same org re-links references to them as well, and does not re-create them again while
their copies still exist (a copy deleted since is re-created and the map updated). Dry runs
record nothing.

`plan_restore` writes the import-ready files and says what would happen (the dry run);
`run_restore` then sends them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from . import layout
from .diff import DiffResult
from .ids import id18

logger = logging.getLogger("sfbulk_mcp.backup")

OLD_ID = "sf__OldId"  # the import pipeline never sends `sf__` columns
ID_MAPS_DIR = "id-maps"
_ID_MAP_SCHEMA = {"object": pl.String, "old_id": pl.String, "new_id": pl.String}
_NOT_WRITABLE_TYPES = frozenset({"id", "base64", "address", "location"})


@dataclass
class RestoreStep:
    """One import of the restore: re-create deleted records, or revert changed ones."""

    object: str
    action: str  # "recreate" | "revert"
    operation: str  # insert | upsert | update
    path: Path
    rows: int
    fields: list[str]
    external_id: str | None = None
    references: dict[str, list[str]] = field(default_factory=dict)  # field → objects
    skipped_fields: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.object,
            "action": self.action,
            "operation": self.operation,
            "rows": self.rows,
            "file": str(self.path),
            "fields": self.fields,
            "external_id": self.external_id,
            "references": self.references,
            "skipped_fields": self.skipped_fields,
        }


@dataclass
class RestorePlan:
    """What a restore would do, with its import-ready files in `folder`."""

    snapshot: str
    against: str
    folder: Path
    steps: list[RestoreStep]
    left_alone: dict[str, int] = field(default_factory=dict)  # records added since, per object
    # The snapshot's id map for the org the restore writes to (None: none read or recorded),
    # and the old → new Ids earlier restores recorded in it.
    id_map_file: Path | None = None
    earlier_ids: dict[str, str] = field(default_factory=dict)
    # Deleted records not re-created, per object: an earlier restore did, and its copy exists.
    already_recreated: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The dry run, in words."""
        skipped = [
            f"  skip {count} {name} record(s) already re-created by an earlier restore "
            "(their copies still exist)"
            for name, count in self.already_recreated.items()
            if count
        ]
        if not self.steps:
            return [
                f"Nothing to restore: {self.against} matches {self.snapshot} for these records.",
                *skipped,
            ]
        out = [f"Restore to {self.snapshot} (compared with {self.against}):", *skipped]
        if self.earlier_ids:
            out.append(
                f"  {len(self.earlier_ids)} record(s) re-created by earlier restores of this "
                "snapshot: references to their old Ids are re-linked to the new ones"
            )
        for step in self.steps:
            verb = "re-create" if step.action == "recreate" else "revert"
            how = f"{step.operation}" + (f" on {step.external_id}" if step.external_id else "")
            out.append(
                f"  {verb} {step.rows} {step.object} record(s) by {how} "
                f"({len(step.fields)} field(s)) from {step.path.name}"
            )
            for name, targets in step.references.items():
                out.append(
                    f"    {step.object}.{name} re-linked to the new Ids of re-created "
                    f"{'/'.join(targets)} records"
                )
            if step.skipped_fields:
                out.append(
                    f"    not writable, left as they are: {', '.join(step.skipped_fields)}"
                )
        for name, count in self.left_alone.items():
            if count:
                out.append(f"  {count} {name} record(s) created since the snapshot are left alone")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot,
            "against": self.against,
            "folder": str(self.folder),
            "steps": [s.to_dict() for s in self.steps],
            "left_alone": self.left_alone,
            "id_map_file": str(self.id_map_file) if self.id_map_file else None,
            "earlier_ids": len(self.earlier_ids),
            "already_recreated": sum(self.already_recreated.values()),
            "already_recreated_by_object": {
                name: count for name, count in self.already_recreated.items() if count
            },
        }


async def org_key(client: Any) -> str:
    """The key of the client's org in a snapshot's id maps: its org Id, else its instance URL."""
    from .run import org_id_of_session

    token = await client.provider.token()
    return str(token.org_id or org_id_of_session(token.access_token) or token.instance_url)


def id_map_file(snapshot: Path, org: str) -> Path:
    """Where restores from `snapshot` to `org` record the Ids they re-created."""
    return snapshot / ID_MAPS_DIR / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', org)}.parquet"


def read_id_map(path: Path) -> pl.DataFrame:
    """Every `object, old_id, new_id` recorded so far in the id map at `path`."""
    if not path.is_file():
        return pl.DataFrame(schema=_ID_MAP_SCHEMA)
    return pl.read_parquet(path).select(list(_ID_MAP_SCHEMA))


def record_id_map(path: Path, object_name: str, ids: Mapping[str, str]) -> None:
    """Add re-created records of `object_name` to the id map at `path` (a later mapping wins)."""
    added = pl.DataFrame(
        {"object": [object_name] * len(ids), "old_id": list(ids), "new_id": list(ids.values())},
        schema=_ID_MAP_SCHEMA,
    )
    merged = pl.concat([read_id_map(path), added]).unique(
        "old_id", keep="last", maintain_order=True
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    merged.write_parquet(tmp)
    os.replace(tmp, path)  # a crash never leaves half a map


def _describe_along_chain(snapshot: Path, object_name: str) -> dict[str, Any] | None:
    folder: Path | None = snapshot
    while folder is not None:
        describe = layout.read_describe(folder, object_name)
        if describe is not None:
            return describe
        manifest = layout.read_manifest(folder)
        folder = folder.parent / manifest.base if manifest.base else None
    return None


def _fields(describe: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    return {str(f["name"]): f for f in (describe or {}).get("fields", [])}


def _writable(
    columns: Sequence[str], fields: Mapping[str, Mapping[str, Any]], flag: str
) -> tuple[list[str], list[str]]:
    """(columns the operation may write, columns it must leave out)."""
    keep, skip = [], []
    for column in columns:
        info = fields.get(column)
        if column == "Id" or "." in column:
            continue
        if info is None or not info.get(flag, False) or info.get("type") in _NOT_WRITABLE_TYPES:
            skip.append(column)
        else:
            keep.append(column)
    return keep, skip


def _references(
    fields: Mapping[str, Mapping[str, Any]], columns: Sequence[str], recreated: set[str]
) -> dict[str, list[str]]:
    """Reference columns that may point at records this restore re-creates."""
    out: dict[str, list[str]] = {}
    for column in columns:
        info = fields.get(column) or {}
        if info.get("type") != "reference":
            continue
        targets = [str(t) for t in info.get("referenceTo") or [] if str(t) in recreated]
        if targets:
            out[column] = targets
    return out


def _order(objects: Sequence[str], fields: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[str]:
    """Parents before children among `objects` (cycles broken in the given order)."""
    chosen = set(objects)
    parents = {
        name: {
            str(t)
            for info in fields[name].values()
            if info.get("type") == "reference"
            for t in info.get("referenceTo") or []
            if str(t) in chosen and str(t) != name
        }
        for name in objects
    }
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting:
            return
        visiting.add(name)
        for parent in sorted(parents[name]):
            visit(parent)
        visiting.discard(name)
        ordered.append(name)

    for name in objects:
        visit(name)
    return ordered


def plan_restore(
    snapshot: Path,
    diff: DiffResult,
    folder: Path,
    *,
    external_ids: Mapping[str, str] | None = None,
    recreate: bool = True,
    revert: bool = True,
    org: str | None = None,
) -> RestorePlan:
    """Write import-ready files for the records of `diff` and say what restoring would do.

    `diff` compares `snapshot` (old) with the org or a later snapshot (new). `external_ids`
    maps an object to an external id field: its deleted records are upserted on that field
    (records with no value in it are inserted) instead of being inserted. With `org` (see
    `org_key`), references to records earlier restores from `snapshot` re-created in that org
    are re-linked too, deleted records whose copy from such a restore is among the records
    the diff's new side added are skipped, and `run_restore` records the Ids this restore
    re-creates.
    """
    if any(not d.empty for d in diff.objects.values()):
        folder.mkdir(parents=True, exist_ok=True)
    external_ids = {k.lower(): v for k, v in (external_ids or {}).items()}
    describes = {name: _fields(_describe_along_chain(snapshot, name)) for name in diff.objects}
    map_file = id_map_file(snapshot, org) if org is not None else None
    earlier = read_id_map(map_file) if map_file is not None else pl.DataFrame(schema=_ID_MAP_SCHEMA)
    recreated = {name for name, d in diff.objects.items() if recreate and d.deleted.height}
    recreated |= set(earlier.get_column("object").unique().to_list())
    earlier_ids: dict[str, str] = dict(earlier.select("old_id", "new_id").iter_rows())
    steps: list[RestoreStep] = []
    left_alone: dict[str, int] = {}
    already: dict[str, int] = {}
    for name in _order(list(diff.objects), describes):
        d = diff.objects[name]
        fields = describes[name]
        # The new side's added records include the copies earlier restores made.
        added = {id18(i) for i in d.added.get_column("Id").to_list()}
        copies = {old for old, new in earlier_ids.items() if id18(new) in added}
        left_alone[name] = len(added - {id18(earlier_ids[old]) for old in copies})
        deleted = d.deleted.filter(~pl.col("Id").is_in(list(copies)))
        already[name] = d.deleted.height - deleted.height if recreate else 0
        if recreate and deleted.height:
            keep, skip = _writable(deleted.columns, fields, "createable")
            external = external_ids.get(name.lower())
            if external is not None and external not in deleted.columns:
                raise layout.SnapshotError(f"{name} has no field {external} in the snapshot")
            rows = deleted.select(pl.col("Id").alias(OLD_ID), *keep)
            path = folder / f"{name}.recreate.parquet"
            rows.write_parquet(path)
            steps.append(
                RestoreStep(
                    object=name,
                    action="recreate",
                    operation="upsert" if external else "insert",
                    path=path,
                    rows=rows.height,
                    fields=keep,
                    external_id=external,
                    references=_references(fields, keep, recreated),
                    skipped_fields=[s for s in skip if s not in _SYSTEM_FIELDS],
                )
            )
    # Reverts run after every re-creation, so that old references can be re-linked.
    for name in _order(list(diff.objects), describes):
        d = diff.objects[name]
        fields = describes[name]
        if revert and d.changes.height:
            changed = d.changes.get_column("field").unique(maintain_order=True).to_list()
            keep, skip = _writable(changed, fields, "updateable")
            if not keep:
                continue
            ids = d.changes.filter(pl.col("field").is_in(keep)).get_column("Id").unique()
            # Old values of every reverted field; for the fields a record did not change
            # the old value is the current one, so writing it changes nothing.
            old_rows = _old_rows(snapshot, name, ids.to_list())
            rows = old_rows.select("Id", *keep)
            path = folder / f"{name}.revert.parquet"
            rows.write_parquet(path)
            steps.append(
                RestoreStep(
                    object=name,
                    action="revert",
                    operation="update",
                    path=path,
                    rows=rows.height,
                    fields=keep,
                    references=_references(fields, keep, recreated),
                    skipped_fields=skip,
                )
            )
    return RestorePlan(
        snapshot=diff.old,
        against=diff.new,
        folder=folder,
        steps=steps,
        left_alone=left_alone,
        id_map_file=map_file,
        earlier_ids=earlier_ids,
        already_recreated=already,
    )


_SYSTEM_FIELDS = frozenset(
    {
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
        "LastViewedDate",
        "LastReferencedDate",
        "LastActivityDate",
    }
)


def _old_rows(snapshot: Path, object_name: str, ids: list[str]) -> pl.DataFrame:
    from .state import object_rows

    return object_rows(snapshot, object_name).filter(pl.col("Id").is_in(ids)).collect()


@dataclass
class RestoreResult:
    """What a restore did: one import per step, and the new Id of every re-created record."""

    plan: RestorePlan
    imports: list[dict[str, Any]]
    id_map: dict[str, str]
    relinked: int
    failed: int

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "snapshot": self.plan.snapshot,
            "against": self.plan.against,
            "imports": self.imports,
            "recreated": len(self.id_map),
            "already_recreated": sum(self.plan.already_recreated.values()),
            "relinked": self.relinked,
            "failed": self.failed,
            "id_map": str(self.plan.folder / "id_map.parquet"),
            "id_map_recorded": str(self.plan.id_map_file) if self.plan.id_map_file else None,
        }


def _relink(
    frame: pl.DataFrame, columns: Sequence[str], id_map: Mapping[str, str]
) -> pl.DataFrame:
    if not id_map:
        return frame
    mapping = pl.DataFrame(
        {"old": list(id_map), "new": list(id_map.values())},
        schema={"old": pl.String, "new": pl.String},
    )
    for column in columns:
        frame = (
            frame.join(mapping.rename({"old": column}), on=column, how="left", maintain_order="left")
            .with_columns(pl.coalesce("new", column).alias(column))
            .drop("new")
        )
    return frame


def failure_summary(failures: pl.DataFrame | None, old_ids: Sequence[str] = ()) -> list[str]:
    """The distinct errors of failed rows, most frequent first, with how many rows had each.

    A re-created record whose unique field clashes with its own deleted original (still in
    the recycle bin) gets a hint: Salesforce keeps unique values of deleted records.
    """
    if failures is None or failures.height == 0 or "sf__Error" not in failures.columns:
        return []
    counts = (
        failures.group_by("sf__Error").len().sort(["len", "sf__Error"], descending=[True, False])
    )
    lines = [f"{n} × {error}" for error, n in counts.head(5).iter_rows()]
    originals = {record_id[:15] for record_id in old_ids}
    clashes = failures.filter(
        pl.col("sf__Error").str.starts_with("DUPLICATE_VALUE")
        & pl.col("sf__Error").str.extract(r"record with id: ([A-Za-z0-9]{15,18})").str.slice(0, 15)
        .is_in(list(originals))
    ).height
    if clashes:
        lines.append(
            f"{clashes} row(s) clash with their own deleted record, still in the recycle bin: "
            "undelete it from the Recycle Bin (keeps its Id), or empty the bin and run again"
        )
    return lines


async def run_restore(
    client: Any,
    plan: RestorePlan,
    *,
    parallel: int = 4,
    poll_interval: float = 0.2,
) -> RestoreResult:
    """Send the plan's files through the import pipeline, re-linking references as it goes.

    When the plan has an id map file (`plan_restore(..., org=...)`), the Ids re-created are
    added to it after each step, so that a later restore (or one run again after a crash) re-links to them.
    """
    from ..bulk.ingest import import_data

    id_map: dict[str, str] = {}  # this run's
    pending_ids = {
        old
        for step in plan.steps
        if step.action == "recreate"
        for old in pl.read_parquet(step.path, columns=[OLD_ID]).get_column(OLD_ID).to_list()
    }
    # This run's and earlier runs'; a record re-created again (its earlier copy is gone) is
    # linked to its new copy, never to the one that no longer exists.
    known = {old: new for old, new in plan.earlier_ids.items() if old not in pending_ids}
    # (object, old Id of the child, field, old Id of the parent) to set once the parent exists
    deferred: list[tuple[str, str, str, str]] = []
    imports: list[dict[str, Any]] = []
    failed = 0
    relinked = 0
    for step in plan.steps:
        frame = pl.read_parquet(step.path)
        ref_columns = list(step.references)
        before = frame
        frame = _relink(frame, ref_columns, known)
        relinked += sum(
            int((before.get_column(c) != frame.get_column(c)).fill_null(False).sum())
            for c in ref_columns
        )
        if step.action == "recreate":
            # References to records not re-created yet (self-lookups, cycles) go in later.
            for column in ref_columns:
                waiting = frame.get_column(column).is_in(list(pending_ids - set(id_map)))
                for old_child, parent in frame.filter(waiting).select(OLD_ID, column).iter_rows():
                    deferred.append((step.object, str(old_child), column, str(parent)))
                frame = frame.with_columns(
                    pl.when(waiting).then(None).otherwise(pl.col(column)).alias(column)
                )
        frame.write_parquet(step.path)
        result = await import_data(
            client,
            step.object,
            step.path,
            operation=step.operation,
            external_id=step.external_id,
            null_as_na=step.action == "revert",
            parallel=parallel,
            poll_interval=poll_interval,
        )
        failed += result.failed + result.unprocessed
        entry = {"step": step.to_dict(), **result.to_dict()}
        if result.failed:
            olds = frame.get_column(OLD_ID).to_list() if OLD_ID in frame.columns else []
            entry["errors"] = failure_summary(result.failures, [str(o) for o in olds])
        imports.append(entry)
        if step.action == "recreate" and result.success is not None:
            old_ids = frame.get_column(OLD_ID)
            step_ids = {
                str(old_ids[int(row)]): str(new_id)
                for row, new_id in result.success.select("sf__Row", "sf__Id").iter_rows()
            }
            id_map.update(step_ids)
            known.update(step_ids)
            if plan.id_map_file is not None and step_ids:
                record_id_map(plan.id_map_file, step.object, step_ids)
    if deferred:
        updates: dict[str, list[dict[str, str]]] = {}
        for object_name, old_child, column, parent in deferred:
            if old_child in id_map and parent in id_map:
                updates.setdefault(object_name, []).append(
                    {"Id": id_map[old_child], column: id_map[parent]}
                )
        for object_name, rows in updates.items():
            path = plan.folder / f"{object_name}.relink.parquet"
            pl.DataFrame(rows).write_parquet(path)
            result = await import_data(
                client, object_name, path, operation="update", parallel=parallel,
                poll_interval=poll_interval,
            )
            relinked += result.succeeded
            failed += result.failed + result.unprocessed
            imports.append({"step": {"object": object_name, "action": "relink"}, **result.to_dict()})
    pl.DataFrame(
        {"old_id": list(id_map), "new_id": list(id_map.values())},
        schema={"old_id": pl.String, "new_id": pl.String},
    ).write_parquet(plan.folder / "id_map.parquet")
    return RestoreResult(
        plan=plan, imports=imports, id_map=id_map, relinked=relinked, failed=failed
    )
