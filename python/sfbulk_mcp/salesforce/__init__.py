"""Salesforce async client: REST, Bulk API 2.0, Tooling; errors; retries; limits.

`SalesforceClient` is the async client; `SyncSalesforceClient` its blocking twin for scripts.
Errors live in `sfbulk_mcp.salesforce.errors`, tokens in `sfbulk_mcp.salesforce.credentials`.
"""

from __future__ import annotations

from .bulk import (
    BulkResultStream,
    ResultLink,
    ResultPage,
    ResultStreamBrokenError,
    bulk_query_problems,
)
from .client import SalesforceClient
from .credentials import StaticTokenProvider, Token, TokenProvider
from .errors import (
    ApiVersionError,
    AuthError,
    BulkJobError,
    BulkJobTimeoutError,
    ConnectionLostError,
    InsufficientAccessError,
    InvalidFieldError,
    MalformedQueryError,
    MultipleChoicesError,
    NotFoundError,
    QueryError,
    RateLimitedError,
    RecordError,
    RequestLimitError,
    RowLockError,
    SalesforceError,
    ServerError,
    ServerUnavailableError,
    SessionExpiredError,
)
from .limits import ApiUsage
from .retry import RetryPolicy
from .sync import SyncSalesforceClient

__all__ = [
    "ApiUsage",
    "ApiVersionError",
    "AuthError",
    "BulkJobError",
    "BulkJobTimeoutError",
    "BulkResultStream",
    "ConnectionLostError",
    "InsufficientAccessError",
    "InvalidFieldError",
    "MalformedQueryError",
    "MultipleChoicesError",
    "NotFoundError",
    "QueryError",
    "RateLimitedError",
    "RecordError",
    "RequestLimitError",
    "ResultLink",
    "ResultPage",
    "ResultStreamBrokenError",
    "RetryPolicy",
    "RowLockError",
    "SalesforceClient",
    "SalesforceError",
    "ServerError",
    "ServerUnavailableError",
    "SessionExpiredError",
    "StaticTokenProvider",
    "SyncSalesforceClient",
    "Token",
    "TokenProvider",
    "bulk_query_problems",
]
