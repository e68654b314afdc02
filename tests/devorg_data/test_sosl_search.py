"""SOSL: FIND … IN … RETURNING … as the REST search resource answers it."""

from __future__ import annotations

import pytest
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.sosl import parse_sosl, search_parameterized
from sfbulk_mcp.devorg.store import Store


@pytest.fixture
def data(store: Store) -> Store:
    acme = store.create("Account", {"Name": "Acme Rockets", "Phone": "+1 415 555 0100",
                                    "Industry": "Energy"})
    store.create("Account", {"Name": "Acmeville Farms", "Industry": "Agriculture"})
    store.create("Account", {"Name": "Globex", "Description": "partner of acme"})
    store.create("Contact", {"FirstName": "Wile", "LastName": "Coyote", "AccountId": acme,
                             "Email": "wile@acme.com"})
    store.create("Lead", {"LastName": "Runner", "Company": "Acme Roadworks"})
    return store


def _names(result: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(r["attributes"]["type"], r.get("Name") or r.get("Email") or r["Id"])
            for r in result["searchRecords"]]


def test_find_whole_words_in_all_fields(data: Store) -> None:
    found = data.search("FIND {acme} RETURNING Account(Name ORDER BY Name), Lead(Name)")
    assert _names(found) == [("Account", "Acme Rockets"), ("Account", "Globex"),
                             ("Lead", "Runner")]
    rec = found["searchRecords"][0]
    assert rec["attributes"]["url"].startswith("/services/data/v60.0/sobjects/Account/")


def test_wildcards_and_name_fields(data: Store) -> None:
    found = data.search("FIND {Acme*} IN NAME FIELDS RETURNING Account(Name ORDER BY Name)")
    assert _names(found) == [("Account", "Acme Rockets"), ("Account", "Acmeville Farms")]


def test_email_and_phone_scopes(data: Store) -> None:
    assert _names(data.search("FIND {wile@acme.com} IN EMAIL FIELDS RETURNING Contact(Email)")) \
        == [("Contact", "wile@acme.com")]
    phone = data.search("FIND {555} IN PHONE FIELDS RETURNING Account(Name)")
    assert _names(phone) == [("Account", "Acme Rockets")]


def test_where_limit_and_boolean_terms(data: Store) -> None:
    where = data.search("FIND {acme*} RETURNING Account(Name WHERE Industry = 'Energy')")
    assert _names(where) == [("Account", "Acme Rockets")]
    limited = data.search("FIND {acme*} RETURNING Account(Name ORDER BY Name LIMIT 1)")
    assert len(limited["searchRecords"]) == 1
    either = data.search("FIND {Globex OR Coyote} RETURNING Account(Name), Contact(Name)")
    assert sorted(_names(either)) == [("Account", "Globex"), ("Contact", "Wile Coyote")]
    both = data.search("FIND {acme AND rockets} RETURNING Account(Name)")
    assert _names(both) == [("Account", "Acme Rockets")]
    phrase = data.search('FIND {"acme roadworks"} RETURNING Lead(Company)')
    assert len(phrase["searchRecords"]) == 1
    overall = data.search("FIND {acme*} RETURNING Account(Name), Lead(Name) LIMIT 2")
    assert len(overall["searchRecords"]) == 2


def test_parent_fields_in_returning(data: Store) -> None:
    found = data.search("FIND {coyote} RETURNING Contact(Name, Account.Name)")
    assert found["searchRecords"][0]["Account"]["Name"] == "Acme Rockets"


def test_without_returning_searches_every_searchable_object(data: Store) -> None:
    found = data.search("FIND {coyote}")
    assert [r["attributes"]["type"] for r in found["searchRecords"]] == ["Contact"]


def test_parameterized_search(data: Store) -> None:
    found = search_parameterized(data, "acme*", sobjects={"Account": ["Name"]},
                                 scope="NAME", api_version="60.0")
    assert sorted(r["Name"] for r in found["searchRecords"]) == ["Acme Rockets",
                                                                 "Acmeville Farms"]


@pytest.mark.parametrize(("sosl", "code"), [
    ("FIND acme", "MALFORMED_SEARCH"),
    ("FIND {a}", "INVALID_SEARCH"),
    ("FIND {acme} RETURNING Nope__c", "INVALID_TYPE"),
    ("FIND {acme} RETURNING Account(Nope)", "INVALID_FIELD"),
    ("FIND {acme} BOGUS", "MALFORMED_SEARCH"),
])
def test_search_errors(data: Store, sosl: str, code: str) -> None:
    with pytest.raises(DevOrgError) as err:
        data.search(sosl)
    assert err.value.error_code == code


def test_parse_sosl_structure() -> None:
    q = parse_sosl("FIND {Acme\\}} IN NAME FIELDS RETURNING Account(Id, Name WHERE "
                   "Name != 'x)' LIMIT 5), Contact LIMIT 20")
    assert q.scope == "NAME" and q.limit == 20
    assert [r.sobject for r in q.returning] == ["Account", "Contact"]
    assert q.returning[0].fields == "Id, Name"
    assert q.returning[0].clauses.startswith("WHERE Name != 'x)'")
