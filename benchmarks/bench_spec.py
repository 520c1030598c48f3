"""Rule-based generation speed: ``datatwin.generate`` for a simple spec (numbers, categories, a date,
a boolean, an id) at 1M rows in memory and 10M rows streamed to Parquet, plus a richer spec
(formatted ids and dates, Faker, a formula, a 'by' dependency and a repaired constraint) at 1M.

Prints a table (wall and CPU seconds, rows/s) and writes it into BENCHMARKS.md between the
``spec`` markers (the rest of the file is left alone).

usage: python benchmarks/bench_spec.py [--rows 1000000] [--stream-rows 10000000] [--repeat 3] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import write_section  # benchmarks/ is on sys.path when a script runs

import datatwin

ROOT = Path(__file__).resolve().parent.parent

SIMPLE = {"columns": {
    "id": {"type": "sequence"},
    "age": {"type": "integer", "distribution": "normal", "mean": 40, "sd": 12, "min": 18, "max": 90},
    "income": {"type": "float", "distribution": "lognormal", "mu": 10.5, "sigma": 0.6, "decimals": 2},
    "score": {"type": "float", "distribution": "uniform", "min": 0, "max": 1},
    "region": {"type": "category", "values": {"north": 0.4, "south": 0.3, "east": 0.2, "west": 0.1}},
    "plan": {"type": "category", "values": ["basic", "plus", "gold"]},
    "active": {"type": "boolean", "p": 0.7},
    "signup": {"type": "date", "min": "2020-01-01", "max": "2024-12-31"},
}}

RICH = {"columns": {
    "customer_id": {"type": "sequence", "format": "CUST-{:07d}"},
    "region": {"type": "category", "values": {"north": 0.4, "south": 0.3, "east": 0.2, "west": 0.1}},
    "income": {"type": "float", "distribution": "lognormal", "mu": 10.5, "sigma": 0.5, "decimals": 2,
               "by": "region", "params": {"north": {"mu": 11}}},
    "price": {"type": "float", "distribution": "uniform", "min": 1, "max": 100, "decimals": 2},
    "quantity": {"type": "integer", "distribution": "poisson", "mean": 3, "min": 1},
    "total": {"type": "formula", "expr": "price * quantity", "decimals": 2},
    "start_date": {"type": "date", "min": "2020-01-01", "max": "2024-12-31"},
    "end_date": {"type": "date", "min": "start_date", "max": "start_date + 365", "format": "%d/%m/%Y"},
    "email": {"type": "faker", "provider": "email", "null_rate": 0.05},
}, "constraints": ["end_date - start_date <= 180"]}


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--stream-rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each in-memory case (the median is reported)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    a = ap.parse_args()

    simple, rich = datatwin.Spec.from_dict(SIMPLE), datatwin.Spec.from_dict(RICH)
    datatwin.generate(simple, 1000)  # imports and first-call set-up
    rows = []
    for label, spec in ((f"simple spec, {len(SIMPLE['columns'])} columns", simple),
                        (f"rich spec, {len(RICH['columns'])} columns", rich)):
        runs = [timed(lambda spec=spec, i=i: datatwin.generate(spec, a.rows, seed=i)) for i in range(a.repeat)]
        wall = statistics.median(r[1] for r in runs)
        cpu = statistics.median(r[2] for r in runs)
        rows.append((label, f"{a.rows:,} in memory", wall, cpu, None))
        print(f"{label}: {a.rows:,} rows in {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.parquet"
        _, wall, cpu = timed(lambda: datatwin.generate_to_file(simple, a.stream_rows, path, seed=0))
        size = path.stat().st_size / 1e6
        rows.append((rows[0][0], f"{a.stream_rows:,} streamed to Parquet", wall, cpu, size))
        print(f"stream: {a.stream_rows:,} rows in {wall:.2f} s wall, {cpu:.2f} s CPU, {size:.0f} MB", flush=True)

    n_of = {r[1]: int(r[1].split()[0].replace(",", "")) for r in rows}
    head = "| spec | rows | wall s | CPU s | rows/s (wall) | rows/s (CPU) | file MB |\n|---|---|---|---|---|---|---|\n"
    body = "".join(f"| {s} | {what} | {w:.2f} | {c:.2f} | {n_of[what] / w:,.0f} | {n_of[what] / c:,.0f} | "
                   f"{'-' if size is None else f'{size:.0f}'} |\n" for s, what, w, c, size in rows)
    text = (f"## Rule-based generation (`datatwin generate`, spec)\n\n"
            f"Measured {dt.date.today().isoformat()} on {platform.node() or 'this machine'} "
            f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores, shared with other "
            f"CPU-heavy work; Python {platform.python_version()}).\n"
            f"Command: `.venv/bin/python benchmarks/bench_spec.py` (in-memory figures are the median of "
            f"{a.repeat} runs; CPU s is `time.process_time()` of the whole process; the Parquet run writes "
            f"100k-row chunks through the atomic writer). The simple spec is "
            f"{', '.join(SIMPLE['columns'])}; the rich spec is another, with a formatted id and date, a Faker email "
            f"(pool of 5,000), a formula, a `by` dependency and a constraint repaired by resampling.\n\n"
            + head + body)
    print("\n" + head + body)
    if not a.no_write:
        write_section("spec", text)


if __name__ == "__main__":
    sys.exit(main())
