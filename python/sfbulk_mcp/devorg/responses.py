"""Salesforce-shaped HTTP responses (JSON bodies, error lists) shared by the devorg routes."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

JSON_TYPE = "application/json;charset=UTF-8"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None, *,
                  pretty: bool = False) -> Response:
    """A JSON response serialised with orjson (compact like Salesforce; indented when the
    client sent `X-PrettyPrint: 1`)."""
    if body is None:
        return Response(status_code=status, headers=headers)
    option = orjson.OPT_INDENT_2 if pretty else 0
    return Response(orjson.dumps(body, option=option), status_code=status, headers=headers,
                    media_type=JSON_TYPE)


def error_body(error_code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    """Salesforce's REST error body: a list with one `{message, errorCode, fields}`."""
    entry: dict[str, Any] = {"message": message, "errorCode": error_code}
    if fields is not None:
        entry["fields"] = fields
    return [entry]


# Record-level (DML) errors carry a `fields` list even when it is empty; request-level errors
# (NOT_FOUND, MALFORMED_QUERY, INVALID_SESSION_ID, …) have no `fields` key.
_DML_CODES = frozenset({
    "ENTITY_IS_DELETED", "DUPLICATE_VALUE", "INVALID_CROSS_REFERENCE_KEY", "DELETE_FAILED",
    "UNABLE_TO_LOCK_ROW", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "FIELD_INTEGRITY_EXCEPTION",
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "INSUFFICIENT_ACCESS_OR_READONLY",
    "INVALID_TYPE_FOR_OPERATION", "UNDELETE_FAILED", "REQUIRED_FIELD_MISSING",
    "STRING_TOO_LONG", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    "INVALID_FIELD_FOR_INSERT_UPDATE", "INVALID_EMAIL_ADDRESS", "NUMBER_OUTSIDE_VALID_RANGE",
    "ENTITY_IS_LOCKED", "INVALID_ID_FIELD", "MALFORMED_ID", "DUPLICATES_DETECTED",
})


def devorg_error_body(error_code: str, message: str, fields: list[str]) -> list[dict[str, Any]]:
    """The body Salesforce gives for an error, with `fields` where Salesforce has it."""
    keep = bool(fields) or error_code in _DML_CODES
    return error_body(error_code, message, list(fields) if keep else None)


def error_response(status: int, error_code: str, message: str,
                   fields: list[str] | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """A Salesforce REST error response."""
    return json_response(error_body(error_code, message, fields), status, headers)


def invalid_session() -> Response:
    """401 for a missing, unknown, revoked or expired access token."""
    return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid",
                          headers={"WWW-Authenticate": "Token"})


def request_limit_exceeded() -> Response:
    """403 once the org's daily API requests are used up."""
    return error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def not_found() -> Response:
    """404 for an URL that matches no resource."""
    return error_response(404, "NOT_FOUND", "The requested resource does not exist")
