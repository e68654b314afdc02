"""`backup`: a whole-org snapshot as a set of Bulk API 2.0 exports, a few objects at a time.

Each object goes through the export pipeline (every field Bulk can read, typed from describe)
into `<snapshot>/<Object>.parquet`, with its describe beside it and the manifest updated as each
object finishes. An interrupted backup is continued by running it again: completed objects are
skipped and a half-exported object resumes from the export's own saved job state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from .. import __version__
from ..bulk.export import ExportProgress, export
from ..bulk.schema import bulk_fields
from ..salesforce.errors import SalesforceError
from . import bodies as body_files
from . import layout
from .ids import id18
from .layout import Manifest, ObjectEntry, SnapshotError

logger = logging.getLogger("sfbulk_mcp.backup")

DEFAULT_PARALLEL = 3
# Rough API calls one object costs: describe, job create, a few polls, a result page or two.
CALLS_PER_OBJECT = 8
# Stop starting new objects when less than this share of the daily API requests is left,
# so that a backup never starves the org's other integrations.
RESERVE_SHARE = 0.05

# Objects describeGlobal lists as queryable that Bulk API 2.0 queries refuse.
NOT_BULK_OBJECTS = frozenset(
    name.lower()
    for name in (
        "AggregateResult",
        "AttachedContentDocument",
        "CaseStatus",
        "CombinedAttachment",
        "ContentDocumentLink",
        "ContentFolderItem",
        "ContentFolderMember",
        "ContractStatus",
        "DataStatistics",
        "EntityParticle",
        "FieldDefinition",
        "FlexQueueItem",
        "IdeaComment",
        "KnowledgeArticleVersion",
        "LeadStatus",
        "ListViewChartInstance",
        "LookedUpFromActivity",
        "Name",
        "NoteAndAttachment",
        "OpenActivity",
        "ActivityHistory",
        "OpportunityStage",
        "OwnedContentDocument",
        "PartnerRole",
        "PicklistValueInfo",
        "ProcessInstanceHistory",
        "RecentlyViewed",
        "RelationshipDomain",
        "RelationshipInfo",
        "SearchLayout",
        "SolutionStatus",
        "TaskPriority",
        "TaskStatus",
        "UserRecordAccess",
        "Vote",
    )
)
# Suffixes of objects that are not ordinary rows: big objects, external objects, platform
# events, change events, custom metadata (SOQL only through REST).
_NOT_BULK_SUFFIXES = ("__b", "__x", "__e", "changeevent", "__mdt", "__kav", "__ka")


# Error codes with which Salesforce says an object cannot be read by a Bulk query at all.
_REFUSED_CODES = frozenset(
    {
        "INVALIDENTITY",
        "INVALID_TYPE_FOR_OPERATION",
        "FEATURENOTENABLED",
        "FEATURE_NOT_ENABLED",
        "NOT_SUPPORTED",
        "UNSUPPORTED_BULK_QUERY",
        "INSUFFICIENT_ACCESS",
        "INSUFFICIENT_ACCESS_OR_READONLY",
    }
)


def _bulk_refuses(error: SalesforceError) -> bool:
    code = (error.error_code or "").upper()
    text = str(error).lower()
    return code in _REFUSED_CODES or "not supported by the bulk api" in text


class BackupLimitError(RuntimeError):
    """The org has too few API requests left for the backup asked for."""


@dataclass(frozen=True)
class BackupProgress:
    """Where a backup stands."""

    stage: str  # "object" | "rows" | "object-done" | "object-failed" | "done"
    snapshot: str
    object: str | None
    objects_done: int
    objects_total: int
    rows: int  # rows written so far, every object together


BackupProgressFn = Callable[[BackupProgress], Awaitable[None] | None]


def backup_objects(describe_global: dict[str, Any]) -> list[str]:
    """Every object of the org a Bulk query can read, in describeGlobal order."""
    names = []
    for entry in describe_global.get("sobjects", []):
        name = str(entry.get("name", ""))
        lowered = name.lower()
        if not name or not entry.get("queryable", False):
            continue
        if entry.get("deprecatedAndHidden") or lowered in NOT_BULK_OBJECTS:
            continue
        if lowered.endswith(_NOT_BULK_SUFFIXES) or lowered.endswith(("share", "feed")):
            # Sharing rows and feeds are derived data, and most refuse Bulk queries.
            continue
        names.append(name)
    return names


def _org_spelling(objects: Sequence[str], catalog: dict[str, Any]) -> list[str]:
    """Object names as the org spells them (`account` → `Account`), each once, in order."""
    known = {str(e.get("name", "")).lower(): str(e.get("name")) for e in catalog.get("sobjects", [])}
    names: list[str] = []
    for name in objects:
        spelled = known.get(name.strip().lower(), name.strip())
        if spelled and spelled not in names:
            names.append(spelled)
    return names


async def _emit(progress: BackupProgressFn | None, event: BackupProgress) -> None:
    if progress is None:
        return
    outcome = progress(event)
    if outcome is not None:
        await outcome


def _daily_requests(limits: dict[str, Any]) -> tuple[int, int] | None:
    entry = limits.get("DailyApiRequests")
    if not isinstance(entry, dict):
        return None
    try:
        return int(entry["Max"]), int(entry["Remaining"])
    except (KeyError, TypeError, ValueError):
        return None


def _resolve_since(
    root: Path, since: str | dt.datetime | None, started: str
) -> tuple[str | None, str | None]:
    """(since timestamp, base snapshot name) for a new snapshot."""
    if since is None:
        return None, None
    if isinstance(since, str) and since.strip().lower() == "last":
        previous = layout.latest_complete(root, before=started)
        if previous is None:
            raise SnapshotError(
                f"--since last needs an earlier complete snapshot in {root}; take a full "
                "backup first"
            )
        return previous[1].started, previous[1].name
    moment = since if isinstance(since, dt.datetime) else layout.parse_time(since)
    text = layout.iso(moment)
    # The base is the newest complete snapshot taken no later than `since`: the changes after
    # its start are all in the new one.
    base = None
    for _, manifest in layout.iter_snapshots(root):
        if manifest.status == "complete" and manifest.started <= text and manifest.name < started:
            base = manifest.name
    return text, base


def _resumable(root: Path) -> tuple[Path, Manifest] | None:
    """The newest snapshot under `root`, when it was interrupted.

    A snapshot that ran to its end with some objects failed ("partial") is left as it is: the
    next run starts a new one, so that one object that keeps failing cannot pin every later
    backup to an old snapshot.
    """
    snapshots = list(layout.iter_snapshots(root))
    if not snapshots:
        return None
    folder, manifest = snapshots[-1]
    return (folder, manifest) if manifest.status == "running" else None


def org_id_of_session(access_token: str) -> str | None:
    """The org Id a session Id starts with (`00D…!…`), as 18 characters; None otherwise.

    A bare access token (SALESFORCE_ACCESS_TOKEN) comes without the identity URL, yet the
    manifest should still say which org the snapshot is of.
    """
    head, bang, _ = access_token.partition("!")
    if bang and head.startswith("00D") and len(head) in (15, 18) and head.isalnum():
        return id18(head)
    return None


async def _limits_and_server_time(client: Any) -> tuple[dict[str, Any], dt.datetime]:
    """The org's limits, and the org's clock (the `Date` header of that answer).

    A snapshot's start time is what the next `--since last` filters SystemModstamp on, so it
    must come from the clock that stamps the records, not from this machine's.
    """
    # The client has no public call that keeps the response headers; its HTTP core does the
    # auth, retries and session refresh all the same.
    path = f"/services/data/v{await client.api_version()}/limits/"
    response = await client._core.send("GET", path)
    limits = orjson.loads(response.content) if response.content else {}
    try:
        server_now = parsedate_to_datetime(response.headers["Date"]).astimezone(dt.UTC)
    except (KeyError, TypeError, ValueError):
        server_now = layout.utc_now()
    return dict(limits), server_now.replace(microsecond=0)


def _new_folder(root: Path, moment: dt.datetime) -> tuple[Path, dt.datetime]:
    while (root / layout.snapshot_name(moment)).exists():
        moment += dt.timedelta(seconds=1)
    return root / layout.snapshot_name(moment), moment


async def backup(
    client: Any,
    root: str | Path,
    *,
    objects: Sequence[str] | None = None,
    since: str | dt.datetime | None = None,
    files: bool = False,
    resume: bool = True,
    parallel: int = DEFAULT_PARALLEL,
    page_size: int | None = None,
    poll_interval: float = 0.2,
    progress: BackupProgressFn | None = None,
) -> tuple[Path, Manifest]:
    """Back up `objects` (default: every object Bulk can read) into a new snapshot under `root`.

    `since` ("last", an ISO timestamp or a datetime) makes the snapshot incremental: rows whose
    SystemModstamp is later, read with queryAll so that deletions show (IsDeleted = true).
    `files` also streams file bodies (ContentVersion, Attachment, Document) to disk. With
    `resume`, an unfinished snapshot under `root` is continued instead of starting anew.
    Returns the snapshot folder and its manifest; objects that failed are listed in the
    manifest (status "partial") rather than raising.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    started_clock = time.perf_counter()
    limits, server_now = await _limits_and_server_time(client)
    daily = _daily_requests(limits)

    previous = _resumable(root) if resume else None
    if previous is not None:
        folder, manifest = previous
        logger.info("continuing the unfinished snapshot %s", manifest.name)
        wanted = list(objects) if objects else list(manifest.objects)
    else:
        folder, moment = _new_folder(root, server_now)
        name = folder.name
        since_text, base = _resolve_since(root, since, name)
        token = await client.provider.token()
        manifest = Manifest(
            name=name,
            started=layout.iso(moment),
            kind="incremental" if since_text else "full",
            since=since_text,
            base=base,
            org_id=token.org_id or org_id_of_session(token.access_token),
            instance_url=token.instance_url,
            api_version=await client.api_version(),
            package_version=__version__,
            files=files,
        )
        catalog = await client.describe_global()
        wanted = _org_spelling(objects, catalog) if objects else backup_objects(catalog)
    # Object names as the org spells them (describe answers case-insensitively).
    for name in wanted:
        manifest.objects.setdefault(name, ObjectEntry())
    todo = [
        name
        for name in wanted
        if not (
            manifest.objects[name].status == "skipped"
            or (
                manifest.objects[name].status == "complete"
                and layout.object_file(folder, name).is_file()
            )
        )
    ]
    if daily is not None:
        max_calls, remaining = daily
        needed = CALLS_PER_OBJECT * len(todo)
        if remaining - needed < max_calls * RESERVE_SHARE:
            raise BackupLimitError(
                f"the backup needs about {needed:,} API requests for {len(todo)} object(s) and "
                f"the org has {remaining:,} of {max_calls:,} left today (a {RESERVE_SHARE:.0%} "
                "reserve is kept): back up fewer objects with --objects, or wait"
            )
        manifest.api_calls.setdefault("before", max_calls - remaining)
        manifest.api_calls["max"] = max_calls
    layout.write_manifest(folder, manifest)

    runner = _Runner(
        client,
        folder,
        manifest,
        files=files,
        page_size=page_size,
        poll_interval=poll_interval,
        progress=progress,
        total=len(wanted),
        done=len(wanted) - len(todo),
        explicit=bool(objects),
    )
    gate = asyncio.Semaphore(max(1, parallel))

    async def guarded(name: str) -> None:
        async with gate:
            if runner.short_of_requests():
                entry = manifest.objects[name]
                entry.status, entry.error = "failed", "skipped: daily API requests nearly used up"
                return
            await runner.run_object(name)

    tasks = [asyncio.create_task(guarded(name)) for name in todo]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        # Interrupted: stop the other objects too; their export state stays for the rerun.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        layout.write_manifest(folder, manifest)
        raise

    usage = client.api_usage
    if usage is not None:
        manifest.api_calls["after"] = usage[0]
        manifest.api_calls["max"] = usage[1]
        if "before" in manifest.api_calls:
            manifest.api_calls["used"] = usage[0] - int(manifest.api_calls["before"])
    manifest.finished = layout.iso(layout.utc_now())
    manifest.seconds = round(manifest.seconds + time.perf_counter() - started_clock, 3)
    failed = [n for n in wanted if manifest.objects[n].status not in ("complete", "skipped")]
    manifest.status = "partial" if failed else "complete"
    layout.write_manifest(folder, manifest)
    await _emit(
        progress,
        BackupProgress("done", manifest.name, None, runner.done, runner.total, runner.rows),
    )
    return folder, manifest


class _Runner:
    """The per-object work of one backup run, and the manifest updates it makes."""

    def __init__(
        self,
        client: Any,
        folder: Path,
        manifest: Manifest,
        *,
        files: bool,
        page_size: int | None,
        poll_interval: float,
        progress: BackupProgressFn | None,
        total: int,
        done: int,
        explicit: bool = False,
    ) -> None:
        self.client = client
        self.explicit = explicit
        self.folder = folder
        self.manifest = manifest
        self.files = files
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.progress = progress
        self.total = total
        self.done = done
        self.rows = sum(e.rows for e in manifest.objects.values() if e.status == "complete")
        self._object_rows: dict[str, int] = {}
        self._lock = asyncio.Lock()

    def short_of_requests(self) -> bool:
        usage = self.client.api_usage
        if usage is None or usage[1] <= 0:
            return False
        used, max_calls = int(usage[0]), int(usage[1])
        return max_calls - used < max_calls * RESERVE_SHARE

    async def _save(self) -> None:
        async with self._lock:
            await asyncio.to_thread(layout.write_manifest, self.folder, self.manifest)

    async def _event(self, stage: str, name: str | None) -> None:
        rows = self.rows + sum(self._object_rows.values())
        await _emit(
            self.progress,
            BackupProgress(stage, self.manifest.name, name, self.done, self.total, rows),
        )

    async def run_object(self, name: str) -> None:
        entry = self.manifest.objects[name]
        entry.status, entry.error = "running", None
        await self._save()
        await self._event("object", name)
        started = time.perf_counter()
        try:
            await self._export(name, entry)
            if self.files and body_files.body_field(name) is not None:
                await self._bodies(name, entry)
        except (SalesforceError, SnapshotError, body_files.BodySizeError, OSError) as exc:
            entry.error = str(exc) or type(exc).__name__
            # An object picked by --all that Bulk turns out not to serve is skipped, not a
            # failure: the snapshot is still complete. One asked for by name has failed.
            refused = isinstance(exc, SalesforceError) and _bulk_refuses(exc)
            entry.status = "skipped" if refused and not self.explicit else "failed"
            entry.seconds = round(time.perf_counter() - started, 3)
            self._object_rows.pop(name, None)
            logger.warning("backup of %s failed: %s", name, entry.error)
            await self._save()
            await self._event("object-failed", name)
            return
        entry.status = "complete"
        entry.seconds = round(time.perf_counter() - started, 3)
        self._object_rows.pop(name, None)
        self.rows += entry.rows
        self.done += 1
        await self._save()
        await self._event("object-done", name)

    async def _export(self, name: str, entry: ObjectEntry) -> None:
        describe = await self.client.describe(name)
        schema_path = layout.schema_file(self.folder, name)
        schema_path.parent.mkdir(parents=True, exist_ok=True)
        schema_path.write_bytes(orjson.dumps(describe, option=orjson.OPT_INDENT_2))
        fields = bulk_fields(describe)
        names = {f.lower() for f in fields}
        where = None
        all_rows = False
        entry.mode = "full"
        if self.manifest.since and "systemmodstamp" in names:
            where = f"SystemModstamp > {self.manifest.since}"
            all_rows = True
            entry.mode = "incremental"
        out = layout.object_file(self.folder, name)

        def on_progress(event: ExportProgress) -> Awaitable[None] | None:
            self._object_rows[name] = event.rows
            if event.stage == "downloading":
                return self._event("rows", name)
            return None

        result = await export(
            self.client,
            object_name=name,
            fields=fields,
            where=where,
            out=out,
            fmt="parquet",
            all_rows=all_rows,
            resume=True,
            page_size=self.page_size,
            poll_interval=self.poll_interval,
            rest_fallback=False,
            progress=on_progress,
        )
        entry.rows, entry.bytes = result.rows, out.stat().st_size
        entry.fields = len(fields)
        entry.file = out.name
        entry.job_id = result.job_id
        entry.resumed = result.resumed

    async def _bodies(self, name: str, entry: ObjectEntry) -> None:
        fields = body_files.body_field(name)
        assert fields is not None
        wanted = ["Id", fields[1]]
        frame = pl.read_parquet(layout.object_file(self.folder, name))
        columns = [c for c in [*wanted, "IsDeleted"] if c in frame.columns]
        outcome = await body_files.download_bodies(
            self.client, name, frame.select(columns), layout.bodies_dir(self.folder, name)
        )
        entry.bodies = outcome.downloaded + outcome.skipped
        entry.body_bytes = outcome.bytes


async def abort_unfinished(client: Any, folder: Path) -> list[str]:
    """Abort the Bulk jobs of the objects a stopped backup left half-exported.

    For callers that stop a backup for good (an MCP client cancelling the call): the server
    jobs must not go on for nothing. A later run of the same backup starts those objects
    afresh. Returns the aborted job Ids.
    """
    from ..bulk import state as export_states

    manifest = layout.read_manifest(folder)
    aborted = []
    for name, entry in manifest.objects.items():
        if entry.status != "running":
            continue
        saved = export_states.load_state(layout.object_file(folder, name))
        if saved is None:
            continue
        try:
            await client.bulk_abort_job("query", saved.job_id)
            aborted.append(saved.job_id)
        except SalesforceError as exc:  # finished already, or gone
            logger.debug("abort of job %s refused: %s", saved.job_id, exc.error_code)
    return aborted
