"""Which queries Bulk API 2.0 accepts, decided before any job is created."""

from __future__ import annotations

import asyncio

import pytest
from sfbulk_mcp.bulk.errors import UnsupportedBulkQueryError
from sfbulk_mcp.bulk.schema import bulk_fields, parse_header_line, resolve_schema, schema_for_header
from sfbulk_mcp.bulk.soql import analyze, build_soql, compound_field_problems, require_bulk


@pytest.mark.parametrize(
    ("soql", "problem"),
    [
        ("SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry", "GROUP BY"),
        ("SELECT COUNT() FROM Account", "aggregate"),
        ("select max(AnnualRevenue) from Account", "aggregate"),
        ("SELECT Id FROM Account LIMIT 10 OFFSET 5", "OFFSET"),
        ("SELECT TYPEOF What WHEN Account THEN Name END FROM Event", "TYPEOF"),
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "subquer"),
    ],
)
def test_bulk_rejected_constructs_are_named(soql: str, problem: str) -> None:
    shape = analyze(soql)
    assert not shape.bulk_ok
    with pytest.raises(UnsupportedBulkQueryError) as info:
        require_bulk(shape)
    assert problem.lower() in str(info.value).lower()


def test_keywords_inside_string_literals_do_not_count() -> None:
    shape = analyze("SELECT Id, Name FROM Account WHERE Name = 'x GROUP BY (SELECT y) OFFSET'")
    assert shape.bulk_ok
    assert shape.object == "Account"
    assert shape.columns == ("Id", "Name")


def test_relationship_columns_keep_their_dotted_names() -> None:
    shape = analyze(
        "SELECT Id, Owner.Name, Account.Owner.Email FROM Contact WHERE IsDeleted = false"
    )
    assert shape.columns == ("Id", "Owner.Name", "Account.Owner.Email")
    assert shape.object == "Contact"


def test_aggregates_are_flagged_for_rest() -> None:
    assert analyze("SELECT COUNT() FROM Account").rest_only_aggregate
    assert not analyze("SELECT Id, (SELECT Id FROM Contacts) FROM Account").rest_only_aggregate


def test_compound_fields_are_rejected_by_type() -> None:
    types = {"billingaddress": "address", "billingcity": "string"}
    problems = compound_field_problems(["Id", "BillingAddress", "BillingCity"], types)
    assert len(problems) == 1 and "BillingAddress" in problems[0]


def test_build_soql_from_object_fields_and_filter() -> None:
    assert (
        build_soql("Account", ["Id", "Name"], "WHERE Industry = 'Energy'")
        == "SELECT Id, Name FROM Account WHERE Industry = 'Energy'"
    )
    with pytest.raises(ValueError):
        build_soql("Account", ["Id; DROP"], None)


def test_all_fields_leave_out_compound_and_base64() -> None:
    describe = {
        "fields": [
            {"name": "Id", "type": "id"},
            {"name": "BillingAddress", "type": "address"},
            {"name": "BillingCity", "type": "string"},
            {"name": "Location__c", "type": "location"},
            {"name": "Body", "type": "base64"},
        ]
    }
    assert bulk_fields(describe) == ["Id", "BillingCity"]


def test_relationship_columns_are_typed_from_the_related_object() -> None:
    describes = {
        "contact": {
            "fields": [
                {"name": "Id", "type": "id"},
                {
                    "name": "AccountId",
                    "type": "reference",
                    "relationshipName": "Account",
                    "referenceTo": ["Account"],
                },
            ]
        },
        "account": {
            "fields": [
                {"name": "AnnualRevenue", "type": "currency"},
                {"name": "CreatedDate", "type": "datetime"},
            ]
        },
    }
    asked: list[str] = []

    async def describe(name: str) -> dict[str, object]:
        asked.append(name)
        return describes[name.lower()]

    schema = asyncio.run(
        resolve_schema(
            "Contact", ["Id", "Account.AnnualRevenue", "account.createddate", "Nope.X"], describe
        )
    )
    assert schema == {
        "Id": "id",
        "Account.AnnualRevenue": "currency",
        "account.createddate": "datetime",
        "Nope.X": "string",
    }
    assert sorted(asked) == ["Account", "Contact"]


def test_header_names_are_read_from_the_first_record() -> None:
    body = b'\xef\xbb\xbf"Id","Owner.Name","Say ""hi"""\n"1","a","b"\n'
    assert parse_header_line(body) == ["Id", "Owner.Name", 'Say "hi"']
    assert parse_header_line(b'"Id","Na') is None
    assert schema_for_header(["ID", "Other"], {"Id": "id"}) == {"ID": "id", "Other": "string"}
