"""Sampling speed of this checkout against an earlier commit, in the same run, alternating.

A shared machine's load moves timings by tens of percent, so a speed claim compares versions
side by side: both load the same model files (the file format is shared) and sample in turns,
and the best of several runs per version is kept.

usage: python benchmarks/bench_versions.py --old REV [--rows 200000] [--rounds 3] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import write_section  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"

FIT = """
import sys, pandas as pd, datatwin
df = pd.read_csv(sys.argv[1])
datatwin.Synthesizer(random_state=0, engine_options={"max_epochs": 3}).fit(df).save(sys.argv[2])
"""
SAMPLE = """
import sys, time, datatwin
syn = datatwin.load(sys.argv[1]); n = int(sys.argv[2])
syn.sample(20_000, seed=0)
times = []
for _ in range(3):
    t = time.perf_counter(); syn.sample(n, seed=1); times.append(time.perf_counter() - t)
print(n / min(times))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="the commit to compare with")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dt-versions-"))
    old = work / "old"
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(old), a.old], cwd=ROOT, check=True)
    try:
        models = {}
        for name in ("adult", "customers"):
            models[name] = work / f"{name}.dtw"
            subprocess.run([sys.executable, "-c", FIT, str(SHARED / f"{name}.csv"), str(models[name])],
                           env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, check=True)
        best: dict[tuple[str, str], float] = {}
        load = os.getloadavg()[0]
        for _ in range(a.rounds):
            for version, src in (("old", old / "src"), ("new", ROOT / "src")):
                for name, model in models.items():
                    out = subprocess.run([sys.executable, "-c", SAMPLE, str(model), str(a.rows)], check=True,
                                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(src)})
                    rate = float(out.stdout.strip().splitlines()[-1])
                    best[(version, name)] = max(best.get((version, name), 0.0), rate)
                    print(f"{version} {name}: {rate:,.0f} rows/s", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    rows = ["| model | rows/s at " + a.old[:10] + " | rows/s now | change |", "|---|---|---|---|"]
    for name in models:
        o, n = best[("old", name)], best[("new", name)]
        rows.append(f"| {name} | {o:,.0f} | {n:,.0f} | {n / o - 1:+.0%} |")
    text = (f"## Sampling speed against an earlier version\n\nMeasured {dt.date.today().isoformat()} on "
            f"{platform.node() or 'vm'} ({os.cpu_count()} cores), load average {load:.1f} at the start, "
            f"{os.getloadavg()[0]:.1f} at the end (other work shared the machine; the versions ran in turns, so "
            f"it weighed on both alike). Command: `.venv/bin/python benchmarks/bench_versions.py --old {a.old}`. "
            f"Both versions load the same model files (3 epochs of adult and of customers.csv, with its ids and "
            f"PII) and sample {a.rows:,} rows; the best of {a.rounds} rounds x 3 runs per version.\n\n"
            + "\n".join(rows) + "\n")
    print(text)
    if not a.no_write:
        write_section("versions", text)


if __name__ == "__main__":
    main()
