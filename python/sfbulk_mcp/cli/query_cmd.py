"""`sfbulk query "SOQL"`: a REST query, printed as a table, JSON or CSV."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from .options import org_option
from .output import emit_json, handle_errors, print_records_table, run_async, setup_logging


@click.command("query")
@click.argument("soql")
@click.option(
    "--format",
    "-r",
    "fmt",
    type=click.Choice(["table", "json", "csv"], case_sensitive=False),
    default="table",
    show_default=True,
)
@click.option("--all-rows", is_flag=True, help="queryAll: include deleted and archived rows.")
@click.option("--limit", type=click.IntRange(min=1), help="Print at most this many records.")
@org_option
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--quiet", is_flag=True, help="No row count on stderr.")
@click.option("--verbose", "-v", is_flag=True, help="Log each request on stderr.")
def query_command(
    soql: str,
    fmt: str,
    all_rows: bool,
    limit: int | None,
    org: str | None,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Run a SOQL query through the REST API (every page) and print the records.

    Aggregates work here (Bulk rejects them): sfbulk query "SELECT Industry, COUNT(Id) n
    FROM Account GROUP BY Industry". For millions of rows use `sfbulk export`.
    """
    setup_logging(quiet=quiet, verbose=verbose)
    fmt = "json" if as_json else fmt.lower()
    with handle_errors(as_json):
        page = run_async(lambda: _run(org, soql, all_rows, limit))
    records: list[dict[str, Any]] = page["records"]
    total = page["totalSize"]
    if fmt == "json":
        emit_json({"totalSize": total, "done": True, "records": records})
    elif fmt == "csv":
        from ..api import records_frame

        frame = records_frame(records)
        if frame.width:
            sys.stdout.write(frame.write_csv())
        elif total and not records:
            sys.stdout.write(f"expr0\n{total}\n")
    else:
        columns = _columns(records)
        if columns:
            print_records_table([_flat(r) for r in records], columns)
        elif total and not records:
            click.echo(str(total))  # SELECT COUNT() answers in totalSize only
    if not quiet and fmt != "json":
        click.echo(f"{total:,} record(s)", err=True)


async def _run(org: str | None, soql: str, all_rows: bool, limit: int | None) -> dict[str, Any]:
    from ..api import open_client, strip_attributes

    async with open_client(org) as client:
        page = await client.query(soql, include_deleted=all_rows)
        total = int(page.get("totalSize", 0))
        records: list[dict[str, Any]] = list(page.get("records") or [])
        while (
            not page.get("done", True)
            and page.get("nextRecordsUrl")
            and (limit is None or len(records) < limit)
        ):
            page = await client.query_more(str(page["nextRecordsUrl"]))
            records.extend(page.get("records") or [])
        if limit is not None:
            records = records[:limit]
        return {"totalSize": total, "records": [strip_attributes(r) for r in records]}


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict) and "records" not in value:
            flat.update(_flat(value, f"{prefix}{key}."))
        elif isinstance(value, dict):
            flat[f"{prefix}{key}"] = orjson.dumps(value.get("records")).decode()
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _columns(records: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        for key in _flat(record):
            seen.setdefault(key, None)
    return list(seen)
