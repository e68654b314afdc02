"""Bulk API 2.0 result bodies: one page streamed, one page read whole, links to pages.

Bodies are handed over DECODED: the client asks for `Accept-Encoding: gzip` (Salesforce
compresses large pages) and httpx2 inflates on the fly, so callers receive the CSV bytes
exactly as Salesforce produced them. `BulkResultStream.content_encoding` still tells what
travelled on the wire, and `aiter_raw()` gives those bytes for callers that gunzip themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import httpx2

from .errors import ConnectionLostError


class ResultStreamBrokenError(ConnectionLostError):
    """A result page broke off mid-way. Fetch the same `locator` again to restart the page;
    discard the partial bytes first so no row is lost or duplicated."""

    hint = "restart the page from the same locator, discarding the partial bytes"

    def __init__(self, message: str, *, job_id: str, locator: str | None, **kwargs: Any) -> None:
        self.job_id = job_id
        self.locator = locator
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class ResultPage:
    """One fully read page of query results."""

    data: bytes
    locator: str | None
    next_locator: str | None
    number_of_records: int | None


@dataclass(frozen=True)
class ResultLink:
    """One entry of `resultPages`: where a page starts and how many records it holds."""

    url: str
    locator: str | None
    max_records: int | None

    @classmethod
    def from_url(cls, url: str) -> ResultLink:
        """Read the locator and maxRecords out of a result URL."""
        query = parse_qs(urlsplit(url).query)
        locator = query.get("locator", [""])[0]
        max_records = query.get("maxRecords", [""])[0]
        return cls(
            url=url,
            locator=None if locator in ("", "null") else locator,
            max_records=int(max_records) if max_records and max_records.isdigit() else None,
        )


class BulkResultStream:
    """An open result response: headers known, body streamed on demand (decoded CSV bytes)."""

    def __init__(self, response: httpx2.Response, *, job_id: str, locator: str | None) -> None:
        self._response = response
        self.job_id = job_id
        self.locator = locator
        self.status_code = response.status_code
        self.content_encoding = response.headers.get("Content-Encoding")
        self.content_type = response.headers.get("Content-Type")
        raw_next = response.headers.get("Sforce-Locator")
        # The last page says the literal string "null".
        self.next_locator: str | None = None if raw_next in (None, "", "null") else raw_next
        count = response.headers.get("Sforce-NumberOfRecords")
        self.number_of_records: int | None = int(count) if count and count.isdigit() else None

    @property
    def done(self) -> bool:
        """True when this is the last page."""
        return self.next_locator is None

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body in chunks, gunzipped. A mid-way break raises `ResultStreamBrokenError`."""
        async for chunk in self._guarded(self._response.aiter_bytes(chunk_size)):
            yield chunk

    async def aiter_raw(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body exactly as it travelled (gzip when `content_encoding == "gzip"`)."""
        async for chunk in self._guarded(self._response.aiter_raw(chunk_size)):
            yield chunk

    async def _guarded(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                yield chunk
        except (httpx2.TransportError, httpx2.DecodingError) as exc:
            raise ResultStreamBrokenError(
                f"result page of job {self.job_id} broke off: {type(exc).__name__}",
                job_id=self.job_id,
                locator=self.locator,
                method="GET",
                url=str(self._response.request.url),
            ) from exc

    async def aread(self) -> bytes:
        """The whole page body."""
        return b"".join([chunk async for chunk in self.aiter_bytes()])

    async def aclose(self) -> None:
        """Release the connection."""
        await self._response.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class OpenResults:
    """A result stream about to be opened: `async with` it, or `await` it for the stream."""

    def __init__(self, opener: Callable[[], Awaitable[BulkResultStream]]) -> None:
        self._opener = opener
        self._stream: BulkResultStream | None = None

    def __await__(self) -> Generator[Any, None, BulkResultStream]:
        return self._opener().__await__()

    async def __aenter__(self) -> BulkResultStream:
        self._stream = await self._opener()
        return self._stream

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            await self._stream.aclose()
