"""Backups against a real devorg: snapshot layout, incremental chains, resume, file bodies,
API limits — and a diff that finds exactly the changes made between two snapshots."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from sfbulk_mcp import __version__
from sfbulk_mcp.backup import (
    BackupLimitError,
    SnapshotError,
    backup,
    diff_live,
    diff_snapshots,
    iter_snapshots,
)
from sfbulk_mcp.backup.layout import read_manifest
from sfbulk_mcp.backup.state import object_rows
from sfbulk_mcp.devorg import DevOrg

from .conftest import BlobFallback, ids, make_family, make_file, run

OBJECTS = ["Account", "Contact"]


def snap(org: DevOrg, root: Path, **options: Any) -> tuple[Path, Any]:
    options.setdefault("objects", OBJECTS)
    return run(org, lambda c: backup(c, root, poll_interval=0.02, **options))


def test_snapshot_holds_every_row_field_schema_and_a_manifest(org: DevOrg, tmp_path: Path) -> None:
    folder, manifest = snap(org, tmp_path)

    assert folder.parent == tmp_path and folder.name == manifest.name
    accounts = pl.read_parquet(folder / "Account.parquet")
    contacts = pl.read_parquet(folder / "Contact.parquet")
    assert set(accounts["Id"]) == ids(org, "SELECT Id FROM Account")
    assert set(contacts["Id"]) == ids(org, "SELECT Id FROM Contact")
    # every field Bulk can read, typed from describe; compound fields left out
    assert {"Name", "Industry", "AnnualRevenue", "BillingCity", "SystemModstamp"} <= set(
        accounts.columns
    )
    assert "BillingAddress" not in accounts.columns
    assert accounts.schema["AnnualRevenue"] == pl.Float64
    assert isinstance(accounts.schema["SystemModstamp"], pl.Datetime)
    describe = orjson.loads((folder / "schema" / "Account.json").read_bytes())
    assert describe["name"] == "Account" and describe["fields"]

    saved = read_manifest(folder)
    assert saved.status == "complete" and saved.kind == "full" and saved.since is None
    assert saved.objects["Account"].rows == 3 and saved.objects["Contact"].rows == 6
    assert saved.total_rows == 9
    assert saved.api_version == org.api_version or saved.api_version
    assert saved.package_version == __version__
    assert saved.instance_url == org.instance_url
    assert saved.api_calls["used"] > 0 and saved.api_calls["max"] > 0
    assert all(e.seconds > 0 and e.job_id for e in saved.objects.values())
    raw = orjson.loads((folder / "manifest.json").read_bytes())
    assert raw["counts"] == {"Account": 3, "Contact": 6}
    assert set(raw["timings"]) == {"Account", "Contact"} and raw["seconds"] > 0
    assert raw["org_id"] == saved.org_id and raw["since"] is None


def test_manifest_names_the_org_even_from_a_bare_access_token(
    org: DevOrg, tmp_path: Path
) -> None:
    # The client of `run` holds nothing but a token and an instance URL.
    _, manifest = snap(org, tmp_path)
    assert manifest.org_id is not None and len(manifest.org_id) == 18
    assert manifest.org_id[:15] == org.org_id[:15]
    assert read_manifest(tmp_path / manifest.name).org_id == manifest.org_id


def test_object_names_take_the_org_spelling(org: DevOrg, tmp_path: Path) -> None:
    folder, manifest = snap(org, tmp_path, objects=["account", "CONTACT", "Account"])
    assert list(manifest.objects) == ["Account", "Contact"]
    assert (folder / "Account.parquet").is_file() and (folder / "Contact.parquet").is_file()


def test_backup_of_all_objects_covers_every_queryable_object(org: DevOrg, tmp_path: Path) -> None:
    folder, manifest = snap(org, tmp_path, objects=None)
    assert manifest.status == "complete"
    assert {"Account", "Contact", "Opportunity", "Case", "User", "ContentVersion"} <= set(
        manifest.objects
    )
    assert {"Invoice__c"} <= set(manifest.objects)  # custom objects too
    for name in manifest.objects:
        assert (folder / f"{name}.parquet").is_file() and (folder / "schema" / f"{name}.json").is_file()


def _change_data(org: DevOrg) -> dict[str, Any]:
    """Update two Accounts and a Contact, delete a family, insert an Account and a Contact."""
    accounts = sorted(ids(org, "SELECT Id FROM Account"))
    org.store.update("Account", accounts[0], {"Name": "Renamed", "Industry": "Banking"})
    org.store.update("Account", accounts[1], {"AnnualRevenue": None})
    kept_contact = min(ids(org, f"SELECT Id FROM Contact WHERE AccountId = '{accounts[1]}'"))
    org.store.update("Contact", kept_contact, {"Email": "new@example.com"})
    gone_kids = ids(org, f"SELECT Id FROM Contact WHERE AccountId = '{accounts[2]}'")
    org.store.delete("Account", accounts[2])  # its Contacts go with it
    new_account, new_kids = make_family(org, "Newcomer", contacts=1)
    return {
        "changed": {accounts[0]: {"Name", "Industry"}, accounts[1]: {"AnnualRevenue"}},
        "changed_contact": kept_contact,
        "deleted_account": accounts[2],
        "deleted_contacts": gone_kids,
        "added_account": new_account,
        "added_contacts": set(new_kids),
    }


def test_diff_finds_exactly_the_updates_deletes_and_inserts(org: DevOrg, tmp_path: Path) -> None:
    before, _ = snap(org, tmp_path)
    made = _change_data(org)
    after, _ = snap(org, tmp_path)

    result = diff_snapshots(before, after)
    account, contact = result.objects["Account"], result.objects["Contact"]
    assert account.added["Id"].to_list() == [made["added_account"]]
    assert account.deleted["Id"].to_list() == [made["deleted_account"]]
    changed = {
        rid: set(group["field"])
        for (rid,), group in account.changes.group_by("Id")
    }
    assert changed == made["changed"]
    rename = account.changes.filter(pl.col("field") == "Name").row(0, named=True)
    assert rename["old"].startswith("Family") and rename["new"] == "Renamed"
    revenue = account.changes.filter(pl.col("field") == "AnnualRevenue").row(0, named=True)
    assert revenue["old"] == "1000.0" and revenue["new"] is None
    assert set(contact.added["Id"]) == made["added_contacts"]
    assert set(contact.deleted["Id"]) == made["deleted_contacts"]
    assert contact.changes.select("Id", "field").rows() == [(made["changed_contact"], "Email")]

    summary = result.summary()
    assert (summary["added"], summary["deleted"], summary["changed"]) == (2, 3, 3)
    assert summary["objects"][0]["fields"] == {"AnnualRevenue": 1, "Industry": 1, "Name": 1}

    # Narrowed to one record: only its changes.
    one = diff_snapshots(before, after, objects=["account"], ids=[made["added_account"][:15]])
    assert list(one.objects) == ["Account"]
    assert one.objects["Account"].added.height == 1 and one.objects["Account"].changes.height == 0


def test_diff_with_the_live_org_sees_changes_made_since(org: DevOrg, tmp_path: Path) -> None:
    before, _ = snap(org, tmp_path)
    made = _change_data(org)
    result = run(org, lambda c: diff_live(c, before, objects=["Account"], poll_interval=0.02))
    assert result.new == "live" and list(result.objects) == ["Account"]
    account = result.objects["Account"]
    assert set(account.changed_ids) == set(made["changed"])
    assert account.deleted["Id"].to_list() == [made["deleted_account"]]
    # the live side is read into a temporary folder, not kept as a snapshot
    assert [p.name for p, _ in iter_snapshots(tmp_path)] == [before.name]


def test_unchanged_org_gives_an_empty_diff(org: DevOrg, tmp_path: Path) -> None:
    first, _ = snap(org, tmp_path)
    second, _ = snap(org, tmp_path, objects=["Account", "Opportunity"])
    result = diff_snapshots(first, second)
    assert list(result.objects) == ["Account"] and result.objects["Account"].empty
    # objects held by one side only are named, not silently dropped
    assert result.summary()["not_compared"] == {
        "Contact": f"only in {first.name}",
        "Opportunity": f"only in {second.name}",
    }


def test_incremental_snapshot_holds_only_changes_and_chains_onto_its_base(
    org: DevOrg, tmp_path: Path
) -> None:
    full, _ = snap(org, tmp_path)
    made = _change_data(org)
    incremental, manifest = snap(org, tmp_path, since="last")

    assert manifest.kind == "incremental" and manifest.base == full.name
    assert manifest.since == read_manifest(full).started
    rows = pl.read_parquet(incremental / "Account.parquet")
    # changed, deleted (queryAll: IsDeleted = true) and inserted rows — nothing else
    expected = set(made["changed"]) | {made["deleted_account"], made["added_account"]}
    assert set(rows["Id"]) == expected
    assert rows.filter(pl.col("IsDeleted"))["Id"].to_list() == [made["deleted_account"]]

    # Replayed onto the base, the chain equals the org now; the diff is the same as a full one.
    state = object_rows(incremental, "Account").collect()
    assert set(state["Id"]) == ids(org, "SELECT Id FROM Account")
    full_after, _ = snap(org, tmp_path)
    chained = diff_snapshots(full, incremental).summary()
    direct = diff_snapshots(full, full_after).summary()
    assert chained["objects"] == direct["objects"]
    assert diff_snapshots(incremental, full_after).summary()["changed"] == 0


def test_incremental_with_an_explicit_timestamp(org: DevOrg, tmp_path: Path) -> None:
    _, first = snap(org, tmp_path)
    time.sleep(1.05)  # snapshot times have whole seconds
    since = dt.datetime.now(dt.UTC).isoformat()
    org.store.update("Account", min(ids(org, "SELECT Id FROM Account")), {"Name": "X"})
    _, manifest = snap(org, tmp_path, since=since)
    assert manifest.kind == "incremental" and manifest.base == first.name
    assert manifest.objects["Account"].rows == 1


def test_since_last_without_an_earlier_snapshot_says_what_to_do(
    org: DevOrg, tmp_path: Path
) -> None:
    with pytest.raises(SnapshotError, match="full backup first"):
        snap(org, tmp_path, since="last")


class _Stop(Exception):
    pass


def test_rerun_skips_complete_objects_and_resumes_the_partial_one(
    org: DevOrg, tmp_path: Path
) -> None:
    for i in range(40):
        org.store.create("Contact", {"LastName": f"Extra {i}"})
    seen: list[tuple[str, str | None]] = []

    def stop_mid_contacts(event: Any) -> None:
        seen.append((event.stage, event.object))
        if event.stage == "rows" and event.object == "Contact":
            raise _Stop  # after Contact's first page is committed

    with pytest.raises(_Stop):
        run(
            org,
            lambda c: backup(
                c, tmp_path, objects=OBJECTS, parallel=1, page_size=10,
                poll_interval=0.02, progress=stop_mid_contacts,
            ),
        )
    [(folder, interrupted)] = list(iter_snapshots(tmp_path))
    assert interrupted.status == "running"
    assert interrupted.objects["Account"].status == "complete"
    account_file = (folder / "Account.parquet").stat()

    again_seen: list[tuple[str, str | None]] = []
    folder2, manifest = run(
        org,
        lambda c: backup(
            c, tmp_path, objects=OBJECTS, page_size=10, poll_interval=0.02,
            progress=lambda e: again_seen.append((e.stage, e.object)),
        ),
    )
    assert folder2 == folder and manifest.status == "complete"
    assert ("object", "Account") not in again_seen  # not exported again
    assert (folder / "Account.parquet").stat().st_mtime_ns == account_file.st_mtime_ns
    assert manifest.objects["Contact"].resumed  # the same Bulk job, from its next page
    contacts = pl.read_parquet(folder / "Contact.parquet")
    assert contacts.height == 46 and contacts["Id"].n_unique() == 46
    assert set(contacts["Id"]) == ids(org, "SELECT Id FROM Contact")


def test_files_option_saves_bodies_that_match_their_records(org: DevOrg, tmp_path: Path) -> None:
    bodies = {
        make_file(org, "empty", b""): b"",
        make_file(org, "text", "héllo wörld\n".encode()): "héllo wörld\n".encode(),
        make_file(org, "binary", bytes(range(256)) * 300): bytes(range(256)) * 300,
    }
    folder, manifest = snap(org, tmp_path, objects=["ContentVersion"], files=True)
    entry = manifest.objects["ContentVersion"]
    assert entry.status == "complete" and entry.bodies == 3
    assert entry.body_bytes == sum(len(b) for b in bodies.values())
    for record_id, data in bodies.items():
        assert (folder / "files" / "ContentVersion" / record_id).read_bytes() == data
    sizes = pl.read_parquet(folder / "ContentVersion.parquet").select("Id", "ContentSize")
    assert dict(sizes.rows()) == {k: len(v) for k, v in bodies.items()}


def test_files_of_the_wrong_size_fail_the_object(org: DevOrg, tmp_path: Path) -> None:
    make_file(org, "long", b"x" * 1000)
    folder, manifest = run(
        org,
        lambda c: backup(c, tmp_path, objects=["ContentVersion"], files=True, poll_interval=0.02),
        transport=BlobFallback(org, truncate=10),
    )
    entry = manifest.objects["ContentVersion"]
    assert manifest.status == "partial" and entry.status == "failed"
    assert "ContentSize = 1000" in (entry.error or "")
    assert not any((folder / "files" / "ContentVersion").iterdir())


def test_backup_refuses_to_start_when_the_daily_api_requests_run_low(
    org: DevOrg, tmp_path: Path
) -> None:
    org.limits.set_usage(org.config.daily_api_limit - 10)
    with pytest.raises(BackupLimitError, match="API requests"):
        snap(org, tmp_path)
    assert list(iter_snapshots(tmp_path)) == []


def test_objects_are_exported_concurrently(org: DevOrg, tmp_path: Path) -> None:
    org.faults.job_delay = 0.3
    running: set[str] = set()
    most = 0

    def track(event: Any) -> None:
        nonlocal most
        if event.stage == "object":
            running.add(event.object)
        elif event.stage in ("object-done", "object-failed"):
            running.discard(event.object)
        most = max(most, len(running))

    run(org, lambda c: backup(c, tmp_path, objects=[*OBJECTS, "Opportunity", "Case"],
                              parallel=3, poll_interval=0.02, progress=track))
    assert most == 3


def test_a_failed_object_is_recorded_and_the_others_complete(org: DevOrg, tmp_path: Path) -> None:
    org.faults.fail_next_jobs(1, message="InternalServerError: injected")
    folder, manifest = snap(org, tmp_path, objects=["Account", "Contact"], parallel=1)
    assert manifest.status == "partial"
    assert manifest.objects["Account"].status == "failed"
    assert "injected" in (manifest.objects["Account"].error or "")
    assert manifest.objects["Contact"].status == "complete"
    assert not (folder / "Account.parquet").exists()
    # A finished-but-partial snapshot is not continued: the next run starts a new one.
    again, second = snap(org, tmp_path)
    assert again != folder and second.status == "complete"
    # and `--since last` builds on complete snapshots only
    _, incremental = snap(org, tmp_path, since="last")
    assert incremental.base == second.name


def test_live_diff_of_a_few_records_reads_only_those(org: DevOrg, tmp_path: Path) -> None:
    before, _ = snap(org, tmp_path)
    made = _change_data(org)
    renamed = next(iter(made["changed"]))

    async def scenario(client: Any) -> Any:
        jobs_before = len(await client.bulk_list_jobs("query"))
        result = await diff_live(client, before, ids=[renamed, made["deleted_account"]],
                                 poll_interval=0.02)
        jobs = await client.bulk_list_jobs("query")
        return result, len(jobs) - jobs_before

    result, new_jobs = run(org, scenario)
    assert list(result.objects) == ["Account"]  # Contacts skipped: no Contact Id was asked
    account = result.objects["Account"]
    assert account.changed_ids == [renamed]
    assert account.deleted["Id"].to_list() == [made["deleted_account"]]
    assert account.added.height == 0
    assert new_jobs == 1  # one small query of the Account Ids, no whole-object export
