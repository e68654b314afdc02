"""Cross-check with a third-party client: simple-salesforce and this client see the same org."""

from __future__ import annotations

from typing import Any

from sf_fakes import run_async
from sfbulk_mcp.devorg import DevOrg
from sfbulk_mcp.salesforce import SalesforceClient, StaticTokenProvider


def _strip(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "attributes"} for r in records]


def test_same_query_describe_and_record_as_simple_salesforce(tls_devorg: DevOrg, simple_sf: Any) -> None:
    soql = "SELECT Id, Name, Industry FROM Account ORDER BY Name"
    theirs_query = simple_sf.query_all(soql)
    theirs_describe = simple_sf.Account.describe()
    first_id = theirs_query["records"][0]["Id"]
    theirs_record = simple_sf.Account.get(first_id)

    @run_async
    async def ours() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        provider = StaticTokenProvider(tls_devorg.access_token(), tls_devorg.instance_url)
        async with SalesforceClient(
            provider,
            api_version=tls_devorg.api_version,
            verify=str(tls_devorg.ca_certificate),
        ) as client:
            records = await client.query_all(soql)
            describe = await client.describe("Account")
            record = await client.get_record("Account", first_id)
        return records, describe, record

    records, describe, record = ours()
    assert _strip(records) == _strip(theirs_query["records"])
    assert len(records) == theirs_query["totalSize"]
    assert [f["name"] for f in describe["fields"]] == [f["name"] for f in theirs_describe["fields"]]
    assert record == theirs_record
