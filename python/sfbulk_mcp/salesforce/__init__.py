"""Salesforce async client: REST, Bulk API 2.0, Tooling; errors; retries; limits.

`SalesforceClient` is the async client; `SyncSalesforceClient` its blocking twin for scripts.
Errors live in `sfbulk_mcp.salesforce.errors`, tokens in `sfbulk_mcp.salesforce.credentials`.

    async with SalesforceClient(provider) as sf:           # any TokenProvider
        async for account in sf.query_iter("SELECT Id, Name FROM Account"):
            ...
        job = await sf.bulk_create_query_job("SELECT Id, Name FROM Account")
        await sf.bulk_wait("query", job["id"], timeout=600)
        async for page in sf.bulk_query_pages(job["id"], max_records=50_000):
            consume(page.data)                              # decoded CSV bytes, one page

Behaviour worth knowing:
- One pooled `httpx2.AsyncClient` per client; API version pinned or the org's newest.
- Retries (bounded exponential backoff with jitter, `Retry-After` honoured) on 429, 502,
  503, 504, concurrent-request `REQUEST_LIMIT_EXCEEDED`, `UNABLE_TO_LOCK_ROW` and dropped
  connections — for idempotent requests only (GET/HEAD/PUT/DELETE, or `idempotent=True`).
  The daily request limit and HTTP 500 are raised at once.
- `401` → one `provider.refresh()` shared by every concurrent caller, one retry; a second
  `401` raises `SessionExpiredError`.
- `client.api_usage` is `(used, max)` from the last `Sforce-Limit-Info` header.
- Logs (`sfbulk_mcp.salesforce`) carry method, path, status and timing — never a token.
"""

from __future__ import annotations

from .bulk import bulk_query_problems
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
from .results import (
    BulkResultStream,
    OpenResults,
    ResultLink,
    ResultPage,
    ResultStreamBrokenError,
)
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
    "OpenResults",
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
