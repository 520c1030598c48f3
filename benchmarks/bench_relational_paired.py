"""Process CPU time of one database sample, this version beside a baseline, paired in one process.

    .venv/bin/python benchmarks/bench_relational_paired.py --baseline-src ../base/src [--rounds 12]
                     [--max-training-time 10 | --model berka.dtw] [--section relational-paired]

On a machine shared with other work, wall-clock rows/s of two versions run in turn differ by more
than most changes do (±30 % between runs of the same code at load 5-9 on the 2-core VM). Here both
versions' ``datatwin`` packages are imported into one process under two names, one berka model
(fitted with the baseline's code) is loaded by each, and ``sample(seed=0)`` alternates between them
(``--rounds`` each, the order flipped every round), so both see the same load at nearly the same
moments. Reported: process CPU seconds per sample (min, median) and the median of the per-round
ratios this / baseline, and the same for wall-clock seconds. Same bytes is checked, not assumed.
``--model``: a saved berka model (one both versions read) instead of fitting one. Prints a table;
``--section KEY`` also writes it into BENCHMARKS.md between that key's markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import write_section

ROOT = Path(__file__).resolve().parents[1]

FIT = """
import sys
sys.path.insert(0, {bench!r})
import datatwin
from bench_relational import berka_subset
frames, schema = berka_subset()
datatwin.DatabaseSynthesizer(max_training_time={tmt!r}).fit(frames, schema).save({out!r})
"""


def digest(tables: dict) -> str:
    h = hashlib.sha256()
    for t in sorted(tables):
        h.update(t.encode())
        h.update(tables[t].to_csv(index=False).encode())
    return h.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-src", type=Path, required=True, help="src folder of the previous version")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--max-training-time", type=float, default=10.0)
    ap.add_argument("--model", type=Path, help="a saved berka model to sample (instead of fitting one)")
    ap.add_argument("--section", help="write the table into BENCHMARKS.md under this key")
    ap.add_argument("--label", default="this", help="this version's name in the table")
    ap.add_argument("--baseline-label", default="before")
    a = ap.parse_args()
    load = [Path("/proc/loadavg").read_text().split()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = a.model.resolve() if a.model else work / "berka.dtw"
        if not a.model:
            env = {"PYTHONPATH": str(a.baseline_src.resolve())}
            fit = FIT.format(bench=str(ROOT / "benchmarks"), tmt=a.max_training_time, out=str(model))
            subprocess.run([sys.executable, "-c", fit], env=env, check=True, capture_output=True)
        # Relative imports all through the sampling path: each copy runs under its own name.
        shutil.copytree(a.baseline_src / "datatwin", work / "dt_before")
        shutil.copytree(ROOT / "src" / "datatwin", work / "dt_this")
        sys.path.insert(0, str(work))
        models = {}
        for name in ("dt_before", "dt_this"):
            models[name] = importlib.import_module(name + ".relational").DatabaseSynthesizer.load(model)
            models[name].sample(seed=1)  # warm: folded tables, first imports
        same = digest(models["dt_before"].sample(seed=0)) == digest(models["dt_this"].sample(seed=0))
        cpu: dict[str, list[float]] = {"dt_before": [], "dt_this": []}
        wall: dict[str, list[float]] = {"dt_before": [], "dt_this": []}
        rows = 0
        for r in range(a.rounds):
            for name in ("dt_before", "dt_this") if r % 2 == 0 else ("dt_this", "dt_before"):
                c, w = time.process_time(), time.perf_counter()
                out = models[name].sample(seed=0)
                cpu[name].append(time.process_time() - c)
                wall[name].append(time.perf_counter() - w)
                rows = sum(len(v) for v in out.values())
    load.append(Path("/proc/loadavg").read_text().split()[0])
    b, t = np.array(cpu["dt_before"]), np.array(cpu["dt_this"])
    bw, tw = np.array(wall["dt_before"]), np.array(wall["dt_this"])
    print(json.dumps({"rows": rows, "same_bytes": same, "load": load}))
    lines = ["| version | CPU s min | CPU s median | wall s min | wall s median | rows/s (wall min) |",
             "|---|---|---|---|---|---|"]
    for label, v, w in ((a.baseline_label, b, bw), (a.label, t, tw)):
        lines.append(f"| {label} | {v.min():.3f} | {np.median(v):.3f} | {w.min():.3f} | {np.median(w):.3f} "
                     f"| {rows / w.min():,.0f} |")
    ratio = (f"paired ratio {a.label}/{a.baseline_label}, median of {a.rounds} rounds: CPU {np.median(t / b):.3f}, "
             f"wall {np.median(tw / bw):.3f}; same bytes: {same}; {rows:,} rows")
    print("\n".join(lines))
    print(ratio)
    if a.section:
        model_note = f"the saved model `{a.model}`" if a.model else f"a berka model fitted with the baseline's code " \
            f"({a.max_training_time:g} s per table)"
        body = (f"Measured {dt.date.today()} on {platform.node()} ({os.cpu_count()} cores; load average {load[0]} "
                f"before, {load[1]} after). Command: `{shlex.join(['python', *sys.argv])}`. Both versions' "
                f"packages in one process, {model_note} loaded by each, `sample(seed=0)` alternating "
                f"({a.rounds} rounds).\n\n"
                + "\n".join(lines) + "\n\n" + ratio + "\n")
        write_section(a.section, body)


if __name__ == "__main__":
    main()
