"""Record CRUD, validation errors, upsert semantics, transactions and threads."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from pathlib import Path

import pytest
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.ids import is_valid_id
from sfbulk_mcp.devorg.store import ADMIN_USERNAME, MultipleMatchesError, Store


def _error(fn, *args, **kwargs) -> DevOrgError:  # type: ignore[no-untyped-def]
    with pytest.raises(DevOrgError) as err:
        fn(*args, **kwargs)
    return err.value


def test_new_store_has_the_admin_and_integration_users(store: Store) -> None:
    users = store.query("SELECT Username, Name, ProfileName__c FROM User ORDER BY Username")
    names = {r["Username"]: r for r in users.records}
    assert names[ADMIN_USERNAME]["Name"] == "Admin User"
    assert names[ADMIN_USERNAME]["ProfileName__c"] == "System Administrator"
    assert "integration@devorg.local" in names
    assert store.admin_user_id.startswith("005")


def test_create_and_retrieve_in_rest_shape(store: Store) -> None:
    record_id = store.create("Account", {
        "Name": "Acme", "AnnualRevenue": 1500000, "NumberOfEmployees": "42",
        "Active__c": "false", "BillingCity": "Paris", "Regions__c": "EMEA;AMER",
    })
    assert is_valid_id(record_id) and record_id.startswith("001")
    rec = store.retrieve("Account", record_id)
    assert rec["attributes"] == {
        "type": "Account", "url": f"/services/data/v60.0/sobjects/Account/{record_id}"}
    assert rec["Id"] == record_id and rec["Name"] == "Acme"
    assert rec["AnnualRevenue"] == 1500000.0 and rec["NumberOfEmployees"] == 42
    assert rec["Active__c"] is False and rec["IsDeleted"] is False
    assert rec["OwnerId"] == store.admin_user_id == rec["CreatedById"]
    assert rec["CreatedDate"] == "2026-11-18T15:30:00.000+0000"
    assert rec["BillingAddress"]["city"] == "Paris"
    assert rec["Regions__c"] == "EMEA;AMER"
    assert rec["Phone"] is None


def test_retrieve_selected_fields_and_15_char_id(store: Store) -> None:
    record_id = store.create("Account", {"Name": "Acme"})
    rec = store.retrieve("Account", record_id[:15], ["Name", "industry"])
    assert list(rec) == ["attributes", "Name", "Industry"]
    assert _error(store.retrieve, "Account", record_id, ["Nope"]).error_code == "INVALID_FIELD"


def test_missing_record_is_not_found(store: Store) -> None:
    err = _error(store.retrieve, "Account", "001Dv0000000zzzIAA")
    assert err.error_code == "NOT_FOUND" and err.status == 404


def test_required_fields_are_enforced(store: Store) -> None:
    err = _error(store.create, "Opportunity", {"Name": "Deal"})
    assert err.error_code == "REQUIRED_FIELD_MISSING"
    assert err.message == "Required fields are missing: [StageName, CloseDate]"
    assert err.fields == ["StageName", "CloseDate"]
    assert err.to_json() == [{"message": err.message, "errorCode": "REQUIRED_FIELD_MISSING",
                              "fields": ["StageName", "CloseDate"]}]
    account = store.create("Account", {"Name": "A"})
    err = _error(store.update, "Account", account, {"Name": None})
    assert err.error_code == "REQUIRED_FIELD_MISSING" and err.fields == ["Name"]


@pytest.mark.parametrize(("values", "code", "field"), [
    ({"Name": "x" * 256}, "STRING_TOO_LONG", "Name"),
    ({"Name": "A", "Foo__c": 1}, "INVALID_FIELD", "Foo__c"),
    ({"Name": "A", "NumberOfEmployees": "many"}, "INVALID_TYPE_ON_FIELD_IN_RECORD",
     "NumberOfEmployees"),
    ({"Name": "A", "AnnualRevenue": "1e3x"}, "INVALID_TYPE_ON_FIELD_IN_RECORD",
     "AnnualRevenue"),
    ({"Name": "A", "ParentId": "not-an-id"}, "MALFORMED_ID", "ParentId"),
    ({"Name": "A", "ParentId": "001Dv0000000zzzIAA"}, "INVALID_CROSS_REFERENCE_KEY", "ParentId"),
    ({"Name": "A", "CreatedDate": "2020-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE",
     "CreatedDate"),
])
def test_invalid_values_get_salesforce_errors(store: Store, values: dict[str, object],
                                              code: str,
                                              field: str) -> None:
    err = _error(store.create, "Account", values)
    assert err.error_code == code
    if code == "INVALID_CROSS_REFERENCE_KEY":
        assert err.message == "invalid cross reference id" and err.fields == []
    else:
        assert field in err.fields or field in err.message


def test_restricted_picklist_and_email_are_validated(store: Store) -> None:
    err = _error(store.create, "Invoice__c", {"Name": "I", "Status__c": "Lost"})
    assert err.error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert err.fields == ["Status__c"]
    err = _error(store.create, "Contact", {"LastName": "X", "Email": "not an email"})
    assert err.error_code == "INVALID_EMAIL_ADDRESS"


def test_reference_to_the_wrong_object_is_rejected(store: Store) -> None:
    contact = store.create("Contact", {"LastName": "X"})
    err = _error(store.create, "Opportunity", {
        "Name": "D", "StageName": "Prospecting", "CloseDate": "2026-01-01",
        "AccountId": contact})
    assert err.error_code == "FIELD_INTEGRITY_EXCEPTION"


def test_types_are_coerced_from_strings(store: Store) -> None:
    inv = store.create("Invoice__c", {
        "Name": "I-1", "Paid__c": "true", "Due_Date__c": "2024-01-31",
        "Issued_At__c": "2024-01-31T10:15:00+02:00", "Due_Time__c": "09:05",
        "Amount__c": "12.50", "Line_Count__c": "3", "Tags__c": "Urgent;Export",
    })
    rec = store.retrieve("Invoice__c", inv)
    assert rec["Paid__c"] is True and rec["Due_Date__c"] == "2024-01-31"
    assert rec["Issued_At__c"] == "2024-01-31T08:15:00.000+0000"
    assert rec["Due_Time__c"] == "09:05:00.000Z"
    assert rec["Amount__c"] == 12.5 and rec["Line_Count__c"] == 3


def test_empty_string_is_stored_as_null(store: Store) -> None:
    record_id = store.create("Account", {"Name": "A", "Phone": ""})
    assert store.retrieve("Account", record_id)["Phone"] is None


def test_update_changes_only_given_fields_and_bumps_timestamps(store: Store) -> None:
    record_id = store.create("Contact", {"FirstName": "Ada", "LastName": "Lovelace"})
    store.update("Contact", record_id, {"LastName": "King", "Title": "Countess"})
    rec = store.retrieve("Contact", record_id)
    assert rec["Name"] == "Ada King" and rec["FirstName"] == "Ada"
    assert rec["Title"] == "Countess"


def test_computed_fields_follow_salesforce(store: Store) -> None:
    opp = store.create("Opportunity", {"Name": "D", "StageName": "Closed Won",
                                       "CloseDate": "2026-01-31", "Amount": 1000})
    rec = store.retrieve("Opportunity", opp)
    assert rec["IsClosed"] is True and rec["IsWon"] is True
    assert rec["Probability"] == 100.0 and rec["ExpectedRevenue"] == 1000.0
    case = store.create("Case", {"Subject": "Help"})
    case2 = store.create("Case", {"Subject": "More help"})
    numbers = [store.retrieve("Case", c)["CaseNumber"] for c in (case, case2)]
    assert numbers[0] != numbers[1] and all(len(n) == 8 for n in numbers)
    assert store.retrieve("Case", case)["Status"] == "New"


def test_delete_undelete_and_hard_delete(store: Store) -> None:
    record_id = store.create("Account", {"Name": "Gone"})
    store.delete("Account", record_id)
    assert _error(store.retrieve, "Account", record_id).error_code == "ENTITY_IS_DELETED"
    assert _error(store.delete, "Account", record_id).error_code == "ENTITY_IS_DELETED"
    assert store.query("SELECT Id FROM Account").total_size == 0
    assert store.query("SELECT Id, IsDeleted FROM Account",
                       include_deleted=True).records[0]["IsDeleted"] is True
    store.undelete("Account", record_id)
    assert store.retrieve("Account", record_id)["IsDeleted"] is False
    store.hard_delete("Account", record_id)
    assert _error(store.retrieve, "Account", record_id).error_code == "NOT_FOUND"
    assert store.query("SELECT Id FROM Account", include_deleted=True).total_size == 0


def test_upsert_creates_then_updates_by_external_id(store: Store) -> None:
    first = store.upsert("Account", "External_Id__c", "EXT-1", {"Name": "One"})
    assert first[1] is True
    second = store.upsert("Account", "external_id__c", "ext-1", {"Name": "Uno"})
    assert second == (first[0], False)
    assert store.retrieve("Account", first[0])["Name"] == "Uno"
    assert store.retrieve("Account", first[0])["External_Id__c"] == "EXT-1"


def test_upsert_with_several_matches_is_300(store: Store) -> None:
    a = store.create("Account", {"Name": "A", "External_Id__c": "DUP"})
    b = store.create("Account", {"Name": "B", "External_Id__c": "DUP"})
    with pytest.raises(MultipleMatchesError) as err:
        store.upsert("Account", "External_Id__c", "DUP", {"Name": "C"})
    assert err.value.status == 300 and err.value.error_code == "DUPLICATE_EXTERNAL_ID"
    assert err.value.message.startswith(
        "External Id: more than one record found for external id field: [")
    assert err.value.fields == ["External_Id__c"]
    assert set(err.value.record_ids) == {a, b}


def test_upsert_by_id_and_errors(store: Store) -> None:
    created, was_created = store.upsert("Account", "Id", "", {"Name": "New"})
    assert was_created
    assert store.upsert("Account", "Id", created[:15], {"Name": "Same"}) == (created, False)
    assert _error(store.upsert, "Account", "Nope__c", "1", {}).error_code == "NOT_FOUND"
    assert _error(store.upsert, "Account", "Phone", "1", {}).error_code == "INVALID_FIELD"


def test_unique_external_id_rejects_duplicates(store: Store) -> None:
    store.create("Invoice__c", {"Name": "I1", "External_Id__c": "X-1"})
    err = _error(store.create, "Invoice__c", {"Name": "I2", "External_Id__c": "x-1"})
    assert err.error_code == "DUPLICATE_VALUE" and err.fields == ["External_Id__c"]


def test_transaction_is_all_or_none(store: Store) -> None:
    with pytest.raises(DevOrgError), store.transaction():
        store.create("Account", {"Name": "kept?"})
        store.create("Account", {})
    assert store.count("Account") == 0
    with store.transaction():
        store.create("Account", {"Name": "one"})
        with pytest.raises(DevOrgError), store.transaction():
            store.create("Account", {"Name": "inner"})
            store.create("Account", {})
    assert [r["Name"] for r in store.query("SELECT Name FROM Account").records] == ["one"]


def test_concurrent_writers_and_readers_are_safe(store: Store) -> None:
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(40):
                store.create("Account", {"Name": f"T{k}-{i}"})
                store.query("SELECT COUNT() FROM Account")
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count("Account") == 160


def test_data_and_id_sequence_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "org.db"
    first = Store(path)
    a = first.create("Account", {"Name": "Persisted"})
    admin = first.admin_user_id
    first.close()
    second = Store(path)
    try:
        assert second.retrieve("Account", a)["Name"] == "Persisted"
        assert second.admin_user_id == admin
        b = second.create("Account", {"Name": "Next"})
        assert b != a
    finally:
        second.close()


def test_sobject_for_id_uses_the_key_prefix(store: Store) -> None:
    record_id = store.create("Contact", {"LastName": "X"})
    assert store.sobject_for_id(record_id[:15]) == "Contact"
    assert _error(store.sobject_for_id, "zzzDv0000000001IAA").error_code == "INVALID_ID_FIELD"


def test_content_version_keeps_binary_data(store: Store) -> None:
    import base64

    cv = store.create("ContentVersion", {
        "Title": "notes", "PathOnClient": "notes.txt",
        "VersionData": base64.b64encode(b"hello\x00world").decode()})
    rec = store.retrieve("ContentVersion", cv)
    assert rec["VersionData"].endswith(f"/ContentVersion/{cv}/VersionData")
    assert rec["ContentSize"] == 11 and rec["FileExtension"] == "txt"
    assert rec["ContentDocumentId"].startswith("069")
    assert store.blob("ContentVersion", cv, "VersionData") == b"hello\x00world"


def test_deleting_an_account_cascades_like_salesforce(tmp_path: Path) -> None:
    ticks = itertools.count()
    store = Store(tmp_path / "org.db", clock=lambda: dt.datetime(
        2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=next(ticks)))
    account = store.create("Account", {"Name": "Parent"})
    contact = store.create("Contact", {"LastName": "Child", "AccountId": account})
    opp = store.create("Opportunity", {"Name": "O", "StageName": "Prospecting",
                                       "CloseDate": "2026-12-01", "AccountId": account})
    task = store.create("Task", {"Subject": "Call", "WhatId": opp})
    case = store.create("Case", {"Subject": "Kept", "AccountId": account})
    earlier = store.create("Contact", {"LastName": "Deleted before", "AccountId": account})
    store.delete("Contact", earlier)
    store.delete("Account", account)
    assert not store.exists("Contact", contact) and not store.exists("Opportunity", opp)
    assert not store.exists("Task", task)
    assert store.exists("Case", case)  # Case.AccountId does not cascade
    store.undelete("Account", account)
    assert store.exists("Contact", contact) and store.exists("Opportunity", opp)
    assert store.exists("Task", task)
    assert not store.exists("Contact", earlier)  # not restored: deleted on its own
    store.hard_delete("Account", account)
    assert not store.exists("Opportunity", opp, include_deleted=True)
    assert not store.exists("Contact", earlier, include_deleted=True)
    store.close()


def test_ids_are_never_reused_after_hard_delete_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "org.db"
    first = Store(path)
    last = first.create("Account", {"Name": "Last"})
    first.hard_delete("Account", last)
    first.close()
    second = Store(path)
    try:
        assert second.create("Account", {"Name": "Next"}) != last
    finally:
        second.close()


def test_two_stores_on_one_file_do_not_clash(tmp_path: Path) -> None:
    path = tmp_path / "org.db"
    one, two = Store(path), Store(path)
    try:
        a = one.create("Account", {"Name": "From one"})
        b = two.create("Account", {"Name": "From two"})
        assert a != b
        assert one.count("Account") == 2
    finally:
        one.close()
        two.close()


def test_numbers_keep_the_field_scale_rounding_half_up(store: Store) -> None:
    opp = store.create("Opportunity", {"Name": "D", "StageName": "Prospecting",
                                       "CloseDate": "2026-01-01", "Amount": 10.005})
    assert store.retrieve("Opportunity", opp)["Amount"] == 10.01
    acc = store.create("Account", {"Name": "R", "AnnualRevenue": 2.5})
    assert store.retrieve("Account", acc)["AnnualRevenue"] == 3.0
    err = _error(store.create, "Opportunity", {"Name": "D", "StageName": "Prospecting",
                                               "CloseDate": "2026-01-01", "Probability": 1000})
    assert err.error_code == "NUMBER_OUTSIDE_VALID_RANGE"


@pytest.mark.parametrize("value", [1e308, float("inf"), float("nan"), "1e400", [1], {"a": 1}])
def test_absurd_numbers_are_rejected_cleanly(store: Store, value: object) -> None:
    err = _error(store.create, "Account", {"Name": "N", "BillingLatitude": value})
    assert err.error_code in ("NUMBER_OUTSIDE_VALID_RANGE", "INVALID_TYPE_ON_FIELD_IN_RECORD")
    assert err.fields == ["BillingLatitude"]


def test_users_have_profiles_reachable_by_relationship(store: Store) -> None:
    admin = store.query("SELECT Profile.Name FROM User WHERE Username = "
                        f"'{ADMIN_USERNAME}'").records[0]
    assert admin["Profile"]["Name"] == "System Administrator"
    user = store.create("User", {
        "Username": "u@x.org", "LastName": "U", "Alias": "u", "Email": "u@x.org",
        "TimeZoneSidKey": "GMT", "LocaleSidKey": "en_US", "EmailEncodingKey": "UTF-8",
        "LanguageLocaleKey": "en_US"})
    assert store.query(f"SELECT Profile.Name FROM User WHERE Id = '{user}'").records[0][
        "Profile"]["Name"] == "Standard User"
    admin_profile = store.retrieve("User", store.admin_user_id)["ProfileId"]
    store.update("User", user, {"ProfileId": admin_profile})
    assert store.retrieve("User", user)["ProfileName__c"] == "System Administrator"


def test_read_only_fields_get_salesforce_wording(store: Store) -> None:
    record_id = store.create("Account", {"Name": "A"})
    err = _error(store.update, "Account", record_id, {"CreatedDate": "2020-01-01T00:00:00Z",
                                                      "IsDeleted": True})
    assert err.error_code == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert err.message.startswith("Unable to create/update fields: CreatedDate, IsDeleted.")
    assert err.fields == ["CreatedDate", "IsDeleted"]


def test_content_version_needs_a_path_and_titles_itself(store: Store) -> None:
    err = _error(store.create, "ContentVersion", {"Title": "x"})
    assert err.error_code == "REQUIRED_FIELD_MISSING" and err.fields == ["PathOnClient"]
    cv = store.create("ContentVersion", {"PathOnClient": "C:\\docs\\Q3 report.pdf",
                                         "VersionData": "aGk="})
    rec = store.retrieve("ContentVersion", cv)
    assert rec["Title"] == "Q3 report" and rec["FileType"] == "PDF"
