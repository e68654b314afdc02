"""File bodies (`--files`): ContentVersion.VersionData, Attachment.Body, Document.Body.

Bulk queries cannot return base64 fields, so each body is fetched from its REST blob endpoint
(`/sobjects/ContentVersion/{Id}/VersionData`) and streamed to `files/<Object>/<Id>`; the size
written is checked against the record's own ContentSize/BodyLength. A body already on disk
with the right size is not fetched again, which is what makes `--files` resumable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ..salesforce.errors import NotFoundError

logger = logging.getLogger("sfbulk_mcp.backup")

# object → (body field, size field)
BODY_FIELDS: dict[str, tuple[str, str]] = {
    "ContentVersion": ("VersionData", "ContentSize"),
    "Attachment": ("Body", "BodyLength"),
    "Document": ("Body", "BodyLength"),
}
DEFAULT_PARALLEL = 4


class BodySizeError(RuntimeError):
    """A downloaded body does not have the size its record announces."""


@dataclass
class BodiesResult:
    """What a body download did for one object."""

    downloaded: int = 0
    skipped: int = 0
    missing: int = 0
    bytes: int = 0


def body_field(object_name: str) -> tuple[str, str] | None:
    """(body field, size field) of an object with file bodies, or None."""
    for name, fields in BODY_FIELDS.items():
        if name.lower() == object_name.lower():
            return fields
    return None


async def _stream_body(client: Any, path: str, target: Path) -> int:
    """Stream one body to `target` (through a temp file); returns its size."""
    tmp = target.with_name(target.name + ".part")
    size = 0
    # The client has no public raw-bytes GET; its HTTP core does the auth, retries and refresh.
    response = await client._core.send("GET", path, stream=True)
    try:
        with tmp.open("wb") as sink:
            async for chunk in response.aiter_bytes():
                sink.write(chunk)
                size += len(chunk)
    finally:
        await response.aclose()
    tmp.replace(target)
    return size


async def download_bodies(
    client: Any,
    object_name: str,
    records: pl.DataFrame,
    folder: Path,
    *,
    parallel: int = DEFAULT_PARALLEL,
    on_body: Callable[[int], Awaitable[None] | None] | None = None,
) -> BodiesResult:
    """Fetch the body of every record in `records` (columns Id and the size field) to `folder`.

    Deleted rows (IsDeleted, in incremental snapshots) have no body left to fetch.
    """
    fields = body_field(object_name)
    if fields is None:
        return BodiesResult()
    body, size_field = fields
    folder.mkdir(parents=True, exist_ok=True)
    if "IsDeleted" in records.columns:
        records = records.filter(~pl.col("IsDeleted").fill_null(False))
    sizes = records.get_column(size_field) if size_field in records.columns else None
    ids = records.get_column("Id").to_list()
    expected: list[int | None] = (
        [int(s) if s is not None else None for s in sizes.to_list()]
        if sizes is not None
        else [None] * len(ids)
    )
    result = BodiesResult()
    gate = asyncio.Semaphore(max(1, parallel))
    version = await client.api_version()

    async def one(record_id: str, want: int | None) -> None:
        target = folder / record_id
        if target.is_file() and (want is None or target.stat().st_size == want):
            result.skipped += 1
            result.bytes += target.stat().st_size
            return
        path = f"/services/data/v{version}/sobjects/{object_name}/{record_id}/{body}"
        async with gate:
            try:
                got = await _stream_body(client, path, target)
            except NotFoundError:
                # The record was deleted (or its body removed) since the export.
                result.missing += 1
                return
        if want is not None and got != want:
            target.unlink(missing_ok=True)
            raise BodySizeError(
                f"{object_name} {record_id}: downloaded {got} bytes, the record says "
                f"{size_field} = {want}"
            )
        result.downloaded += 1
        result.bytes += got
        if on_body is not None:
            outcome = on_body(got)
            if outcome is not None:
                await outcome

    await asyncio.gather(*(one(str(i), w) for i, w in zip(ids, expected, strict=True)))
    return result
