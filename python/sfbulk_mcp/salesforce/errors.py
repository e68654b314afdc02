"""One exception family for everything Salesforce can answer with.

Every error carries what Salesforce said (`error_code`, `message`, `fields`), the HTTP status,
and the request it answered (`method`, `url`) — never headers, tokens or query-string secrets.
`error_from_response` turns a response body into the most specific subclass; messages end with
what the user can do about it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

# Query-string parameters whose values are secrets and must never reach a message or a log.
_SECRET_PARAMS = frozenset(
    {
        "access_token",
        "refresh_token",
        "token",
        "password",
        "client_secret",
        "code",
        "code_verifier",
        "assertion",
        "client_assertion",
        "sid",
        "session_id",
        "security_token",
    }
)


def redact_url(url: str) -> str:
    """`url` with the values of secret query parameters replaced by `***`."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name.lower() in _SECRET_PARAMS for name, _ in pairs):
        return url
    cleaned = [(n, "***" if n.lower() in _SECRET_PARAMS else v) for n, v in pairs]
    return urlunsplit(parts._replace(query=urlencode(cleaned, safe="/,*")))


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of Salesforce's error list `[{"message","errorCode","fields"}]`."""

    error_code: str | None
    message: str
    fields: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


class SalesforceError(Exception):
    """Base of every error raised by the Salesforce client."""

    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        status: int | None = None,
        fields: Sequence[str] = (),
        method: str | None = None,
        url: str | None = None,
        errors: Sequence[ErrorDetail] = (),
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        if hint is not None:  # the caller's own advice replaces the class's default
            self.hint = hint
        self.message = message
        self.error_code = error_code
        self.status = status
        self.fields: tuple[str, ...] = tuple(fields)
        self.method = method
        self.url = redact_url(url) if url else url
        self.errors: tuple[ErrorDetail, ...] = tuple(errors)
        self.retry_after = retry_after
        # How many times the request was sent before this answer (set by the client).
        self.attempts = 1
        super().__init__(self._render())

    @property
    def errorCode(self) -> str | None:  # Salesforce's own spelling
        """Salesforce's `errorCode`, under the name its documentation uses."""
        return self.error_code

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed if sent again later."""
        return False

    def set_hint(self, hint: str) -> None:
        """Replace the advice at the end of the message (when the caller knows better)."""
        self.hint = hint
        self.args = (self._render(),)

    def _render(self) -> str:
        head = f"{self.error_code}: {self.message}" if self.error_code else self.message
        if self.fields:
            head += f" (fields: {', '.join(self.fields)})"
        where = []
        if self.status is not None:
            where.append(f"HTTP {self.status}")
        if self.method and self.url:
            where.append(f"{self.method} {self.url}")
        if where:
            head += f" [{' '.join(where)}]"
        if self.hint:
            head += f" — {self.hint}"
        return head


class AuthError(SalesforceError):
    """Authentication failed: bad credentials, a revoked token, an OAuth error."""

    hint = "check the credentials, or log in again with `sfbulk login`"


class SessionExpiredError(AuthError):
    """The access token was rejected even after a refresh."""

    hint = "the session expired or was revoked: log in again with `sfbulk login`"


class InsufficientAccessError(SalesforceError):
    """The user lacks a permission, or the API is disabled for the user or org."""

    hint = "ask an admin for the missing permission (API Enabled, object or field access)"


class NotFoundError(SalesforceError):
    """The record, object or resource does not exist (or is not visible to this user)."""

    hint = "check the name or id, and that this user can see it"


class QueryError(SalesforceError):
    """A SOQL/SOSL query was rejected."""

    hint = "fix the query and try again"


class MalformedQueryError(QueryError):
    """The query does not parse (`MALFORMED_QUERY`, `MALFORMED_SEARCH`)."""

    hint = "fix the SOQL syntax; Bulk queries also reject GROUP BY, OFFSET and aggregates"


class InvalidFieldError(QueryError):
    """The query names a field, object or relationship that does not exist."""

    hint = "check the field names with describe (custom fields end in __c)"


class RecordError(SalesforceError):
    """A create/update/delete was refused for the data itself (validation, required field)."""

    hint = "fix the record values named in the message"


class RowLockError(SalesforceError):
    """`UNABLE_TO_LOCK_ROW`: another transaction holds the record."""

    hint = "another process is updating the same records; retry later"

    @property
    def retryable(self) -> bool:
        return True


class RequestLimitError(SalesforceError):
    """`REQUEST_LIMIT_EXCEEDED`. Concurrent-request limits pass; the daily limit does not."""

    def __init__(self, message: str, *, daily: bool | None = None, **kwargs: Any) -> None:
        self.daily = _is_daily_limit(message) if daily is None else daily
        self.hint = (
            "the org's daily API request limit is used up: wait for the 24-hour window to "
            "roll over or ask Salesforce to raise the limit; retrying now will not help"
            if self.daily
            else "too many concurrent requests; the client retries these with backoff"
        )
        super().__init__(message, **kwargs)

    @property
    def retryable(self) -> bool:
        return not self.daily


class RateLimitedError(SalesforceError):
    """HTTP 429: the server asks the client to slow down."""

    hint = "too many requests; wait and retry (the client honours Retry-After)"

    @property
    def retryable(self) -> bool:
        return True


class ServerUnavailableError(SalesforceError):
    """HTTP 5xx: Salesforce or a proxy in front of it is unavailable."""

    hint = "Salesforce is unavailable or under maintenance; retry later"

    @property
    def retryable(self) -> bool:
        return True


class ServerError(SalesforceError):
    """HTTP 500 (`UNKNOWN_EXCEPTION`): the request broke something on the server side.

    Not retried: the same request usually fails the same way."""

    hint = "Salesforce failed on this request; if it persists, simplify it or contact support"


class ConnectionLostError(SalesforceError):
    """The connection failed or dropped before a complete response arrived."""

    hint = "the network connection dropped; check connectivity and retry"

    @property
    def retryable(self) -> bool:
        return True


class MultipleChoicesError(SalesforceError):
    """HTTP 300 from an upsert: the external id matches more than one record."""

    hint = "the external id value matches several records; make it unique or update by Id"

    def __init__(self, message: str, *, candidates: Sequence[str] = (), **kwargs: Any) -> None:
        self.candidates: tuple[str, ...] = tuple(candidates)
        super().__init__(message, **kwargs)


class BulkJobError(SalesforceError):
    """A Bulk API 2.0 job ended `Failed` or `Aborted`."""

    hint = "inspect the job's errorMessage and its failed results"

    def __init__(
        self,
        message: str,
        *,
        job_id: str,
        state: str,
        error_message: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.job_id = job_id
        self.state = state
        self.error_message = error_message
        super().__init__(message, **kwargs)


class BulkJobTimeoutError(BulkJobError):
    """Waiting for a Bulk job gave up; the job is still running on the server."""

    hint = "the job still runs on the server: abort it or wait for it again by id"


class ApiVersionError(SalesforceError):
    """The requested API version is not offered by this org."""

    hint = "pick one of the versions listed by GET /services/data"


_AUTH_CODES = frozenset({"INVALID_AUTH_HEADER", "INVALID_LOGIN", "LOGIN_MUST_USE_SECURITY_TOKEN"})
_SESSION_CODES = frozenset({"INVALID_SESSION_ID"})
_ACCESS_CODES = frozenset(
    {
        "INSUFFICIENT_ACCESS",
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        "API_DISABLED_FOR_ORG",
        "API_CURRENTLY_DISABLED",
        "FUNCTIONALITY_NOT_ENABLED",
    }
)
_NOT_FOUND_CODES = frozenset({"NOT_FOUND", "INVALID_TYPE", "ENTITY_IS_DELETED", "INVALID_ID_FIELD"})
_MALFORMED_CODES = frozenset(
    {"MALFORMED_QUERY", "MALFORMED_SEARCH", "INVALID_QUERY_FILTER_OPERATOR", "INVALID_QUERY_LOCATOR"}
)
_INVALID_FIELD_CODES = frozenset({"INVALID_FIELD", "INVALID_FIELD_FOR_INSERT_UPDATE"})
_RECORD_CODES = frozenset(
    {
        "REQUIRED_FIELD_MISSING",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "DUPLICATE_VALUE",
        "DUPLICATES_DETECTED",
        "STRING_TOO_LONG",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "FIELD_INTEGRITY_EXCEPTION",
        "INVALID_CROSS_REFERENCE_KEY",
        "MALFORMED_ID",
        "JSON_PARSER_ERROR",
        "INVALIDJSON",
        "ENTITY_IS_LOCKED",
        "DELETE_FAILED",
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
    }
)


def _is_daily_limit(message: str) -> bool:
    # Salesforce words the daily cap as "TotalRequests Limit exceeded"; the concurrent caps
    # mention "ConcurrentPerOrgLongTxn"/"concurrent" instead.
    lowered = message.lower()
    if "concurrent" in lowered:
        return False
    return "totalrequests" in lowered or "daily" in lowered or "24-hour" in lowered


def parse_error_body(body: bytes | str | None) -> list[ErrorDetail]:
    """The error entries in a Salesforce error body, in any of the shapes it uses.

    Handles the REST list `[{"message","errorCode","fields"}]`, a single such object, the
    OAuth `{"error","error_description"}` object, and falls back to the text itself.
    """
    if body is None:
        return []
    raw = body.encode() if isinstance(body, str) else body
    if not raw.strip():
        return []
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # Proxies and maintenance pages answer in HTML: keep a short, readable excerpt.
        text = re.sub(r"<[^>]*>", " ", raw[:20_000].decode("utf-8", "replace"))
        text = " ".join(text.split())
        return [ErrorDetail(error_code=None, message=text[:500] or "(no detail)")]
    items = data if isinstance(data, list) else [data]
    details: list[ErrorDetail] = []
    for item in items:
        if not isinstance(item, Mapping):
            details.append(ErrorDetail(error_code=None, message=str(item)))
            continue
        if "error" in item and "errorCode" not in item:
            oauth_code = str(item.get("error"))
            message = str(item.get("error_description") or oauth_code)
            details.append(ErrorDetail(error_code=oauth_code, message=message, extra=dict(item)))
            continue
        code = item.get("errorCode") or item.get("statusCode")
        fields = item.get("fields") or ()
        details.append(
            ErrorDetail(
                error_code=str(code) if code is not None else None,
                message=str(item.get("message", "")),
                fields=tuple(str(f) for f in fields) if isinstance(fields, list) else (),
                extra={
                    k: v
                    for k, v in item.items()
                    if k not in {"errorCode", "statusCode", "message", "fields"}
                },
            )
        )
    return details


def _class_for(status: int, code: str | None, oauth: bool) -> type[SalesforceError]:
    if oauth:
        return AuthError
    if code in _SESSION_CODES:
        return SessionExpiredError
    if code == "REQUEST_LIMIT_EXCEEDED":
        return RequestLimitError
    if code == "UNABLE_TO_LOCK_ROW":
        return RowLockError
    if code in _AUTH_CODES:
        return AuthError
    if code in _ACCESS_CODES:
        return InsufficientAccessError
    if code in _MALFORMED_CODES:
        return MalformedQueryError
    if code in _INVALID_FIELD_CODES:
        return InvalidFieldError
    if code in _NOT_FOUND_CODES:
        return NotFoundError
    if code in _RECORD_CODES:
        return RecordError
    if code == "UNSUPPORTED_API_VERSION":
        return ApiVersionError
    if status == 300:
        return MultipleChoicesError
    if status == 401:
        return AuthError
    if status == 403:
        return InsufficientAccessError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitedError
    if status in (502, 503, 504):
        return ServerUnavailableError
    if status >= 500:
        return ServerError
    return SalesforceError


def error_from_response(
    status: int,
    body: bytes | str | None,
    *,
    method: str | None = None,
    url: str | None = None,
    retry_after: float | None = None,
) -> SalesforceError:
    """The most specific `SalesforceError` for an HTTP error response."""
    details = parse_error_body(body)
    first = details[0] if details else None
    code = first.error_code if first else None
    # parse_error_body keeps the whole OAuth object in `extra`; REST entries never hold "error".
    oauth = first is not None and "error" in first.extra
    cls = _class_for(status, code, oauth)
    if status == 300:
        candidates = _candidates(body)
        message = f"the external id value matches {len(candidates) or 'several'} records"
        return MultipleChoicesError(
            message, candidates=candidates, status=status, method=method, url=url
        )
    if first and first.message:
        message = first.message
        if len(details) > 1:
            message += f" (and {len(details) - 1} more error(s))"
    else:
        message = f"HTTP {status} with no error detail"
    common: dict[str, Any] = {
        "error_code": code,
        "status": status,
        "fields": first.fields if first else (),
        "method": method,
        "url": url,
        "errors": details,
        "retry_after": retry_after,
    }
    return cls(message, **common)


def _candidates(body: bytes | str | None) -> list[str]:
    # An upsert 300 answers with a plain JSON list of record URLs.
    if not body:
        return []
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    if isinstance(data, list):
        return [str(x) for x in data if isinstance(x, str)]
    return []
