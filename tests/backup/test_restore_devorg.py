"""Restore against a real devorg: a dry run that changes nothing, then deleted records back
with their children re-linked to the new parent Ids, and changed fields reverted."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl
from sfbulk_mcp.backup import backup, diff_live, diff_snapshots
from sfbulk_mcp.backup.restore import OLD_ID, plan_restore, run_restore
from sfbulk_mcp.devorg import DevOrg

from .conftest import ids, make_family, run, sfbulk

OBJECTS = ["Account", "Contact"]


def _records(org: DevOrg, soql: str) -> list[dict[str, object]]:
    return [
        {k: v for k, v in r.items() if k != "attributes"} for r in org.store.query(soql).records
    ]


def test_restore_recreates_deleted_family_relinks_children_and_reverts_changes(
    org: DevOrg, tmp_path: Path
) -> None:
    parent, _ = make_family(org, "Parent Co", contacts=0)
    doomed, kids = make_family(org, "Doomed Co", contacts=2, Industry="Retail", ParentId=parent)
    # A self-lookup to a record deleted in the same run: linked after both exist again.
    child_co = org.store.create("Account", {"Name": "Child Co", "ParentId": doomed})
    kept = org.store.create("Account", {"Name": "Kept", "Industry": "Energy", "Phone": "123"})
    snapshot, _ = run(org, lambda c: backup(c, tmp_path, objects=OBJECTS, poll_interval=0.02))
    kid_names = {r["LastName"] for r in _records(org, f"SELECT LastName FROM Contact WHERE AccountId = '{doomed}'")}

    org.store.delete("Account", child_co)
    org.store.delete("Account", doomed)  # and its two Contacts
    org.store.update("Account", kept, {"Name": "Kept (renamed)", "Phone": None})
    untouched = ids(org, "SELECT Id FROM Account")

    async def dry(client: object) -> object:
        diff = await diff_live(client, snapshot, poll_interval=0.02)
        return plan_restore(snapshot, diff, tmp_path / "restore")

    plan = run(org, dry)  # type: ignore[arg-type]
    text = "\n".join(plan.lines())
    assert "re-create 2 Account record(s) by insert" in text
    assert "re-create 2 Contact record(s) by insert" in text
    assert "revert 1 Account record(s) by update (2 field(s))" in text
    assert "Contact.AccountId re-linked" in text and "Account.ParentId re-linked" in text
    steps = [(s.object, s.action) for s in plan.steps]
    assert steps == [("Account", "recreate"), ("Contact", "recreate"), ("Account", "revert")]
    recreate = pl.read_parquet(plan.steps[0].path)
    assert set(recreate[OLD_ID]) == {doomed, child_co} and "Id" not in recreate.columns
    assert "CreatedDate" not in recreate.columns  # only createable fields
    # the dry run changed nothing
    assert ids(org, "SELECT Id FROM Account") == untouched

    result = run(org, lambda c: run_restore(c, plan, poll_interval=0.02))
    assert result.ok and result.failed == 0
    assert set(result.id_map) == {doomed, child_co, *kids}
    new_doomed, new_child = result.id_map[doomed], result.id_map[child_co]
    [back] = _records(org, f"SELECT Name, Industry, ParentId FROM Account WHERE Id = '{new_doomed}'")
    assert back == {"Name": "Doomed Co", "Industry": "Retail", "ParentId": parent}
    relinked = _records(org, f"SELECT LastName, AccountId FROM Contact WHERE AccountId = '{new_doomed}'")
    assert {r["LastName"] for r in relinked} == kid_names
    [child] = _records(org, f"SELECT ParentId FROM Account WHERE Id = '{new_child}'")
    assert child["ParentId"] == new_doomed
    [reverted] = _records(org, f"SELECT Name, Phone FROM Account WHERE Id = '{kept}'")
    assert reverted == {"Name": "Kept", "Phone": "123"}
    assert (plan.folder / "id_map.parquet").is_file()
    assert pl.read_parquet(plan.folder / "Account.recreate.success.parquet").height == 2

    # Compared with the snapshot again: nothing changed, and only the Ids of the re-created
    # records differ.
    after = run(org, lambda c: diff_live(c, snapshot, poll_interval=0.02))
    summary = after.summary()
    assert summary["changed"] == 0
    assert set(after.objects["Account"].deleted["Id"]) == {doomed, child_co}
    assert set(after.objects["Account"].added["Id"]) == {new_doomed, new_child}


def test_restore_between_two_snapshots_for_one_record(org: DevOrg, tmp_path: Path) -> None:
    account = min(ids(org, "SELECT Id FROM Account"))
    first, _ = run(org, lambda c: backup(c, tmp_path, objects=OBJECTS, poll_interval=0.02))
    org.store.update("Account", account, {"Name": "Oops", "Industry": "Banking"})
    other = max(ids(org, "SELECT Id FROM Account"))
    org.store.update("Account", other, {"Name": "Also changed"})
    second, _ = run(org, lambda c: backup(c, tmp_path, objects=OBJECTS, poll_interval=0.02))

    diff = diff_snapshots(first, second, objects=["Account"], ids=[account])
    plan = plan_restore(first, diff, tmp_path / "one")
    assert [(s.object, s.action, s.rows) for s in plan.steps] == [("Account", "revert", 1)]
    run(org, lambda c: run_restore(c, plan, poll_interval=0.02))
    [row] = _records(org, f"SELECT Name, Industry FROM Account WHERE Id = '{account}'")
    assert row == {"Name": "Family 0", "Industry": "Energy"}
    [still] = _records(org, f"SELECT Name FROM Account WHERE Id = '{other}'")
    assert still["Name"] == "Also changed"  # not chosen, not touched


def test_restore_upserts_on_an_external_id(org: DevOrg, tmp_path: Path) -> None:
    account = org.store.create("Account", {"Name": "Keyed", "External_Id__c": "EXT-1"})
    snapshot, _ = run(org, lambda c: backup(c, tmp_path, objects=["Account"], poll_interval=0.02))
    org.store.hard_delete("Account", account)

    async def restore(client: object) -> object:
        diff = await diff_live(client, snapshot, poll_interval=0.02)
        plan = plan_restore(snapshot, diff, tmp_path / "r", external_ids={"Account": "External_Id__c"})
        assert [(s.operation, s.external_id) for s in plan.steps] == [("upsert", "External_Id__c")]
        return await run_restore(client, plan, poll_interval=0.02)

    result = run(org, restore)  # type: ignore[arg-type]
    assert result.ok
    rows = _records(org, "SELECT Id, Name FROM Account WHERE External_Id__c = 'EXT-1'")
    assert [r["Name"] for r in rows] == ["Keyed"] and rows[0]["Id"] == result.id_map[account]


def test_restore_says_why_rows_failed_and_names_the_recycle_bin_clash(
    org: DevOrg, tmp_path: Path
) -> None:
    contact = org.store.create("Contact", {"LastName": "Unique", "External_Id__c": "EXT-BIN"})
    snapshot, _ = run(org, lambda c: backup(c, tmp_path, objects=["Contact"], poll_interval=0.02))
    org.store.delete("Contact", contact)  # to the recycle bin, its unique value still held

    async def restore(client: object) -> object:
        diff = await diff_live(client, snapshot, objects=["Contact"], poll_interval=0.02)
        plan = plan_restore(snapshot, diff, tmp_path / "r")
        return await run_restore(client, plan, poll_interval=0.02)

    result = run(org, restore)  # type: ignore[arg-type]
    assert not result.ok and result.failed == 1
    [step] = result.imports
    errors = step["errors"]
    assert errors[0].startswith("1 × DUPLICATE_VALUE")
    assert "still in the recycle bin" in errors[-1]


def test_restore_in_two_runs_relinks_children_to_parents_an_earlier_run_recreated(
    org: DevOrg, tmp_path: Path
) -> None:
    doomed, kids = make_family(org, "Doomed Co", contacts=2)
    root = str(tmp_path / "backups")
    taken = sfbulk(org, tmp_path, "backup", "--dir", root, "--objects", "Account,Contact",
                   "--org", "devorg", "--json")
    assert taken.exit_code == 0, taken.stderr
    snapshot = Path(orjson.loads(taken.stdout)["path"])
    org.store.delete("Account", doomed)  # and its two Contacts

    def restore(*args: str) -> dict[str, object]:
        done = sfbulk(org, tmp_path, "restore", "latest", "--dir", root, "--org", "devorg",
                      "--json", *args)
        assert done.exit_code == 0, done.stdout + done.stderr
        outcome: dict[str, object] = orjson.loads(done.stdout)
        return outcome

    # A dry run records no mapping: nothing was re-created.
    restore("--object", "Account", "--dry-run")
    assert not (snapshot / "id-maps").exists()

    first = restore("--object", "Account")
    assert first["ok"] and first["recreated"] == 1
    [new_account] = ids(org, "SELECT Id FROM Account WHERE Name = 'Doomed Co'")

    planned = restore("--object", "Contact", "--dry-run")
    assert planned["earlier_ids"] == 1
    [step] = planned["steps"]  # type: ignore[misc]
    assert step["references"]["AccountId"] == ["Account"]

    second = restore("--object", "Contact")
    assert second["ok"] and second["recreated"] == 2 and second["relinked"] == 2
    back = _records(org, f"SELECT LastName, AccountId FROM Contact WHERE AccountId = '{new_account}'")
    assert sorted(r["LastName"] for r in back) == ["Doomed Co kid 0", "Doomed Co kid 1"]

    recorded = pl.read_parquet(str(second["id_map_recorded"]))
    assert dict(zip(recorded["old_id"], recorded["object"], strict=True)) == {
        doomed: "Account", kids[0]: "Contact", kids[1]: "Contact"
    }


def _snapshot_then_delete_account(org: DevOrg, tmp_path: Path) -> tuple[str, str]:
    """A backup of Account holding "Doomed Co", deleted since; returns (its Id, backups dir)."""
    doomed, _ = make_family(org, "Doomed Co", contacts=0)
    root = str(tmp_path / "backups")
    taken = sfbulk(org, tmp_path, "backup", "--dir", root, "--objects", "Account",
                   "--org", "devorg", "--json")
    assert taken.exit_code == 0, taken.stderr
    org.store.delete("Account", doomed)
    return doomed, root


def _restore_accounts(org: DevOrg, tmp_path: Path, root: str, *args: str) -> str:
    done = sfbulk(org, tmp_path, "restore", "latest", "--dir", root, "--org", "devorg",
                  "--object", "Account", *args)
    assert done.exit_code == 0, done.stdout + done.stderr
    return done.stdout


def test_restore_run_again_skips_records_an_earlier_run_recreated(
    org: DevOrg, tmp_path: Path
) -> None:
    doomed, root = _snapshot_then_delete_account(org, tmp_path)

    def restore(*args: str) -> str:
        return _restore_accounts(org, tmp_path, root, *args)

    first = orjson.loads(restore("--json"))
    assert first["recreated"] == 1 and first["already_recreated"] == 0
    [copy] = ids(org, "SELECT Id FROM Account WHERE Name = 'Doomed Co'")

    planned = orjson.loads(restore("--dry-run", "--json"))
    assert planned["steps"] == [] and planned["already_recreated"] == 1
    assert "skip 1 Account record(s) already re-created by an earlier restore" in restore(
        "--dry-run"
    )
    again = orjson.loads(restore("--json"))
    assert again["ok"] and again["recreated"] == 0 and again["already_recreated"] == 1
    assert ids(org, "SELECT Id FROM Account WHERE Name = 'Doomed Co'") == {copy}
    # Narrowed to the record's old Id, the copy is still found.
    by_id = orjson.loads(restore("--id", doomed, "--json"))
    assert by_id["recreated"] == 0 and by_id["already_recreated"] == 1
    assert ids(org, "SELECT Id FROM Account WHERE Name = 'Doomed Co'") == {copy}
    text = restore()
    assert "1 record(s) skipped: already re-created by an earlier restore" in text


def test_restore_recreates_again_a_record_whose_earlier_copy_was_deleted(
    org: DevOrg, tmp_path: Path
) -> None:
    doomed, root = _snapshot_then_delete_account(org, tmp_path)
    first = orjson.loads(_restore_accounts(org, tmp_path, root, "--json"))
    [copy] = ids(org, "SELECT Id FROM Account WHERE Name = 'Doomed Co'")
    org.store.delete("Account", copy)

    second = orjson.loads(_restore_accounts(org, tmp_path, root, "--json"))
    assert second["recreated"] == 1 and second["already_recreated"] == 0
    [again] = ids(org, "SELECT Id FROM Account WHERE Name = 'Doomed Co'")
    assert again != copy
    recorded = pl.read_parquet(str(second["id_map_recorded"]))
    assert dict(zip(recorded["old_id"], recorded["new_id"], strict=True)) == {doomed: again}
    assert first["id_map_recorded"] == second["id_map_recorded"]
