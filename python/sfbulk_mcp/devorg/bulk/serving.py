"""Streaming result bytes to the client: a header, then a byte range of a file, in big chunks.

The body is never assembled in memory: a 1 GB page costs a few MB of buffers, and the event
loop only waits on disk reads done in worker threads.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio.to_thread
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sfbulk_mcp.devorg.bulk.resultfile import CHUNK_BYTES


class FileRangeResponse(Response):
    """`prefix` followed by bytes [start, end) of `path`, with a Content-Length."""

    def __init__(
        self,
        prefix: bytes,
        path: Path,
        start: int,
        end: int,
        *,
        headers: dict[str, str],
        media_type: str,
    ) -> None:
        self.prefix = prefix
        self.path = path
        self.start = start
        self.end = end
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.body = b""
        self.init_headers({**headers, "content-length": str(len(prefix) + end - start)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code,
             "headers": self.raw_headers}
        )
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        fd = await anyio.to_thread.run_sync(os.open, str(self.path), os.O_RDONLY)
        try:
            position, end = self.start, self.end
            first = self.prefix
            while position < end:
                size = min(CHUNK_BYTES, end - position)
                chunk = await anyio.to_thread.run_sync(os.pread, fd, size, position)
                if not chunk:
                    break
                position += len(chunk)
                if first:
                    # The header rides with the first chunk: one write instead of two.
                    chunk, first = first + chunk, b""
                await send({"type": "http.response.body", "body": chunk,
                            "more_body": position < end})
            if first or position < end:
                await send({"type": "http.response.body", "body": first, "more_body": False})
            elif self.start == self.end:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            os.close(fd)
