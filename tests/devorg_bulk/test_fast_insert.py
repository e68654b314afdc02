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


OTHER_OBJECTS: list[tuple[str, list[dict[str, Any]]]] = [
    ("Account", ROWS),
    ("Contact", [{"FirstName": "Ada", "LastName": "Lovelace"}, {"FirstName": "No last"}]),
    ("Opportunity", [{"Name": "Deal", "StageName": "Closed Won", "CloseDate": "2024-05-01",
                      "Amount": "1200"},
                     {"Name": "Bad stage", "StageName": "Nope", "CloseDate": "2024-05-01"}]),
    ("Case", [{"Subject": "Broken", "Status": "Closed"}, {"Subject": "Open one"}]),
    ("Invoice__c", [{"Name": "INV-1", "External_Id__c": "E-1"}, {"External_Id__c": "E-2"}]),
]


def outcome(result: str | DevOrgError) -> tuple[str, ...]:
    if isinstance(result, DevOrgError):
        return ("error", result.error_code, result.message, ",".join(result.fields))
    return ("ok", result)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = Store(tmp_path / "org.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def twin(tmp_path: Path) -> Any:
    """A second, identical store: the reference the fast path is compared with."""
    opened = Store(tmp_path / "twin.sqlite3")
    yield opened
    opened.close()


@pytest.mark.parametrize(("sobject", "rows"), OTHER_OBJECTS)
def test_fast_insert_matches_store_create(store: Store, twin: Store, sobject: str,
                                          rows: list[dict[str, Any]]) -> None:
    described = store.catalog.get(sobject)
    inserter = FastInserter(store, described)
    with store.transaction():
        fast = inserter.insert([dict(r) for r in rows], store.admin_user_id)
    slow: list[str | DevOrgError] = []
    for row in rows:
        try:
            slow.append(twin.create(sobject, dict(row), user_id=twin.admin_user_id))
        except DevOrgError as exc:
            slow.append(exc)
    # Same Ids too: both stores hand them out from the same sequence.
    assert [outcome(r) for r in fast if isinstance(r, DevOrgError)] == \
        [outcome(r) for r in slow if isinstance(r, DevOrgError)]
    assert [isinstance(r, str) for r in fast] == [isinstance(r, str) for r in slow]
    moving = {"CreatedDate", "LastModifiedDate", "SystemModstamp", "ClosedDate", "Id"}
    fields = [f.name for f in described.fields if f.stored and f.name not in moving
              and f.type != "base64"]
    for quick, careful in zip(fast, slow, strict=True):
        if isinstance(quick, str):
            assert isinstance(careful, str)
            one = store.retrieve(sobject, quick, fields)
            two = twin.retrieve(sobject, careful, fields)
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
