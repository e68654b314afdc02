"""End-to-end export benchmark: sfbulk-mcp vs simple-salesforce bulk2 + polars, same run.

    python benches/export_bench.py --rows 100000

A devorg seeded with N accounts is served over HTTPS in this process, publishing Bulk API 2.0
query job events (BulkApi2JobEvent) as an org with that beta turned on does. Each side then
runs in its own subprocess, so its peak RSS and CPU time are its own:

- sfbulk:  `sfbulk_mcp.connect(...).export(soql, out="x.parquet", early_results=True)` — Bulk
  2.0 query job, result sets downloaded as the job announces them (while it still runs) and
  decoded straight into the Parquet file;
- simple-salesforce: `sf.bulk2.Account.download(soql, path=dir)` (one CSV file per page),
  then `polars.read_csv` of every page and `write_parquet` — what a user of that library
  writes to get the same Parquet file.

Both fetch the same query: simple-salesforce in pages of `--page-size` rows, sfbulk the result
sets the job announces (about 50,000 rows each); `--no-early-results` has sfbulk wait for the
job and page like simple-salesforce instead. Printed: wall time, the client's own time
(wall less the devorg's job processing), peak RSS, client CPU seconds per million rows, and
the sfbulk ÷ simple-salesforce ratios (targets: ≤ 0.5× time, ≤ 0.25× memory). The devorg's
own work is in this parent process: it is in neither side's RSS or CPU, but both sides wait
for it, so wall time includes it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

PAGE_SIZE = 50_000
FIELDS = (
    "Id, Name, Type, Industry, AnnualRevenue, NumberOfEmployees, Phone, Website, "
    "BillingStreet, BillingCity, BillingState, BillingPostalCode, BillingCountry, "
    "Description, Rating, OwnerId, CreatedDate, LastModifiedDate, IsDeleted"
)
SOQL = f"SELECT {FIELDS} FROM Account"


def _peak_rss_mb() -> float:
    """This process's own peak RSS. On Linux `ru_maxrss` survives exec and so reports the
    launching parent's size (here, the one serving the devorg); VmHWM belongs to the new
    address space alone."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _usage() -> dict[str, float]:
    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "peak_rss_mb": _peak_rss_mb(),
        "cpu_s": self_usage.ru_utime + self_usage.ru_stime,
    }


def side_sfbulk(args: argparse.Namespace) -> dict[str, Any]:
    """Our export, as a user of the Python API would run it."""
    import sfbulk_mcp
    from sfbulk_mcp.salesforce.credentials import StaticTokenProvider

    started = time.perf_counter()
    provider = StaticTokenProvider(args.token, args.instance)
    with sfbulk_mcp.connect(provider=provider, api_version=args.api_version) as org:
        result = org.export(
            soql=args.soql,
            out=args.out,
            page_size=args.page_size,
            resume=False,
            early_results=not args.no_early_results,
        )
    wall = time.perf_counter() - started
    return {"rows": result.rows, "wall_s": wall, **_usage()}


def side_simple_salesforce(args: argparse.Namespace) -> dict[str, Any]:
    """simple-salesforce bulk2 download (CSV file per page) + polars.read_csv + write_parquet."""
    import polars as pl
    import requests
    from simple_salesforce import Salesforce

    started = time.perf_counter()
    session = requests.Session()
    session.verify = args.ca
    sf = Salesforce(
        instance_url=args.instance,
        session_id=args.token,
        session=session,
        version=args.api_version,
    )
    with tempfile.TemporaryDirectory() as pages_dir:
        results = sf.bulk2.Account.download(args.soql, path=pages_dir, max_records=args.page_size)
        files = sorted(str(r["file"]) for r in results)
        frame = pl.concat([pl.read_csv(f) for f in files], how="vertical_relaxed")
        frame.write_parquet(args.out)
        rows = frame.height
    wall = time.perf_counter() - started
    return {"rows": rows, "wall_s": wall, **_usage()}


class ServerClock:
    """How long the devorg spent processing each side's Bulk jobs, read from its public API.

    Both sides wait for the same server-side work (running the query, loading the rows); on a
    real org that time is Salesforce's. Wall time minus the span during which at least one of
    a side's jobs was processing is what that side's client itself cost.
    """

    def __init__(self, org: Any, kind: str) -> None:
        self.base = f"{org.instance_url}/services/data/v{org.api_version}/jobs/{kind}"
        self.token = org.access_token()
        self.context = ssl.create_default_context(cafile=str(org.ca_certificate))
        self.seen = set(self._job_ids())

    def _get(self, url: str) -> Any:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, context=self.context) as response:
            return json.loads(response.read())

    def _delete(self, url: str) -> None:
        request = urllib.request.Request(
            url, method="DELETE", headers={"Authorization": f"Bearer {self.token}"}
        )
        urllib.request.urlopen(request, context=self.context).close()

    def _job_ids(self) -> list[str]:
        ids: list[str] = []
        url: str | None = self.base
        while url:
            body = self._get(url)
            ids += [job["id"] for job in body.get("records", [])]
            next_url = body.get("nextRecordsUrl")
            url = f"{self.base.split('/services/')[0]}{next_url}" if next_url else None
        return ids

    def new_jobs_busy_seconds(self) -> float:
        """Seconds during which at least one job created since the last call was processing."""
        spans: list[tuple[float, float]] = []
        for job_id in self._job_ids():
            if job_id in self.seen:
                continue
            self.seen.add(job_id)
            job = self._get(f"{self.base}/{job_id}")
            end = datetime.strptime(job["systemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
            spans.append((end - job.get("totalProcessingTime", 0) / 1000, end))
            # Timed: its result files can go (a kept --data-dir would fill the disk).
            self._delete(f"{self.base}/{job_id}")
        busy, reach = 0.0, float("-inf")
        for start, end in sorted(spans):
            start = max(start, reach)
            if end > start:
                busy += end - start
                reach = end
        return busy


def run_side(
    name: str,
    common: list[str],
    env: dict[str, str],
    script: str = __file__,
    clock: ServerClock | None = None,
) -> dict[str, Any]:
    """One side in a fresh interpreter; its JSON report is the last line of its stdout."""
    done = subprocess.run(
        [sys.executable, script, "--side", name, *common],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if clock is not None:
        report["server_s"] = clock.new_jobs_busy_seconds()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE)
    parser.add_argument("--soql", default=SOQL)
    parser.add_argument("--data-dir", help="Keep the seeded devorg here (reused when present).")
    parser.add_argument(
        "--no-early-results",
        action="store_true",
        help="sfbulk waits for the job to complete before downloading (the usual way).",
    )
    parser.add_argument(
        "--repeat", type=int, default=2, help="Runs per side, alternating order; best kept."
    )
    # Internal: the subprocess sides.
    parser.add_argument("--side", choices=["sfbulk", "simple-salesforce"])
    parser.add_argument("--instance")
    parser.add_argument("--token")
    parser.add_argument("--ca")
    parser.add_argument("--api-version")
    parser.add_argument("--out")
    args = parser.parse_args()

    if args.side == "sfbulk":
        print(json.dumps(side_sfbulk(args)))
        return
    if args.side == "simple-salesforce":
        print(json.dumps(side_simple_salesforce(args)))
        return

    from sfbulk_mcp.devorg import DevOrg

    print(f"seeding a devorg with {args.rows:,} accounts ...", file=sys.stderr)
    t0 = time.perf_counter()
    with (
        DevOrg(seed=args.rows, tls=True, data_dir=args.data_dir, streaming_events=True) as org,
        tempfile.TemporaryDirectory() as out_dir,
    ):
        print(f"devorg ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        env = {
            **os.environ,
            # Both HTTP stacks trust the devorg's self-signed certificate this way.
            "SSL_CERT_FILE": str(org.ca_certificate),
            "REQUESTS_CA_BUNDLE": str(org.ca_certificate),
        }
        reports: dict[str, dict[str, Any]] = {}
        clock = ServerClock(org, "query")
        for name in run_order(args.repeat):
            common = [
                "--instance",
                org.instance_url,
                "--token",
                org.access_token(),
                "--ca",
                str(org.ca_certificate),
                "--api-version",
                org.api_version,
                "--page-size",
                str(args.page_size),
                "--soql",
                args.soql,
                "--out",
                str(Path(out_dir) / f"{name}.parquet"),
                *(["--no-early-results"] if args.no_early_results else []),
            ]
            print(f"running {name} ...", file=sys.stderr)
            reports[name] = best_of(reports.get(name), run_side(name, common, env, clock=clock))
        print_report(reports, "export", args.rows)


def run_order(repeat: int) -> list[str]:
    """Sides in alternating order (A B, B A, ...) so neither always meets a cold server."""
    order: list[str] = []
    for n in range(max(1, repeat)):
        pair = ["sfbulk", "simple-salesforce"]
        order += pair if n % 2 == 0 else pair[::-1]
    return order


def best_of(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """The better of two runs of one side, figure by figure (noise only ever adds)."""
    if old is None:
        return new
    return {
        "rows": new["rows"],
        "wall_s": min(old["wall_s"], new["wall_s"]),
        "client_s": min(client_seconds(old), client_seconds(new)),
        "peak_rss_mb": min(old["peak_rss_mb"], new["peak_rss_mb"]),
        "cpu_s": min(old["cpu_s"], new["cpu_s"]),
    }


def client_seconds(report: dict[str, Any]) -> float:
    """Wall time less the devorg's job processing (the client's own share of the wait)."""
    if "client_s" in report:
        return float(report["client_s"])
    return float(report["wall_s"]) - float(report.get("server_s", 0.0))


def print_report(reports: dict[str, dict[str, Any]], what: str, rows_asked: int) -> None:
    """The side-by-side table and the ratios."""
    ours, theirs = reports["sfbulk"], reports["simple-salesforce"]
    print(f"\n{what} of {rows_asked:,} accounts (devorg over HTTPS, same run)")
    print(
        f"{'':20}{'rows':>10}{'wall s':>10}{'client s':>10}{'peak RSS MB':>14}{'CPU s':>9}"
        f"{'CPU s/1M rows':>15}"
    )
    for name, r in reports.items():
        per_million = r["cpu_s"] / max(r["rows"], 1) * 1e6
        print(
            f"{name:20}{r['rows']:>10,}{r['wall_s']:>10.2f}{client_seconds(r):>10.2f}"
            f"{r['peak_rss_mb']:>14.0f}{r['cpu_s']:>9.2f}{per_million:>15.2f}"
        )
    if ours["rows"] != theirs["rows"]:
        print(f"WARNING: row counts differ ({ours['rows']} vs {theirs['rows']})")
    print(
        f"ratios sfbulk ÷ simple-salesforce: wall {ours['wall_s'] / theirs['wall_s']:.2f}× "
        f"(target ≤ 0.5), peak RSS {ours['peak_rss_mb'] / theirs['peak_rss_mb']:.2f}× "
        f"(target ≤ 0.25), CPU {ours['cpu_s'] / theirs['cpu_s']:.2f}×"
    )
    print(
        f"client time (wall less the devorg's job processing): "
        f"{client_seconds(ours) / client_seconds(theirs):.2f}×"
    )


if __name__ == "__main__":
    main()
