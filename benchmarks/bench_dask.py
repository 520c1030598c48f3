"""Scale-out on Dask (#18): sampling throughput of a local cluster with 1 worker against 2 workers.

A quick argn model of adult (or the model file given) samples ``--rows`` rows three ways: the
plain single-process path (``sample_to_file``, one Parquet file), then ``sample_to_dataset`` on a
LocalCluster of 1 and of 2 single-threaded worker processes (a partitioned Parquet dataset each).
It reports rows/s, the 2-worker/1-worker throughput ratio (target >= 1.8x), whether the parts of
both clusters are the same bytes and every part holds exactly the rows of the single-process file,
and the peak RSS of each worker. Each cluster first draws a small warm-up dataset (imports, model
load), which the timing leaves out. The machine may be shared: the load is printed and written.

usage: PYTHONPATH=src python benchmarks/bench_dask.py [--rows 1000000] [--model m.dtw] [--write]

``--scale K`` measures the plan at scale instead (#18: 100M rows): one run of a K-worker
LocalCluster only (no single-process file and no 1-worker run to compare, which would double the
time and the disk), with its wall time, rows/s, CPU and peak RSS per worker, and the disk the
dataset takes; the folder is deleted afterwards. Written to the ``dask-scale`` section.

usage: PYTHONPATH=src python benchmarks/bench_dask.py --rows 100000000 --scale 2 [--out /tmp/x] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_section  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parent.parent
ADULT = ROOT.parent / "shared" / "datasets" / "adult.csv"


def peak_rss_mb() -> float:
    """This process's peak resident memory (run on each worker)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds() -> float:
    """CPU time this process has used (run on each worker)."""
    return time.process_time()


def run_cluster(syn, workers: int, n: int, seed: int, partition_size: int, out: Path
                ) -> tuple[float, list[float], float]:
    import distributed

    from datatwin.synthesizer._dask import local_cluster  # the cluster `--scheduler local:N` starts

    with local_cluster(workers) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        # Warm-up: every worker imports datatwin and loads the model before the clock starts.
        syn.sample_to_dataset(4 * workers * 1000, out.with_name(out.name + "-warm"), seed=seed + 1,
                              scheduler=client, partition_size=1000)
        cpu = client.run(cpu_seconds)
        t = time.perf_counter()
        syn.sample_to_dataset(n, out, seed=seed, scheduler=client, partition_size=partition_size)
        secs = time.perf_counter() - t
        cpu = sum(v - cpu[k] for k, v in client.run(cpu_seconds).items())
        rss = sorted(client.run(peak_rss_mb).values())
    # Cores the workers got: on a machine shared with other work, 2 workers may get fewer than 2.
    return secs, rss, cpu / secs


def compare(single: Path, one: Path, two: Path, partition_size: int) -> tuple[bool, bool]:
    """(parts of 1 and 2 workers are the same bytes, every part is the single-process file's rows)."""
    import pyarrow.parquet as pq

    parts1, parts2 = sorted(one.glob("part-*.parquet")), sorted(two.glob("part-*.parquet"))
    same_bytes = [p.name for p in parts1] == [p.name for p in parts2] and all(
        hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
        for a, b in zip(parts1, parts2, strict=True))
    whole = pq.read_table(single)
    same_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in parts1) == whole.num_rows
    for i, p in enumerate(parts1):
        part = pq.read_table(p).to_pandas()
        ref = whole.slice(i * partition_size, partition_size).to_pandas()
        same_rows &= part.equals(ref) and list(part.dtypes) == list(ref.dtypes)
    return same_bytes, same_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows to sample (default 1,000,000)")
    ap.add_argument("--model", type=Path, help="a model file to sample (default: fit a quick argn model of adult)")
    ap.add_argument("--train-rows", type=int, default=20_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--partition-size", type=int, default=100_000)
    ap.add_argument("--scale", type=int, metavar="K", help="only a K-worker cluster, at scale (see above)")
    ap.add_argument("--out", type=Path, help="--scale: the parent folder of the dataset (default: a temp folder)")
    ap.add_argument("--write", action="store_true", help="write the figures into BENCHMARKS.md")
    a = ap.parse_args()

    import pandas as pd

    import datatwin

    load_before = uptime()
    if a.model is not None:
        syn, source = datatwin.load(a.model), str(a.model)
    else:
        df = pd.read_csv(ADULT).head(a.train_rows)
        t = time.perf_counter()
        syn = datatwin.Synthesizer(random_state=0, engine_options={"max_epochs": a.epochs, "patience": 10**6}).fit(df)
        source = f"argn on adult's first {a.train_rows:,} rows, {a.epochs} epochs (fit {time.perf_counter() - t:.0f} s)"
    seed, n = 1, a.rows
    if a.scale:
        scale(syn, source, a, load_before)
        return
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        folder = Path(tmp)
        syn.sample(10_000, seed=0)  # warm-up of the single-process path
        t = time.perf_counter()
        syn.sample_to_file(n, folder / "single.parquet", seed=seed)
        single_s = time.perf_counter() - t
        one_s, rss1, cores1 = run_cluster(syn, 1, n, seed, a.partition_size, folder / "one")
        two_s, rss2, cores2 = run_cluster(syn, 2, n, seed, a.partition_size, folder / "two")
        same_bytes, same_rows = compare(folder / "single.parquet", folder / "one", folder / "two", a.partition_size)
    load_after = uptime()
    ratio = one_s / two_s

    rows = [("single process (`sample_to_file`)", single_s, "–", "–"),
            ("LocalCluster, 1 worker", one_s, f"{cores1:.2f}", ", ".join(f"{r:,.0f}" for r in rss1)),
            ("LocalCluster, 2 workers", two_s, f"{cores2:.2f}", ", ".join(f"{r:,.0f}" for r in rss2))]
    table = ["| path | seconds | rows/s | cores the workers got | peak RSS per worker (MB) |",
             "|---|---:|---:|---:|---:|"]
    table += [f"| {name} | {s:.1f} | {n / s:,.0f} | {cores} | {rss} |" for name, s, cores, rss in rows]
    verdict = "met" if ratio >= 1.8 else "missed"
    summary = [
        f"2 workers / 1 worker throughput: **{ratio:.2f}x** (target >= 1.8x: {verdict}); rows per worker "
        f"CPU-second: {n / (one_s * cores1):,.0f} (1 worker), {n / (two_s * cores2):,.0f} (2 workers).",
        f"Parts of 1 and 2 workers byte-identical: **{same_bytes}**; every part equals its rows of the "
        f"single-process file (values and dtypes): **{same_rows}**.",
    ]
    print("\n".join(table + [""] + summary))
    cmd = "PYTHONPATH=src .venv/bin/python benchmarks/bench_dask.py " + " ".join(sys.argv[1:])
    if a.write:
        body = "\n".join([
            "## Scale-out on Dask (#18)", "",
            f"Measured {dt.date.today().isoformat()} on {platform.node()} ({os.cpu_count()} cores, Python "
            f"{platform.python_version()}), a machine shared with other work. `uptime` before: `{load_before}`; "
            f"after: `{load_after}`. Command: `{cmd.replace(' --write', '')}`. Model: {source}; {n:,} rows, "
            f"seed {seed}, parts of {a.partition_size:,} rows written as Parquet by the workers; clusters are "
            f"those of `--scheduler local:k` (`LocalCluster(n_workers=k, threads_per_worker=1, processes=True)`, "
            f"glibc's malloc defaults kept), timed after a warm-up.", "",
            *table, "", *summary])
        write_section("dask", body)


def disk_bytes(folder: Path) -> tuple[int, int]:
    """(bytes of the dataset's files, their count)."""
    files = [p for p in folder.iterdir() if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def scale(syn, source: str, a: argparse.Namespace, load_before: str) -> None:
    """One K-worker run at scale: the per-worker figures a reader multiplies (see the docstring)."""
    import shutil

    n, k, seed = a.rows, a.scale, 1
    with tempfile.TemporaryDirectory(prefix="bench-dask-scale-", dir=a.out) as tmp:
        out = Path(tmp) / "ds"
        secs, rss, cores = run_cluster(syn, k, n, seed, a.partition_size, out)
        size, files = disk_bytes(out)
        free = shutil.disk_usage(tmp).free
    load_after = uptime()
    per_worker = n / secs / k
    table = ["| rows | workers | seconds | rows/s | rows/s per worker | cores the workers got | "
             "rows per worker CPU-second | peak RSS per worker (MB) | dataset on disk | bytes/row |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| {n:,} | {k} | {secs:,.0f} | {n / secs:,.0f} | {per_worker:,.0f} | {cores:.2f} | "
             f"{n / (secs * cores):,.0f} | {', '.join(f'{r:,.0f}' for r in rss)} | "
             f"{size / 1e6:,.0f} MB in {files:,} files | {size / n:.1f} |"]
    rate = n / (secs * cores)  # rows per CPU-second of a worker: what a core gives, load aside
    billion = 10**9 / rate / 3600
    summary = [
        f"Per worker (one core, one process): **{rate:,.0f} rows per CPU-second**, peak RSS "
        f"**{max(rss):,.0f} MB** whatever the row count (a worker holds one part at a time), "
        f"**{size / n:.1f} bytes/row** of Parquet. A billion rows is {billion:,.0f} worker-core-hours: "
        f"{billion / 32:,.1f} h on 32 such workers, {10**9 * size / n / 1e9:,.0f} GB of disk; the driver "
        f"holds the manifest only (a finished run of {n // a.partition_size:,} parts is one range; driver peak "
        f"RSS {peak_rss_mb():,.0f} MB, the fitted model included).",
    ]
    print("\n".join(table + [""] + summary))
    print(f"free disk after the run (dataset deleted next): {free / 1e9:.1f} GB")
    cmd = "PYTHONPATH=src .venv/bin/python benchmarks/bench_dask.py " + " ".join(sys.argv[1:])
    if a.write:
        body = "\n".join([
            f"## Scale-out on Dask at {n:,} rows (#18)", "",
            f"Measured {dt.date.today().isoformat()} on {platform.node()} ({os.cpu_count()} cores, Python "
            f"{platform.python_version()}), a machine shared with other work. `uptime` before: `{load_before}`; "
            f"after: `{load_after}`. Command: `{cmd.replace(' --write', '')}`. Model: {source}; seed {seed}, "
            f"parts of {a.partition_size:,} rows written as Parquet by the workers of `--scheduler local:{k}`, "
            f"timed after a warm-up; the dataset was deleted afterwards.", "",
            *table, "", *summary])
        write_section("dask-scale", body)


if __name__ == "__main__":
    main()
