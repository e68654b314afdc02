"""The `backup` toolset: Parquet snapshots of the org, and a time machine over them.

Snapshots live on the server's disk under the data dir, one folder per caller (so that in
HTTP mode no user sees another's backups). A backup runs as a background job: the tool waits
for it (sending progress) up to `wait_seconds`, then hands back the snapshot name to follow
with salesforce_backup_list. The time machine returns counts and a few examples; every
change, field by field, goes into a Parquet resource.
"""

# No `from __future__ import annotations`: the SDK reads the tools' annotations at runtime.

import asyncio
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import polars as pl
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from sfbulk_mcp.backup import layout
from sfbulk_mcp.backup.diff import DiffResult, diff_live, diff_snapshots
from sfbulk_mcp.backup.run import BackupLimitError, BackupProgress, abort_unfinished, backup

from .. import hints
from ..app import App, respond

# Change examples shown inline per object; the resource holds them all.
_EXAMPLES = 5


class SnapshotInfo(BaseModel):
    """One snapshot."""

    name: str
    kind: str = Field(description="full, or incremental (changes since `since`)")
    status: str = Field(description="running, complete or partial")
    since: str | None = None
    base: str | None = Field(default=None, description="Snapshot an incremental one builds on")
    objects: int
    rows: int
    seconds: float
    started: str
    failed_objects: dict[str, str] = Field(default_factory=dict)
    object_rows: dict[str, int] | None = Field(default=None, description="Rows per object (one snapshot asked for)")


class BackupResult(BaseModel):
    """A backup job: finished, or still running in the background."""

    snapshot: str
    finished: bool
    status: str
    objects_done: int
    objects_total: int
    rows: int
    api_calls: int | None = Field(default=None, description="API requests the backup used")
    failed_objects: dict[str, str] = Field(default_factory=dict)
    path: str | None = Field(default=None, description="Local folder of the snapshot")
    note: str | None = None


class SnapshotList(BaseModel):
    """The caller's snapshots, oldest first."""

    snapshots: list[SnapshotInfo]
    note: str | None = None


class ObjectChanges(BaseModel):
    """What changed for one object."""

    object_name: str
    added: int
    deleted: int
    changed: int
    fields: dict[str, int] = Field(description="How many records changed each field")
    examples: list[dict[str, Any]] = Field(default_factory=list)


class TimeMachineResult(BaseModel):
    """A bounded summary of a diff; every change is in the resource."""

    old: str
    new: str
    added: int
    deleted: int
    changed: int
    objects: list[ObjectChanges]
    resource_uri: str | None = Field(default=None, description="Parquet: object, change, Id, field, old, new")
    file_path: str | None = None
    file_rows: int | None = None
    truncated: bool = False
    note: str | None = None


@dataclass
class _Job:
    """A backup running in the background for one caller."""

    task: "asyncio.Task[tuple[Path, layout.Manifest]]"
    snapshot: str | None = None
    objects_done: int = 0
    objects_total: int = 0
    rows: int = 0


def _root(app: App) -> Path:
    # Per caller, under a name that does not reveal the caller's identity.
    owner = hashlib.sha256(app.owner().encode()).hexdigest()[:16]
    return app.config.data_dir / "backups" / owner


def _info(manifest: layout.Manifest) -> SnapshotInfo:
    return SnapshotInfo(
        name=manifest.name,
        kind=manifest.kind,
        status=manifest.status,
        since=manifest.since,
        base=manifest.base,
        objects=len(manifest.objects),
        rows=manifest.total_rows,
        seconds=manifest.seconds,
        started=manifest.started,
        failed_objects={
            n: e.error or e.status
            for n, e in manifest.objects.items()
            if e.status == "failed"
        },
    )


def _snapshot_at(ref: str, root: Path) -> Path:
    """A snapshot by name / `latest` / `previous`, or the last complete one taken by a time."""
    try:
        return layout.resolve_snapshot(ref, root)
    except layout.SnapshotError:
        try:
            moment = layout.iso(layout.parse_time(ref))
        except layout.SnapshotError:
            raise layout.SnapshotError(
                f"no snapshot {ref}: give a name from salesforce_backup_list, a time, "
                "'latest' or 'previous'"
            ) from None
    found = None
    for folder, manifest in layout.iter_snapshots(root):
        if manifest.status == "complete" and manifest.started <= moment:
            found = folder
    if found is None:
        raise layout.SnapshotError(f"no complete snapshot was taken by {ref}")
    return found


def _changes_frame(result: DiffResult) -> pl.DataFrame:
    pieces = []
    for name, diff in result.objects.items():
        for kind, frame in (("added", diff.added), ("deleted", diff.deleted)):
            if frame.height:
                pieces.append(
                    frame.select(
                        pl.lit(name).alias("object"),
                        pl.lit(kind).alias("change"),
                        pl.col("Id"),
                        pl.lit(None, pl.String).alias("field"),
                        pl.lit(None, pl.String).alias("old"),
                        pl.lit(None, pl.String).alias("new"),
                    )
                )
        if diff.changes.height:
            pieces.append(
                diff.changes.select(
                    pl.lit(name).alias("object"),
                    pl.lit("changed").alias("change"),
                    "Id",
                    "field",
                    "old",
                    "new",
                )
            )
    if not pieces:
        return pl.DataFrame(
            schema={c: pl.String for c in ("object", "change", "Id", "field", "old", "new")}
        )
    return pl.concat(pieces)


def register(server: MCPServer[Any], app: App, *, read_only: bool) -> None:
    """Add the backup tools to `server` (none of them writes to Salesforce)."""
    jobs: dict[str, _Job] = {}

    @server.tool(
        name="salesforce_backup",
        annotations=ToolAnnotations(
            title="Back up the org to Parquet",
            # Like salesforce_bulk_query: it writes files on the server, never to Salesforce.
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
        description=(
            "Snapshot objects of the org with Bulk API 2.0: every field Bulk can read, one "
            "Parquet file per object, plus describe and a manifest. since='last' takes only "
            "the changes since the previous snapshot (deletions included). Runs as a job: "
            "progress while you wait, then the snapshot name (check it with "
            "salesforce_backup_list). Compare snapshots with salesforce_time_machine."
        ),
    )
    async def salesforce_backup(
        ctx: Context[Any, Any],
        objects_filter: Annotated[
            list[str] | None,
            Field(description="Objects to back up, e.g. ['Account','Contact']; default: all"),
        ] = None,
        backup_type: Annotated[
            Literal["full", "incremental"],
            Field(description="incremental = only changes since since_date, else since the "
                  "previous complete snapshot (deletions included)"),
        ] = "full",
        since_date: Annotated[
            str | None,
            Field(description="ISO timestamp for an incremental backup, e.g. 2026-11-21T08:30:00Z"),
        ] = None,
        include_files: Annotated[
            bool, Field(description="Also save ContentVersion/Attachment/Document bodies")
        ] = False,
        wait_seconds: Annotated[
            float | None, Field(description="Seconds to wait before returning a handle", ge=0)
        ] = None,
    ) -> Annotated[CallToolResult, BackupResult]:
        owner = app.owner()
        running = jobs.get(owner)
        if running is not None and not running.task.done():
            raise ToolError(
                f"a backup ({running.snapshot}) is already running: follow it with "
                "salesforce_backup_list"
            )
        objects = objects_filter
        files = include_files
        since = since_date or ("last" if backup_type == "incremental" else None)
        if objects:
            app.policy.check_all(objects)
        client = await app.client()
        job: _Job

        def on_progress(event: BackupProgress) -> None:
            job.snapshot = event.snapshot
            job.objects_done, job.objects_total, job.rows = (
                event.objects_done,
                event.objects_total,
                event.rows,
            )

        task = asyncio.create_task(
            backup(
                client,
                _root(app),
                objects=objects or None,
                since=since,
                files=files,
                progress=on_progress,
            )
        )
        job = _Job(task=task)
        jobs[owner] = job
        wait = app.config.bulk_wait_seconds if wait_seconds is None else wait_seconds
        deadline = time.monotonic() + wait
        reported = (-1, -1)
        try:
            while not task.done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                await asyncio.wait({task}, timeout=min(0.25, remaining))
                if (job.objects_done, job.rows) != reported:
                    reported = (job.objects_done, job.rows)
                    await ctx.report_progress(
                        float(job.objects_done),
                        float(job.objects_total) or None,
                        f"{job.objects_done}/{job.objects_total} objects, {job.rows} rows",
                    )
        except asyncio.CancelledError:
            # The caller gave up: stop the backup and the Bulk jobs it had running.
            task.cancel()
            with anyio.CancelScope(shield=True), anyio.move_on_after(15):
                await asyncio.wait({task})
                if job.snapshot is not None:
                    await abort_unfinished(client, _root(app) / job.snapshot)
            raise
        if not task.done():
            result = BackupResult(
                snapshot=job.snapshot or "starting",
                finished=False,
                status="running",
                objects_done=job.objects_done,
                objects_total=job.objects_total,
                rows=job.rows,
                note=(
                    f"Still running after {wait:g} s; it goes on in the background. Call "
                    "salesforce_backup_list to see when it is complete."
                ),
            )
            return respond(result, f"Backup {result.snapshot} running: {result.note}")
        try:
            folder, manifest = task.result()
        except BackupLimitError as exc:
            raise ToolError(str(exc)) from exc
        except layout.SnapshotError as exc:
            raise ToolError(str(exc)) from exc
        info = _info(manifest)
        result = BackupResult(
            snapshot=manifest.name,
            finished=True,
            status=manifest.status,
            objects_done=len(manifest.objects) - len(info.failed_objects),
            objects_total=len(manifest.objects),
            rows=manifest.total_rows,
            api_calls=manifest.api_calls.get("used"),
            failed_objects=info.failed_objects,
            path=str(folder) if app.config.local_files else None,
        )
        text = (
            f"Snapshot {manifest.name} ({manifest.kind}, {manifest.status}): "
            f"{result.objects_done}/{result.objects_total} objects, {result.rows} rows"
        )
        if info.failed_objects:
            text += "; failed: " + ", ".join(f"{k} ({v})" for k, v in info.failed_objects.items())
        return respond(result, text)

    @server.tool(
        name="salesforce_backup_list",
        annotations=hints.local("List backups"),
        description="The snapshots taken with salesforce_backup, oldest first, with status and counts.",
    )
    async def salesforce_backup_list(
        backup_name: Annotated[
            str | None, Field(description="One snapshot (name, 'latest'): its objects too")
        ] = None,
    ) -> Annotated[CallToolResult, SnapshotList]:
        root = _root(app)
        if backup_name:
            try:
                folder = layout.resolve_snapshot(backup_name, root)
            except layout.SnapshotError as exc:
                raise ToolError(str(exc)) from exc
            manifest = layout.read_manifest(folder)
            info = _info(manifest)
            info.object_rows = {n: e.rows for n, e in manifest.objects.items()}
            snapshots = [info]
        else:
            snapshots = [_info(m) for _, m in layout.iter_snapshots(root)]
        job = jobs.get(app.owner())
        note = None
        if job is not None and not job.task.done():
            note = (
                f"Backup {job.snapshot} is running: {job.objects_done}/{job.objects_total} "
                f"objects, {job.rows} rows so far."
            )
        result = SnapshotList(snapshots=snapshots, note=note)
        lines = [
            f"{s.name} {s.kind} {s.status}: {s.objects} objects, {s.rows} rows"
            + (f" (since {s.since})" if s.since else "")
            for s in snapshots
        ] or ["No snapshots yet: take one with salesforce_backup."]
        if note:
            lines.append(note)
        return respond(result, "\n".join(lines))

    @server.tool(
        name="salesforce_time_machine",
        annotations=hints.read("Compare snapshots (time machine)"),
        description=(
            "What changed between a snapshot and a later one, or the org now ('live'): "
            "records added, deleted and changed with field-level old → new values, per object. "
            "Returns counts and a few examples; every change is in a Parquet resource. "
            "Snapshots by name, or 'latest' / 'previous'."
        ),
    )
    async def salesforce_time_machine(
        backup_timestamp: Annotated[
            str,
            Field(description="The snapshot: its name, a time (the last snapshot taken by "
                  "then), 'latest' or 'previous'"),
        ] = "latest",
        compare_to: Annotated[
            str, Field(description="'live' (the org now), or a later snapshot / 'latest'")
        ] = "live",
        object_name: Annotated[str | None, Field(description="Only this object")] = None,
        record_id: Annotated[str | None, Field(description="Only this record")] = None,
    ) -> Annotated[CallToolResult, TimeMachineResult]:
        root = _root(app)
        try:
            old = _snapshot_at(backup_timestamp, root)
            objects = [object_name] if object_name else None
            ids = [record_id] if record_id else None
            if objects:
                app.policy.check_all(objects)
            if compare_to.lower() == "live":
                diff = await diff_live(await app.client(), old, objects=objects, ids=ids)
            else:
                new = _snapshot_at(compare_to, root)
                diff = await asyncio.to_thread(
                    diff_snapshots, old, new, objects=objects, ids=ids
                )
        except layout.SnapshotError as exc:
            raise ToolError(str(exc)) from exc
        summary = diff.summary()
        per_object = []
        for entry in summary["objects"]:
            details = diff.objects[entry["object"]].details(_EXAMPLES)
            examples: list[dict[str, Any]] = [
                {"Id": i, "change": "added"} for i in details["added_ids"][:_EXAMPLES]
            ]
            examples += [{"Id": i, "change": "deleted"} for i in details["deleted_ids"][:_EXAMPLES]]
            examples += [
                {"Id": i, "change": "changed", "fields": f}
                for i, f in list(details["changes"].items())[:_EXAMPLES]
            ]
            per_object.append(
                ObjectChanges(
                    object_name=entry["object"],
                    added=entry["added"],
                    deleted=entry["deleted"],
                    changed=entry["changed"],
                    fields=entry["fields"],
                    examples=examples,
                )
            )
        result = TimeMachineResult(
            old=diff.old,
            new=diff.new,
            added=summary["added"],
            deleted=summary["deleted"],
            changed=summary["changed"],
            objects=per_object,
        )
        frame = _changes_frame(diff)
        if frame.height:
            saved = app.files.save_frame(frame, stem=f"diff-{diff.old}", owner=app.owner())
            result.resource_uri = saved.uri
            result.file_rows = saved.rows
            result.file_path = str(saved.path) if app.config.local_files else None
        # Keep the inline part within the budget: drop examples until it fits.
        while len(result.model_dump_json()) > app.budget and any(o.examples for o in result.objects):
            for entry_model in result.objects:
                if entry_model.examples:
                    entry_model.examples.pop()
            result.truncated = True
        if result.truncated:
            result.note = "Examples were cut to fit; read the resource for every change."
        head = (
            f"{diff.old} → {diff.new}: {result.added} added, {result.deleted} deleted, "
            f"{result.changed} changed"
        )
        lines = [head]
        for o in result.objects:
            fields = ", ".join(f"{k} {v}" for k, v in list(o.fields.items())[:10])
            lines.append(
                f"{o.object_name}: +{o.added} -{o.deleted} ~{o.changed}"
                + (f" ({fields})" if fields else "")
            )
        if result.resource_uri:
            lines.append(f"Every change ({result.file_rows} rows): {result.resource_uri}")
        return respond(result, "\n".join(lines))
