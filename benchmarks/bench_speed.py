"""Single-machine speed (#18 part 1): sampling at 1 and 2 threads beside an earlier commit, 10M
rows to Parquet and CSV with peak memory, and a streamed fit on a Parquet dataset larger than
``max_fit_rows``, with its peak memory.

Every figure runs in its own process (peak RSS from ``wait4``). The two versions sample in
turns from the same model files (fitted by the old version, which the new one reads), so the
load of a shared machine weighs on both alike; the table reports the ratio.

usage: python benchmarks/bench_speed.py [--old d46d402] [--rows 1000000] [--file-rows 10000000]
       [--fit-rows 20000000] [--rounds 2] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_section  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
PY = sys.executable

FIT = """
import sys, pandas as pd, datatwin
df = pd.read_csv(sys.argv[1])
datatwin.Synthesizer(random_state=0, engine_options={"max_epochs": 3}).fit(df).save(sys.argv[2])
"""
# Rows per second in memory (codes and decoding, a DataFrame), at a given thread count.
SAMPLE = """
import sys, time, json, datatwin
syn = datatwin.load(sys.argv[1]); n = int(sys.argv[2]); syn.model_.engine.n_threads = int(sys.argv[3])
syn.sample(20_000, seed=0)
t = time.perf_counter(); df = syn.sample(n, seed=1); secs = time.perf_counter() - t
print(json.dumps({"rate": n / secs, "rows": len(df)}))
"""
# End to end: model file to output file, through the library's streaming writer.
TO_FILE = """
import sys, time, json, datatwin
syn = datatwin.load(sys.argv[1]); n = int(sys.argv[2]); syn.model_.engine.n_threads = int(sys.argv[4])
t = time.perf_counter(); rows = syn.sample_to_file(n, sys.argv[3], seed=1); secs = time.perf_counter() - t
print(json.dumps({"rate": rows / secs, "rows": rows}))
"""
# A big Parquet dataset: adult resampled with noise on the numbers, written 1M rows at a time.
MAKE = """
import sys, numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq
df = pd.read_csv(sys.argv[1]); n = int(sys.argv[3]); out = sys.argv[2]
rng = np.random.default_rng(0); writer = None; done = 0
while done < n:
    m = min(1_000_000, n - done)
    part = df.iloc[rng.integers(0, len(df), m)].reset_index(drop=True)
    for c in ("age", "hours_per_week"):
        part[c] = np.clip(part[c] + rng.integers(-2, 3, m), 1, 99)
    table = pa.Table.from_pandas(part, preserve_index=False)
    writer = writer or pq.ParquetWriter(out, table.schema)
    writer.write_table(table.cast(writer.schema)); done += m
writer.close()
"""
STREAM_FIT = """
import sys, time, json, datatwin
t = time.perf_counter()
syn = datatwin.Synthesizer(random_state=0, max_training_time=float(sys.argv[2]),
                           engine_options={"max_epochs": 1, "n_threads": 2}).fit(sys.argv[1])
secs = time.perf_counter() - t
out = syn.sample(1000, seed=1)
print(json.dumps({"secs": secs, "rows": syn.n_rows_, "val_loss": syn.engine_.val_loss_, "sampled": len(out)}))
"""


def run(code: str, *args: str, src: Path) -> tuple[dict, float]:
    """Run ``code`` in a fresh process; its JSON line and its peak RSS in MB."""
    proc = subprocess.Popen([PY, "-c", code, *args], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(src)})
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"benchmark step failed (exit {proc.returncode}): {args}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", default="d46d402", help="the commit to compare with")
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows sampled in memory per run")
    ap.add_argument("--file-rows", type=int, default=10_000_000, help="rows written to Parquet and CSV")
    ap.add_argument("--fit-rows", type=int, default=20_000_000, help="rows of the Parquet dataset fitted (0: skip)")
    ap.add_argument("--fit-seconds", type=float, default=120.0, help="training budget of the streamed fit")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dt-speed-"))
    old = work / "old"
    subprocess.run(["git", "worktree", "add", "-q", "--detach", str(old), a.old], cwd=ROOT, check=True)
    new_src, old_src = ROOT / "src", old / "src"
    load0, t0 = os.getloadavg(), time.time()
    rates: dict[tuple[str, str, int], float] = {}
    files: list[tuple[str, str, int, float, float]] = []
    fit_row = None
    try:
        models = {}
        for name in ("adult", "credit_default"):
            models[name] = work / f"{name}.dtw"
            subprocess.run([PY, "-c", FIT, str(SHARED / f"{name}.csv"), str(models[name])],
                           env={**os.environ, "PYTHONPATH": str(old_src)}, check=True)
        for _ in range(a.rounds):
            for threads in (1, 2):
                for version, src in (("old", old_src), ("new", new_src)):
                    for name, model in models.items():
                        got, _ = run(SAMPLE, str(model), str(a.rows), str(threads), src=src)
                        key = (version, name, threads)
                        rates[key] = max(rates.get(key, 0.0), got["rate"])
                        print(f"{version} {name} {threads} thread(s): {got['rate']:,.0f} rows/s", flush=True)
        for fmt in ("parquet", "csv"):
            for version, src, n in (("old", old_src, a.rows), ("new", new_src, a.rows), ("new", new_src, a.file_rows)):
                path = work / f"out.{fmt}"
                got, rss = run(TO_FILE, str(models["adult"]), str(n), str(path), "2", src=src)
                files.append((version, fmt, n, got["rate"], rss))
                print(f"{version} {fmt} {n:,} rows: {got['rate']:,.0f} rows/s, peak RSS {rss:,.0f} MB", flush=True)
                path.unlink()
        if a.fit_rows:
            data = work / "big.parquet"
            subprocess.run([PY, "-c", MAKE, str(SHARED / "adult.csv"), str(data), str(a.fit_rows)], check=True)
            size = data.stat().st_size / 2**20
            got, rss = run(STREAM_FIT, str(data), str(a.fit_seconds), src=new_src)
            fit_row = (a.fit_rows, size, got, rss)
            print(f"streamed fit of {a.fit_rows:,} rows ({size:,.0f} MB Parquet): {got['secs']:,.0f} s, "
                  f"peak RSS {rss:,.0f} MB", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    load1 = os.getloadavg()
    lines = [f"| table | threads | rows/s at {a.old[:7]} | rows/s now | ratio |", "|---|---|---|---|---|"]
    for name in ("adult", "credit_default"):
        for threads in (1, 2):
            o, n = rates[("old", name, threads)], rates[("new", name, threads)]
            lines.append(f"| {name} | {threads} | {o:,.0f} | {n:,.0f} | {n / o:.2f}x |")
    flines = ["| version | format | rows | rows/s end to end | peak RSS |", "|---|---|---|---|---|"]
    for version, fmt, n, rate, rss in files:
        flines.append(f"| {a.old[:7] if version == 'old' else 'now'} | {fmt} | {n:,} | {rate:,.0f} | {rss:,.0f} MB |")
    text = (f"## Single-machine speed (#18)\n\nMeasured {dt.date.today().isoformat()} on {platform.node() or 'vm'} "
            f"({os.cpu_count()} cores), load average {load0[0]:.1f} at the start and {load1[0]:.1f} at the end, "
            f"{(time.time() - t0) / 60:.0f} minutes (other agents' tests and benchmarks shared the 2 cores; the "
            f"versions ran in turns, so the load weighed on both). Command: `.venv/bin/python "
            f"benchmarks/bench_speed.py --old {a.old} --rows {a.rows} --file-rows {a.file_rows} --fit-rows "
            f"{a.fit_rows} --rounds {a.rounds}`. Models: 3 epochs of adult and credit_default, fitted by the old "
            f"version. Sampling: {a.rows:,} rows in memory (codes and decoding, a DataFrame), best of {a.rounds} "
            f"rounds, each run its own process.\n\n" + "\n".join(lines) + "\n\nEnd to end, model file to output "
            "file (`sample_to_file`, 2 threads, default chunks), each run its own process:\n\n"
            + "\n".join(flines) + "\n")
    if fit_row is not None:
        n, size, got, rss = fit_row
        text += (f"\nStreamed fit: {n:,} rows of adult resampled with noise, one {size:,.0f} MB Parquet file, "
                 f"`Synthesizer(max_training_time={a.fit_seconds:g}, engine_options={{'max_epochs': 1}})"
                 f".fit(path)` with the default `max_fit_rows=1,000,000`: {got['secs']:,.0f} s, peak RSS "
                 f"{rss:,.0f} MB, validation loss {got['val_loss']:.2f}; the model samples.\n")
    print(text)
    if not a.no_write:
        write_section("speed", text)


if __name__ == "__main__":
    main()
