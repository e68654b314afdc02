"""Ingest result parsers: successfulResults, failedResults, unprocessedrecords."""

from __future__ import annotations

import polars as pl
from sfbulk_mcp import engine


def test_successful_results_have_typed_created_flag() -> None:
    body = (
        b'"sf__Id","sf__Created",Id,Phone\n'
        b'"0013h00000Ffg19AAB","false","0013h00000Ffg19AAB","881-222-2391"\n'
        b'"0013h00000Ffg1AAAR","true","","882-222-2392"\n'
    )
    df = engine.parse_successful_results(body)
    assert df.columns == ["sf__Id", "sf__Created", "Id", "Phone"]
    assert df.schema["sf__Created"] == pl.Boolean
    assert df["sf__Created"].to_list() == [False, True]
    assert df["Id"].to_list() == ["0013h00000Ffg19AAB", None]


def test_failed_results_split_the_error() -> None:
    body = (
        b'"sf__Id","sf__Error",Name,NumberOfEmployees\n'
        b'"","REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --","","5"\n'
        b'"","INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--","x","6"\n'
        b'"","DUPLICATE_VALUE:duplicate value found: Ext__c duplicates value on record with id: 001000000000001:Ext__c,Name --","y","7"\n'
    )
    df = engine.parse_failed_results(body, schema={"NumberOfEmployees": "int"})
    assert df.columns[:5] == ["sf__Id", "sf__Error", "error_code", "error_message", "error_fields"]
    assert df["error_code"].to_list() == [
        "REQUIRED_FIELD_MISSING",
        "INVALID_CROSS_REFERENCE_KEY",
        "DUPLICATE_VALUE",
    ]
    assert df["error_message"].to_list() == [
        "Required fields are missing: [Name]",
        "invalid cross reference id",
        "duplicate value found: Ext__c duplicates value on record with id: 001000000000001",
    ]
    assert df["error_fields"].to_list() == [["Name"], [], ["Ext__c", "Name"]]
    assert df["NumberOfEmployees"].to_list() == [5, 6, 7]


def test_results_of_uploads_that_nulled_fields_with_na_read_as_null() -> None:
    body = (
        b'"sf__Id","sf__Error",Id,NumberOfEmployees,Phone\n'
        b'"","INVALID_FIELD:bad:Phone --","001000000000001AAA","#N/A","#N/A"\n'
    )
    df = engine.parse_failed_results(body, schema={"NumberOfEmployees": "int"})
    assert df.row(0, named=True)["NumberOfEmployees"] is None
    assert df.row(0, named=True)["Phone"] is None
    ok = engine.parse_successful_results(
        b'"sf__Id","sf__Created",Id,AnnualRevenue\n"001000000000001AAA","false","001000000000001AAA","#N/A"\n',
        schema={"AnnualRevenue": "currency"},
    )
    assert ok["AnnualRevenue"].to_list() == [None]


def test_recorded_empty_failed_and_unprocessed_results() -> None:
    failed = engine.parse_failed_results(b'"sf__Id","sf__Error",Id,Phone\n')
    assert failed.height == 0
    assert failed.columns == [
        "sf__Id",
        "sf__Error",
        "error_code",
        "error_message",
        "error_fields",
        "Id",
        "Phone",
    ]
    unprocessed = engine.parse_unprocessed_records(b"Id,Phone\n")
    assert unprocessed.shape == (0, 2)
    rows = engine.parse_unprocessed_records(b"Id,Phone\n0013h00000Ffg19AAB,881-222-2391\n")
    assert rows.rows() == [("0013h00000Ffg19AAB", "881-222-2391")]


def test_split_sf_error_handles_odd_shapes() -> None:
    assert engine.split_sf_error(None) == (None, None, [])
    assert engine.split_sf_error("free text") == (None, "free text", [])
    assert engine.split_sf_error("FIELD_CUSTOM_VALIDATION_EXCEPTION:Must be positive: yes") == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Must be positive: yes",
        [],
    )
