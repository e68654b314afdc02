"""Exports that download result sets while the query job still runs, as an org with
Bulk API 2.0 query job events (BulkApi2JobEvent, beta) announces them; and every way back to
the usual download when those events are missing or incomplete.

Every test checks the exported Id set against the org: nothing lost, nothing duplicated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from sfbulk_mcp.bulk import export as export_module
from sfbulk_mcp.bulk import state as states
from sfbulk_mcp.bulk.export import export
from sfbulk_mcp.devorg import DevOrg
from sfbulk_mcp.devorg.bulk import manager as devorg_manager
from sfbulk_mcp.devorg.bulk import sqlcsv
from sfbulk_mcp.salesforce import BulkJobError

from .conftest import make_accounts, run_with_client

N = 120
SOQL = "SELECT Id, Name, AnnualRevenue FROM Account"


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[DevOrg]:
    # Rows are written 25 at a time and announced as soon as 25 are in: 120 rows come out as
    # four partial result sets of 25 and a final one of 20.
    monkeypatch.setattr(sqlcsv, "BLOCK_ROWS", 25)
    with DevOrg(streaming_events=True, partial_result_rows=25) as devorg:
        make_accounts(devorg, [f"Early {i:03d}" for i in range(N)], AnnualRevenue=12.5)
        yield devorg


def org_ids(org: DevOrg) -> set[str]:
    return {str(r["Id"]) for r in org.store.query("SELECT Id FROM Account").records}


def test_result_sets_are_downloaded_as_they_are_announced(org: DevOrg, tmp_path: Path) -> None:
    out = tmp_path / "early.parquet"
    result = run_with_client(
        org, lambda c: export(c, SOQL, out=out, early_results=True, poll_interval=0.05)
    )
    frame = pl.read_parquet(out)
    assert result.rows == frame.height == N and result.pages == 5
    assert set(frame["Id"]) == org_ids(org) and frame["Id"].n_unique() == N
    assert frame.schema["AnnualRevenue"] == pl.Float64
    assert frame["Name"].to_list() == [f"Early {i:03d}" for i in range(N)]
    assert not states.state_path(out).exists() and not states.parts_dir(out).exists()
    # Into a frame, too.
    direct = run_with_client(org, lambda c: export(c, SOQL, early_results=True))
    assert direct.frame is not None and direct.frame.equals(frame)


def test_an_org_without_job_events_gives_the_usual_download(tmp_path: Path) -> None:
    with DevOrg() as plain:
        make_accounts(plain, [f"Plain {i}" for i in range(30)])
        out = tmp_path / "plain.csv"
        result = run_with_client(
            plain,
            lambda c: export(
                c, SOQL, out=out, early_results=True, page_size=10, poll_interval=0.05
            ),
        )
        assert result.rows == 30 and result.pages == 3
        assert pl.read_csv(out)["Id"].n_unique() == 30


def test_a_missing_last_announcement_falls_back_to_the_usual_download(
    org: DevOrg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The org never announces the final result set: once the job is seen complete and the
    # grace period is over, the export starts again from the job's results.
    monkeypatch.setattr(devorg_manager.BulkJobs, "_announce_end", lambda self, job: None)
    monkeypatch.setattr(export_module, "_EVENT_CHECK_SECONDS", 0.05)
    monkeypatch.setattr(export_module, "_FINAL_EVENT_GRACE_SECONDS", 0.2)
    out = tmp_path / "fallback.parquet"
    result = run_with_client(
        org,
        lambda c: export(c, SOQL, out=out, early_results=True, page_size=50, poll_interval=0.05),
    )
    frame = pl.read_parquet(out)
    assert result.rows == frame.height == N and result.pages == 3
    assert set(frame["Id"]) == org_ids(org) and frame["Id"].n_unique() == N


def test_announced_sets_that_miss_rows_are_read_again_the_usual_way(
    org: DevOrg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Partial announcements get lost on the way: the rows downloaded fall short of the job's
    # count, so the export is done again from the job's results.
    announce = devorg_manager.BulkJobs._announce

    def lossy(self: devorg_manager.BulkJobs, job: object, kind: str, *args: object) -> None:
        if args and args[0] == "PARTIAL":
            return
        announce(self, job, kind, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(devorg_manager.BulkJobs, "_announce", lossy)
    result = run_with_client(org, lambda c: export(c, SOQL, early_results=True))
    assert result.frame is not None and result.rows == result.frame.height == N
    assert set(result.frame["Id"]) == org_ids(org)


def test_a_failed_job_is_reported_from_its_event(org: DevOrg, tmp_path: Path) -> None:
    out = tmp_path / "failed.parquet"
    org.faults.fail_next_jobs(1, "Injected failure")
    with pytest.raises(BulkJobError, match="Injected failure"):
        run_with_client(org, lambda c: export(c, SOQL, out=out, early_results=True))
    assert not out.exists() and not states.state_path(out).exists()


def test_the_streaming_api_speaks_bayeux(org: DevOrg) -> None:
    import httpx2

    url = f"{org.instance_url}/cometd/{org.api_version}"
    with httpx2.Client(headers={"Authorization": f"Bearer {org.access_token()}"}) as http:
        assert httpx2.post(url, json=[{"channel": "/meta/handshake"}]).status_code == 401
        shake = http.post(url, json=[{"channel": "/meta/handshake", "version": "1.0"}]).json()[0]
        assert shake["successful"] and shake["supportedConnectionTypes"] == ["long-polling"]
        client_id = shake["clientId"]
        refused = http.post(
            url,
            json=[{"channel": "/meta/subscribe", "clientId": client_id, "subscription": "/x"}],
        ).json()[0]
        assert refused["successful"] is False and "/x" in refused["error"]
        # Every retained event (replay -2): the job created below is announced from start to end.
        job = http.post(
            f"{org.instance_url}/services/data/v{org.api_version}/jobs/query",
            json={"operation": "query", "query": "SELECT Id FROM Account"},
        ).json()
        org.state.bulk.wait(job["id"])
        subscribed = http.post(
            url,
            json=[
                {
                    "channel": "/meta/subscribe",
                    "clientId": client_id,
                    "subscription": "/event/BulkApi2JobEvent",
                    "ext": {"replay": {"/event/BulkApi2JobEvent": -2}},
                }
            ],
        ).json()[0]
        assert subscribed["successful"]
        messages = http.post(
            url,
            json=[
                {
                    "channel": "/meta/connect",
                    "clientId": client_id,
                    "connectionType": "long-polling",
                }
            ],
        ).json()
        payloads = [m["data"]["payload"] for m in messages if m["channel"].startswith("/event/")]
        mine = [p for p in payloads if p["JobIdentifier"] == job["id"]]
        assert [(p["Type"], p["JobState"], p["ResultType"]) for p in mine] == [
            ("JOB_STATE", "InProgress", None),
            *[("RESULT", "InProgress", "PARTIAL")] * 4,
            ("RESULT", "JobComplete", "FINAL"),
        ]
        replays = [m["data"]["event"]["replayId"] for m in messages if "data" in m]
        assert replays == sorted(replays)
        counts = [
            int(http.get(p["ResultUrl"]).headers["Sforce-NumberOfRecords"])
            for p in mine
            if p["ResultUrl"]
        ]
        assert counts == [25, 25, 25, 25, 20]
        assert messages[-1]["channel"] == "/meta/connect" and messages[-1]["successful"]
        gone = http.post(url, json=[{"channel": "/meta/disconnect", "clientId": client_id}])
        assert gone.json()[0]["successful"]


def test_long_polls_end_when_the_org_stops() -> None:
    import asyncio
    import threading
    import time

    from sfbulk_mcp.devorg.streaming import BULK_JOB_CHANNEL, EventHub, _answer

    hub = EventHub()
    client_id = hub.handshake()
    hub.subscribe(client_id, BULK_JOB_CHANNEL, -1)
    threading.Timer(0.2, hub.close).start()
    started = time.monotonic()
    replies = asyncio.run(_answer(hub, {"channel": "/meta/connect", "clientId": client_id}))
    assert time.monotonic() - started < 5
    assert replies[-1]["successful"] is False and replies[-1]["advice"]["reconnect"] == "none"
