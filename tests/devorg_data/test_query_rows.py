"""query_rows: the plain-SELECT stream Bulk API 2.0 query jobs are built on."""

from __future__ import annotations

import pytest
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.store import Store


def test_columns_are_dotted_in_select_order_and_values_typed(store: Store) -> None:
    parent = store.create("Account", {"Name": "Parent"})
    store.create("Account", {
        "Name": "Child", "ParentId": parent, "AnnualRevenue": 1250000.4, "NumberOfEmployees": 7,
        "Active__c": False, "Regions__c": "EMEA;AMER", "Description": "a\nb"})
    store.create("Invoice__c", {"Name": "I", "Due_Date__c": "2024-02-29",
                                "Due_Time__c": "23:59:59.5", "Issued_At__c": "2024-02-29T01:02:03Z"})
    columns, rows = store.query_rows(
        "SELECT Name, Parent.Name, Owner.Name, AnnualRevenue, NumberOfEmployees, Active__c, "
        "Regions__c, Description, CreatedDate, Id FROM Account WHERE ParentId != null")
    assert columns == ["Name", "Parent.Name", "Owner.Name", "AnnualRevenue",
                       "NumberOfEmployees", "Active__c", "Regions__c", "Description",
                       "CreatedDate", "Id"]
    (row,) = list(rows)
    assert row[:9] == ("Child", "Parent", "Admin User", 1250000.0, 7, False, "EMEA;AMER", "a\nb",
                       "2026-11-18T15:30:00.000Z")
    assert isinstance(row[5], bool) and len(row[9]) == 18
    _, inv = store.query_rows("SELECT Due_Date__c, Due_Time__c, Issued_At__c, Paid__c "
                              "FROM Invoice__c")
    assert list(inv) == [("2024-02-29", "23:59:59.500Z", "2024-02-29T01:02:03.000Z", False)]


def test_nulls_are_none_and_missing_parents_too(store: Store) -> None:
    store.create("Contact", {"LastName": "Alone"})
    _, rows = store.query_rows("SELECT LastName, Account.Name, Email FROM Contact")
    assert list(rows) == [("Alone", None, None)]


def test_query_rows_honours_where_order_limit_and_deleted(store: Store) -> None:
    ids = [store.create("Account", {"Name": f"A{i:03d}"}) for i in range(30)]
    store.delete("Account", ids[0])
    _, rows = store.query_rows("SELECT Name FROM Account WHERE Name LIKE 'A0%' "
                               "ORDER BY Name DESC LIMIT 3")
    assert [r[0] for r in rows] == ["A029", "A028", "A027"]
    _, live = store.query_rows("SELECT Id FROM Account")
    _, every = store.query_rows("SELECT Id FROM Account", include_deleted=True)
    assert len(list(live)) == 29 and len(list(every)) == 30


def test_query_rows_streams_lazily(store: Store) -> None:
    with store.transaction():
        for i in range(10000):
            store.create("Account", {"Name": f"N{i}"})
    _, rows = store.query_rows("SELECT Id, Name FROM Account")
    first = next(rows)
    assert first[1] == "N0"
    assert sum(1 for _ in rows) == 9999


def test_compound_fields_are_refused_in_bulk(store: Store) -> None:
    with pytest.raises(DevOrgError) as err:
        store.query_rows("SELECT BillingAddress FROM Account")
    assert err.value.error_code == "FUNCTIONALITY_NOT_ENABLED"


def test_fields_standard_expands_without_compounds(store: Store) -> None:
    store.create("Account", {"Name": "X"})
    columns, rows = store.query_rows("SELECT FIELDS(STANDARD) FROM Account")
    assert "BillingAddress" not in columns and "BillingCity" in columns
    assert len(next(rows)) == len(columns)


def test_bulk_rows_and_rest_records_agree(store: Store) -> None:
    from sfbulk_mcp.devorg.seed import seed

    seed(store, 60)
    soql = ("SELECT Id, Name, Account.Name, Account.Owner.Name, Email, Birthdate, "
            "HasOptedOutOfEmail, CreatedDate FROM Contact ORDER BY Name")
    columns, rows = store.query_rows(soql)
    result = store.query(soql)

    def flat(record: dict, column: str) -> object:  # type: ignore[type-arg]
        value: object = record
        for part in column.split("."):
            value = None if value is None else value[part]  # type: ignore[index]
        if isinstance(value, str) and value.endswith("+0000"):
            value = value[:-5] + "Z"
        return value

    expected = [tuple(flat(r, c) for c in columns) for r in result.records]
    assert list(rows) == expected and len(expected) == 120
