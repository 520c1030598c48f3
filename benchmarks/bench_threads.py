"""Threads on a shared machine: the default thread choice against one pinned thread, with and
without a competing CPU-bound process (issue #17: "a busy machine makes the default 5x slower").

For each load (quiet; one competing busy-loop process) it runs, in fresh processes: the default
(threads picked by datatwin), one thread pinned to core 0 (`taskset -c 0`, n_threads=1), and two
threads (every core: the default before #17).
Each fits adult's first 20,000 rows for a fixed number of epochs and samples 200,000 rows.

usage: python benchmarks/bench_threads.py [--epochs 6] [--rows 20000] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from _common import write_section  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parent.parent
ADULT = ROOT.parent / "shared" / "datasets" / "adult.csv"

JOB = """
import json, sys, time, pandas as pd, datatwin
rows, epochs, threads = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
df = pd.read_csv(sys.argv[4]).head(rows)
opts = {"max_epochs": epochs, "patience": 10**6}
if threads != "default":
    opts["n_threads"] = int(threads)
t = time.perf_counter(); syn = datatwin.Synthesizer(random_state=0, engine_options=opts).fit(df)
fit_s = time.perf_counter() - t
syn.sample(10_000, seed=0)
t = time.perf_counter(); syn.sample(200_000, seed=1); sample_s = time.perf_counter() - t
print(json.dumps({"fit_s": fit_s, "rows_per_s": 200_000 / sample_s}))
"""


def run(threads: str, pin: bool, rows: int, epochs: int) -> dict[str, float]:
    cmd = [sys.executable, "-c", JOB, str(rows), str(epochs), threads, str(ADULT)]
    if pin:
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    load_before = os.getloadavg()
    rows = []
    for load in ("quiet", "one competing process"):
        hog = None
        if load != "quiet":
            # A CPU-bound neighbour, free to run on any core, as another user's job would be.
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(2)
        try:
            for label, threads, pin in (("default threads", "default", False), ("1 thread, pinned", "1", True),
                                        ("2 threads (the old default)", "2", False)):
                r = run(threads, pin, a.rows, a.epochs)
                rows.append((load, label, r["fit_s"], r["rows_per_s"]))
                print(f"{load:24s} {label:28s} fit {r['fit_s']:6.1f} s  sample {r['rows_per_s']:9,.0f} rows/s",
                      flush=True)
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    table = ["| load | threads | fit s | sample rows/s |", "|---|---|---|---|"]
    table += [f"| {ld} | {lb} | {f:.1f} | {r:,.0f} |" for ld, lb, f, r in rows]
    text = (f"## Threads on a shared machine\n\nMeasured {dt.date.today().isoformat()} on {platform.node() or 'vm'} "
            f"({os.cpu_count()} cores, Python {platform.python_version()}); load average before the run "
            f"{load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (other work on the machine counts in both rows "
            f"of a pair alike). Command: `.venv/bin/python benchmarks/bench_threads.py --epochs {a.epochs} --rows "
            f"{a.rows}`: adult's first {a.rows:,} rows fitted for {a.epochs} epochs, then 200,000 rows sampled, each "
            f"in a fresh process. Target (#17): the default is never slower than one pinned thread when another "
            f"process competes for the CPU.\n\n" + "\n".join(table) + "\n")
    print(text)
    if not a.no_write:
        write_section("threads", text)


if __name__ == "__main__":
    main()
