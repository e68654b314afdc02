"""Helpers the tool modules share: turning record pages into budgeted results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import polars as pl
from mcp_types import CallToolResult

from ..app import App, respond
from ..formatting import columns_of, fit_records, render_csv, slim_record
from ..models import RecordsResult
from ..results import Cursor, ResultFile, preview

# Room kept for the envelope (counts, note, cursor) around the rows.
_ENVELOPE = 600


def records_response(
    app: App,
    records: Sequence[dict[str, Any]],
    *,
    total_size: int | None,
    next_records_url: str | None,
    done: bool,
    label: str = "rows",
    slim: bool = True,
) -> CallToolResult:
    """A budgeted result for a page of records, with a cursor for the rest."""
    rows = [slim_record(r) for r in records] if slim else list(records)
    fitted = fit_records(rows, max(500, app.budget - _ENVELOPE))
    kept = fitted.records
    rest = rows[len(kept):]
    more = bool(rest) or (not done and next_records_url is not None)
    cursor = None
    if more:
        cursor = app.cursors.put(
            Cursor(
                owner=app.owner(),
                pending=rest,
                next_records_url=next_records_url,
                total_size=total_size,
            )
        )
    columns = columns_of(kept)
    note = None
    if more:
        note = (
            f"More {label} remain: call salesforce_query_more with cursor={cursor!r}, "
            "or run the query with output='file' (or salesforce_bulk_query for big results) "
            "to get every row as a file."
        )
    elif fitted.truncated:
        note = "Long values were shortened to fit the result budget."
    result = RecordsResult(
        total_size=total_size,
        returned=len(kept),
        done=not more,
        truncated=fitted.truncated or bool(rest),
        columns=columns,
        records=kept,
        next_cursor=cursor,
        note=note,
    )
    head = f"{len(kept)} {label}" + (f" of {total_size}" if total_size is not None else "")
    text = head + "\n" + render_csv(columns, kept) + (f"\n{note}" if note else "")
    return respond(result, text)


def frame_from_records(records: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """A frame from slim records; nested values become JSON text."""
    columns = columns_of(records)
    data: dict[str, list[Any]] = {c: [] for c in columns}
    for record in records:
        for column in columns:
            value = record.get(column)
            if isinstance(value, (dict, list)):
                value = orjson.dumps(value).decode()
            data[column].append(value)
    series = []
    for column, values in data.items():
        try:
            series.append(pl.Series(column, values, strict=False))
        except (TypeError, pl.exceptions.PolarsError):
            series.append(pl.Series(column, [None if v is None else str(v) for v in values]))
    return pl.DataFrame(series)


def file_response(
    app: App, saved: ResultFile, *, total_size: int | None, note: str | None = None
) -> CallToolResult:
    """A result pointing at a saved file: resource URI, row count and a short preview."""
    rows = preview(saved, 5)
    result = RecordsResult(
        total_size=total_size,
        returned=len(rows),
        done=True,
        truncated=saved.rows > len(rows),
        columns=list(saved.columns),
        records=rows,
        resource_uri=saved.uri,
        file_path=str(saved.path) if app.config.local_files else None,
        file_rows=saved.rows,
        note=note,
    )
    where = f", local path {saved.path}" if app.config.local_files else ""
    text = (
        f"{saved.rows} rows written to {saved.uri} ({saved.format}, {saved.bytes} bytes"
        f"{where}). First {len(rows)}:\n"
        + render_csv(list(saved.columns), rows)
        + (f"\n{note}" if note else "")
    )
    return respond(result, text)


async def check_query_objects(app: App, client: Any, soql: str) -> None:
    """Apply the object lists to a SOQL text, child subqueries included.

    Subqueries name child relationships (`Contacts`), so with a restricted policy the parent's
    describe tells which object each one reads.
    """
    from ..safety import soql_child_relationships, soql_objects

    if not app.policy.restricted:
        return
    objects = soql_objects(soql)
    app.policy.check_all(objects)
    children = soql_child_relationships(soql)
    if not children or not objects:
        return
    describe = await client.describe(objects[0])
    by_name = {
        str(c.get("relationshipName", "")).lower(): str(c.get("childSObject"))
        for c in describe.get("childRelationships", [])
    }
    for name in children:
        app.policy.check(by_name.get(name.lower(), name))
