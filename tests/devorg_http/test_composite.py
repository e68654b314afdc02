"""composite, composite/batch and composite/sobjects, as the REST API guide describes them."""

from __future__ import annotations

import uuid

import httpx2

V = "66.0"
BASE = f"/services/data/v{V}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def count(api: httpx2.Client, soql: str) -> int:
    return int(api.get(f"{BASE}/query", params={"q": soql}).json()["totalSize"])


def test_composite_references_between_subrequests(api: httpx2.Client) -> None:
    name = unique("Composite")
    response = api.post(f"{BASE}/composite", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": f"{BASE}/sobjects/Account", "referenceId": "refAccount",
         "body": {"Name": name}},
        {"method": "POST", "url": f"{BASE}/sobjects/Contact", "referenceId": "refContact",
         "body": {"LastName": "Ref", "AccountId": "@{refAccount.id}"}},
        {"method": "GET", "url": f"{BASE}/sobjects/Account/@{{refAccount.id}}?fields=Name",
         "referenceId": "refRead"},
        {"method": "GET", "referenceId": "refQuery",
         "url": f"{BASE}/query?q=SELECT+Id,AccountId+FROM+Contact+WHERE+Id='@{{refContact.id}}'"},
    ]})
    assert response.status_code == 200
    parts = response.json()["compositeResponse"]
    assert [p["referenceId"] for p in parts] == ["refAccount", "refContact", "refRead", "refQuery"]
    assert [p["httpStatusCode"] for p in parts] == [201, 201, 200, 200]
    account_id = parts[0]["body"]["id"]
    assert parts[0]["httpHeaders"]["Location"] == f"{BASE}/sobjects/Account/{account_id}"
    assert parts[2]["body"]["Name"] == name
    assert parts[3]["body"]["records"][0]["AccountId"] == account_id


def test_composite_all_or_none_rolls_everything_back(api: httpx2.Client) -> None:
    name = unique("Rollback")
    response = api.post(f"{BASE}/composite", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": f"{BASE}/sobjects/Account", "referenceId": "ok",
         "body": {"Name": name}},
        {"method": "POST", "url": f"{BASE}/sobjects/Contact", "referenceId": "bad",
         "body": {"FirstName": "no last name"}},
        {"method": "POST", "url": f"{BASE}/sobjects/Account", "referenceId": "later",
         "body": {"Name": name}},
    ]})
    parts = {p["referenceId"]: p for p in response.json()["compositeResponse"]}
    assert parts["bad"]["httpStatusCode"] == 400
    assert parts["bad"]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    for ref in ("ok", "later"):
        assert parts[ref]["httpStatusCode"] == 400
        assert parts[ref]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert count(api, f"SELECT Id FROM Account WHERE Name = '{name}'") == 0


def test_composite_without_all_or_none_keeps_successes(api: httpx2.Client) -> None:
    name = unique("Partial")
    response = api.post(f"{BASE}/composite", json={"compositeRequest": [
        {"method": "POST", "url": f"{BASE}/sobjects/Contact", "referenceId": "bad",
         "body": {"FirstName": "no last name"}},
        {"method": "POST", "url": f"{BASE}/sobjects/Account", "referenceId": "good",
         "body": {"Name": name}},
        {"method": "PATCH", "url": f"{BASE}/sobjects/Contact/@{{bad.id}}", "referenceId": "dep",
         "body": {"LastName": "x"}},
    ]})
    parts = {p["referenceId"]: p for p in response.json()["compositeResponse"]}
    assert parts["good"]["httpStatusCode"] == 201
    assert parts["dep"]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert count(api, f"SELECT Id FROM Account WHERE Name = '{name}'") == 1


def test_composite_rejects_more_than_25_subrequests(api: httpx2.Client) -> None:
    subrequests = [{"method": "GET", "url": f"{BASE}/limits", "referenceId": f"r{i}"}
                   for i in range(26)]
    response = api.post(f"{BASE}/composite", json={"compositeRequest": subrequests})
    assert response.status_code == 400


def test_composite_batch_runs_independent_subrequests(api: httpx2.Client) -> None:
    response = api.post(f"{BASE}/composite/batch", json={"batchRequests": [
        {"method": "GET", "url": f"v{V}/limits"},
        {"method": "GET", "url": f"v{V}/sobjects/Account/001000000000000AAA"},
        {"method": "POST", "url": f"v{V}/sobjects/Account", "richInput": {"Name": unique("B")}},
    ]})
    body = response.json()
    assert body["hasErrors"] is True
    assert [r["statusCode"] for r in body["results"]] == [200, 404, 201]
    halted = api.post(f"{BASE}/composite/batch", json={"haltOnError": True, "batchRequests": [
        {"method": "GET", "url": f"v{V}/sobjects/Nope__c/describe"},
        {"method": "GET", "url": f"v{V}/limits"},
    ]}).json()
    assert halted["results"][1]["statusCode"] == 412
    assert halted["results"][1]["result"][0]["errorCode"] == "BATCH_PROCESSING_HALTED"


def test_collections_create_update_retrieve_delete(api: httpx2.Client) -> None:
    tag = unique("Coll")
    created = api.post(f"{BASE}/composite/sobjects", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Account"}, "Name": f"{tag} A"},
        {"attributes": {"type": "Contact"}, "LastName": tag},
        {"attributes": {"type": "Contact"}, "FirstName": "missing last name"},
    ]})
    assert created.status_code == 200
    results = created.json()
    assert [r["success"] for r in results] == [True, True, False]
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[2]["errors"][0]["fields"] == ["LastName"]
    account_id, contact_id = results[0]["id"], results[1]["id"]

    updated = api.patch(f"{BASE}/composite/sobjects", json={"records": [
        {"attributes": {"type": "Account"}, "Id": account_id, "Name": f"{tag} B"}]})
    assert updated.json() == [{"id": account_id, "success": True, "errors": []}]

    fetched = api.get(f"{BASE}/composite/sobjects/Account",
                      params={"ids": f"{account_id},001000000000000AAA", "fields": "Id,Name"})
    assert fetched.json()[0]["Name"] == f"{tag} B"
    assert fetched.json()[1] is None

    deleted = api.delete(f"{BASE}/composite/sobjects",
                         params={"ids": f"{account_id},{contact_id}", "allOrNone": "false"})
    assert deleted.json() == [{"id": account_id, "success": True, "errors": []},
                              {"id": contact_id, "success": True, "errors": []}]


def test_collections_all_or_none_rolls_back(api: httpx2.Client) -> None:
    tag = unique("AllOrNone")
    response = api.post(f"{BASE}/composite/sobjects", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Account"}, "Name": tag},
        {"attributes": {"type": "Contact"}, "FirstName": "missing last name"},
    ]})
    results = response.json()
    assert results[0]["success"] is False
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert count(api, f"SELECT Id FROM Account WHERE Name = '{tag}'") == 0


def test_collections_upsert_and_limit(api: httpx2.Client) -> None:
    key = unique("CollExt")
    url = f"{BASE}/composite/sobjects/Account/External_Id__c"
    first = api.patch(url, json={"records": [
        {"attributes": {"type": "Account"}, "External_Id__c": key, "Name": "First"}]}).json()
    assert first[0]["created"] is True and first[0]["success"] is True
    second = api.patch(url, json={"records": [
        {"attributes": {"type": "Account"}, "External_Id__c": key, "Name": "Second"}]}).json()
    assert second[0] == {"id": first[0]["id"], "success": True, "errors": [], "created": False}

    too_many = api.post(f"{BASE}/composite/sobjects", json={"records": [
        {"attributes": {"type": "Account"}, "Name": "x"}] * 201})
    assert too_many.status_code == 400
    assert too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_sobject_tree_creates_parents_and_children_or_nothing(api: httpx2.Client) -> None:
    name = unique("Tree")
    created = api.post(f"{BASE}/composite/tree/Account", json={"records": [
        {"attributes": {"type": "Account", "referenceId": "acc1"}, "Name": name,
         "Contacts": {"records": [
             {"attributes": {"type": "Contact", "referenceId": "con1"}, "LastName": "Kid"}]}},
    ]})
    assert created.status_code == 201
    body = created.json()
    assert body["hasErrors"] is False
    ids = {r["referenceId"]: r["id"] for r in body["results"]}
    assert ids["acc1"].startswith("001") and ids["con1"].startswith("003")
    contact = api.get(f"{BASE}/sobjects/Contact/{ids['con1']}").json()
    assert contact["AccountId"] == ids["acc1"]

    failed = api.post(f"{BASE}/composite/tree/Account", json={"records": [
        {"attributes": {"type": "Account", "referenceId": "ok"}, "Name": name + " 2"},
        {"attributes": {"type": "Account", "referenceId": "bad"}},
    ]})
    assert failed.status_code == 400
    assert failed.json()["hasErrors"] is True
    assert failed.json()["results"][0]["referenceId"] == "bad"
    assert count(api, f"SELECT Id FROM Account WHERE Name = '{name} 2'") == 0
