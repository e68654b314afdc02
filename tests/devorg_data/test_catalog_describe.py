"""describe / describeGlobal have the shape of real Salesforce responses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.store import Store

# Excerpts of real describe responses (see fixtures/README.md).
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _fixture(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def test_describe_has_every_key_of_a_real_describe(store: Store) -> None:
    real = _fixture("describe_Account.json")
    ours = store.describe("Account")
    assert set(ours) == set(real)
    assert all(set(f) == set(real["fields"][0]) for f in ours["fields"])
    assert set(ours["childRelationships"][0]) == set(real["childRelationships"][0])
    assert set(ours["urls"]) >= {"sobject", "describe", "rowTemplate"}


def test_every_object_describes_with_the_fixture_field_keys(store: Store) -> None:
    keys = set(_fixture("describe_Account.json")["fields"][0])
    for entry in store.describe_global()["sobjects"]:
        described = store.describe(entry["name"])
        assert described["keyPrefix"] == entry["keyPrefix"]
        for f in described["fields"]:
            assert set(f) == keys, (entry["name"], f["name"])


def test_describe_global_matches_the_recorded_shape(store: Store) -> None:
    real = _fixture("describe_Global.json")
    ours = store.describe_global()
    assert set(ours) == set(real)
    assert set(ours["sobjects"][0]) == set(real["sobjects"][0])
    prefixes = {o["name"]: o["keyPrefix"] for o in ours["sobjects"]}
    assert prefixes == {
        "Account": "001", "Contact": "003", "Lead": "00Q", "Opportunity": "006",
        "Case": "500", "User": "005", "Product2": "01t", "Task": "00T",
        "ContentVersion": "068", "Invoice__c": "a00", "Profile": "00e",
    }


def test_account_fields_carry_realistic_metadata(store: Store) -> None:
    fields = {f["name"]: f for f in store.describe("account")["fields"]}
    assert fields["Name"]["type"] == "string" and fields["Name"]["length"] == 255
    assert fields["Name"]["nillable"] is False and fields["Name"]["nameField"] is True
    assert fields["Name"]["byteLength"] == 765 and fields["Name"]["soapType"] == "xsd:string"
    assert fields["OwnerId"]["referenceTo"] == ["User"]
    assert fields["OwnerId"]["relationshipName"] == "Owner"
    assert fields["AnnualRevenue"]["type"] == "currency"
    assert fields["AnnualRevenue"]["soapType"] == "xsd:double"
    assert fields["NumberOfEmployees"]["soapType"] == "xsd:int"
    assert fields["BillingAddress"]["type"] == "address"
    assert fields["BillingCity"]["compoundFieldName"] == "BillingAddress"
    assert fields["Description"]["filterable"] is False
    assert fields["External_Id__c"]["externalId"] is True
    assert fields["External_Id__c"]["custom"] is True
    assert fields["Id"]["createable"] is False and fields["Id"]["type"] == "id"
    assert fields["CreatedDate"]["type"] == "datetime"
    assert fields["Industry"]["picklistValues"][0]["active"] is True


def test_required_restricted_and_unique_fields_are_described(store: Store) -> None:
    opp = {f["name"]: f for f in store.describe("Opportunity")["fields"]}
    assert opp["StageName"]["nillable"] is False and opp["StageName"]["type"] == "picklist"
    assert opp["CloseDate"]["nillable"] is False and opp["CloseDate"]["type"] == "date"
    assert opp["Probability"]["type"] == "percent"
    inv = {f["name"]: f for f in store.describe("Invoice__c")["fields"]}
    assert inv["Status__c"]["restrictedPicklist"] is True
    assert inv["External_Id__c"]["unique"] is True
    assert inv["Tags__c"]["type"] == "multipicklist"
    assert inv["Account__c"]["relationshipName"] == "Account__r"
    task = {f["name"]: f for f in store.describe("Task")["fields"]}
    assert set(task["WhoId"]["referenceTo"]) == {"Contact", "Lead"}
    assert task["WhatId"]["polymorphicForeignKey"] is True


def test_child_relationships_are_described(store: Store) -> None:
    rels = {c["relationshipName"]: c for c in store.describe("Account")["childRelationships"]}
    assert rels["Contacts"]["childSObject"] == "Contact"
    assert rels["Contacts"]["field"] == "AccountId"
    assert {"Opportunities", "Cases", "ChildAccounts", "Invoices__r"} <= set(rels)


def test_unknown_object_is_invalid_type(store: Store) -> None:
    with pytest.raises(DevOrgError) as err:
        store.describe("Nope__c")
    assert err.value.error_code == "INVALID_TYPE"
    assert err.value.status == 404
    assert "sObject type 'Nope__c' is not supported" in err.value.message


def test_custom_object_describe_matches_the_recorded_custom_shape(store: Store) -> None:
    real = _fixture("describe_Custom__c.json")
    ours = store.describe("Invoice__c")
    assert set(ours) == set(real)
    assert ours["custom"] is True and ours["keyPrefix"] == "a00"
    name = next(f for f in ours["fields"] if f["name"] == "Name")
    real_name = next(f for f in real["fields"] if f["name"] == "Name")
    for key in ("nillable", "defaultedOnCreate", "idLookup", "nameField", "type"):
        assert name[key] == real_name[key], key


def test_custom_record_name_defaults_to_its_id(store: Store) -> None:
    record_id = store.create("Invoice__c", {"Amount__c": 5})
    assert store.retrieve("Invoice__c", record_id)["Name"] == record_id
