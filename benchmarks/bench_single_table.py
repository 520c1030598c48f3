"""Single-table benchmark: fit time, sampling speed, memory and the judge's figures.

For each dataset: the judge's seed-0 split; `generate.py` fits on train and samples as many
rows as train has (timed by `judge.py time`); `judge.py score` rates the rows; a separate process
loads the saved model and samples 1M rows in memory (rows/s); on adult, `datatwin sample`
streams 10M rows to Parquet and CSV (peak RSS). Prints a table and writes it into BENCHMARKS.md
between the `single-table` markers.

usage: python benchmarks/bench_single_table.py [--datasets adult,insurance] [--engines argn,copula]
           [--single-core] [--skip-10m] [--shared ../shared] [--work .judge]
Needs the judge's venv (bash ../shared/bench/setup.sh .judge/venv) and GNU time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from _common import write_section  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {
    "adult": "income", "credit_default": "default_payment_next_month", "bank_marketing": "y",
    "california_housing": "median_house_value", "diamonds": "price", "mammography": "class",
    "insurance": "charges", "customers": None,
}
PIN = ["taskset", "-c", "0", "env", "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1",
       "JUDGE_N_JOBS=1"]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(TARGETS))
    ap.add_argument("--engines", default="argn,copula")
    ap.add_argument("--single-core", action="store_true", help="pin to one core, as the anchors were measured")
    ap.add_argument("--skip-10m", action="store_true")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--work", default=str(ROOT / ".judge"))
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    ap.add_argument("--render-only", action="store_true", help="rewrite the table from the stored rows, run nothing")
    ap.add_argument("--resample-only", action="store_true",
                    help="re-measure 1M-row sampling (and 10M streaming) from the stored models; keep the other "
                         "figures (their models and scores do not change when only sampling speed does)")
    a = ap.parse_args()

    shared, work = Path(a.shared), Path(a.work)
    judge, jpy = shared / "bench" / "judge.py", work / "venv" / "bin" / "python"
    py = sys.executable
    if not jpy.exists():
        sys.exit(f"no judge venv at {jpy}: run bash {shared}/bench/setup.sh {work}/venv")
    (work / "data").mkdir(parents=True, exist_ok=True)
    (work / "out").mkdir(parents=True, exist_ok=True)
    pin = PIN if a.single_core else []
    rows = []
    for name in ([] if a.render_only or a.resample_only else a.datasets.split(",")):
        target = TARGETS[name]
        train, hold = work / "data" / f"{name}_train.csv", work / "data" / f"{name}_holdout.csv"
        if not train.exists():
            run([str(jpy), str(judge), "split", "--real", str(shared / "datasets" / f"{name}.csv"), "--seed", "0",
                 "--out-dir", str(work / "data"), "--name", name])
        with open(train, encoding="utf-8") as f:
            n = sum(1 for _ in f) - 1
        for engine in a.engines.split(","):
            tag = f"{name}_{engine}{'_1core' if a.single_core else ''}"
            syn, model = work / "out" / f"{tag}.csv", work / "out" / f"{tag}.dtw"
            timing = work / "out" / f"{tag}_time.json"
            run(pin + [str(jpy), str(judge), "time", "--out", str(timing), "--",
                       py, str(ROOT / "benchmarks" / "generate.py"), str(train), str(syn), str(n), "0", engine,
                       str(model)])
            t = json.loads(timing.read_text())
            score_cmd = [str(jpy), str(judge), "score", "--train", str(train), "--holdout", str(hold),
                         "--synthetic", str(syn), "--label", f"datatwin_{engine}", "--out",
                         str(work / "out" / f"{tag}_score.json")]
            if target:
                score_cmd += ["--target", target]
            last = run(pin + score_cmd).stdout.strip().splitlines()[-1]
            figures = dict(kv.split("=") for kv in last.split())
            tp_json = work / "out" / f"{tag}_1m.json"
            run(pin + [str(jpy), str(judge), "time", "--out", str(tp_json), "--", py,
                       str(ROOT / "benchmarks" / "sample_throughput.py"), str(model), "1000000"])
            tp = json.loads(tp_json.read_text())
            rows.append({
                "dataset": name, "engine": engine, "rows": n,
                "fit_s": t["bench"].get("fit_seconds"), "epochs": t["bench"].get("epochs", "-"),
                "sample_s": t["bench"].get("sample_seconds"),
                "rows_per_s_1m": tp["bench"].get("throughput_rows_per_second"),
                "rss_fit_mb": t["peak_rss_mb_best"], "rss_1m_mb": tp["peak_rss_mb_best"], **figures,
            })
            print(json.dumps(rows[-1]), flush=True)
    # Merge with earlier rows of datasets/engines not re-run now, so one table can be refreshed
    # piecewise (each row keeps the date it was measured).
    store = work / "out" / f"bench_rows{'_1core' if a.single_core else ''}.json"
    today = dt.date.today().isoformat()
    for r in rows:
        r["measured"] = r["sampled"] = today
    old = json.loads(store.read_text()) if store.exists() else []
    fresh = {(r["dataset"], r["engine"]) for r in rows}
    order = list(TARGETS)
    rows = sorted([r for r in old if (r["dataset"], r["engine"]) not in fresh] + rows,
                  key=lambda r: (order.index(r["dataset"]), r["engine"] != "argn"))
    if a.resample_only:
        for r in rows:
            if r["dataset"] not in a.datasets.split(",") or r["engine"] not in a.engines.split(","):
                continue
            tag = f"{r['dataset']}_{r['engine']}{'_1core' if a.single_core else ''}"
            tp_json = work / "out" / f"{tag}_1m.json"
            run(pin + [str(jpy), str(judge), "time", "--out", str(tp_json), "--", py,
                       str(ROOT / "benchmarks" / "sample_throughput.py"), str(work / "out" / f"{tag}.dtw"), "1000000"])
            tp = json.loads(tp_json.read_text())
            r.update(rows_per_s_1m=tp["bench"].get("throughput_rows_per_second"),
                     rss_1m_mb=tp["peak_rss_mb_best"], sampled=today)
            print(json.dumps(r), flush=True)
    store.write_text(json.dumps(rows, indent=1))
    big_store = work / "out" / f"bench_10m{'_1core' if a.single_core else ''}.json"
    big = []
    if not a.skip_10m and not a.render_only and "adult" in a.datasets.split(",") and "argn" in a.engines:
        model = work / "out" / f"adult_argn{'_1core' if a.single_core else ''}.dtw"
        for suffix in ("parquet", "csv"):
            out = work / "out" / f"adult_10m.{suffix}"
            tj = work / "out" / f"adult_10m_{suffix}.json"
            run(pin + [str(jpy), str(judge), "time", "--out", str(tj), "--", str(Path(py).parent / "datatwin"),
                       "sample", str(model), "-n", "10000000", "-o", str(out)])
            tt = json.loads(tj.read_text())
            big.append((suffix, tt["wall_seconds"], tt["peak_rss_mb_best"], out.stat().st_size / 2**20))
            out.unlink()
        big_store.write_text(json.dumps(big))
    elif big_store.exists():
        big = [tuple(b) for b in json.loads(big_store.read_text())]
    table = render(rows, big, a)
    print(table)
    if not a.no_write:
        key = "single-table-1core" if a.single_core else "single-table"
        write_section(key, table, f"## Single table ({'one core' if a.single_core else 'all cores'})")


def render(rows: list[dict], big: list[tuple], a: argparse.Namespace) -> str:
    cols = ["dataset", "engine", "measured", "rows", "fit_s", "epochs", "sample_s", "sampled", "rows_per_s_1m",
            "rss_fit_mb",
            "rss_1m_mb", "quality", "detection_auc", "tstr_auc", "tstr_delta_auc", "tstr_r2", "tstr_delta_r2",
            "dcr_share", "exact_copy_rate"]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    body = ""
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "-")
            if isinstance(v, float):
                v = f"{v:,.0f}" if c == "rows_per_s_1m" else f"{v:.1f}" if c.endswith(("_s", "_mb")) else f"{v}"
            cells.append(str(v))
        body += "| " + " | ".join(cells) + " |\n"
    cores = "1 core (taskset -c 0, OMP_NUM_THREADS=1)" if a.single_core else f"{os.cpu_count()} cores"
    text = (f"Measured {dt.date.today().isoformat()} on {platform.node() or 'this machine'} "
            f"({platform.processor() or platform.machine()}, {cores}, Python {platform.python_version()}).\n"
            f"Command: `.venv/bin/python benchmarks/bench_single_table.py{' --single-core' if a.single_core else ''}`"
            f" (judge 1.2.0 figures; fit/sample seconds are timers inside the process; rows_per_s_1m is a "
            f"separate process loading the model and sampling 1M rows in memory, re-measured on the 'sampled' date "
            f"with `--resample-only` when only sampling changed; RSS in MB).\n\n" + head + body)
    if big:
        text += "\n10M rows from the adult model, streamed by `datatwin sample` (chunks of 100k):\n\n"
        text += "| format | wall s | peak RSS MB | file MB |\n|---|---|---|---|\n"
        for suffix, wall, rss, size in big:
            text += f"| {suffix} | {wall:.1f} | {rss:.0f} | {size:.0f} |\n"
    return text


if __name__ == "__main__":
    main()
