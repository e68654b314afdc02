"""Errors raised by the export and import pipelines, in the client's `SalesforceError` family."""

from __future__ import annotations

from collections.abc import Sequence

from ..salesforce.errors import MalformedQueryError, SalesforceError


class UnsupportedBulkQueryError(MalformedQueryError):
    """The query uses SOQL that Bulk API 2.0 rejects; raised before any job is created."""

    hint = (
        "Bulk API 2.0 rejects GROUP BY, OFFSET, TYPEOF, aggregate functions, parent-to-child "
        "subqueries and compound address/location fields: run small aggregate queries with "
        "`sfbulk query` (REST), and select compound fields by their components (BillingCity, ...)"
    )

    def __init__(self, soql: str, reasons: Sequence[str]) -> None:
        self.soql = soql
        self.reasons: tuple[str, ...] = tuple(reasons)
        super().__init__(
            "Bulk API 2.0 cannot run this query: " + "; ".join(self.reasons),
            error_code="UNSUPPORTED_BULK_QUERY",
        )


class ExportError(SalesforceError):
    """An export could not be completed (output problems, an inconsistent resume state)."""


class ImportInputError(SalesforceError):
    """The input of an import cannot be loaded as asked (missing Id, unknown format...)."""

    hint = "check the input file and the --operation / --external-id options"
