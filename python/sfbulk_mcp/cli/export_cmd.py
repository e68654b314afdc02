"""`sfbulk export`: stream a Bulk API 2.0 query into Parquet, CSV or JSON Lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..bulk import writers
from ..bulk.export import ExportProgress, ExportResult, export
from .options import org_option
from .output import (
    Progress,
    emit_json,
    handle_errors,
    is_terminal,
    run_async,
    setup_logging,
)


@click.command("export")
@click.argument("object_name", metavar="OBJECT", required=False)
@click.option(
    "--out",
    "-O",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file; its extension picks the format unless --format is given.",
)
@click.option("--fields", "-f", help="Comma-separated fields (default: every field Bulk can read).")
@click.option("--where", "-w", help="SOQL filter, e.g. \"Industry = 'Energy'\".")
@click.option("--soql", "-s", help="A whole SOQL query instead of OBJECT/--fields/--where.")
@click.option(
    "--all-rows",
    is_flag=True,
    help="queryAll: include deleted and archived rows.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv", "jsonl"], case_sensitive=False),
    help="Output format (default: from the extension, else parquet).",
)
@click.option(
    "--compression",
    metavar="CODEC",
    help="Parquet compression: zstd (default), zstd:LEVEL (1-22), snappy or none.",
)
@click.option("--page-size", type=click.IntRange(min=1), help="Rows per result page (maxRecords).")
@click.option(
    "--early-results",
    is_flag=True,
    help="Download result sets while the job still runs, as the org announces them "
    "(Bulk API 2.0 query job events, a beta to turn on in Setup); elsewhere: no change.",
)
@click.option(
    "--parallel",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    help="Result pages downloaded at once.",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue an interrupted export of the same query to the same file; with "
    "--no-resume, Ctrl-C aborts the server job.",
)
@click.option("--timeout", type=float, help="Give up waiting for the job after this many seconds.")
@org_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--verbose", "-v", is_flag=True, help="Log each step on stderr.")
def export_command(
    object_name: str | None,
    out: Path,
    fields: str | None,
    where: str | None,
    soql: str | None,
    all_rows: bool,
    fmt: str | None,
    compression: str | None,
    page_size: int | None,
    early_results: bool,
    parallel: int,
    resume: bool,
    timeout: float | None,
    org: str | None,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Export OBJECT (or --soql) with Bulk API 2.0 to a typed Parquet/CSV/JSONL file.

    \b
    sfbulk export Account --org devorg --out accounts.parquet
    sfbulk export Contact --fields Id,Email,Account.Name --where "CreatedDate = LAST_N_DAYS:7" --out c.csv
    sfbulk export --soql "SELECT Id, Name FROM Lead" --out leads.jsonl --all-rows
    """
    setup_logging(quiet=quiet, verbose=verbose)
    if not object_name and not soql:
        raise click.UsageError("give an OBJECT or --soql")
    if soql and (fields or where):
        raise click.UsageError("--soql cannot be combined with --fields or --where")
    field_list = [f.strip() for f in fields.split(",")] if fields else None
    try:
        writers.parquet_compression(compression, writers.format_for(out, fmt))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--compression") from None

    with handle_errors(as_json):
        result: ExportResult = run_async(
            lambda: _run(
                org,
                object_name=None if soql else object_name,
                soql=soql,
                fields=field_list,
                where=where,
                out=out,
                fmt=fmt,
                compression=compression,
                early_results=early_results,
                all_rows=all_rows,
                page_size=page_size,
                parallel=parallel,
                resume=resume,
                timeout=timeout,
                show_progress=is_terminal() and not quiet and not as_json,
            )
        )
    if as_json:
        emit_json(result.to_dict())
    elif not quiet:
        click.echo(result.summary())


async def _run(org: str | None, *, show_progress: bool, **kwargs: Any) -> ExportResult:
    from ..api import open_client

    label = kwargs.get("object_name") or "query"
    async with open_client(org) as client:
        with Progress(f"export {label}", enabled=show_progress) as bar:

            def on_progress(event: ExportProgress) -> None:
                status = event.job_state if event.stage == "polling" else None
                bar.update(
                    rows=event.rows, total=event.total_rows, nbytes=event.bytes, status=status
                )

            return await export(client, progress=on_progress, **kwargs)
