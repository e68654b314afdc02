"""The chunked insert path gives the same answers as `Store.create`, row for row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sfbulk_mcp.devorg.bulk.fastinsert import FastInserter
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.store import Store

ROWS: list[dict[str, Any]] = [
    {"Name": "Plain"},
    {"Name": "Typed", "NumberOfEmployees": "12", "AnnualRevenue": "1500.5"},
    {"Name": None},
    {"Phone": "555"},
    {"Name": "Bad int", "NumberOfEmployees": "twelve"},
    {"Name": "L" * 300},
    {"Name": "Rating", "Rating": "Lukewarm"},
    {"Name": "Bad ref", "ParentId": "001000000000000AAA"},
    {"Name": "Not writable", "CreatedDate": "2024-01-01T00:00:00Z"},
    {"Name": "Unknown", "Nope__c": "x"},
    {"Name": "Nulls", "Phone": None, "Website": None},
]


def outcome(result: str | DevOrgError) -> tuple[str, ...]:
    if isinstance(result, DevOrgError):
        return ("error", result.error_code, result.message, ",".join(result.fields))
    return ("ok",)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = Store(tmp_path / "org.sqlite3")
    yield opened
    opened.close()


def test_fast_insert_matches_store_create(store: Store) -> None:
    inserter = FastInserter(store, store.catalog.get("Account"))
    with store.transaction():
        fast = inserter.insert([dict(r) for r in ROWS], store.admin_user_id)
    slow: list[str | DevOrgError] = []
    for row in ROWS:
        try:
            slow.append(store.create("Account", dict(row), user_id=store.admin_user_id))
        except DevOrgError as exc:
            slow.append(exc)
    assert [outcome(r) for r in fast] == [outcome(r) for r in slow]
    fields = ["Name", "NumberOfEmployees", "AnnualRevenue", "Rating", "Phone", "OwnerId",
              "CreatedById", "IsDeleted"]
    for quick, careful in zip(fast, slow, strict=True):
        if isinstance(quick, str):
            assert isinstance(careful, str)
            one = store.retrieve("Account", quick, fields)
            two = store.retrieve("Account", careful, fields)
            one.pop("attributes")
            two.pop("attributes")
            assert one == two


OTHER_OBJECTS: list[tuple[str, list[dict[str, Any]]]] = [
    ("Contact", [{"FirstName": "Ada", "LastName": "Lovelace"}, {"FirstName": "No last"}]),
    ("Opportunity", [{"Name": "Deal", "StageName": "Closed Won", "CloseDate": "2024-05-01",
                      "Amount": "1200"},
                     {"Name": "Bad stage", "StageName": "Nope", "CloseDate": "2024-05-01"}]),
    ("Case", [{"Subject": "Broken", "Status": "Closed"}, {"Subject": "Open one"}]),
]


@pytest.mark.parametrize(("sobject", "rows"), OTHER_OBJECTS)
def test_fast_insert_derives_fields_like_the_store(store: Store, sobject: str,
                                                   rows: list[dict[str, Any]]) -> None:
    described = store.catalog.get(sobject)
    inserter = FastInserter(store, described)
    with store.transaction():
        fast = inserter.insert([dict(r) for r in rows], store.admin_user_id)
    slow: list[str | DevOrgError] = []
    for row in rows:
        try:
            slow.append(store.create(sobject, dict(row), user_id=store.admin_user_id))
        except DevOrgError as exc:
            slow.append(exc)
    assert [outcome(r) for r in fast] == [outcome(r) for r in slow]
    skip = {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "CaseNumber",
            "ClosedDate"}
    fields = [f.name for f in described.fields if f.stored and f.name not in skip
              and f.type != "base64"]
    for quick, careful in zip(fast, slow, strict=True):
        if isinstance(quick, str):
            assert isinstance(careful, str)
            one = store.retrieve(sobject, quick, fields)
            two = store.retrieve(sobject, careful, fields)
            one.pop("attributes")
            two.pop("attributes")
            assert one == two


def test_duplicate_unique_values_fail_only_their_row(store: Store) -> None:
    contact = store.catalog.get("Contact")
    unique = next(f.name for f in contact.fields if f.unique and f.name != "Id")
    inserter = FastInserter(store, contact)
    with store.transaction():
        results = inserter.insert(
            [{"LastName": "A", unique: "U-1"}, {"LastName": "B", unique: "U-1"},
             {"LastName": "C"}],
            store.admin_user_id,
        )
    assert isinstance(results[0], str) and isinstance(results[2], str)
    assert isinstance(results[1], DevOrgError) and results[1].error_code == "DUPLICATE_VALUE"
    assert unique in results[1].fields
    assert store.count("Contact") == 2
