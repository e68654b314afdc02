"""`sfbulk backup`, `sfbulk backup list`, `sfbulk diff` and `sfbulk restore`: Parquet snapshots
of an org and a time machine over them."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from .options import org_option
from .output import (
    EXIT_PARTIAL,
    EXIT_UNAVAILABLE,
    Progress,
    emit_json,
    handle_errors,
    is_terminal,
    print_records_table,
    run_async,
    setup_logging,
    stderr,
)

DIR_HELP = "Folder holding the snapshots (default: $SFBULK_BACKUP_DIR, else ./backups)."


def _dir_option(func: Any) -> Any:
    return click.option(
        "--dir",
        "root",
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get("SFBULK_BACKUP_DIR", "backups"),
        show_default="./backups",
        help=DIR_HELP,
    )(func)


def _narrowing_options(func: Any) -> Any:
    """`--object` and `--id`, each repeatable or comma-separated."""
    func = click.option(
        "--id", "ids", multiple=True, help="Only this record Id (repeat or comma-separate)."
    )(func)
    return click.option(
        "--object", "objects", multiple=True, help="Only this object (repeat or comma-separate)."
    )(func)


def _split(values: tuple[str, ...] | str | None) -> list[str]:
    items = [values] if isinstance(values, str) else list(values or ())
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


@click.group("backup", invoke_without_command=True)
@_dir_option
@click.option("--objects", help="Comma-separated objects to back up (default: --all).")
@click.option("--all", "all_objects", is_flag=True, help="Every object Bulk API 2.0 can read.")
@click.option(
    "--since",
    metavar="TIMESTAMP|last",
    help="Incremental: only rows changed after TIMESTAMP (deletions included); `last` = the "
    "start of the previous complete snapshot.",
)
@click.option("--files", is_flag=True, help="Also save file bodies (ContentVersion, Attachment, Document).")
@click.option(
    "--parallel",
    type=click.IntRange(1, 10),
    default=3,
    show_default=True,
    help="Objects exported at once.",
)
@click.option("--page-size", type=click.IntRange(min=1), help="Rows per result page (maxRecords).")
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue the newest snapshot in --dir when it did not finish.",
)
@org_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--verbose", "-v", is_flag=True, help="Log each step on stderr.")
@click.pass_context
def backup_group(
    ctx: click.Context,
    root: Path,
    objects: str | None,
    all_objects: bool,
    since: str | None,
    files: bool,
    parallel: int,
    page_size: int | None,
    resume: bool,
    org: str | None,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Back up objects of an org into a Parquet snapshot folder under --dir.

    \b
    sfbulk backup --dir backups --org devorg                 every object
    sfbulk backup --dir backups --objects Account,Contact --files
    sfbulk backup --dir backups --since last                 changes since the last one
    sfbulk backup list --dir backups
    """
    if ctx.invoked_subcommand is not None:
        return
    from ..backup.run import BackupLimitError

    setup_logging(quiet=quiet, verbose=verbose)
    chosen = _split(objects)
    if chosen and all_objects:
        raise click.UsageError("give either --objects or --all")
    with handle_errors(as_json):
        try:
            folder, manifest = run_async(
                lambda: _run_backup(
                    org,
                    root,
                    objects=chosen or None,
                    since=since,
                    files=files,
                    parallel=parallel,
                    page_size=page_size,
                    resume=resume,
                    show_progress=is_terminal() and not quiet and not as_json,
                )
            )
        except BackupLimitError as exc:
            if as_json:
                emit_json({"ok": False, "error": "BackupLimitError", "message": str(exc)})
            else:
                stderr(f"error: {exc}")
            sys.exit(EXIT_UNAVAILABLE)
    if as_json:
        emit_json({"ok": manifest.status == "complete", "path": str(folder), **manifest.to_dict()})
    elif not quiet:
        done = [n for n, e in manifest.objects.items() if e.status == "complete"]
        kind = f"incremental since {manifest.since}" if manifest.kind == "incremental" else "full"
        click.echo(
            f"snapshot {folder} ({kind}): {len(done)} object(s), "
            f"{manifest.total_rows:,} rows in {manifest.seconds:.1f} s, "
            f"{manifest.api_calls.get('used', '?')} API call(s)"
        )
        for name, entry in manifest.objects.items():
            if entry.status != "complete":
                stderr(f"  {name} {entry.status}: {entry.error}")
    if manifest.status != "complete":
        sys.exit(EXIT_PARTIAL)


async def _run_backup(org: str | None, root: Path, *, show_progress: bool, **kwargs: Any) -> Any:
    from ..api import open_client
    from ..backup.run import BackupProgress, backup

    async with open_client(org) as client:
        with Progress("backup", enabled=show_progress) as bar:

            def on_progress(event: BackupProgress) -> None:
                status = f"{event.objects_done}/{event.objects_total} objects"
                if event.object:
                    status += f", {event.object}"
                bar.update(rows=event.rows, status=status)

            return await backup(client, root, progress=on_progress, **kwargs)


@backup_group.command("list")
@_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the snapshots as JSON.")
def list_command(root: Path, as_json: bool) -> None:
    """List the snapshots under --dir, oldest first."""
    from ..backup.layout import iter_snapshots

    rows = []
    for folder, manifest in iter_snapshots(root):
        rows.append(
            {
                "name": manifest.name,
                "kind": manifest.kind,
                "status": manifest.status,
                "since": manifest.since,
                "base": manifest.base,
                "objects": len(manifest.objects),
                "rows": manifest.total_rows,
                "seconds": manifest.seconds,
                "org_id": manifest.org_id,
                "path": str(folder),
            }
        )
    if as_json:
        emit_json({"dir": str(root), "snapshots": rows})
        return
    if not rows:
        stderr(f"no snapshots in {root}")
        return
    print_records_table(rows, ["name", "kind", "status", "objects", "rows", "since", "base"])


def _print_diff(data: dict[str, Any], limit: int) -> None:
    click.echo(
        f"{data['old']} → {data['new']}: {data['added']} added, {data['deleted']} deleted, "
        f"{data['changed']} changed"
    )
    for entry in data["objects"]:
        fields = ", ".join(f"{k} {v}" for k, v in entry["fields"].items())
        click.echo(
            f"  {entry['object']}: +{entry['added']} -{entry['deleted']} ~{entry['changed']}"
            + (f" ({fields})" if fields else "")
        )
        for column in entry.get("columns_added", []):
            click.echo(f"    new field {column}")
        for column in entry.get("columns_removed", []):
            click.echo(f"    field gone: {column}")
        for record_id in entry.get("added_ids", [])[:limit]:
            click.echo(f"    + {record_id}")
        for record_id in entry.get("deleted_ids", [])[:limit]:
            click.echo(f"    - {record_id}")
        for record_id, changes in list(entry.get("changes", {}).items())[:limit]:
            for name, change in changes.items():
                click.echo(f"    ~ {record_id} {name}: {change['old']!r} → {change['new']!r}")
    for name, why in data.get("not_compared", {}).items():
        click.echo(f"  {name}: not compared ({why})")


@click.command("diff")
@click.argument("snapshot")
@click.argument("other", required=False, default="live")
@_dir_option
@_narrowing_options
@click.option(
    "--include-system",
    is_flag=True,
    help="Also compare SystemModstamp, LastModifiedDate/ById, LastViewed/ReferencedDate.",
)
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="Records listed per object and kind (--json: 1000).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write every detail as Parquet (<Object>.added|deleted|changes.parquet).")
@org_option
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
def diff_command(
    snapshot: str,
    other: str,
    root: Path,
    objects: tuple[str, ...],
    ids: tuple[str, ...],
    include_system: bool,
    limit: int,
    out: Path | None,
    org: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Records added, deleted and changed from SNAPSHOT to OTHER (a later snapshot, or `live`).

    Snapshots are named by folder name under --dir, by path, or as `latest` / `previous`.

    \b
    sfbulk diff previous latest --dir backups
    sfbulk diff 2026-11-21T08-30-00Z live --object Account --org devorg
    sfbulk diff latest live --id 001xx000003DGb2AAG --json
    """
    setup_logging(quiet=quiet)
    with handle_errors(as_json):
        result = run_async(
            lambda: _diff(
                org, snapshot, other, root, _split(objects), _split(ids), include_system
            )
        )
        if out is not None:
            result.write(out)
    if as_json:
        emit_json(result.to_dict(limit=max(limit, 1000) if limit else None))
    elif not quiet:
        _print_diff(result.to_dict(limit=limit), limit)


async def _diff(
    org: str | None,
    snapshot: str,
    other: str,
    root: Path,
    objects: list[str],
    ids: list[str],
    include_system: bool,
) -> Any:
    from ..backup.diff import VOLATILE_FIELDS, diff_live, diff_snapshots
    from ..backup.layout import resolve_snapshot

    ignore = frozenset() if include_system else VOLATILE_FIELDS
    old = resolve_snapshot(snapshot, root)
    if other.lower() != "live":
        new = resolve_snapshot(other, root)
        return diff_snapshots(old, new, objects=objects or None, ids=ids or None, ignore=ignore)
    from ..api import open_client

    async with open_client(org) as client:
        return await diff_live(client, old, objects=objects or None, ids=ids or None, ignore=ignore)


@click.command("restore")
@click.argument("snapshot")
@click.argument("against", required=False, default="live")
@_dir_option
@_narrowing_options
@click.option(
    "--external-id",
    "external_ids",
    multiple=True,
    metavar="[OBJECT.]FIELD",
    help="Re-create deleted records by upsert on this external id field instead of insert.",
)
@click.option("--recreate/--no-recreate", default=True, show_default=True,
              help="Re-create records deleted since the snapshot.")
@click.option("--revert/--no-revert", default=True, show_default=True,
              help="Put changed fields back to their snapshot values.")
@click.option("--dry-run", is_flag=True, help="Write the import files and say what would happen.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Where the import files and results go (default: <snapshot>/restore-<time>).")
@org_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan / outcome as JSON.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--verbose", "-v", is_flag=True, help="Log each step on stderr.")
def restore_command(
    snapshot: str,
    against: str,
    root: Path,
    objects: tuple[str, ...],
    ids: tuple[str, ...],
    external_ids: tuple[str, ...],
    recreate: bool,
    revert: bool,
    dry_run: bool,
    out: Path | None,
    org: str | None,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Bring records back to SNAPSHOT: re-create deleted ones, revert changed ones.

    The records are those that differ between SNAPSHOT and AGAINST (`live`, the default, or a
    later snapshot); the changes are written to the org given by --org. Re-created records get
    new Ids and every reference to them is re-linked, also in later restores from SNAPSHOT to
    the same org (`sfbulk restore … --object Account`, then `--object Contact`): the Ids are
    recorded in <snapshot>/id-maps/. Run with --dry-run first.

    \b
    sfbulk restore latest --object Account,Contact --dry-run --org devorg
    sfbulk restore latest --id 001xx000003DGb2AAG --org devorg
    """
    setup_logging(quiet=quiet, verbose=verbose)
    chosen = _split(objects)
    mapping: dict[str, str] = {}
    for item in _split(external_ids):
        if "." in item:
            obj, name = item.split(".", 1)
            mapping[obj] = name
        elif len(chosen) == 1:
            mapping[chosen[0]] = item
        else:
            raise click.UsageError("--external-id needs OBJECT.FIELD unless one --object is given")
    with handle_errors(as_json):
        outcome = run_async(
            lambda: _restore(
                org,
                snapshot,
                against,
                root,
                objects=chosen,
                ids=_split(ids),
                external_ids=mapping,
                recreate=recreate,
                revert=revert,
                dry_run=dry_run,
                out=out,
            )
        )
    plan, result = outcome
    if as_json:
        emit_json(result.to_dict() if result is not None else {"ok": True, "dry_run": True, **plan.to_dict()})
    elif not quiet:
        for line in plan.lines():
            click.echo(line)
        if result is None:
            click.echo(f"Dry run: nothing was changed. Import files are in {plan.folder}.")
        else:
            for item in result.imports:
                click.echo(
                    f"{item['step'].get('action')} {item['object']}: {item['succeeded']} "
                    f"succeeded, {item['failed']} failed, {item['unprocessed']} unprocessed"
                )
                for error in item.get("errors") or []:
                    click.echo(f"    {error}")
            skipped = sum(plan.already_recreated.values())
            click.echo(
                f"{len(result.id_map)} record(s) re-created, {result.relinked} reference(s) "
                f"re-linked; results and id_map.parquet in {plan.folder}"
            )
            if skipped:
                click.echo(
                    f"{skipped} record(s) skipped: already re-created by an earlier restore"
                )
            if result.id_map and plan.id_map_file is not None:
                click.echo(f"Re-created Ids recorded for later restores in {plan.id_map_file}")
    if result is not None and not result.ok:
        sys.exit(EXIT_PARTIAL)


async def _restore(
    org: str | None,
    snapshot: str,
    against: str,
    root: Path,
    *,
    objects: list[str],
    ids: list[str],
    external_ids: dict[str, str],
    recreate: bool,
    revert: bool,
    dry_run: bool,
    out: Path | None,
) -> Any:
    from ..api import open_client
    from ..backup.diff import diff_live, diff_snapshots
    from ..backup.ids import id18
    from ..backup.layout import iso, resolve_snapshot, utc_now
    from ..backup.restore import id_map_file, org_key, plan_restore, read_id_map, run_restore

    old = resolve_snapshot(snapshot, root)
    folder = out or old / f"restore-{iso(utc_now()).replace(':', '-')}"
    async with open_client(org) as client:
        key = await org_key(client)
        if ids:
            # Compare the copies earlier restores made of these records too, so that the
            # plan sees which still exist and does not re-create those again.
            wanted = {id18(i) for i in ids}
            earlier = read_id_map(id_map_file(old, key))
            ids = ids + [
                new for previous, new in earlier.select("old_id", "new_id").iter_rows()
                if previous in wanted
            ]
        if against.lower() == "live":
            diff = await diff_live(client, old, objects=objects or None, ids=ids or None)
        else:
            diff = diff_snapshots(
                old, resolve_snapshot(against, root), objects=objects or None, ids=ids or None
            )
        plan = plan_restore(
            old,
            diff,
            folder,
            external_ids=external_ids,
            recreate=recreate,
            revert=revert,
            org=key,
        )
        if dry_run:
            return plan, None
        return plan, await run_restore(client, plan)
