"""What every API family (REST, Bulk, Tooling) shares: the HTTP core and the version."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import orjson

from ._http import HttpCore
from .versions import highest_version, normalize_version


class ApiBase:
    """Holds the HTTP core and resolves `/services/data/vXX.X` paths."""

    def __init__(self, core: HttpCore, api_version: str | None) -> None:
        self._core = core
        self._pinned = normalize_version(api_version) if api_version else None
        self._version: str | None = self._pinned
        self._version_lock = asyncio.Lock()

    async def api_version(self) -> str:
        """The API version in use: the pinned one, or the org's newest (asked once)."""
        if self._version is None:
            async with self._version_lock:
                if self._version is None:
                    self._version = highest_version(await self.versions())
        return self._version

    async def versions(self) -> list[dict[str, Any]]:
        """Every API version the org offers (`GET /services/data`)."""
        data = await self._json("GET", "/services/data/")
        return list(data) if isinstance(data, list) else []

    async def _data_path(self, suffix: str = "", *, version: str | None = None) -> str:
        ver = normalize_version(version) if version else await self.api_version()
        return f"/services/data/v{ver}/{suffix.lstrip('/')}"

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send and decode the JSON answer; None for an empty body (204)."""
        response = await self._core.send(method, path, **kwargs)
        return decode_json(response)


def decode_json(response: httpx2.Response) -> Any:
    """The JSON body of a response, or None when it has no body."""
    if not response.content:
        return None
    return orjson.loads(response.content)
