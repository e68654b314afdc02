"""The REST API under /services/data, checked against Salesforce's documented shapes."""

from __future__ import annotations

import gzip
import json
import uuid

import httpx2
from sfbulk_mcp.devorg import DevOrg

V = "66.0"
BASE = f"/services/data/v{V}"


def unique(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_versions_list_is_public_and_ordered(devorg: DevOrg) -> None:
    response = httpx2.get(f"{devorg.instance_url}/services/data/", trust_env=False)
    assert response.status_code == 200
    versions = response.json()
    assert versions[-1] == {"label": "Spring '26", "url": "/services/data/v66.0",
                            "version": "66.0"}
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    assert [float(v["version"]) for v in versions] == sorted(float(v["version"]) for v in versions)


def test_resource_directory_lists_the_resources(api: httpx2.Client, devorg: DevOrg) -> None:
    body = api.get(f"{BASE}/").json()
    assert body["sobjects"] == f"{BASE}/sobjects"
    assert body["query"] == f"{BASE}/query"
    assert body["composite"] == f"{BASE}/composite"
    assert body["identity"].startswith(f"{devorg.instance_url}/id/{devorg.org_id}/005")


def test_describe_global_and_object_basic_info(api: httpx2.Client) -> None:
    glob = api.get(f"{BASE}/sobjects").json()
    assert glob["encoding"] == "UTF-8" and glob["maxBatchSize"] == 200
    names = {o["name"] for o in glob["sobjects"]}
    assert {"Account", "Contact", "Lead", "Opportunity", "Case", "User"} <= names
    info = api.get(f"{BASE}/sobjects/account").json()
    assert info["objectDescribe"]["name"] == "Account"
    assert info["objectDescribe"]["keyPrefix"] == "001"
    assert info["recentItems"] == []


def test_describe_urls_follow_the_requested_version(api: httpx2.Client) -> None:
    describe = api.get("/services/data/v58.0/sobjects/Contact/describe").json()
    assert describe["name"] == "Contact"
    assert describe["urls"]["describe"] == "/services/data/v58.0/sobjects/Contact/describe"
    assert any(f["name"] == "AccountId" and f["relationshipName"] == "Account"
               for f in describe["fields"])


def test_record_crud_round_trip(api: httpx2.Client) -> None:
    name = unique("Crud")
    created = api.post(f"{BASE}/sobjects/Account", json={"Name": name, "NumberOfEmployees": 12})
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["errors"] == []
    record_id = body["id"]
    assert len(record_id) == 18 and record_id.startswith("001")

    got = api.get(f"{BASE}/sobjects/Account/{record_id}", params={"fields": "Name,NumberOfEmployees"})
    assert got.status_code == 200
    assert got.json()["Name"] == name and got.json()["NumberOfEmployees"] == 12
    assert got.json()["attributes"] == {"type": "Account",
                                        "url": f"{BASE}/sobjects/Account/{record_id}"}

    # The 15-character form of the Id names the same record.
    assert api.get(f"{BASE}/sobjects/Account/{record_id[:15]}").json()["Id"] == record_id

    updated = api.patch(f"{BASE}/sobjects/Account/{record_id}", json={"Name": name + "!"})
    assert updated.status_code == 204 and updated.content == b""
    assert api.get(f"{BASE}/sobjects/Account/{record_id}").json()["Name"] == name + "!"

    deleted = api.delete(f"{BASE}/sobjects/Account/{record_id}")
    assert deleted.status_code == 204
    gone = api.get(f"{BASE}/sobjects/Account/{record_id}")
    assert gone.status_code == 404


def test_upsert_status_codes_follow_the_api_version(api: httpx2.Client) -> None:
    key = unique("Ext")
    url = f"{BASE}/sobjects/Account/External_Id__c/{key}"
    created = api.patch(url, json={"Name": "Upsert one"})
    assert created.status_code == 201
    assert created.json()["created"] is True and created.json()["success"] is True
    updated = api.patch(url, json={"Name": "Upsert two"})
    assert updated.status_code == 200
    assert updated.json() == {"id": created.json()["id"], "success": True, "errors": [],
                              "created": False}
    old = api.patch(f"/services/data/v45.0/sobjects/Account/External_Id__c/{key}",
                    json={"Name": "Upsert three"})
    assert old.status_code == 204
    by_key = api.get(url)
    assert by_key.json()["Name"] == "Upsert three"


def test_upsert_with_several_matches_answers_300(api: httpx2.Client) -> None:
    # Account.External_Id__c is an external id without a unique constraint.
    key = unique("Twice")
    ids = [api.post(f"{BASE}/sobjects/Account", json={"Name": n, "External_Id__c": key}).json()["id"]
           for n in ("One", "Two")]
    response = api.patch(f"{BASE}/sobjects/Account/External_Id__c/{key}", json={"Name": "X"})
    assert response.status_code == 300
    assert sorted(response.json()) == sorted(f"{BASE}/sobjects/Account/{i}" for i in ids)
    lookup = api.get(f"{BASE}/sobjects/Account/External_Id__c/{key}")
    assert lookup.status_code == 300


def test_upsert_by_id_lookup_field(api: httpx2.Client) -> None:
    email = f"{unique('lookup')}@example.com"
    created = api.patch(f"{BASE}/sobjects/Contact/Email/{email}", json={"LastName": "Lookup"})
    assert created.status_code == 201
    again = api.patch(f"{BASE}/sobjects/Contact/Email/{email}", json={"LastName": "Again"})
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]


def test_errors_have_salesforce_codes(api: httpx2.Client) -> None:
    missing = api.post(f"{BASE}/sobjects/Contact", json={"FirstName": "No last name"})
    assert missing.status_code == 400
    assert missing.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert missing.json()[0]["fields"] == ["LastName"]

    bad_field = api.post(f"{BASE}/sobjects/Account", json={"Name": "x", "Nope__c": 1})
    assert bad_field.status_code == 400
    assert bad_field.json()[0]["errorCode"] == "INVALID_FIELD"

    bad_json = api.post(f"{BASE}/sobjects/Account", content=b"{not json",
                        headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()[0]["errorCode"] == "JSON_PARSER_ERROR"

    wrong_type = api.post(f"{BASE}/sobjects/Account", content=b"Name=x",
                          headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415

    unknown = api.get(f"{BASE}/sobjects/Nope__c/describe")
    assert unknown.status_code == 404
    assert unknown.json()[0]["errorCode"] == "NOT_FOUND"

    not_an_id = api.get(f"{BASE}/sobjects/Account/notanid")
    assert not_an_id.status_code == 404
    assert "Provided external ID field does not exist" in not_an_id.json()[0]["message"]

    wrong_method = api.put(f"{BASE}/sobjects/Account", json={})
    assert wrong_method.status_code == 405
    assert wrong_method.json() == [{
        "message": "HTTP Method 'PUT' not allowed. Allowed are HEAD,GET,POST",
        "errorCode": "METHOD_NOT_ALLOWED"}]

    no_such_resource = api.get(f"{BASE}/nonsense")
    assert no_such_resource.status_code == 404
    assert no_such_resource.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]

    unknown_version = api.get("/services/data/v99.0/sobjects")
    assert unknown_version.status_code == 404


def test_missing_or_bad_token_is_invalid_session(devorg: DevOrg) -> None:
    url = f"{devorg.instance_url}{BASE}/sobjects"
    for headers in ({}, {"Authorization": "Bearer 00Dxx!nope"}):
        response = httpx2.get(url, headers=headers, trust_env=False)
        assert response.status_code == 401
        assert response.json() == [{"message": "Session expired or invalid",
                                    "errorCode": "INVALID_SESSION_ID"}]
        assert response.headers["WWW-Authenticate"] == "Token"


def test_every_api_response_reports_usage(api: httpx2.Client) -> None:
    first = api.get(f"{BASE}/limits")
    second = api.get(f"{BASE}/limits")
    used_1, limit_1 = first.headers["Sforce-Limit-Info"].removeprefix("api-usage=").split("/")
    used_2, limit_2 = second.headers["Sforce-Limit-Info"].removeprefix("api-usage=").split("/")
    assert int(used_2) == int(used_1) + 1 and limit_1 == limit_2
    error = api.get(f"{BASE}/sobjects/Account/notanid")
    assert error.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_limits_resource(api: httpx2.Client) -> None:
    limits = api.get(f"{BASE}/limits").json()
    for key in ("DailyApiRequests", "DailyBulkV2QueryJobs", "DailyBulkV2QueryFileStorageMB",
                "DailyBulkApiBatches"):
        assert set(limits[key]) == {"Max", "Remaining"}
        assert 0 <= limits[key]["Remaining"] <= limits[key]["Max"]


def test_query_pages_with_next_records_url(fresh_devorg: DevOrg, fresh_api: httpx2.Client) -> None:
    for start in range(0, 2500, 200):
        fresh_api.post(f"{BASE}/composite/sobjects", json={"allOrNone": True, "records": [
            {"attributes": {"type": "Account"}, "Name": f"Page {start + i:05d}"}
            for i in range(200)]}).raise_for_status()
    first = fresh_api.get(f"{BASE}/query", params={"q": "SELECT Id, Name FROM Account"}).json()
    assert first["totalSize"] == 2600 and first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith(f"{BASE}/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    second = fresh_api.get(first["nextRecordsUrl"]).json()
    assert second["done"] is True and "nextRecordsUrl" not in second
    assert len(second["records"]) == 600
    ids = {r["Id"] for r in first["records"]} | {r["Id"] for r in second["records"]}
    assert len(ids) == 2600

    small = fresh_api.get(f"{BASE}/query", params={"q": "SELECT Id FROM Account"},
                          headers={"Sforce-Query-Options": "batchSize=500"}).json()
    assert len(small["records"]) == 500 and small["nextRecordsUrl"].endswith("-500")
    bad_locator = fresh_api.get(f"{BASE}/query/01gXXXXXXXXXXXXXXX-2000")
    assert bad_locator.status_code == 400
    assert bad_locator.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_all_includes_deleted_rows(api: httpx2.Client) -> None:
    name = unique("Deleted")
    record_id = api.post(f"{BASE}/sobjects/Account", json={"Name": name}).json()["id"]
    api.delete(f"{BASE}/sobjects/Account/{record_id}").raise_for_status()
    soql = f"SELECT Id, IsDeleted FROM Account WHERE Name = '{name}'"
    assert api.get(f"{BASE}/query", params={"q": soql}).json()["totalSize"] == 0
    all_rows = api.get(f"{BASE}/queryAll", params={"q": soql}).json()
    assert all_rows["totalSize"] == 1 and all_rows["records"][0]["IsDeleted"] is True


def test_query_errors(api: httpx2.Client) -> None:
    malformed = api.get(f"{BASE}/query", params={"q": "SELEKT Id FROM Account"})
    assert malformed.status_code == 400
    assert malformed.json()[0]["errorCode"] == "MALFORMED_QUERY"
    no_query = api.get(f"{BASE}/query")
    assert no_query.status_code == 400
    bad_type = api.get(f"{BASE}/query", params={"q": "SELECT Id FROM Nope__c"})
    assert bad_type.status_code == 400
    assert bad_type.json()[0]["errorCode"] == "INVALID_TYPE"


def test_sosl_search_and_parameterized_search(api: httpx2.Client) -> None:
    word = "Zebraquartz" + uuid.uuid4().hex[:6]
    record_id = api.post(f"{BASE}/sobjects/Account", json={"Name": f"{word} Ltd"}).json()["id"]
    found = api.get(f"{BASE}/search",
                    params={"q": f"FIND {{{word}}} IN ALL FIELDS RETURNING Account(Id, Name)"})
    assert found.status_code == 200
    records = found.json()["searchRecords"]
    assert [r["Id"] for r in records] == [record_id]
    assert records[0]["attributes"]["type"] == "Account"

    param = api.get(f"{BASE}/parameterizedSearch",
                    params={"q": word, "sobject": "Account", "Account.fields": "Id,Name"})
    assert [r["Id"] for r in param.json()["searchRecords"]] == [record_id]
    posted = api.post(f"{BASE}/parameterizedSearch",
                      json={"q": word, "fields": ["Id", "Name"], "sobjects": [{"name": "Account"}]})
    assert [r["Name"] for r in posted.json()["searchRecords"]] == [f"{word} Ltd"]


def test_gzip_request_and_response_bodies(api: httpx2.Client) -> None:
    name = unique("Gzip")
    body = gzip.compress(json.dumps({"Name": name}).encode())
    created = api.post(f"{BASE}/sobjects/Account", content=body,
                       headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert created.status_code == 201
    describe = api.get(f"{BASE}/sobjects/Account/describe",
                       headers={"Accept-Encoding": "gzip"})
    assert describe.headers["Content-Encoding"] == "gzip"
    assert describe.json()["name"] == "Account"
    plain = api.get(f"{BASE}/sobjects/Account/describe", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers


def test_tooling_query_and_sobjects(api: httpx2.Client) -> None:
    result = api.get(f"{BASE}/tooling/query",
                     params={"q": "SELECT Id, Name, Status FROM ApexClass WHERE Name LIKE 'Account%'"})
    assert result.status_code == 200
    body = result.json()
    assert body["entityTypeName"] == "ApexClass" and body["done"] is True
    assert body["records"][0]["Status"] == "Active"
    assert body["records"][0]["attributes"]["url"].startswith(f"{BASE}/tooling/sobjects/ApexClass/01p")

    fields = api.get(f"{BASE}/tooling/query", params={
        "q": "SELECT DeveloperName, TableEnumOrId FROM CustomField"}).json()
    assert fields["totalSize"] >= 1
    assert any(r["DeveloperName"] == "External_Id" for r in fields["records"])

    names = {s["name"] for s in api.get(f"{BASE}/tooling/sobjects").json()["sobjects"]}
    assert {"ApexClass", "ApexTrigger", "CustomObject", "CustomField"} <= names

    bad = api.get(f"{BASE}/tooling/query", params={"q": "SELECT Nope FROM ApexClass"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"


def test_apex_rest_handlers(devorg: DevOrg, api: httpx2.Client) -> None:
    devorg.register_apex_rest("GET", "/Greeting/{name}",
                              lambda req: {"hello": req.path_params["name"],
                                           "user": req.session.username})
    devorg.register_apex_rest("POST", "/Orders/*", lambda req: (201, {"received": req.json()}))
    greeting = api.get("/services/apexrest/Greeting/Ada")
    assert greeting.json() == {"hello": "Ada", "user": "admin@devorg.local"}
    order = api.post("/services/apexrest/Orders/new", json={"qty": 2})
    assert order.status_code == 201 and order.json() == {"received": {"qty": 2}}
    missing = api.get("/services/apexrest/Unknown")
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"
    assert "Could not find a match for URL" in missing.json()[0]["message"]


def test_unexpected_errors_answer_500_and_keep_the_connection(devorg: DevOrg,
                                                              api: httpx2.Client) -> None:
    def broken(request: object) -> object:
        raise RuntimeError("handler bug")

    devorg.register_apex_rest("GET", "/Broken", broken)
    failed = api.get("/services/apexrest/Broken")
    assert failed.status_code == 500
    assert failed.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert api.get(f"{BASE}/limits").status_code == 200


def test_malformed_version_is_not_found(api: httpx2.Client) -> None:
    for path in ("/services/data/v66", "/services/data/vlatest/sobjects"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.json()[0]["errorCode"] == "NOT_FOUND"


def test_http_method_override_and_pretty_print(api: httpx2.Client) -> None:
    record_id = api.post(f"{BASE}/sobjects/Account", json={"Name": unique("Override")}).json()["id"]
    patched = api.post(f"{BASE}/sobjects/Account/{record_id}", params={"_HttpMethod": "PATCH"},
                       json={"Name": "Overridden"})
    assert patched.status_code == 204
    pretty = api.get(f"{BASE}/sobjects/Account/{record_id}", params={"fields": "Name"},
                     headers={"X-PrettyPrint": "1"})
    assert pretty.text.startswith("{\n") and pretty.json()["Name"] == "Overridden"


def test_relationship_traversal(api: httpx2.Client) -> None:
    account_id = api.post(f"{BASE}/sobjects/Account", json={"Name": unique("Parent")}).json()["id"]
    contact_id = api.post(f"{BASE}/sobjects/Contact",
                          json={"LastName": "Child", "AccountId": account_id}).json()["id"]
    parent = api.get(f"{BASE}/sobjects/Contact/{contact_id}/Account", params={"fields": "Id,Name"})
    assert parent.status_code == 200 and parent.json()["Id"] == account_id
    children = api.get(f"{BASE}/sobjects/Account/{account_id}/Contacts",
                       params={"fields": "Id,LastName"})
    assert children.status_code == 200
    assert [r["Id"] for r in children.json()["records"]] == [contact_id]
    assert children.json()["totalSize"] == 1 and children.json()["done"] is True


def test_describe_honours_if_modified_since(api: httpx2.Client) -> None:
    future = "Fri, 01 Jan 2100 00:00:00 GMT"
    past = "Mon, 01 Jan 2001 00:00:00 GMT"
    for path in (f"{BASE}/sobjects", f"{BASE}/sobjects/Account/describe"):
        unchanged = api.get(path, headers={"If-Modified-Since": future})
        assert unchanged.status_code == 304 and unchanged.content == b""
        assert api.get(path, headers={"If-Modified-Since": past}).status_code == 200


def test_concurrent_clients_all_get_answers(devorg: DevOrg) -> None:
    from concurrent.futures import ThreadPoolExecutor

    tag = unique("Parallel")
    token = devorg.access_token()

    def work(worker: int) -> list[int]:
        with httpx2.Client(base_url=devorg.instance_url, trust_env=False,
                           headers={"Authorization": f"Bearer {token}"}) as client:
            return [client.post(f"{BASE}/sobjects/Account",
                                json={"Name": f"{tag} {worker}-{i}"}).status_code
                    for i in range(25)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for result in pool.map(work, range(8)) for s in result]
    assert statuses == [201] * 200
    with httpx2.Client(base_url=devorg.instance_url, trust_env=False,
                       headers={"Authorization": f"Bearer {token}"}) as client:
        found = client.get(f"{BASE}/query",
                           params={"q": f"SELECT COUNT() FROM Account WHERE Name LIKE '{tag}%'"})
    assert found.json()["totalSize"] == 200


def test_using_scope_mine_follows_the_session_user(fresh_devorg: DevOrg) -> None:
    other = fresh_devorg.add_user("scope.owner@devorg.local")
    admin_token = fresh_devorg.access_token()
    other_token = fresh_devorg.access_token("scope.owner@devorg.local")
    with httpx2.Client(base_url=fresh_devorg.instance_url, trust_env=False) as client:
        def names(token: str, soql: str) -> list[str]:
            response = client.get(f"{BASE}/query", params={"q": soql},
                                  headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            return [r["Name"] for r in response.json()["records"]]

        created = client.post(f"{BASE}/sobjects/Account", json={"Name": "Owned by other"},
                              headers={"Authorization": f"Bearer {other_token}"})
        assert created.status_code == 201
        client.post(f"{BASE}/sobjects/Account", json={"Name": "Owned by admin"},
                    headers={"Authorization": f"Bearer {admin_token}"})
        soql = "SELECT Name FROM Account USING SCOPE mine"
        assert names(other_token, soql) == ["Owned by other"]
        assert names(admin_token, soql) == ["Owned by admin"]
        assert fresh_devorg.store.retrieve("Account", created.json()["id"])["OwnerId"] == other
        team = client.get(f"{BASE}/query", params={"q": "SELECT Id FROM Account USING SCOPE team"},
                          headers={"Authorization": f"Bearer {admin_token}"})
        assert team.status_code == 400 and team.json()[0]["errorCode"] == "MALFORMED_QUERY"
