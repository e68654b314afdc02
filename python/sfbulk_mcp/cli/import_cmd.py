"""`sfbulk import`: load a Parquet/CSV file with Bulk API 2.0 and account for every row."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..bulk.ingest import (
    DEFAULT_UPLOAD_BYTES,
    MAX_UPLOAD_BYTES,
    ImportInterrupted,
    ImportProgress,
    ImportResult,
    import_data,
)
from .options import org_option
from .output import (
    EXIT_INTERRUPTED,
    EXIT_PARTIAL,
    Progress,
    emit_json,
    handle_errors,
    is_terminal,
    run_async,
    setup_logging,
)

OPERATIONS = ["insert", "update", "upsert", "delete", "hard-delete"]


@click.command("import")
@click.argument("object_name", metavar="OBJECT")
@click.option(
    "--file",
    "-i",
    "file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Input rows: .parquet, .csv or .jsonl (column names are field API names).",
)
@click.option(
    "--operation",
    "-p",
    type=click.Choice([*OPERATIONS, "hardDelete"], case_sensitive=False),
    default="insert",
    show_default=True,
)
@click.option("--external-id", metavar="FIELD", help="External id field for --operation upsert.")
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=0,
    show_default=True,
    help="Send rows that failed transiently (UNABLE_TO_LOCK_ROW, ...) again, this many times.",
)
@click.option(
    "--batch-rows",
    type=click.IntRange(min=1),
    help="At most this many rows per job.",
)
@click.option(
    "--batch-mb",
    type=click.IntRange(1, MAX_UPLOAD_BYTES // 1_000_000),
    default=DEFAULT_UPLOAD_BYTES // 1_000_000,
    show_default=True,
    help="At most this many MB of CSV per job (Salesforce takes up to 100; bigger uploads "
    "mean fewer jobs, and more memory while they run).",
)
@click.option(
    "--parallel",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    help="Jobs running at once.",
)
@click.option(
    "--null-as-na",
    is_flag=True,
    help="Send empty values as #N/A (set the field to null) instead of leaving it unchanged.",
)
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the .success/.failed/.unprocessed files (default: beside the input).",
)
@click.option("--timeout", type=float, help="Abort a job still running after this many seconds.")
@org_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--verbose", "-v", is_flag=True, help="Log each step on stderr.")
def import_command(
    object_name: str,
    file: Path,
    operation: str,
    external_id: str | None,
    retries: int,
    batch_rows: int | None,
    batch_mb: int,
    parallel: int,
    null_as_na: bool,
    results_dir: Path | None,
    timeout: float | None,
    org: str | None,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Insert, update, upsert, delete or hard-delete the rows of a file into OBJECT.

    Writes NAME.success.parquet, NAME.failed.parquet (error_code, error_message,
    error_fields) and NAME.unprocessed.parquet beside the input: every input row lands in
    exactly one of them (sf__Row is its row number, from 0). Exits 6 when any row failed.
    Ctrl-C aborts the jobs still running, writes the files all the same (rows not loaded are
    unprocessed) and exits 130.

    \b
    sfbulk import Account --file accounts.csv --operation insert --org devorg
    sfbulk import Account --file fix.parquet --operation upsert --external-id Ext_Id__c
    """
    setup_logging(quiet=quiet, verbose=verbose)
    if operation.lower() == "upsert" and not external_id:
        raise click.UsageError("--operation upsert needs --external-id FIELD")
    with handle_errors(as_json):
        result: ImportResult = run_async(
            lambda: _run(
                org,
                object_name=object_name,
                data=file,
                operation=operation,
                external_id=external_id,
                retries=retries,
                max_rows=batch_rows,
                max_bytes=batch_mb * 1_000_000,
                parallel=parallel,
                null_as_na=null_as_na,
                results_dir=results_dir,
                timeout=timeout,
                show_progress=is_terminal() and not quiet and not as_json,
            )
        )
    if as_json:
        emit_json(result.to_dict())
    elif not quiet:
        # Interrupted, the summary is a message rather than a result: stderr.
        click.echo(result.summary(), err=result.interrupted)
        for name, path in (
            ("failed", result.failed_path),
            ("unprocessed", result.unprocessed_path),
        ):
            count = result.failed if name == "failed" else result.unprocessed
            if count and path is not None:
                click.echo(f"{count:,} {name} row(s) are in {path}", err=True)
    if result.interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if not result.ok:
        sys.exit(EXIT_PARTIAL)


async def _run(org: str | None, *, show_progress: bool, **kwargs: Any) -> ImportResult:
    from ..api import open_client

    async with open_client(org) as client:
        label = f"{kwargs['operation']} {kwargs['object_name']}"
        with Progress(label, enabled=show_progress) as bar:

            def on_progress(event: ImportProgress) -> None:
                bar.update(
                    rows=event.done_rows,
                    total=event.rows,
                    status=f"{event.jobs_done}/{event.jobs} jobs",
                )

            try:
                return await import_data(client, progress=on_progress, **kwargs)
            except ImportInterrupted as stopped:
                # Ctrl-C: the outcomes are written; report them like a finished import.
                return stopped.result
