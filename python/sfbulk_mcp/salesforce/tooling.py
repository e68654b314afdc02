"""Tooling API: metadata-level queries and requests under `/services/data/vXX.X/tooling/`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from ._api import ApiBase


class ToolingApi(ApiBase):
    """The Tooling API endpoints."""

    async def tooling_query(self, soql: str) -> dict[str, Any]:
        """First page of a Tooling SOQL query (ApexClass, CustomField, …)."""
        path = await self._data_path("tooling/query/")
        return dict(await self._json("GET", path, params={"q": soql}))

    async def tooling_query_iter(self, soql: str) -> AsyncIterator[dict[str, Any]]:
        """Every record of a Tooling query, page after page."""
        page = await self.tooling_query(soql)
        while True:
            for record in page.get("records", ()):
                yield record
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = dict(await self._json("GET", next_url))

    async def tooling_request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Any Tooling call; `path` is relative to `tooling/` (e.g. `sobjects/ApexClass`)."""
        full = await self._data_path("tooling/" + path.lstrip("/"))
        return await self._json(
            method, full, json=json, params=dict(params) if params else None, idempotent=idempotent
        )

    async def execute_anonymous(self, apex: str) -> dict[str, Any]:
        """Run anonymous Apex; the answer says whether it compiled and succeeded."""
        path = await self._data_path("tooling/executeAnonymous/")
        # A GET that changes data: never resend it automatically.
        return dict(
            await self._json("GET", path, params={"anonymousBody": apex}, idempotent=False)
        )
