"""Seed data: deterministic, related, and full of the cases naive clients get wrong."""

from __future__ import annotations

from pathlib import Path

from sfbulk_mcp.devorg.ids import is_valid_id
from sfbulk_mcp.devorg.seed import HARD_NAMES, seed
from sfbulk_mcp.devorg.store import Store

EXPORT = ("SELECT Id, Name, Type, Industry, AnnualRevenue, NumberOfEmployees, Description, "
          "BillingStreet, BillingCity, Owner.Name, Active__c, CreatedDate, ParentId, "
          "External_Id__c FROM Account")


def _seeded(path: Path, n: int, seed_value: int = 0) -> Store:
    store = Store(path)
    seed(store, n, seed=seed_value)
    return store


def test_same_seed_gives_the_same_data(tmp_path: Path) -> None:
    a = _seeded(tmp_path / "a.db", 300)
    b = _seeded(tmp_path / "b.db", 300)
    c = _seeded(tmp_path / "c.db", 300, seed_value=1)
    try:
        rows_a = list(a.query_rows(EXPORT)[1])
        assert rows_a == list(b.query_rows(EXPORT)[1])
        assert rows_a != list(c.query_rows(EXPORT)[1])
        contacts = "SELECT Id, Name, Email, Account.Name, Birthdate FROM Contact"
        assert list(a.query_rows(contacts)[1]) == list(b.query_rows(contacts)[1])
    finally:
        for s in (a, b, c):
            s.close()


def test_counts_and_relationships(store: Store) -> None:
    result = seed(store, 200)
    assert result.accounts == store.count("Account") == 200
    assert store.count("Contact") == result.contacts == 400
    assert store.count("Opportunity") == 200 and store.count("Case") == 100
    assert store.count("Invoice__c") == 40 and store.count("Task") == 20
    assert store.count("User") == 2 + result.users - 1
    orphans = store.query("SELECT COUNT() FROM Contact WHERE AccountId != null AND "
                          "Account.Id = null").total_size
    assert orphans == 0
    linked = store.query("SELECT Name, (SELECT Name FROM Contacts), (SELECT Name FROM "
                         "Opportunities), (SELECT Subject FROM Cases) FROM Account "
                         "ORDER BY Name LIMIT 50").records
    assert all(r["Contacts"] for r in linked)
    assert sum(1 for r in linked if r["Opportunities"]) == 50
    assert any(r["Cases"] for r in linked)
    ids = [r[0] for r in store.query_rows("SELECT Id FROM Contact")[1]]
    assert all(is_valid_id(i) for i in ids) and len(set(ids)) == 400


def test_hard_cases_are_present(store: Store) -> None:
    seed(store, 300)
    names = {r[0] for r in store.query_rows("SELECT Name FROM Account")[1]}
    assert set(HARD_NAMES) <= names
    texts = [r[0] for r in store.query_rows("SELECT Description FROM Case")[1]]
    text = "\x00".join(t for t in texts if t)
    assert "\r\n" in text and "\n" in text and '"' in text and "," in text
    assert any(ord(ch) > 0xFFFF for ch in text)  # emoji outside the BMP
    assert None in texts
    long_desc = store.query_rows("SELECT Description FROM Account")[1]
    longest = max((d for (d,) in long_desc if d), key=len)
    assert len(longest.encode()) > 32 * 1024 and len(longest) <= 32000
    notes = max((n for (n,) in store.query_rows("SELECT Notes__c FROM Invoice__c")[1] if n),
                key=len)
    assert len(notes) > 32000
    literal_nulls = store.query("SELECT COUNT() FROM Account WHERE Name IN "
                                "('NA', 'null', 'N/A')").total_size
    assert literal_nulls == 3


def test_seeded_records_obey_the_catalog(store: Store) -> None:
    seed(store, 100)
    for sobject in ("Account", "Contact", "Opportunity", "Case", "Invoice__c", "Task"):
        obj = store.catalog.get(sobject)
        fields = ", ".join(f.name for f in obj.fields if f.stored and f.type != "base64")
        for record in store.query(f"SELECT {fields} FROM {sobject} LIMIT 60").records:
            values = {k: v for k, v in record.items()
                      if k != "attributes" and obj.field(k) and obj.field(k).createable}  # type: ignore[union-attr]
            store.validate_values(sobject, values, for_insert=True)


def test_seeding_twice_adds_more_without_clashing(store: Store) -> None:
    seed(store, 20)
    seed(store, 20, seed=5)
    assert store.count("Account") == 40
    assert store.query("SELECT COUNT() FROM User").total_size == 2 + 8


def test_seeding_works_while_other_connections_are_open(store: Store) -> None:
    import threading

    reader = threading.Thread(target=lambda: store.query("SELECT COUNT() FROM Account"))
    reader.start()
    reader.join()
    other = Store(store.path)
    try:
        seed(store, 30)
        assert other.count("Account") == 30
        assert store._conn().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()
