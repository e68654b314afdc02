"""Salesforce-shaped HTTP responses (JSON bodies, error lists) shared by the devorg routes."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

JSON_TYPE = "application/json;charset=UTF-8"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialised with orjson (fast, UTF-8, no spaces like Salesforce)."""
    if body is None:
        return Response(status_code=status, headers=headers)
    return Response(orjson.dumps(body), status_code=status, headers=headers,
                    media_type=JSON_TYPE)


def error_body(error_code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    """Salesforce's REST error body: a list with one `{message, errorCode, fields}`."""
    entry: dict[str, Any] = {"message": message, "errorCode": error_code}
    if fields is not None:
        entry["fields"] = fields
    return [entry]


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
