"""`sfbulk describe [OBJECT]`: an object's fields, or the org's objects."""

from __future__ import annotations

from typing import Any

import click

from .options import org_option
from .output import emit_json, handle_errors, print_records_table, run_async, setup_logging


@click.command("describe")
@click.argument("object_name", metavar="[OBJECT]", required=False)
@org_option
@click.option("--json", "as_json", is_flag=True, help="The raw describe as JSON.")
@click.option("--quiet", is_flag=True, help="No count on stderr.")
@click.option("--verbose", "-v", is_flag=True, help="Log each request on stderr.")
def describe_command(
    object_name: str | None, org: str | None, as_json: bool, quiet: bool, verbose: bool
) -> None:
    """Show the fields of OBJECT (name, type, label, ...), or every object of the org."""
    setup_logging(quiet=quiet, verbose=verbose)
    with handle_errors(as_json):
        data = run_async(lambda: _run(org, object_name))
    if as_json:
        emit_json(data)
        return
    if object_name is None:
        rows = [
            {
                "name": o.get("name"),
                "label": o.get("label"),
                "keyPrefix": o.get("keyPrefix"),
                "queryable": o.get("queryable"),
                "custom": o.get("custom"),
            }
            for o in data.get("sobjects", [])
        ]
        print_records_table(rows, ["name", "label", "keyPrefix", "queryable", "custom"])
        if not quiet:
            click.echo(f"{len(rows)} object(s)", err=True)
        return
    rows = [_field_row(f) for f in data.get("fields", [])]
    columns = ["name", "type", "label", "length", "nillable", "createable", "updateable", "ref"]
    print_records_table(rows, columns)
    if not quiet:
        click.echo(f"{data.get('name')}: {len(rows)} field(s)", err=True)


def _field_row(field: dict[str, Any]) -> dict[str, Any]:
    kind = str(field.get("type"))
    length = field.get("length") or field.get("precision") or ""
    refs = field.get("referenceTo") or []
    return {
        "name": field.get("name"),
        "type": kind,
        "label": field.get("label"),
        "length": length if length else "",
        "nillable": field.get("nillable"),
        "createable": field.get("createable"),
        "updateable": field.get("updateable"),
        "ref": ",".join(refs) + (f" ({field.get('relationshipName')})" if refs else ""),
    }


async def _run(org: str | None, object_name: str | None) -> dict[str, Any]:
    from ..api import open_client

    async with open_client(org) as client:
        if object_name is None:
            return await client.describe_global()
        return await client.describe(object_name)
