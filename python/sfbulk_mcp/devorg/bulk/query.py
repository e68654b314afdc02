"""Query jobs: which SOQL Bulk API 2.0 accepts, and running it into a result file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sfbulk_mcp.devorg.bulk import errors
from sfbulk_mcp.devorg.bulk.csvout import RowFormatter
from sfbulk_mcp.devorg.bulk.model import Job, Outcome
from sfbulk_mcp.devorg.bulk.resultfile import Page, write_blocks
from sfbulk_mcp.devorg.bulk.sqlcsv import BulkLines
from sfbulk_mcp.devorg.catalog import SObjectDef
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.state import OrgState

# Checked in this order; the first match is reported. Wording as Salesforce's Bulk query
# errors, which name the construct.
_UNSUPPORTED: tuple[tuple[Callable[[Any], bool], str], ...] = (
    (lambda ast: bool(getattr(ast, "subqueries", None)),
     "Aggregate Relationships not supported in Bulk Query"),
    (lambda ast: bool(getattr(ast, "uses_typeof", False)),
     "TYPEOF clause is not supported in Bulk Query"),
    (lambda ast: bool(getattr(ast, "group_by", None)),
     "GROUP BY clause is not supported in Bulk Query"),
    (lambda ast: bool(getattr(ast, "is_aggregate", False)),
     "Aggregate Functions are not supported in Bulk Query"),
    (lambda ast: getattr(ast, "offset", None) is not None,
     "OFFSET clause is not supported in Bulk Query"),
)


def check_bulk_query(state: OrgState, soql: str, *, include_deleted: bool,
                     user_id: str | None = None) -> str:
    """Reject SOQL that Bulk API 2.0 does not run; returns the queried object's name.

    Malformed SOQL and unknown objects or fields fail here too, as they do when Salesforce
    creates the job, rather than later as a Failed job.
    """
    from sfbulk_mcp.devorg.soql import parse_soql

    ast = parse_soql(soql)
    for matches, message in _UNSUPPORTED:
        if matches(ast):
            raise errors.unsupported_query(message)
    object_name = str(getattr(ast, "from_object", ""))
    sobject = state.store.catalog.find(object_name)
    if sobject is None:
        raise DevOrgError(
            "INVALID_TYPE",
            f"sObject type '{object_name}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
        )
    _check_fields(state, soql, include_deleted=include_deleted, user_id=user_id)
    for path in getattr(ast, "fields", []):
        if _is_compound(state, sobject, str(path)):
            raise errors.unsupported_query(
                "Selecting compound data not supported in Bulk Query: query the "
                f"individual components of {path} instead"
            )
    return str(sobject.name)


def _is_compound(state: OrgState, sobject: SObjectDef, path: str) -> bool:
    """True when a select path names an address or location compound field."""
    *relationships, name = path.split(".")
    current: SObjectDef | None = sobject
    for relationship in relationships:
        if current is None:
            return False
        reference = current.reference_by_relationship(relationship)
        if reference is None or not reference.reference_to:
            return False
        current = state.store.catalog.find(reference.reference_to[0])
    if current is None:
        return False
    field = current.field(name)
    return field is not None and field.type in ("address", "location")


def _check_fields(state: OrgState, soql: str, *, include_deleted: bool,
                  user_id: str | None) -> None:
    # Compiling resolves every field and relationship without running the query.
    from sfbulk_mcp.devorg.soql.execute import compile_query

    compile_query(state.store, soql, include_deleted=include_deleted, for_bulk=True,
                  user_id=user_id)


def run_query(
    state: OrgState,
    job: Job,
    folder: Path,
    stopped: Callable[[], bool],
    written: Callable[[Page], None] | None = None,
    written_rows: int = 50_000,
) -> Outcome:
    """Run a query job's SOQL and write its result file; Failed outcome on a query error.

    `written` hears each run of rows as soon as it is in the file (partial results)."""
    assert job.query is not None
    formatter = RowFormatter(job.delimiter, job.newline)

    def progress(written: int) -> None:
        # The counter moves while the job runs, as Salesforce's does.
        job.records_processed = written

    try:
        lines = BulkLines(state.store, job.query, formatter,
                          include_deleted=job.operation == "queryAll",
                          user_id=job.created_by_id)
        count = write_blocks(folder, formatter.header(lines.columns), lines.blocks(), stopped,
                             progress, written, written_rows)
    except DevOrgError as exc:
        return Outcome(processed=0, error_message=f"{exc.error_code} : {exc.message}")
    return Outcome(processed=count)
