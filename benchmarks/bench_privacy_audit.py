"""Privacy audit benchmark (#14): one-run canary audits of the marginal engine.

For insurance (1,338 rows, in the package) and a 5,000-row seeded subsample of adult, audit
`Synthesizer(engine="marginal", privacy=DP(eps))` at eps = 1 and 8, and the broken variant: the
same engine fitted WITHOUT privacy, audited against a claim of eps = 1. Prints claimed eps, the
empirical lower bound (95 %), guesses and correct guesses; with --write appends a dated section
to BENCHMARKS.md (between the `privacy_audit` markers).

usage: python benchmarks/bench_privacy_audit.py [--canaries 500] [--seed 0] [--adult PATH] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import subprocess
import time
from pathlib import Path

import pandas as pd
from _common import write_section  # benchmarks/ is on sys.path when a script runs

import datatwin

ROOT = Path(__file__).resolve().parent.parent


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "uptime unavailable"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--canaries", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--adult", default=str(ROOT.parent / "shared" / "datasets" / "adult.csv"))
    ap.add_argument("--write", action="store_true", help="append the figures to BENCHMARKS.md")
    a = ap.parse_args()

    tables = {"insurance": pd.read_csv(ROOT / "src" / "datatwin" / "datasets" / "insurance.csv")}
    if Path(a.adult).exists():
        tables["adult (5k)"] = pd.read_csv(a.adult).sample(5000, random_state=0).reset_index(drop=True)
    else:
        print(f"{a.adult} is missing: adult skipped (give --adult PATH)")
    load_before = _uptime()
    rows = []
    t0 = time.perf_counter()
    for name, df in tables.items():
        for label, syn, claim in (
                ("DP eps=1", datatwin.Synthesizer(engine="marginal", privacy=datatwin.DP(epsilon=1.0)), None),
                ("DP eps=8", datatwin.Synthesizer(engine="marginal", privacy=datatwin.DP(epsilon=8.0)), None),
                ("broken: no DP, claim eps=1", datatwin.Synthesizer(engine="marginal"), 1.0)):
            t = time.perf_counter()
            r = datatwin.audit_privacy(df, syn, canaries=a.canaries, claimed_epsilon=claim, seed=a.seed)
            rows.append((name, label, r, time.perf_counter() - t))
            print(f"{name:12s} {label:28s} claimed {r.claimed_epsilon:6.3f}  lower bound {r.empirical_epsilon:6.3f}  "
                  f"guesses {r.guesses:4d}  correct {r.correct:4d}  {r.verdict}  ({rows[-1][3]:.1f} s)")
    total = time.perf_counter() - t0
    cmd = (f"PYTHONPATH=src python benchmarks/bench_privacy_audit.py --canaries {a.canaries} --seed {a.seed} "
           f"--adult {a.adult} --write")
    lines = [f"## Privacy audit (one run, canaries; {dt.date.today().isoformat()})", "",
             f"Machine: {platform.node()} ({platform.machine()}, Python {platform.python_version()}); "
             f"load before: `{load_before}`; after: `{_uptime()}`. Command: `{cmd}` ({total:.0f} s in all). "
             f"{a.canaries} canaries, half inserted at random, 95 % confidence, union bound over "
             f"the fixed choices of guesses; engine marginal.", "",
             "| table | fit | claimed ε | empirical ε (lower bound) | guesses | correct | verdict | s |",
             "|---|---|---:|---:|---:|---:|---|---:|"]
    for name, label, r, s in rows:
        lines.append(f"| {name} | {label} | {r.claimed_epsilon:.3f} | {r.empirical_epsilon:.3f} | {r.guesses} | "
                     f"{r.correct} | {r.verdict} | {s:.1f} |")
    body = "\n".join(lines)
    print(body)
    if a.write:
        write_section("privacy_audit", body)


if __name__ == "__main__":
    main()
