"""The blocking twin offers the same methods to scripts."""

from __future__ import annotations

import httpx2
import pytest
from sf_fakes import RotatingProvider, json_response
from sfbulk_mcp.salesforce import NotFoundError, RetryPolicy, SyncSalesforceClient

PAGES = {
    "/services/data/v62.0/query/": {
        "totalSize": 2, "done": False, "nextRecordsUrl": "/services/data/v62.0/query/L-1",
        "records": [{"Id": "1"}],
    },
    "/services/data/v62.0/query/L-1": {"totalSize": 2, "done": True, "records": [{"Id": "2"}]},
}


def handler(request: httpx2.Request) -> httpx2.Response:
    if request.url.path.endswith("/results"):
        return httpx2.Response(200, content=b'"Id"\n"1"\n', headers={"Sforce-Locator": "null"})
    if request.url.path.endswith("/jobs/query/750X"):
        return json_response(200, {"id": "750X", "state": "JobComplete", "apiVersion": 62.0})
    if request.url.path in PAGES:
        return json_response(200, PAGES[request.url.path], {"Sforce-Limit-Info": "api-usage=3/100"})
    return json_response(404, [{"errorCode": "NOT_FOUND", "message": "nope"}])


def make() -> SyncSalesforceClient:
    return SyncSalesforceClient(
        RotatingProvider(),
        api_version="62.0",
        retry=RetryPolicy.none(),
        transport=httpx2.MockTransport(handler),
    )


def test_sync_client_runs_queries_iterators_and_result_streams() -> None:
    with make() as sf:
        assert sf.query("SELECT Id FROM Account")["totalSize"] == 2
        assert [r["Id"] for r in sf.query_iter("SELECT Id FROM Account")] == ["1", "2"]
        assert sf.api_usage == (3, 100)
        with sf.bulk_query_results("750X") as page:
            assert page.read() == b'"Id"\n"1"\n'
            assert page.next_locator is None
        with pytest.raises(NotFoundError):
            sf.get_record("Account", "001Z")


def test_sync_client_close_is_idempotent() -> None:
    sf = make()
    sf.close()
    sf.close()
