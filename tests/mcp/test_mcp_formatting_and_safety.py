"""Result shaping (slim rows, CSV, budgets), object policy and SOQL checks, without a network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sfbulk_mcp.mcp.config import DEFAULT_TOOLSETS, ConfigError, parse_toolsets
from sfbulk_mcp.mcp.formatting import fit_records, render_csv, slim_record
from sfbulk_mcp.mcp.safety import (
    ObjectPolicy,
    PolicyError,
    soql_child_relationships,
    soql_objects,
    sosl_objects,
)
from sfbulk_mcp.mcp.schema_memory import SchemaMemory

FIXTURES = Path("/work/shared/fixtures/salesforce")


def test_slim_record_drops_attributes_and_flattens_parents() -> None:
    record = {
        "attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003"},
        "Id": "003000000000001AAA",
        "Account": {"attributes": {"type": "Account"}, "Name": "Acme", "Owner": {
            "attributes": {"type": "User"}, "Name": "Ann"}},
        "Cases": {"totalSize": 1, "done": True, "records": [
            {"attributes": {"type": "Case"}, "Subject": "Broken"}]},
    }
    assert slim_record(record) == {
        "Id": "003000000000001AAA",
        "Account.Name": "Acme",
        "Account.Owner.Name": "Ann",
        "Cases": [{"Subject": "Broken"}],
    }


def test_csv_quotes_only_what_needs_quoting_and_writes_null_as_empty() -> None:
    text = render_csv(["A", "B", "C"], [{"A": 'say "hi"', "B": None, "C": True}, {"A": "x,y"}])
    assert text == 'A,B,C\n"say ""hi""",,true\n"x,y",,\n'


@given(st.lists(st.dictionaries(st.sampled_from(["Id", "Name", "Note"]), st.text(max_size=80)),
                max_size=60), st.integers(min_value=200, max_value=5_000))
def test_fitted_rows_stay_within_budget(rows: list[dict[str, str]], budget: int) -> None:
    fitted = fit_records(rows, budget)
    assert fitted.records == rows[: len(fitted.records)] or len(fitted.records) == 1
    if len(fitted.records) > 1:
        assert len(json.dumps(fitted.records, ensure_ascii=False, separators=(",", ":")).encode()) <= budget
    assert fitted.truncated == (len(fitted.records) < len(rows) or fitted.records[:1] != rows[:1])


def test_one_huge_record_is_shortened_not_dropped() -> None:
    fitted = fit_records([{"Id": "1", "Body": "x" * 100_000}], 2_000)
    assert fitted.truncated
    assert len(fitted.records) == 1
    assert "more chars" in fitted.records[0]["Body"]
    assert len(json.dumps(fitted.records)) < 4_000


def test_toolsets_parse_default_all_and_reject_unknown() -> None:
    assert parse_toolsets(None) == DEFAULT_TOOLSETS
    assert "apex" not in DEFAULT_TOOLSETS
    assert "apex" in parse_toolsets("all")
    assert parse_toolsets("data, bulk") == {"data", "bulk"}
    with pytest.raises(ConfigError, match="unknown toolset"):
        parse_toolsets("data,everything")


def test_objects_are_found_in_soql_and_sosl() -> None:
    assert soql_objects(
        "SELECT Id, (SELECT Id FROM Contacts) FROM Account WHERE Name LIKE 'from x%' "
        "AND Id IN (SELECT AccountId FROM Opportunity)"
    ) == ["Account", "Opportunity"]
    assert soql_child_relationships("SELECT Id, (SELECT Id FROM Contacts) FROM Account") == [
        "Contacts"
    ]
    assert sosl_objects(
        "FIND {Acme} IN ALL FIELDS RETURNING Account(Id, Name WHERE Industry = 'X'), Contact"
    ) == ["Account", "Contact"]


def test_policy_deny_wins_and_allow_list_limits() -> None:
    policy = ObjectPolicy(allow=frozenset({"account", "contact"}), deny=frozenset({"contact"}))
    assert policy.allowed("Account")
    assert not policy.allowed("Contact")
    assert not policy.allowed("Opportunity")
    with pytest.raises(PolicyError, match="Opportunity"):
        policy.check_soql("SELECT Id FROM Opportunity")
    with pytest.raises(PolicyError, match="RETURNING"):
        policy.check_sosl("FIND {x}")


@pytest.mark.anyio
async def test_schema_memory_suggests_close_field_names(tmp_path: Path) -> None:
    describe = json.loads((FIXTURES / "describe_Account.json").read_text())
    memory = SchemaMemory(tmp_path / "schema.json")
    memory.remember(describe)
    assert memory.check_soql("SELECT Id, Name, Industry FROM Account") == []
    problems = memory.check_soql("SELECT Id, Nmae, Industy, Owner.Name FROM Account")
    assert any("Nmae" in p and "Name" in p for p in problems)
    assert any("Industy" in p and "Industry" in p for p in problems)
    assert not any("Owner" in p for p in problems)
    assert memory.check_soql("SELECT Id, Ownr.Name FROM Account")[0].startswith(
        "No relationship Ownr"
    )
    # WHERE and ORDER BY are checked too; literals, functions, subqueries and aliases are not
    # mistaken for fields.
    where = memory.check_soql(
        "SELECT Id FROM Account WHERE (Nmae LIKE 'Acme (x)%' OR AnnualRevenue > 5) "
        "AND Id IN (SELECT AccountId FROM Contact WHERE Bogus = 1) "
        "AND CALENDAR_YEAR(CreatedDate) = 2024 ORDER BY Industy DESC NULLS LAST"
    )
    assert [p.split(" on ")[0] for p in where] == ["No field Nmae", "No field Industy"]
    assert memory.check_soql(
        "SELECT Industry, COUNT(Id) total FROM Account WHERE Name != null "
        "GROUP BY Industry ORDER BY total DESC"
    ) == []
    assert memory.check_soql("SELECT FIELDS(STANDARD) FROM Account LIMIT 200") == []
    # Objects never learned are not a reason to refuse anything.
    assert memory.check_soql("SELECT Bogus FROM Unknown__c") == []
    # The memory survives a restart.
    assert SchemaMemory(tmp_path / "schema.json").object("account") is not None
