"""What SOQL does not accept gets Salesforce's errors, never a wrong answer."""

from __future__ import annotations

import pytest
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.soql import parse_soql
from sfbulk_mcp.devorg.store import Store


def _error(store: Store, soql: str) -> DevOrgError:
    with pytest.raises(DevOrgError) as err:
        store.query(soql)
    return err.value


def test_unknown_field_is_invalid_field_with_position(store: Store) -> None:
    err = _error(store, "SELECT Id, Foo FROM Account")
    assert err.error_code == "INVALID_FIELD" and err.status == 400
    assert err.message == (
        "\nSELECT Id, Foo FROM Account\n           ^\nERROR at Row:1:Column:12\n"
        "No such column 'Foo' on entity 'Account'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name. Please reference "
        "your WSDL or the describe call for the appropriate names.")


def test_unknown_object_is_invalid_type(store: Store) -> None:
    err = _error(store, "SELECT Id FROM Foo")
    assert err.error_code == "INVALID_TYPE"
    assert "sObject type 'Foo' is not supported." in err.message


def test_unknown_relationship(store: Store) -> None:
    err = _error(store, "SELECT Foo.Name FROM Contact")
    assert err.error_code == "INVALID_FIELD"
    assert "Didn't understand relationship 'Foo' in field path." in err.message
    err = _error(store, "SELECT Id, (SELECT Id FROM Widgets) FROM Account")
    assert err.error_code == "INVALID_TYPE"
    assert "Didn't understand relationship 'Widgets'" in err.message


@pytest.mark.parametrize(("soql", "token"), [
    ("SELECT Id FROM", "<EOF>"),
    ("SELECT FROM Account", "FROM"),
    ("SELECT Id FROM Account WHERE", "<EOF>"),
    ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "OR"),
    ("SELECT Id FROM Account LIMIT ten", "ten"),
    ("SELECT Id FROM Account WHERE Name = :name", ":"),
    ("SELECT Id FROM Account ORDER BY", "<EOF>"),
])
def test_syntax_errors_are_malformed_query(store: Store, soql: str, token: str) -> None:
    err = _error(store, soql)
    assert err.error_code == "MALFORMED_QUERY"
    assert "ERROR at Row:1:Column:" in err.message
    assert token in err.message


@pytest.mark.parametrize(("soql", "code", "text"), [
    ("SELECT Id FROM Account WHERE AnnualRevenue = '5'", "INVALID_FIELD",
     ("value of filter criterion for field 'AnnualRevenue' must be of type double and should "
      "not be enclosed in quotes")),
    ("SELECT Id FROM Account WHERE Name = 5", "INVALID_FIELD", "must be of type string"),
    ("SELECT Id FROM Opportunity WHERE CloseDate = 2024-01-01T00:00:00Z", "INVALID_FIELD",
     "must be of type date"),
    ("SELECT Id FROM Account WHERE CreatedDate > 2024-01-01", "INVALID_FIELD",
     "must be of type dateTime"),
    ("SELECT Id FROM Account WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR",
     "invalid ID field: abc"),
    ("SELECT Id FROM Account WHERE IsDeleted = 'true'", "INVALID_FIELD", "boolean"),
    ("SELECT Id FROM Account WHERE Description = 'x'", "INVALID_FIELD",
     "can not be filtered"),
    ("SELECT Id FROM Account ORDER BY Description", "INVALID_FIELD", "can not be sorted"),
    ("SELECT Id FROM Account WHERE Name INCLUDES ('a')", "INVALID_FIELD", "multi-select"),
    ("SELECT Name, COUNT(Id) FROM Account", "MALFORMED_QUERY",
     "Field must be grouped or aggregated: Name"),
    ("SELECT Name FROM Account GROUP BY Industry", "MALFORMED_QUERY",
     "Field must be grouped or aggregated"),
    ("SELECT SUM(Name) FROM Account", "MALFORMED_QUERY", "does not support aggregate"),
    ("SELECT Id FROM Account WHERE COUNT(Id) > 1", "MALFORMED_QUERY", "Aggregate"),
    ("SELECT Id FROM Account LIMIT 10 OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE",
     "Maximum SOQL offset allowed is 2000"),
    ("SELECT FIELDS(ALL) FROM Account", "MALFORMED_QUERY", "LIMIT of at most 200"),
    ("SELECT FIELDS(CUSTOM) FROM Account LIMIT 201", "MALFORMED_QUERY", "at most 200"),
    ("SELECT COUNT(), Name FROM Account", "MALFORMED_QUERY", "COUNT()"),
    ("SELECT Id, Id FROM Account", "MALFORMED_QUERY", "duplicate field selected: Id"),
])
def test_semantic_errors(store: Store, soql: str, code: str, text: str) -> None:
    err = _error(store, soql)
    assert err.error_code == code, err.message
    assert text in err.message


def test_parse_soql_exposes_what_bulk_must_reject() -> None:
    q = parse_soql("SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry LIMIT 5 OFFSET 1")
    assert q.is_aggregate and q.group_by and q.offset == 1 and q.limit == 5
    assert q.from_object == "Account"
    sub = parse_soql("SELECT Name, (SELECT LastName FROM Contacts) FROM Account")
    assert len(sub.subqueries) == 1 and not sub.is_aggregate
    typeof = parse_soql("SELECT TYPEOF What WHEN Account THEN Name END FROM Task")
    assert typeof.uses_typeof
    plain = parse_soql("SELECT Id, Owner.Name FROM Account WHERE Name != null")
    assert plain.fields == ["Id", "Owner.Name"]
    assert not (plain.is_aggregate or plain.subqueries or plain.uses_typeof or plain.offset)
    assert parse_soql("SELECT COUNT() FROM Account").is_aggregate


def test_empty_query_is_malformed() -> None:
    with pytest.raises(DevOrgError) as err:
        parse_soql("   ")
    assert err.value.error_code == "MALFORMED_QUERY"
