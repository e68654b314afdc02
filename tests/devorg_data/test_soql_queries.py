"""SOQL on the devorg store: every supported feature, checked on small known data."""

from __future__ import annotations

from typing import Any

import pytest
from sfbulk_mcp.devorg.store import Store


@pytest.fixture
def org(store: Store) -> dict[str, str]:
    """Three accounts, contacts, opportunities, cases, a task; returns their Ids by name."""
    ids: dict[str, str] = {}
    ids["acme"] = store.create("Account", {
        "Name": "Acme", "Industry": "Energy", "AnnualRevenue": 500.0, "NumberOfEmployees": 10,
        "Regions__c": "AMER;EMEA", "BillingCity": "Paris", "Rating": "Hot"})
    ids["beta"] = store.create("Account", {
        "Name": "beta corp", "Industry": "Banking", "AnnualRevenue": 100.0,
        "Regions__c": "APAC", "ParentId": ids["acme"]})
    ids["gamma"] = store.create("Account", {"Name": "Gamma 50% off_sale", "Industry": "Energy"})
    ids["ada"] = store.create("Contact", {"FirstName": "Ada", "LastName": "Lovelace",
                                          "AccountId": ids["acme"], "Email": "ada@acme.com",
                                          "Birthdate": "1990-12-10"})
    ids["bob"] = store.create("Contact", {"FirstName": "Bob", "LastName": "Builder",
                                          "AccountId": ids["acme"]})
    ids["cy"] = store.create("Contact", {"LastName": "Cy", "AccountId": ids["beta"]})
    ids["orphan"] = store.create("Contact", {"LastName": "Orphan"})
    ids["o1"] = store.create("Opportunity", {"Name": "Big", "StageName": "Closed Won",
                                             "CloseDate": "2026-11-18", "Amount": 1000,
                                             "AccountId": ids["acme"]})
    ids["o2"] = store.create("Opportunity", {"Name": "Small", "StageName": "Prospecting",
                                             "CloseDate": "2026-10-05", "Amount": 10,
                                             "AccountId": ids["acme"]})
    ids["o3"] = store.create("Opportunity", {"Name": "Old", "StageName": "Closed Lost",
                                             "CloseDate": "2025-03-01",
                                             "AccountId": ids["beta"]})
    ids["case"] = store.create("Case", {"Subject": "Broken", "AccountId": ids["acme"],
                                        "ContactId": ids["ada"]})
    ids["task"] = store.create("Task", {"Subject": "Call", "WhoId": ids["ada"],
                                        "WhatId": ids["o1"]})
    return ids


def names(store: Store, soql: str, key: str = "Name", **kw: Any) -> list[Any]:
    return [r[key] for r in store.query(soql, **kw).records]


def test_plain_select_returns_rest_records_in_select_order(store: Store, org: dict[str, str]) -> None:
    result = store.query("select name, ID, industry from ACCOUNT where name = 'acme'")
    assert result.total_size == 1
    rec = result.records[0]
    assert list(rec) == ["attributes", "Name", "Id", "Industry"]  # describe casing
    assert rec["attributes"]["type"] == "Account"
    assert rec["attributes"]["url"].endswith(f"/sobjects/Account/{org['acme']}")
    assert result.columns == ["Name", "Id", "Industry"]


def test_parent_relationship_paths_nest_records(store: Store, org: dict[str, str]) -> None:
    recs = store.query("SELECT LastName, Account.Name, Account.Owner.Name, Owner.Name "
                       "FROM Contact ORDER BY LastName").records
    by = {r["LastName"]: r for r in recs}
    assert by["Lovelace"]["Account"]["Name"] == "Acme"
    assert by["Lovelace"]["Account"]["attributes"]["type"] == "Account"
    assert by["Lovelace"]["Account"]["Owner"]["Name"] == "Admin User"
    assert by["Lovelace"]["Owner"]["Name"] == "Admin User"
    assert by["Orphan"]["Account"] is None


def test_child_subquery_returns_nested_query_results(store: Store, org: dict[str, str]) -> None:
    recs = store.query("SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName) "
                       "FROM Account ORDER BY Name").records
    acme = next(r for r in recs if r["Name"] == "Acme")
    assert acme["Contacts"]["totalSize"] == 2 and acme["Contacts"]["done"] is True
    assert [c["LastName"] for c in acme["Contacts"]["records"]] == ["Builder", "Lovelace"]
    gamma = next(r for r in recs if r["Name"].startswith("Gamma"))
    assert gamma["Contacts"] is None


def test_child_subquery_where_and_limit_apply_per_parent(store: Store, org: dict[str, str]) -> None:
    recs = store.query("SELECT Name, (SELECT Name FROM Opportunities WHERE Amount > 5 "
                       "ORDER BY Amount DESC LIMIT 1) FROM Account WHERE Name = 'Acme'").records
    assert [o["Name"] for o in recs[0]["Opportunities"]["records"]] == ["Big"]


@pytest.mark.parametrize(("where", "expected"), [
    ("Name = 'ACME'", ["Acme"]),
    ("Name != 'Acme'", ["beta corp", "Gamma 50% off_sale"]),
    ("Name <> 'Acme'", ["beta corp", "Gamma 50% off_sale"]),
    ("AnnualRevenue > 100", ["Acme"]),
    ("AnnualRevenue >= 100", ["Acme", "beta corp"]),
    ("AnnualRevenue < 500", ["beta corp"]),
    ("AnnualRevenue <= 500.0", ["Acme", "beta corp"]),
    ("AnnualRevenue = null", ["Gamma 50% off_sale"]),
    ("AnnualRevenue != null", ["Acme", "beta corp"]),
    ("Name LIKE 'a%'", ["Acme"]),
    ("Name LIKE '%CORP'", ["beta corp"]),
    ("Name LIKE '_eta%'", ["beta corp"]),
    ("Name LIKE '%50\\% off\\_%'", ["Gamma 50% off_sale"]),
    ("Industry IN ('Energy', 'Retail')", ["Acme", "Gamma 50% off_sale"]),
    ("Industry NOT IN ('Energy')", ["beta corp"]),
    ("Regions__c INCLUDES ('EMEA')", ["Acme"]),
    ("Regions__c INCLUDES ('APAC', 'AMER;EMEA')", ["Acme", "beta corp"]),
    ("Regions__c INCLUDES ('AMER;APAC')", []),
    ("Regions__c EXCLUDES ('AMER')", ["beta corp", "Gamma 50% off_sale"]),
    ("Industry = 'Energy' AND AnnualRevenue > 1", ["Acme"]),
    ("Industry = 'Banking' OR AnnualRevenue = null", ["beta corp", "Gamma 50% off_sale"]),
    ("(Industry = 'Banking' OR Rating = 'Hot') AND NOT Name LIKE 'b%'", ["Acme"]),
    ("NOT (AnnualRevenue > 100)", ["beta corp", "Gamma 50% off_sale"]),
    ("Rating != 'Hot'", ["beta corp", "Gamma 50% off_sale"]),
    ("Active__c = true", ["Acme", "beta corp", "Gamma 50% off_sale"]),
    ("ParentId != null", ["beta corp"]),
    ("Parent.Name = 'Acme'", ["beta corp"]),
    ("CreatedDate = TODAY", ["Acme", "beta corp", "Gamma 50% off_sale"]),
    ("CreatedDate < 2026-11-18T15:00:00Z", []),
    ("CreatedDate > 2026-11-18T14:00:00-02:00", []),
    ("CreatedDate >= 2026-11-18T15:30:00.000Z", ["Acme", "beta corp", "Gamma 50% off_sale"]),
])
def test_where_operators(store: Store, org: dict[str, str], where: str, expected: list[str]) -> None:
    assert sorted(names(store, f"SELECT Name FROM Account WHERE {where}")) == sorted(expected)


def test_ids_match_in_15_and_18_char_forms(store: Store, org: dict[str, str]) -> None:
    for form in (org["acme"], org["acme"][:15]):
        assert names(store, f"SELECT Name FROM Account WHERE Id = '{form}'") == ["Acme"]
    assert names(store, f"SELECT Name FROM Account WHERE Id IN ('{org['beta'][:15]}')") == [
        "beta corp"]
    assert names(store, f"SELECT LastName FROM Contact WHERE AccountId = '{org['beta'][:15]}'",
                 "LastName") == ["Cy"]


def test_string_escapes_in_literals(store: Store) -> None:
    store.create("Account", {"Name": "O'Brien \"Quoted\"\nLine"})
    soql = "SELECT Name FROM Account WHERE Name = 'O\\'Brien \\\"Quoted\\\"\\nLine'"
    assert names(store, soql) == ["O'Brien \"Quoted\"\nLine"]


@pytest.mark.parametrize(("literal", "expected"), [
    ("TODAY", ["Big"]),
    ("THIS_MONTH", ["Big"]),
    ("LAST_MONTH", ["Small"]),
    ("THIS_YEAR", ["Big", "Small"]),
    ("LAST_YEAR", ["Old"]),
    ("LAST_N_DAYS:45", ["Big", "Small"]),
    ("LAST_N_MONTHS:12", ["Small"]),
    ("THIS_QUARTER", ["Big", "Small"]),
    ("THIS_WEEK", ["Big"]),
    ("NEXT_N_DAYS:5", []),
    ("YESTERDAY", []),
])
def test_date_literals(store: Store, org: dict[str, str], literal: str, expected: list[str]) -> None:
    got = names(store, f"SELECT Name FROM Opportunity WHERE CloseDate = {literal}")
    assert sorted(got) == sorted(expected)


def test_date_literal_ranges_with_inequalities(store: Store, org: dict[str, str]) -> None:
    assert sorted(names(store, "SELECT Name FROM Opportunity WHERE CloseDate < THIS_MONTH")) == [
        "Old", "Small"]
    assert names(store, "SELECT Name FROM Opportunity WHERE CloseDate > LAST_MONTH") == ["Big"]
    assert sorted(names(store, "SELECT Name FROM Opportunity WHERE CloseDate >= 2026-10-05")) \
        == ["Big", "Small"]


def test_order_by_nulls_and_direction(store: Store, org: dict[str, str]) -> None:
    asc = names(store, "SELECT Name FROM Account ORDER BY AnnualRevenue")
    assert asc == ["Gamma 50% off_sale", "beta corp", "Acme"]  # nulls first by default
    last = names(store, "SELECT Name FROM Account ORDER BY AnnualRevenue ASC NULLS LAST")
    assert last == ["beta corp", "Acme", "Gamma 50% off_sale"]
    desc = names(store, "SELECT Name FROM Account ORDER BY AnnualRevenue DESC NULLS LAST")
    assert desc == ["Acme", "beta corp", "Gamma 50% off_sale"]
    by_name = names(store, "SELECT Name FROM Account ORDER BY Name")  # case-insensitive
    assert by_name == ["Acme", "beta corp", "Gamma 50% off_sale"]
    by_parent = names(store, "SELECT LastName FROM Contact ORDER BY Account.Name DESC NULLS "
                      "LAST, LastName", "LastName")
    assert by_parent == ["Cy", "Builder", "Lovelace", "Orphan"]


def test_limit_and_offset(store: Store, org: dict[str, str]) -> None:
    assert names(store, "SELECT Name FROM Account ORDER BY Name LIMIT 2") == ["Acme",
                                                                              "beta corp"]
    assert names(store, "SELECT Name FROM Account ORDER BY Name LIMIT 1 OFFSET 1") == [
        "beta corp"]
    assert names(store, "SELECT Name FROM Account ORDER BY Name OFFSET 2") == [
        "Gamma 50% off_sale"]


def test_count_returns_size_without_records(store: Store, org: dict[str, str]) -> None:
    result = store.query("SELECT COUNT() FROM Contact WHERE AccountId != null")
    assert result.total_size == 3 and result.records == []
    assert store.query("SELECT count() FROM Account LIMIT 2").total_size == 2


def test_group_by_with_aggregates_and_aliases(store: Store, org: dict[str, str]) -> None:
    result = store.query(
        "SELECT Industry, COUNT(Id), SUM(AnnualRevenue) total, MAX(Name), AVG(AnnualRevenue) "
        "FROM Account WHERE Industry != null GROUP BY Industry ORDER BY Industry")
    assert result.records == [
        {"attributes": {"type": "AggregateResult"}, "Industry": "Banking", "expr0": 1,
         "total": 100.0, "expr1": "beta corp", "expr2": 100.0},
        {"attributes": {"type": "AggregateResult"}, "Industry": "Energy", "expr0": 2,
         "total": 500.0, "expr1": "Gamma 50% off_sale", "expr2": 500.0},
    ]


def test_aggregates_without_group_by_and_having(store: Store, org: dict[str, str]) -> None:
    recs = store.query("SELECT COUNT(Id) n, COUNT_DISTINCT(AccountId), MIN(CloseDate), "
                       "MAX(CreatedDate) FROM Opportunity").records
    assert recs[0]["n"] == 3 and recs[0]["expr0"] == 2
    assert recs[0]["expr1"] == "2025-03-01"
    assert recs[0]["expr2"] == "2026-11-18T15:30:00.000+0000"
    having = store.query("SELECT AccountId, COUNT(Id) FROM Opportunity GROUP BY AccountId "
                         "HAVING COUNT(Id) > 1").records
    assert [(r["AccountId"], r["expr0"]) for r in having] == [(org["acme"], 2)]
    ordered = store.query("SELECT Account.Name, SUM(Amount) FROM Opportunity "
                          "GROUP BY Account.Name ORDER BY SUM(Amount) DESC NULLS LAST").records
    assert [r["Name"] for r in ordered] == ["Acme", "beta corp"]


def test_date_functions_group(store: Store, org: dict[str, str]) -> None:
    recs = store.query("SELECT CALENDAR_YEAR(CloseDate) y, COUNT(Id) FROM Opportunity "
                       "GROUP BY CALENDAR_YEAR(CloseDate) ORDER BY CALENDAR_YEAR(CloseDate)"
                       ).records
    assert [(r["y"], r["expr0"]) for r in recs] == [(2025, 1), (2026, 2)]
    assert names(store, "SELECT Name FROM Opportunity WHERE CALENDAR_MONTH(CloseDate) = 10") \
        == ["Small"]


def test_semi_and_anti_joins(store: Store, org: dict[str, str]) -> None:
    semi = names(store, "SELECT Name FROM Account WHERE Id IN "
                 "(SELECT AccountId FROM Contact WHERE LastName LIKE 'L%')")
    assert semi == ["Acme"]
    anti = names(store, "SELECT Name FROM Account WHERE Id NOT IN "
                 "(SELECT AccountId FROM Opportunity)")
    assert anti == ["Gamma 50% off_sale"]


def test_fields_macros(store: Store, org: dict[str, str]) -> None:
    std = store.query(f"SELECT FIELDS(STANDARD) FROM Account WHERE Id = '{org['acme']}'")
    rec = std.records[0]
    assert rec["Name"] == "Acme" and "BillingAddress" in rec and "External_Id__c" not in rec
    custom = store.query("SELECT FIELDS(CUSTOM) FROM Account LIMIT 200").records[0]
    assert set(custom) - {"attributes"} == {"External_Id__c", "Regions__c", "Health_Score__c",
                                            "Active__c"}
    everything = store.query("SELECT FIELDS(ALL) FROM Account LIMIT 1").records[0]
    assert {"Name", "External_Id__c", "CreatedDate"} <= set(everything)


def test_polymorphic_relationships_and_typeof(store: Store, org: dict[str, str]) -> None:
    rec = store.query("SELECT Subject, Who.Name, What.Name, What.Type FROM Task").records[0]
    assert rec["Who"]["Name"] == "Ada Lovelace"
    assert rec["Who"]["attributes"]["type"] == "Contact"
    assert rec["What"] == {"attributes": {"type": "Opportunity",
                                          "url": rec["What"]["attributes"]["url"]},
                           "Name": "Big", "Type": "Opportunity"}
    typed = store.query("SELECT TYPEOF What WHEN Opportunity THEN Name, Amount "
                        "WHEN Account THEN Phone ELSE Name END FROM Task").records[0]
    assert typed["What"]["Amount"] == 1000.0 and typed["What"]["Name"] == "Big"


def test_query_all_includes_deleted_rows(store: Store, org: dict[str, str]) -> None:
    store.delete("Contact", org["orphan"])
    assert "Orphan" not in names(store, "SELECT LastName FROM Contact", "LastName")
    every = names(store, "SELECT LastName FROM Contact WHERE IsDeleted = true", "LastName",
                  include_deleted=True)
    assert every == ["Orphan"]


def test_tolerated_clauses(store: Store, org: dict[str, str]) -> None:
    for soql in ["SELECT Name FROM Account WITH SECURITY_ENFORCED ORDER BY Name",
                 "SELECT Name FROM Account ORDER BY Name FOR VIEW",
                 "SELECT Name FROM Account ORDER BY Name LIMIT 5 FOR REFERENCE",
                 "SELECT Name FROM Account USING SCOPE everything ORDER BY Name",
                 "SELECT a.Name FROM Account a ORDER BY a.Name",
                 "SELECT Account.Name FROM Account ORDER BY Name"]:
        assert names(store, soql) == ["Acme", "beta corp", "Gamma 50% off_sale"], soql


def test_address_compound_in_rest_results(store: Store, org: dict[str, str]) -> None:
    rec = store.query("SELECT BillingAddress FROM Account WHERE Name = 'Acme'").records[0]
    assert rec["BillingAddress"]["city"] == "Paris"
    assert set(rec["BillingAddress"]) == {"city", "country", "geocodeAccuracy", "latitude",
                                          "longitude", "postalCode", "state", "street"}


def test_large_results_are_sliceable_sequences(store: Store) -> None:
    with store.transaction():
        for i in range(2500):
            store.create("Contact", {"LastName": f"L{i:04d}"})
    result = store.query("SELECT LastName FROM Contact ORDER BY LastName")
    assert result.total_size == len(result.records) == 2500
    page = result.records[2000:2002]
    assert isinstance(page, list) and [r["LastName"] for r in page] == ["L2000", "L2001"]
    assert result.records[-1]["LastName"] == "L2499"
    assert sum(1 for _ in result.records) == 2500
    small = store.query("SELECT LastName FROM Contact ORDER BY LastName LIMIT 2000").records
    assert isinstance(small, list)


def test_empty_string_literal_matches_null_text(store: Store, org: dict[str, str]) -> None:
    assert names(store, "SELECT Name FROM Account WHERE Rating = ''") == [
        "beta corp", "Gamma 50% off_sale"]
    assert names(store, "SELECT Name FROM Account WHERE Rating != ''") == ["Acme"]


@pytest.fixture
def leads(store: Store) -> Store:
    for source, rating, count in [("Web", None, 5), ("Web", "Hot", 1), ("Web", "Warm", 1),
                                  ("Phone Inquiry", "Hot", 3), (None, "Cold", 2)]:
        for _ in range(count):
            store.create("Lead", {"LastName": "L", "Company": "C", "LeadSource": source,
                                  "Rating": rating})
    return store


def _rows(store: Store, soql: str) -> list[tuple[Any, ...]]:
    return [tuple(v for k, v in r.items() if k != "attributes")
            for r in store.query(soql).records]


def test_group_by_rollup_adds_subtotals_and_a_grand_total(leads: Store) -> None:
    assert _rows(leads, "SELECT LeadSource, COUNT(Name) cnt FROM Lead "
                        "GROUP BY ROLLUP(LeadSource)") == [
        (None, 2), ("Phone Inquiry", 3), ("Web", 7), (None, 12)]
    rows = _rows(leads, "SELECT LeadSource, Rating, GROUPING(LeadSource) grpLS, "
                        "GROUPING(Rating) grpRating, COUNT(Name) cnt FROM Lead "
                        "GROUP BY ROLLUP(LeadSource, Rating)")
    assert ("Web", None, 0, 0, 5) in rows and ("Web", None, 0, 1, 7) in rows
    assert rows.index(("Web", "Warm", 0, 0, 1)) < rows.index(("Web", None, 0, 1, 7))
    assert rows[-1] == (None, None, 1, 1, 12)
    assert len(rows) == 9  # 5 detail rows, 3 subtotals, 1 grand total


def test_group_by_cube_covers_every_combination(leads: Store) -> None:
    rows = _rows(leads, "SELECT LeadSource, Rating, GROUPING(LeadSource), GROUPING(Rating), "
                        "COUNT(Id) FROM Lead GROUP BY CUBE(LeadSource, Rating)")
    assert (None, "Hot", 1, 0, 4) in rows  # Hot across every source
    assert (None, None, 1, 1, 12) in rows
    assert len(rows) == 5 + 3 + 4 + 1


def test_grouping_needs_rollup_or_cube(leads: Store) -> None:
    from sfbulk_mcp.devorg.errors import DevOrgError

    with pytest.raises(DevOrgError) as err:
        leads.query("SELECT GROUPING(LeadSource) FROM Lead GROUP BY LeadSource")
    assert err.value.error_code == "MALFORMED_QUERY"


def test_non_ascii_text_matches_case_insensitively(store: Store) -> None:
    store.create("Account", {"Name": "Société Générale Émile"})
    store.create("Account", {"Name": "ÅNGSTRÖM AB"})
    for where in ["Name = 'société générale émile'", "Name LIKE 'SOCIÉTÉ%'",
                  "Name IN ('x', 'SOCIÉTÉ GÉNÉRALE ÉMILE')"]:
        assert names(store, f"SELECT Name FROM Account WHERE {where}") == [
            "Société Générale Émile"], where
    assert names(store, "SELECT Name FROM Account WHERE Name != 'ångström ab'") == [
        "Société Générale Émile"]
    found = store.search("FIND {ångström} RETURNING Account(Name)")
    assert [r["Name"] for r in found["searchRecords"]] == ["ÅNGSTRÖM AB"]


def test_format_and_tolabel_functions(store: Store) -> None:
    store.create("Opportunity", {"Name": "O", "StageName": "Prospecting",
                                 "CloseDate": "2015-12-28", "Amount": 44000})
    rec = store.query("SELECT Amount, FORMAT(Amount) Amt, FORMAT(CloseDate), "
                      "FORMAT(CreatedDate) created, toLabel(StageName), "
                      "convertCurrency(Amount) converted FROM Opportunity").records[0]
    assert rec["Amount"] == 44000.0 and rec["Amt"] == "$44,000.00"
    assert rec["CloseDate"] == "12/28/2015" and rec["created"] == "11/18/2026, 3:30 PM"
    assert rec["StageName"] == "Prospecting" and rec["converted"] == 44000.0
    agg = store.query("SELECT FORMAT(MIN(CloseDate)) earliest, FORMAT(SUM(Amount)) "
                      "FROM Opportunity").records[0]
    assert agg["earliest"] == "12/28/2015" and agg["expr0"] == "$44,000.00"


def test_rollup_without_aggregates_has_one_grand_total_row(leads: Store) -> None:
    rows = _rows(leads, "SELECT LeadSource FROM Lead GROUP BY ROLLUP(LeadSource)")
    assert rows == [(None,), ("Phone Inquiry",), ("Web",), (None,)]


def test_using_scope_mine_keeps_the_running_users_records(store: Store) -> None:
    other = store.integration_user_id
    mine = store.create("Account", {"Name": "Mine"})
    store.create("Account", {"Name": "Theirs", "OwnerId": other})
    assert names(store, "SELECT Name FROM Account USING SCOPE mine") == ["Mine"]
    assert names(store, "SELECT Name FROM Account USING SCOPE mine",
                 user_id=other) == ["Theirs"]
    assert names(store, "SELECT Name FROM Account USING SCOPE Everything ORDER BY Name") == [
        "Mine", "Theirs"]
    assert store.query("SELECT Id FROM Account USING SCOPE mine WHERE Name = 'Mine'"
                       ).records[0]["Id"] == mine


def test_using_scope_the_devorg_cannot_honour_is_malformed(store: Store) -> None:
    from sfbulk_mcp.devorg.errors import DevOrgError

    for scope in ("team", "my_territory", "delegated", "bogus"):
        with pytest.raises(DevOrgError) as err:
            store.query(f"SELECT Id FROM Account USING SCOPE {scope}")
        assert err.value.error_code == "MALFORMED_QUERY"
        assert f"Invalid scope:{scope}" in err.value.message
