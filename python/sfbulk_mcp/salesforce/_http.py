"""Sending one request: token, retries, the shared refresh, error mapping, usage tracking.

Everything above this module (REST, Bulk, Tooling) speaks in paths and JSON; this module is the
only place that touches tokens, the connection pool and the retry loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from importlib import metadata
from typing import Any

import httpx2

from .credentials import Token, TokenProvider
from .errors import (
    ConnectionLostError,
    SalesforceError,
    SessionExpiredError,
    error_from_response,
    redact_url,
)
from .limits import ApiUsage, parse_limit_info
from .retry import IDEMPOTENT_METHODS, RetryPolicy, parse_retry_after

logger = logging.getLogger("sfbulk_mcp.salesforce")


def _ssl_context(verify: ssl.SSLContext | str | os.PathLike[str] | bool) -> ssl.SSLContext | bool:
    """A CA bundle file or directory becomes an SSL context (httpx2 wants contexts)."""
    if isinstance(verify, ssl.SSLContext | bool):
        return verify
    path = os.fspath(verify)
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)


class _RedactUrls(logging.Filter):
    """Strips secret query parameters from URLs that httpx2 itself logs at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx2.URL) else arg
                for arg in record.args
            )
        return True


def _install_redaction() -> None:
    log = logging.getLogger("httpx2")
    if not any(isinstance(f, _RedactUrls) for f in log.filters):
        log.addFilter(_RedactUrls())


_install_redaction()

def _user_agent() -> str:
    try:
        return f"sfbulk-mcp/{metadata.version('sfbulk-mcp')}"
    except metadata.PackageNotFoundError:
        return "sfbulk-mcp"


_USER_AGENT = _user_agent()
# Share of the daily API allowance past which one warning is logged.
_USAGE_WARNING = 0.9


class HttpCore:
    """The authenticated, retrying HTTP layer shared by every API family of one client."""

    def __init__(
        self,
        provider: TokenProvider,
        *,
        http: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        verify: ssl.SSLContext | str | os.PathLike[str] | bool = True,
    ) -> None:
        self.provider = provider
        self.retry = retry or RetryPolicy()
        self._owns_http = http is None
        self.http = http or httpx2.AsyncClient(
            transport=transport,
            # pool=None: callers queue for a pooled connection instead of failing after a while.
            timeout=httpx2.Timeout(timeout, connect=30.0, pool=None),
            limits=httpx2.Limits(max_connections=20, max_keepalive_connections=10),
            headers={"User-Agent": _USER_AGENT},
            follow_redirects=False,
            trust_env=True,
            verify=_ssl_context(verify),
        )
        self._refresh_lock = asyncio.Lock()
        # (rejected access token, its replacement) from the latest refresh.
        self._replaced: tuple[str, Token] | None = None
        self._usage: dict[str, ApiUsage] = {}
        self._warned_usage = False
        self.refresh_count = 0

    @property
    def api_usage(self) -> ApiUsage | None:
        """The last `api-usage=N/M` Salesforce reported, or None before any response."""
        return self._usage.get("api-usage")

    @property
    def limit_info(self) -> dict[str, ApiUsage]:
        """Every usage counter from the last `Sforce-Limit-Info` header."""
        return dict(self._usage)

    async def aclose(self) -> None:
        """Close the connection pool if this core created it."""
        if self._owns_http:
            await self.http.aclose()

    async def instance_url(self) -> str:
        """The instance the current token belongs to."""
        return (await self._current_token()).instance_url.rstrip("/")

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        stream: bool = False,
        authenticate: bool = True,
    ) -> httpx2.Response:
        """Send a request and return its successful response, retrying what is safe to retry.

        `path` is an absolute path on the instance (`/services/...`) or a full URL. With
        `stream=True` the body is left unread and the caller must close the response.
        `idempotent` overrides the method's default (GET/HEAD/PUT/DELETE yes, POST/PATCH no):
        only idempotent requests are re-sent after a failure that may have reached the server.
        """
        method = method.upper()
        may_resend = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        attempt = 0
        refreshed = False
        token = await self._current_token() if authenticate else None
        while True:
            url = self._url(path, token)
            request = self.http.build_request(
                method,
                url,
                params=params,
                json=json,
                content=content,
                headers=self._headers(headers, token),
            )
            shown = f"{method} {redact_url(str(request.url.copy_with(query=None)))}"
            started = time.perf_counter()
            try:
                response = await self.http.send(request, stream=stream)
            except httpx2.TransportError as exc:
                # A connect failure never reached the server: safe to resend even a POST.
                resend = may_resend or isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout)
                if resend and attempt < self.retry.max_retries:
                    await self._pause(shown, f"connection error ({type(exc).__name__})", attempt, None)
                    attempt += 1
                    continue
                raise ConnectionLostError(
                    f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                    method=method,
                    url=str(request.url),
                ) from exc
            elapsed_ms = (time.perf_counter() - started) * 1000
            self._track_usage(response)
            logger.debug("%s -> %d in %.0f ms", shown, response.status_code, elapsed_ms)
            if response.status_code < 300:
                return response
            try:
                body = await response.aread()
            except httpx2.TransportError:
                body = b""
            finally:
                await response.aclose()
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            error = error_from_response(
                response.status_code,
                body,
                method=method,
                url=str(request.url),
                retry_after=retry_after,
            )
            if response.status_code == 401 and authenticate and token is not None:
                if refreshed:
                    raise SessionExpiredError(
                        "the session was rejected again after a refresh; log in again with "
                        "`sfbulk login` (or set a new SALESFORCE_ACCESS_TOKEN)",
                        error_code=error.error_code,
                        status=401,
                        method=method,
                        url=str(request.url),
                        errors=error.errors,
                        hint="",
                    )
                token = await self._refresh(token)
                refreshed = True
                logger.info("%s -> 401; retrying once with a refreshed session", shown)
                continue
            if self._should_retry(error, may_resend) and attempt < self.retry.max_retries:
                if retry_after is not None and retry_after > self.retry.max_retry_after:
                    error.attempts = attempt + 1
                    raise error
                await self._pause(shown, _reason(error), attempt, retry_after)
                attempt += 1
                continue
            logger.info("%s -> %d %s", shown, response.status_code, error.error_code or "")
            error.attempts = attempt + 1
            raise error

    @staticmethod
    def _should_retry(error: SalesforceError, may_resend: bool) -> bool:
        # A 4xx rejection (429, concurrent REQUEST_LIMIT_EXCEEDED, UNABLE_TO_LOCK_ROW) or a
        # 5xx answer may still mean the work was done for a non-idempotent request, so those
        # are only retried when the caller said resending is harmless.
        return error.retryable and may_resend

    async def _pause(self, shown: str, reason: str, attempt: int, retry_after: float | None) -> None:
        wait = self.retry.delay(attempt, retry_after)
        logger.warning(
            "%s: %s; retry %d/%d in %.1f s",
            shown,
            reason,
            attempt + 1,
            self.retry.max_retries,
            wait,
        )
        await self.retry.sleep(wait)

    async def _refresh(self, stale: Token) -> Token:
        """One refresh for every caller that saw `stale` rejected."""
        async with self._refresh_lock:
            if self._replaced is not None and self._replaced[0] == stale.access_token:
                return self._replaced[1]  # refreshed while we waited
            current = await self.provider.token()
            if current.access_token != stale.access_token:
                return current  # the provider renewed it on its own
            fresh = await self.provider.refresh(stale)
            self._replaced = (stale.access_token, fresh)
            self.refresh_count += 1
            return fresh

    async def _current_token(self) -> Token:
        token = await self.provider.token()
        # A provider whose token() lags behind its refresh() must not send us back to 401.
        if self._replaced is not None and token.access_token == self._replaced[0]:
            return self._replaced[1]
        return token

    def _url(self, path: str, token: Token | None) -> str:
        if path.startswith(("http://", "https://")):
            return path
        if token is None:
            raise ValueError(f"a relative path needs an instance URL: {path}")
        return token.instance_url.rstrip("/") + "/" + path.lstrip("/")

    @staticmethod
    def _headers(extra: dict[str, str] | None, token: Token | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if extra:
            headers.update(extra)
        if token is not None:
            headers["Authorization"] = f"Bearer {token.access_token}"
        return headers

    def _track_usage(self, response: httpx2.Response) -> None:
        usage = parse_limit_info(response.headers.get("Sforce-Limit-Info"))
        if not usage:
            return
        self._usage = usage
        org = usage.get("api-usage")
        if org is not None and org.fraction >= _USAGE_WARNING and not self._warned_usage:
            self._warned_usage = True
            logger.warning(
                "the org has used %d of its %d daily API requests (%.0f%%)",
                org.used,
                org.max,
                org.fraction * 100,
            )


def _reason(error: SalesforceError) -> str:
    if error.error_code:
        return f"{error.status} {error.error_code}"
    return f"HTTP {error.status}"
