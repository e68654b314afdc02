"""REST API: versions, limits, describe, SOQL/SOSL, record CRUD, composite, collections."""

from __future__ import annotations

import difflib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ._api import ApiBase, decode_json
from .errors import NotFoundError, SalesforceError


def _seg(value: str) -> str:
    """One URL path segment, escaped (ids and external id values may contain `/`)."""
    return quote(str(value), safe="")


class RestApi(ApiBase):
    """The REST endpoints under `/services/data/vXX.X/`."""

    _describe_cache: dict[str, dict[str, Any]]
    _global_cache: dict[str, Any] | None

    def _init_rest(self) -> None:
        self._describe_cache = {}
        self._global_cache = None

    async def resources(self) -> dict[str, Any]:
        """The resources available at the API version in use."""
        return dict(await self._json("GET", await self._data_path()))

    async def limits(self) -> dict[str, Any]:
        """The org's limits (`DailyApiRequests`, `DailyBulkV2QueryJobs`, …) with Max/Remaining."""
        return dict(await self._json("GET", await self._data_path("limits/")))

    async def describe_global(self, *, refresh: bool = False) -> dict[str, Any]:
        """Every sObject the user can see (cached per client; `refresh=True` asks again)."""
        if self._global_cache is None or refresh:
            self._global_cache = dict(await self._json("GET", await self._data_path("sobjects/")))
        return self._global_cache

    async def describe(self, sobject: str, *, refresh: bool = False) -> dict[str, Any]:
        """The full describe of one sObject (cached per client, case-insensitively)."""
        key = sobject.lower()
        if key not in self._describe_cache or refresh:
            path = await self._data_path(f"sobjects/{_seg(sobject)}/describe/")
            try:
                self._describe_cache[key] = dict(await self._json("GET", path))
            except NotFoundError as exc:
                exc.set_hint(await self._unknown_object_hint(sobject))
                raise
        return self._describe_cache[key]

    async def _unknown_object_hint(self, sobject: str) -> str:
        """Advice for a describe that found nothing: the object names this user can see that
        look like `sobject`."""
        hint = f"no object named {sobject!r} is visible to this user"
        try:
            names = [str(o["name"]) for o in (await self.describe_global())["sobjects"]]
        except (SalesforceError, KeyError, TypeError):
            return hint
        by_lower = {name.lower(): name for name in names}
        close = difflib.get_close_matches(sobject.lower(), list(by_lower), n=3, cutoff=0.75)
        if close:
            hint += " (did you mean " + " or ".join(by_lower[c] for c in close) + "?)"
        return hint

    async def query(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> dict[str, Any]:
        """The first page of a SOQL query: `totalSize`, `done`, `records`, `nextRecordsUrl`.

        `include_deleted` uses `queryAll` (deleted and archived rows too); `batch_size`
        (200–2000) asks Salesforce for smaller or larger pages.
        """
        resource = "queryAll/" if include_deleted else "query/"
        return dict(
            await self._json(
                "GET",
                await self._data_path(resource),
                params={"q": soql},
                headers=_batch_header(batch_size),
            )
        )

    async def query_more(
        self, next_records: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> dict[str, Any]:
        """The next page, from a `nextRecordsUrl` or a bare query locator."""
        if next_records.startswith(("/", "http://", "https://")):
            path = next_records
        else:
            resource = "queryAll" if include_deleted else "query"
            path = await self._data_path(f"{resource}/{_seg(next_records)}")
        return dict(await self._json("GET", path, headers=_batch_header(batch_size)))

    async def query_iter(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record of a query, page after page."""
        page = await self.query(soql, include_deleted=include_deleted, batch_size=batch_size)
        while True:
            for record in page.get("records", ()):
                yield record
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = await self.query_more(next_url, batch_size=batch_size)

    async def query_all(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> list[dict[str, Any]]:
        """Every record of a query in one list (mind the memory on big results)."""
        return [
            r
            async for r in self.query_iter(
                soql, include_deleted=include_deleted, batch_size=batch_size
            )
        ]

    async def search(self, sosl: str) -> dict[str, Any]:
        """Run a SOSL search; the answer holds `searchRecords`."""
        data = await self._json("GET", await self._data_path("search/"), params={"q": sosl})
        # Very old versions answered with a bare list.
        return {"searchRecords": data} if isinstance(data, list) else dict(data)

    async def get_record(
        self, sobject: str, record_id: str, fields: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """One record by id, all fields or only `fields`."""
        params = {"fields": ",".join(fields)} if fields else None
        path = await self._data_path(f"sobjects/{_seg(sobject)}/{_seg(record_id)}")
        return dict(await self._json("GET", path, params=params))

    async def get_record_by_external_id(
        self, sobject: str, ext_field: str, ext_value: str, fields: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """One record by an external id field."""
        params = {"fields": ",".join(fields)} if fields else None
        path = await self._data_path(
            f"sobjects/{_seg(sobject)}/{_seg(ext_field)}/{_seg(ext_value)}"
        )
        return dict(await self._json("GET", path, params=params))

    async def create(self, sobject: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Insert a record; returns `{"id", "success", "errors"}`."""
        path = await self._data_path(f"sobjects/{_seg(sobject)}/")
        return dict(await self._json("POST", path, json=dict(record)))

    async def update(self, sobject: str, record_id: str, record: Mapping[str, Any]) -> None:
        """Update fields of a record (PATCH). Setting the same values twice is harmless."""
        path = await self._data_path(f"sobjects/{_seg(sobject)}/{_seg(record_id)}")
        await self._core.send("PATCH", path, json=dict(record), idempotent=True)

    async def upsert(
        self, sobject: str, ext_field: str, ext_value: str, record: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Insert or update by external id; the answer carries `id` and `created` (bool).

        Raises `MultipleChoicesError` when the value matches several records.
        """
        path = await self._data_path(
            f"sobjects/{_seg(sobject)}/{_seg(ext_field)}/{_seg(ext_value)}"
        )
        response = await self._core.send("PATCH", path, json=dict(record))
        body = decode_json(response)
        result: dict[str, Any] = dict(body) if isinstance(body, Mapping) else {}
        # 201 = created, 200 = updated (v46+), 204 = updated on older versions.
        result.setdefault("created", response.status_code == 201)
        result.setdefault("success", True)
        result.setdefault("errors", [])
        return result

    async def delete(self, sobject: str, record_id: str) -> None:
        """Delete a record (to the recycle bin)."""
        path = await self._data_path(f"sobjects/{_seg(sobject)}/{_seg(record_id)}")
        try:
            await self._core.send("DELETE", path)
        except NotFoundError as exc:
            # A DELETE resent after a lost answer finds its own work done: that is success.
            if not (exc.error_code == "ENTITY_IS_DELETED" and exc.attempts > 1):
                raise

    async def composite(
        self,
        subrequests: Sequence[Mapping[str, Any]],
        *,
        all_or_none: bool = False,
        collate_subrequests: bool = False,
    ) -> dict[str, Any]:
        """Up to 25 subrequests in one call (`compositeRequest`), optionally all or none."""
        body = {
            "allOrNone": all_or_none,
            "collateSubrequests": collate_subrequests,
            "compositeRequest": [dict(s) for s in subrequests],
        }
        return dict(await self._json("POST", await self._data_path("composite/"), json=body))

    async def collections_create(
        self, sobject: str, records: Iterable[Mapping[str, Any]], *, all_or_none: bool = False
    ) -> list[dict[str, Any]]:
        """Insert up to 200 records in one call; one `{"id","success","errors"}` per record."""
        body = {"allOrNone": all_or_none, "records": _typed(sobject, records)}
        path = await self._data_path("composite/sobjects")
        return list(await self._json("POST", path, json=body))

    async def collections_update(
        self, sobject: str, records: Iterable[Mapping[str, Any]], *, all_or_none: bool = False
    ) -> list[dict[str, Any]]:
        """Update up to 200 records (each with an `Id`) in one call."""
        body = {"allOrNone": all_or_none, "records": _typed(sobject, records)}
        path = await self._data_path("composite/sobjects")
        return list(await self._json("PATCH", path, json=body, idempotent=True))

    async def collections_upsert(
        self,
        sobject: str,
        ext_field: str,
        records: Iterable[Mapping[str, Any]],
        *,
        all_or_none: bool = False,
    ) -> list[dict[str, Any]]:
        """Upsert up to 200 records by an external id field; each result has `created`."""
        body = {"allOrNone": all_or_none, "records": _typed(sobject, records)}
        path = await self._data_path(f"composite/sobjects/{_seg(sobject)}/{_seg(ext_field)}")
        return list(await self._json("PATCH", path, json=body))

    async def collections_delete(
        self, ids: Sequence[str], *, all_or_none: bool = False
    ) -> list[dict[str, Any]]:
        """Delete up to 200 records by id in one call."""
        params = {"ids": ",".join(ids), "allOrNone": "true" if all_or_none else "false"}
        path = await self._data_path("composite/sobjects")
        return list(await self._json("DELETE", path, params=params))

    async def collections_get(
        self, sobject: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[dict[str, Any] | None]:
        """Up to 2000 records of one type by id; None where an id matched nothing."""
        path = await self._data_path(f"composite/sobjects/{_seg(sobject)}")
        # POST keeps long id lists out of the URL; it only reads, so resending is harmless.
        body = {"ids": list(ids), "fields": list(fields)}
        return list(await self._json("POST", path, json=body, idempotent=True))

    async def apex_rest(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
    ) -> Any:
        """Call a custom Apex REST endpoint under `/services/apexrest/`."""
        full = "/services/apexrest/" + path.lstrip("/")
        return await self._json(
            method, full, json=body, params=dict(params) if params else None, idempotent=idempotent
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Any REST call. `path` is relative to `/services/data/vXX.X/` unless it starts with
        `/` (an instance path) or is a full URL. Returns the decoded JSON (None when empty)."""
        if not path.startswith(("/", "http://", "https://")):
            path = await self._data_path(path)
        return await self._json(
            method,
            path,
            params=dict(params) if params else None,
            json=json,
            content=content,
            headers=dict(headers) if headers else None,
            idempotent=idempotent,
        )


def _batch_header(batch_size: int | None) -> dict[str, str] | None:
    if batch_size is None:
        return None
    if not 200 <= batch_size <= 2000:
        raise ValueError(
            f"batch_size must be between 200 and 2000 (got {batch_size}); Salesforce may "
            "still return smaller pages"
        )
    return {"Sforce-Query-Options": f"batchSize={batch_size}"}


def _typed(sobject: str, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    # sObject Collections need each record's type in `attributes`.
    out = []
    for record in records:
        item = dict(record)
        attributes = dict(item.get("attributes") or {})
        attributes.setdefault("type", sobject)
        item["attributes"] = attributes
        out.append(item)
    return out
