"""Decoder benchmark: Bulk result CSV → typed frame, side by side with peers, same bytes.

    python benches/engine_decode.py            # 1M rows (~400 MB), generated once
    python benches/engine_decode.py --rows 100000

Compares, on the same Account-like result (every value quoted, embedded newlines, unicode):
the engine on one thread and with pages decoded in parallel, ``polars.read_csv`` with the same
dtypes on one thread (POLARS_MAX_THREADS=1, in a subprocess) and with default threads, and
Python's ``csv`` module (split only, no typing, on a sample, scaled). Then peak RSS of a
streaming decode to Parquet against the size of the stream.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine_data
import polars as pl
from sfbulk_mcp import engine

# Peak RSS is read from VmHWM: ru_maxrss survives fork+exec and would report the parent's peak.
HWM = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"

POLARS_CHILD = """
import json, sys, time
import polars as pl
sys.path.insert(0, {benches!r})
import engine_data
data = open({path!r}, "rb").read()
best = None
for _ in range({repeat}):
    t = time.perf_counter()
    df = pl.read_csv(data, schema=engine_data.POLARS_TYPES)
    dt = time.perf_counter() - t
    best = dt if best is None else min(best, dt)
    del df
print(json.dumps({{"seconds": best, "maxrss_kb": {hwm}}}))
"""

DECODE_CHILD = """
import json, sys, time
from sfbulk_mcp import engine
sys.path.insert(0, {benches!r})
import engine_data
base = {hwm}
t = time.perf_counter()
rows = 0
with open({path!r}, "rb") as f:
    for batch in engine.decode_batches(f, schema=engine_data.ACCOUNT_TYPES, batch_size={batch}):
        rows += batch.num_rows
print(json.dumps({{"rows": rows, "seconds": time.perf_counter() - t, "base_kb": base,
                  "maxrss_kb": {hwm}}}))
"""

STREAM_CHILD = """
import json, sys, time
from sfbulk_mcp import engine
sys.path.insert(0, {benches!r})
import engine_data
base = {hwm}
t = time.perf_counter()
with open({path!r}, "rb") as f:
    rows = engine.write_parquet(f, {out!r}, schema=engine_data.ACCOUNT_TYPES, batch_size={batch})
print(json.dumps({{"rows": rows, "seconds": time.perf_counter() - t, "base_kb": base,
                  "maxrss_kb": {hwm}}}))
"""


def child(code: str, env_extra: dict[str, str] | None = None) -> dict[str, float]:
    env = dict(os.environ, **(env_extra or {}))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def best_of(repeat: int, fn: object) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--csv-sample-rows", type=int, default=50_000)
    ap.add_argument("--batch-size", type=int, default=8192)
    args = ap.parse_args()

    t = time.perf_counter()
    path = engine_data.single_stream(args.rows)
    page_files = engine_data.pages(args.rows)
    data = path.read_bytes()
    pages = [p.read_bytes() for p in page_files]
    mb = len(data) / 1e6
    print(
        f"data: {args.rows:,} rows, {mb:,.1f} MB, {len(pages)} pages "
        f"(ready in {time.perf_counter() - t:.1f} s) — {path}"
    )
    types = engine_data.ACCOUNT_TYPES
    benches = str(Path(__file__).resolve().parent)

    def ours_one() -> None:
        batches, schema, _ = engine.decode_body(data, schema=types, batch_size=args.batch_size)
        assert schema is not None
        df = pl.DataFrame(engine.RecordBatchStream(batches, schema))
        assert df.height == args.rows

    def ours_pages() -> None:
        df = engine.decode_pages(
            pages, schema=types, threads=args.threads, batch_size=args.batch_size
        )
        assert df.height == args.rows

    results: list[tuple[str, float, float]] = []
    t_one = best_of(args.repeat, ours_one)
    results.append(("engine, 1 thread (decode + frame)", t_one, mb))
    t_par = best_of(args.repeat, ours_pages)
    results.append((f"engine, pages on {args.threads} threads", t_par, mb))

    code = POLARS_CHILD.format(benches=benches, path=str(path), repeat=args.repeat, hwm=HWM)
    pl_one = child(code, {"POLARS_MAX_THREADS": "1"})["seconds"]
    results.append(("polars.read_csv, 1 thread", pl_one, mb))
    pl_multi = child(code)["seconds"]
    results.append((f"polars.read_csv, default threads ({pl.thread_pool_size()})", pl_multi, mb))

    sample = engine.decode(data, batch_size=args.batch_size).head(args.csv_sample_rows)
    sample_bytes = engine_data.bulk_csv_bytes(sample)

    def python_csv() -> None:
        for _ in csv.reader(io.StringIO(sample_bytes.decode("utf-8"))):
            pass

    def python_dictreader() -> None:
        for _ in csv.DictReader(io.StringIO(sample_bytes.decode("utf-8"))):
            pass

    scale = len(data) / len(sample_bytes)
    t_csv = best_of(args.repeat, python_csv) * scale
    results.append(("python csv.reader (split only; sample, scaled)", t_csv, mb))
    t_dict = best_of(args.repeat, python_dictreader) * scale
    results.append(("python csv.DictReader (as peers use it; scaled)", t_dict, mb))

    print(f"\n{'':50} {'seconds':>8} {'MB/s':>8}")
    for name, secs, size in results:
        print(f"{name:50} {secs:8.2f} {size / secs:8.0f}")
    print("\nratios (higher is better for the engine):")
    print(f"  engine 1 thread  / polars 1 thread       : {pl_one / t_one:5.2f}x")
    print(f"  engine 1 thread  / polars default threads: {pl_multi / t_one:5.2f}x")
    print(f"  engine pages ∥   / polars default threads: {pl_multi / t_par:5.2f}x")
    print(f"  engine 1 thread  / python csv.reader     : {t_csv / t_one:5.1f}x")
    print(f"  engine 1 thread  / python csv.DictReader : {t_dict / t_one:5.1f}x")

    code = DECODE_CHILD.format(benches=benches, path=str(path), batch=args.batch_size, hwm=HWM)
    r = child(code)
    peak_mb, base_mb = r["maxrss_kb"] / 1024, r["base_kb"] / 1024
    print(
        f"\nstreaming decode, batches dropped ({r['rows']:,.0f} rows, "
        f"{mb / r['seconds']:.0f} MB/s): peak RSS {peak_mb:.0f} MB (interpreter + imports "
        f"{base_mb:.0f} MB) for a {mb:.0f} MB stream; growth {peak_mb - base_mb:.0f} MB"
    )

    out = str(engine_data.DATA_DIR / "bench_stream.parquet")
    code = STREAM_CHILD.format(
        benches=benches, path=str(path), out=out, batch=args.batch_size, hwm=HWM
    )
    r = child(code)
    peak_mb = r["maxrss_kb"] / 1024
    base_mb = r["base_kb"] / 1024
    print(
        f"streaming decode → Parquet ({r['rows']:,.0f} rows, {mb / r['seconds']:.0f} MB/s): "
        f"peak RSS {peak_mb:.0f} MB (interpreter + imports {base_mb:.0f} MB) for a "
        f"{mb:.0f} MB stream; growth {peak_mb - base_mb:.0f} MB = "
        f"{(peak_mb - base_mb) / mb * 100:.0f}% of the stream"
    )
    pl_rss = child(POLARS_CHILD.format(benches=benches, path=str(path), repeat=1, hwm=HWM))[
        "maxrss_kb"
    ]
    print(f"polars.read_csv of the same bytes in memory: peak RSS {pl_rss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
