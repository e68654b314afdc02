"""Batch builder benchmark: a typed frame → Bulk ingest CSV, against ``DataFrame.write_csv``.

    python benches/engine_batches.py            # 1M Account-like rows
    python benches/engine_batches.py --rows 100000

Both write every row once (the builder also splits into ≤100 MB chunks, each with a header, and
formats booleans, dates and UTC datetimes the way Bulk ingest wants). MB/s are of CSV output.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine_data
import polars as pl

CHILD = """
import json, sys, time
import polars as pl
from sfbulk_mcp import engine
sys.path.insert(0, {benches!r})
import engine_data
df = engine_data.account_frame({rows})
def ours():
    return sum(len(c.data) for c in engine.build_batches(df, max_bytes={max_bytes}))
def theirs():
    return len(df.write_csv(datetime_format="%Y-%m-%dT%H:%M:%S.%3fZ"))
out = {{}}
for name, fn in (("ours", ours), ("polars", theirs)):
    best, size = None, 0
    for _ in range({repeat}):
        t = time.perf_counter()
        size = fn()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    out[name] = [best, size]
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-bytes", type=int, default=100_000_000)
    args = ap.parse_args()
    benches = str(Path(__file__).resolve().parent)
    code = CHILD.format(
        benches=benches, rows=args.rows, max_bytes=args.max_bytes, repeat=args.repeat
    )
    df = engine_data.account_frame(min(args.rows, 1000))
    print(
        f"frame: {args.rows:,} Account-like rows, {len(df.columns)} columns "
        f"({', '.join(sorted({str(t) for t in df.dtypes}))})"
    )
    print(f"\n{'':52} {'seconds':>8} {'MB/s':>8}")
    rows: dict[str, dict[str, list[float]]] = {}
    for label, env in (("1 thread", {"POLARS_MAX_THREADS": "1"}), ("default threads", {})):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=dict(os.environ, **env),
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows[label] = json.loads(out.strip().splitlines()[-1])
        for name in ("ours", "polars"):
            secs, size = rows[label][name]
            title = "engine build_batches" if name == "ours" else "polars DataFrame.write_csv"
            print(f"{title + ', polars ' + label:52} {secs:8.2f} {size / 1e6 / secs:8.0f}")
    print("\nratios (polars time / engine time; higher is better for the engine):")
    for label, r in rows.items():
        print(f"  polars {label:16}: {r['polars'][0] / r['ours'][0]:5.2f}x")
    print(f"(pl.thread_pool_size() here = {pl.thread_pool_size()})")


if __name__ == "__main__":
    main()
