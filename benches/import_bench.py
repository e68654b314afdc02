"""End-to-end insert benchmark: sfbulk-mcp vs simple-salesforce bulk2, same run.

    python benches/import_bench.py --rows 100000

N account rows are written once as Parquet (for sfbulk) and as CSV (for simple-salesforce,
which only reads CSV files or lists of dicts). A devorg served over HTTPS in this process
receives both inserts; each side runs in its own subprocess, so peak RSS and CPU are its own:

- sfbulk:  `sfbulk_mcp.connect(...).import_("Account", "rows.parquet")` — engine batches,
  concurrent ingest jobs, results matched back to every input row and written beside the
  input (success / failed / unprocessed Parquet files);
- simple-salesforce: `sf.bulk2.Account.insert(csv_file="rows.csv")`, which returns counts
  only (no per-row outcome).

Printed: wall time, the client's own time (wall less the devorg's job processing), peak RSS,
client CPU seconds per million rows, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from export_bench import ServerClock, _usage, best_of, print_report, run_order, run_side


def make_rows(n: int, parquet: Path, csv: Path) -> None:
    """Deterministic Account rows with the awkward values real data has."""
    import polars as pl

    frame = pl.DataFrame({"i": pl.int_range(0, n, eager=True)}).select(
        pl.format('Bench Account {} "quoted", Inc', "i").alias("Name"),
        pl.format("+1-555-{}", pl.col("i") % 10_000).alias("Phone"),
        pl.col("i")
        .mod(4)
        .replace_strict(
            {0: "Energy", 1: "Banking", 2: "Retail", 3: "Technology"}, return_dtype=pl.String
        )
        .alias("Industry"),
        (pl.col("i") * 1.25).cast(pl.Float64).alias("AnnualRevenue"),
        (pl.col("i") % 5000).cast(pl.Int64).alias("NumberOfEmployees"),
        pl.col("i")
        .mod(4)
        .replace_strict(
            {0: "Zürich", 1: "São Paulo", 2: "東京", 3: "Austin"}, return_dtype=pl.String
        )
        .alias("BillingCity"),
        pl.format("line one\nline two for {}", "i").alias("Description"),
    )
    frame.write_parquet(parquet)
    frame.write_csv(csv)


def side_sfbulk(args: argparse.Namespace) -> dict[str, Any]:
    import sfbulk_mcp
    from sfbulk_mcp.salesforce.credentials import StaticTokenProvider

    started = time.perf_counter()
    provider = StaticTokenProvider(args.token, args.instance)
    with sfbulk_mcp.connect(provider=provider, api_version=args.api_version) as org:
        result = org.import_("Account", args.input)
    wall = time.perf_counter() - started
    return {"rows": result.succeeded, "wall_s": wall, **_usage()}


def side_simple_salesforce(args: argparse.Namespace) -> dict[str, Any]:
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
    # simple-salesforce refuses an upload over 100 MB instead of splitting it: give it jobs of
    # half a million rows (well under the limit for these rows), as its users must.
    results = sf.bulk2.Account.insert(csv_file=args.input, batch_size=500_000, wait=1)
    rows = sum(
        int(r.get("numberRecordsProcessed", 0)) - int(r.get("numberRecordsFailed", 0))
        for r in results
    )
    wall = time.perf_counter() - started
    return {"rows": rows, "wall_s": wall, **_usage()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--repeat", type=int, default=2, help="Runs per side, alternating order; best kept."
    )
    parser.add_argument("--side", choices=["sfbulk", "simple-salesforce"])
    parser.add_argument("--instance")
    parser.add_argument("--token")
    parser.add_argument("--ca")
    parser.add_argument("--api-version")
    parser.add_argument("--input")
    args = parser.parse_args()

    if args.side == "sfbulk":
        print(json.dumps(side_sfbulk(args)))
        return
    if args.side == "simple-salesforce":
        print(json.dumps(side_simple_salesforce(args)))
        return

    from sfbulk_mcp.devorg import DevOrg

    with tempfile.TemporaryDirectory(prefix="import-bench-") as work:
        folder = Path(work)
        parquet, csv = folder / "rows.parquet", folder / "rows.csv"
        make_rows(args.rows, parquet, csv)
        print(f"{args.rows:,} rows: {csv.stat().st_size / 1e6:.1f} MB of CSV", file=sys.stderr)
        with DevOrg(tls=True) as org:
            env = {
                **os.environ,
                "SSL_CERT_FILE": str(org.ca_certificate),
                "REQUESTS_CA_BUNDLE": str(org.ca_certificate),
            }
            reports: dict[str, dict[str, Any]] = {}
            clock = ServerClock(org, "ingest")
            sources = {"sfbulk": parquet, "simple-salesforce": csv}
            for name in run_order(args.repeat):
                source = sources[name]
                common = [
                    "--instance",
                    org.instance_url,
                    "--token",
                    org.access_token(),
                    "--ca",
                    str(org.ca_certificate),
                    "--api-version",
                    org.api_version,
                    "--input",
                    str(source),
                ]
                print(f"running {name} ...", file=sys.stderr)
                reports[name] = best_of(
                    reports.get(name), run_side(name, common, env, script=__file__, clock=clock)
                )
        print_report(reports, "insert", args.rows)


if __name__ == "__main__":
    main()
