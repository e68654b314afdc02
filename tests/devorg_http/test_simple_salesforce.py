"""simple-salesforce, unmodified, against the devorg (over HTTPS, as it insists on https)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sfbulk_mcp.devorg import DevOrg
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)


def tag(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def test_describe(simple_sf: Any) -> None:
    names = {o["name"] for o in simple_sf.describe()["sobjects"]}
    assert {"Account", "Contact", "Opportunity"} <= names
    account = simple_sf.Account.describe()
    assert account["name"] == "Account"
    assert any(f["name"] == "External_Id__c" and f["externalId"] for f in account["fields"])
    assert simple_sf.Contact.metadata()["objectDescribe"]["keyPrefix"] == "003"


def test_crud_and_upsert(simple_sf: Any) -> None:
    name = tag("SS ")
    created = simple_sf.Account.create({"Name": name})
    assert created["success"] is True
    record_id = created["id"]
    assert simple_sf.Account.get(record_id)["Name"] == name
    assert simple_sf.Account.update(record_id, {"Name": name + " 2"}) == 204
    assert simple_sf.Account.get(record_id)["Name"] == name + " 2"

    key = tag("K")
    assert simple_sf.Account.upsert(f"External_Id__c/{key}", {"Name": "Upserted"}) == 201
    assert simple_sf.Account.upsert(f"External_Id__c/{key}", {"Name": "Again"}) == 200
    assert simple_sf.Account.get_by_custom_id("External_Id__c", key)["Name"] == "Again"

    assert simple_sf.Account.delete(record_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        simple_sf.Account.get(record_id)


def test_query_all_across_pages(tls_devorg: DevOrg, simple_sf: Any) -> None:
    prefix = tag("Paged ")
    for start in range(0, 2400, 200):
        simple_sf.restful("composite/sobjects", method="POST", json={
            "allOrNone": True, "records": [
                {"attributes": {"type": "Account"}, "Name": f"{prefix} {start + i:05d}"}
                for i in range(200)]})
    soql = f"SELECT Id, Name FROM Account WHERE Name LIKE '{prefix}%'"
    first = simple_sf.query(soql)
    assert first["done"] is False and len(first["records"]) == 2000
    everything = simple_sf.query_all(soql)
    assert everything["totalSize"] == 2400 and len(everything["records"]) == 2400
    assert len({r["Id"] for r in everything["records"]}) == 2400
    streamed = list(simple_sf.query_all_iter(soql))
    assert len(streamed) == 2400


def test_query_all_sees_deleted_rows(simple_sf: Any) -> None:
    name = tag("Gone ")
    record_id = simple_sf.Account.create({"Name": name})["id"]
    simple_sf.Account.delete(record_id)
    soql = f"SELECT Id, IsDeleted FROM Account WHERE Name = '{name}'"
    assert simple_sf.query_all(soql)["totalSize"] == 0
    deleted = simple_sf.query_all(soql, include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True


def test_sosl_search(simple_sf: Any) -> None:
    word = tag("Quokka")
    record_id = simple_sf.Account.create({"Name": f"{word} Inc"})["id"]
    result = simple_sf.search(f"FIND {{{word}}} IN NAME FIELDS RETURNING Account(Id, Name)")
    assert [r["Id"] for r in result["searchRecords"]] == [record_id]
    quick = simple_sf.quick_search(word)
    assert record_id in [r["Id"] for r in quick["searchRecords"]]


def test_composite_through_restful(simple_sf: Any) -> None:
    version = simple_sf.sf_version
    result = simple_sf.restful("composite", method="POST", json={
        "allOrNone": True, "compositeRequest": [
            {"method": "POST", "url": f"/services/data/v{version}/sobjects/Account",
             "referenceId": "acct", "body": {"Name": tag("Comp ")}},
            {"method": "POST", "url": f"/services/data/v{version}/sobjects/Contact",
             "referenceId": "cont", "body": {"LastName": "Ref", "AccountId": "@{acct.id}"}},
        ]})
    statuses = [r["httpStatusCode"] for r in result["compositeResponse"]]
    assert statuses == [201, 201]


def test_errors_map_to_simple_salesforce_exceptions(tls_devorg: DevOrg, simple_sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        simple_sf.query("SELECT Nope FROM Account")
    content: Any = malformed.value.content
    assert content[0]["errorCode"] == "INVALID_FIELD"
    tls_devorg.faults.expire_sessions()
    with pytest.raises(SalesforceExpiredSession):
        simple_sf.query("SELECT Id FROM Account LIMIT 1")


def test_apexecute_and_limits(tls_devorg: DevOrg, simple_sf: Any) -> None:
    tls_devorg.register_apex_rest("POST", "/Echo/*", lambda req: {"echo": req.json()})
    assert simple_sf.apexecute("Echo/x", method="POST", data={"n": 1}) == {"echo": {"n": 1}}
    limits = simple_sf.limits()
    assert limits["DailyApiRequests"]["Max"] == tls_devorg.limits.daily_api_limit
    assert simple_sf.api_usage["api-usage"].total == tls_devorg.limits.daily_api_limit


def test_tooling_execute(simple_sf: Any) -> None:
    result = simple_sf.toolingexecute("query/?q=SELECT+Id,Name+FROM+ApexClass")
    assert result["entityTypeName"] == "ApexClass" and result["totalSize"] >= 1


def test_soap_login_path(tls_devorg: DevOrg) -> None:
    """simple-salesforce's username/password/security-token login, pointed at the devorg."""
    import requests
    from simple_salesforce.api import Salesforce
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed
    from simple_salesforce.login import SalesforceLogin

    session = requests.Session()
    session.trust_env = False
    session.verify = str(tls_devorg.ca_certificate)
    username = f"soap-{uuid.uuid4().hex[:8]}@devorg.local"
    tls_devorg.add_user(username, "pa55word", security_token="SECTOK")
    session_id, instance = SalesforceLogin(
        username=username, password="pa55word", security_token="SECTOK",
        scratch_url=tls_devorg.instance_url, session=session,
        sf_version=tls_devorg.api_version)
    assert instance == tls_devorg.instance_url.removeprefix("https://")
    sf = Salesforce(session_id=session_id, instance=instance, session=session,
                    version=tls_devorg.api_version)
    assert sf.query(f"SELECT Id FROM User WHERE Username = '{username}'")["totalSize"] == 1
    with pytest.raises(SalesforceAuthenticationFailed) as failed:
        SalesforceLogin(username=username, password="wrong", security_token="SECTOK",
                        scratch_url=tls_devorg.instance_url, session=session)
    assert failed.value.code == "INVALID_LOGIN"
    session.close()
