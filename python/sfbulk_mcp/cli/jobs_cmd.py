"""`sfbulk jobs list|status|abort`: Bulk API 2.0 jobs of the org."""

from __future__ import annotations

from typing import Any, cast

import click

from ..bulk.jobs import JobKind, abort_job, find_job, list_jobs
from .options import org_option
from .output import emit_json, handle_errors, print_records_table, run_async, setup_logging

_KIND = click.Choice(["query", "ingest"], case_sensitive=False)
_COLUMNS = [
    "id",
    "jobKind",
    "operation",
    "object",
    "state",
    "createdDate",
    "numberRecordsProcessed",
]


def _common(func: Any) -> Any:
    func = click.option("--verbose", "-v", is_flag=True, help="Log each request on stderr.")(func)
    func = click.option("--quiet", is_flag=True, help="Print nothing but the result.")(func)
    func = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)
    return org_option(func)


@click.group("jobs")
def jobs_group() -> None:
    """List, inspect and abort Bulk API 2.0 jobs."""


@jobs_group.command("list")
@click.option("--kind", type=_KIND, help="Only query or only ingest jobs (default: both).")
@click.option("--state", help="Only jobs in this state (e.g. InProgress, JobComplete).")
@_common
def list_command(
    kind: str | None, state: str | None, org: str | None, as_json: bool, quiet: bool, verbose: bool
) -> None:
    """Every Bulk job of the org, newest first."""
    setup_logging(quiet=quiet, verbose=verbose)
    with handle_errors(as_json):
        jobs = run_async(lambda: _list(org, cast(JobKind | None, kind and kind.lower())))
    if state:
        jobs = [j for j in jobs if str(j.get("state", "")).lower() == state.lower()]
    if as_json:
        emit_json(jobs)
        return
    print_records_table(jobs, _COLUMNS)
    if not quiet:
        click.echo(f"{len(jobs)} job(s)", err=True)


@jobs_group.command("status")
@click.argument("job_id")
@click.option("--kind", type=_KIND, help="The job's kind, if known.")
@_common
def status_command(
    job_id: str, kind: str | None, org: str | None, as_json: bool, quiet: bool, verbose: bool
) -> None:
    """The current state and counters of one job."""
    setup_logging(quiet=quiet, verbose=verbose)
    with handle_errors(as_json):
        info = run_async(lambda: _status(org, job_id, cast(JobKind | None, kind and kind.lower())))
    if as_json:
        emit_json(info)
        return
    for key, value in info.items():
        click.echo(f"{key}: {value}")


@jobs_group.command("abort")
@click.argument("job_id")
@click.option("--kind", type=_KIND, help="The job's kind, if known.")
@_common
def abort_command(
    job_id: str, kind: str | None, org: str | None, as_json: bool, quiet: bool, verbose: bool
) -> None:
    """Abort a running job (a finished job is left as it is)."""
    setup_logging(quiet=quiet, verbose=verbose)
    with handle_errors(as_json):
        info = run_async(lambda: _abort(org, job_id, cast(JobKind | None, kind and kind.lower())))
    if as_json:
        emit_json(info)
    elif not quiet:
        click.echo(f"job {job_id} ({info.get('jobKind')}): {info.get('state')}")


async def _list(org: str | None, kind: JobKind | None) -> list[dict[str, Any]]:
    from ..api import open_client

    async with open_client(org) as client:
        return await list_jobs(client, kind)


async def _status(org: str | None, job_id: str, kind: JobKind | None) -> dict[str, Any]:
    from ..api import open_client

    async with open_client(org) as client:
        found, info = await find_job(client, job_id, kind)
        return {**info, "jobKind": found}


async def _abort(org: str | None, job_id: str, kind: JobKind | None) -> dict[str, Any]:
    from ..api import open_client

    async with open_client(org) as client:
        return await abort_job(client, job_id, kind)
