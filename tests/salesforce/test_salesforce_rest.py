"""REST calls: version negotiation, paging, CRUD shapes, describe caching."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from sf_fakes import json_response, make_client, run_async
from sfbulk_mcp.salesforce import MultipleChoicesError, NotFoundError
from sfbulk_mcp.salesforce.versions import highest_version, normalize_version

FIXTURES = Path(__file__).parent / "fixtures"
VERSIONS = [
    {"label": "Winter '11", "url": "/services/data/v20.0", "version": "20.0"},
    {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"},
    {"label": "Summer '24", "url": "/services/data/v61.0", "version": "61.0"},
    {"label": "Spring '12", "url": "/services/data/v9.0", "version": "9.0"},
]


@run_async
async def test_api_version_is_negotiated_to_the_newest_once() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/services/data/":
            return json_response(200, VERSIONS)
        return json_response(200, {"totalSize": 0, "done": True, "records": []})

    client, seen = make_client(handler, api_version=None)
    async with client:
        await client.query("SELECT Id FROM Account")
        await client.query("SELECT Id FROM Contact")
        assert await client.api_version() == "62.0"
    assert [r.url.path for r in seen] == [
        "/services/data/",
        "/services/data/v62.0/query/",
        "/services/data/v62.0/query/",
    ]


def test_versions_normalise_and_sort_numerically() -> None:
    assert normalize_version("v62") == "62.0" == normalize_version(62) == normalize_version(62.0)
    assert highest_version(VERSIONS) == "62.0"
    with pytest.raises(ValueError):
        normalize_version("latest")


@run_async
async def test_query_iter_follows_next_records_url_across_pages() -> None:
    pages = {
        "/services/data/v62.0/query/": {
            "totalSize": 3,
            "done": False,
            "nextRecordsUrl": "/services/data/v62.0/query/01gD0000002HU6KIAW-2",
            "records": [{"Id": "1"}, {"Id": "2"}],
        },
        "/services/data/v62.0/query/01gD0000002HU6KIAW-2": {
            "totalSize": 3,
            "done": True,
            "records": [{"Id": "3"}],
        },
    }
    client, seen = make_client(lambda r: json_response(200, pages[r.url.path]))
    async with client:
        ids = [r["Id"] async for r in client.query_iter("SELECT Id FROM Account", batch_size=200)]
        more = await client.query_more("01gD0000002HU6KIAW-2")
    assert ids == ["1", "2", "3"]
    assert more["done"] is True
    assert seen[0].url.params["q"] == "SELECT Id FROM Account"
    assert seen[0].headers["Sforce-Query-Options"] == "batchSize=200"


@run_async
async def test_include_deleted_uses_query_all() -> None:
    client, seen = make_client(lambda r: json_response(200, {"totalSize": 0, "done": True, "records": []}))
    async with client:
        await client.query("SELECT Id FROM Account", include_deleted=True)
    assert seen[0].url.path == "/services/data/v62.0/queryAll/"


@run_async
async def test_describe_is_cached_per_client() -> None:
    describe = json.loads((FIXTURES / "describe_Custom__c.json").read_text())
    client, seen = make_client(lambda r: json_response(200, describe))
    async with client:
        first = await client.describe("Custom__c")
        second = await client.describe("custom__c")
    assert first is second and len(seen) == 1
    assert seen[0].url.path == "/services/data/v62.0/sobjects/Custom__c/describe/"
    assert {f["name"] for f in first["fields"]} >= {"Id", "Name"}


@run_async
async def test_upsert_reports_created_or_updated() -> None:
    answers = iter(
        [
            json_response(201, {"id": "001A", "success": True, "errors": [], "created": True}),
            json_response(200, {"id": "001A", "success": True, "errors": [], "created": False}),
            httpx2.Response(204),
            json_response(300, ["/services/data/v62.0/sobjects/Account/001A", "/services/data/v62.0/sobjects/Account/001B"]),
        ]
    )
    client, seen = make_client(lambda r: next(answers))
    async with client:
        assert (await client.upsert("Account", "Ext__c", "A/1", {"Name": "x"}))["created"] is True
        assert (await client.upsert("Account", "Ext__c", "A/1", {"Name": "x"}))["created"] is False
        assert (await client.upsert("Account", "Ext__c", "A/1", {"Name": "x"}))["created"] is False
        with pytest.raises(MultipleChoicesError) as info:
            await client.upsert("Account", "Ext__c", "A/1", {"Name": "x"})
    assert len(info.value.candidates) == 2
    # The external id value is one escaped path segment.
    assert seen[0].url.raw_path.endswith(b"/sobjects/Account/Ext__c/A%2F1")
    assert seen[0].method == "PATCH"


@run_async
async def test_crud_requests_have_salesforce_shapes() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST" and request.url.path.endswith("/sobjects/Account/"):
            return json_response(201, {"id": "001A", "success": True, "errors": []})
        if request.method == "GET" and request.url.path.endswith("/001A"):
            return json_response(200, {"attributes": {"type": "Account"}, "Id": "001A", "Name": "Acme"})
        if request.method in ("PATCH", "DELETE"):
            return httpx2.Response(204)
        return json_response(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])

    client, seen = make_client(handler)
    async with client:
        created = await client.create("Account", {"Name": "Acme"})
        record = await client.get_record("Account", created["id"], fields=["Id", "Name"])
        await client.update("Account", "001A", {"Name": "Acme 2"})
        await client.delete("Account", "001A")
        with pytest.raises(NotFoundError):
            await client.get_record("Account", "001Z")
    assert record["Name"] == "Acme"
    assert seen[1].url.params["fields"] == "Id,Name"
    assert json.loads(seen[2].content) == {"Name": "Acme 2"}


@run_async
async def test_collections_add_the_type_attribute() -> None:
    client, seen = make_client(lambda r: json_response(200, [{"id": "003A", "success": True, "errors": []}]))
    async with client:
        await client.collections_create("Contact", [{"LastName": "X"}], all_or_none=True)
    body = json.loads(seen[0].content)
    assert body == {"allOrNone": True, "records": [{"LastName": "X", "attributes": {"type": "Contact"}}]}
    assert seen[0].url.path == "/services/data/v62.0/composite/sobjects"


@run_async
async def test_tooling_and_apex_rest_paths() -> None:
    client, seen = make_client(lambda r: json_response(200, {"totalSize": 0, "done": True, "records": []}))
    async with client:
        await client.tooling_query("SELECT Id FROM ApexClass")
        await client.apex_rest("GET", "/MyService/v1", params={"a": "b"})
    assert seen[0].url.path == "/services/data/v62.0/tooling/query/"
    assert seen[1].url.path == "/services/apexrest/MyService/v1"
    assert seen[1].url.params["a"] == "b"
