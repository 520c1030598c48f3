"""Agreement of datatwin.evaluate with the judge (SDMetrics 0.32 + LightGBM detection), and its speed.

For adult, credit_default and california_housing: split with the judge (seed 0), then score two
synthetic tables with both the judge and datatwin.evaluate:

* independent marginals: each column drawn on its own from the training data (seed 0), the
  judge's floor;
* the holdout as synthetic: the judge's ceiling (both sides split the holdout 50/50 with seed 99).

It prints a table of column shapes, pair trends (SDMetrics' thresholds and all pairs) and detection
AUC from both, checks the targets (shapes and pair trends within 0.01, detection within 0.02),
times evaluate on adult (26,049 train vs 26,049 synthetic rows, holdout 6,512, target income) on
both cores and pinned to one, measures a 1M-row synthetic frame's time and peak memory, and writes
the table into BENCHMARKS.md between the evaluation markers.

    .venv/bin/python benchmarks/bench_evaluation.py [--judge-python .judge/venv/bin/python]

The judge venv comes from ../shared/bench/setup.sh (see ANCHORS.md); it is only used here, as the
yardstick, never by datatwin itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DATATWIN_SHARED", ROOT.parent / "shared"))
JUDGE = SHARED / "bench" / "judge.py"
DATASETS = {"adult": "income", "credit_default": "default_payment_next_month",
            "california_housing": "median_house_value"}
TARGETS = {"column_shapes": 0.01, "pair_trends": 0.01, "pair_trends_all_pairs": 0.01, "detection_auc": 0.02}
MARK_START, MARK_END = "<!-- evaluation:start -->", "<!-- evaluation:end -->"
PIN = ["taskset", "-c", "0", "env", "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1"]


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)


def marginals(train: Path, out: Path, seed: int = 0) -> None:
    """The judge's independent-marginals floor (ANCHORS.md, 'Check that your setup matches')."""
    df = read_csv(train)
    rng = np.random.default_rng(seed)
    cols = {}
    for c in df.columns:
        vc = df[c].value_counts(dropna=False)
        cols[c] = vc.index.to_numpy()[rng.choice(len(vc), size=len(df), p=(vc / vc.sum()).to_numpy())]
    syn = pd.DataFrame(cols)
    for c in df.columns:
        if str(df[c].dtype).startswith("int"):
            syn[c] = syn[c].astype(df[c].dtype)
    syn.to_csv(out, index=False)


def judge_score(jpy: str, train: Path, holdout: Path, syn: Path, target: str, out: Path) -> dict:
    env = dict(os.environ, JUDGE_N_JOBS="1")  # the judge's figures do not depend on the core count
    cmd = [jpy, str(JUDGE), "score", "--train", str(train), "--holdout", str(holdout), "--synthetic", str(syn),
           "--target", target, "--out", str(out), "--n-jobs", "1"]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads(out.read_text())


def ours(train: pd.DataFrame, holdout: pd.DataFrame, syn: pd.DataFrame, target: str) -> tuple[dict, float]:
    from datatwin.evaluation import evaluate

    t = time.perf_counter()
    res = evaluate(train, syn, holdout=holdout, target=target)
    return res.to_dict(), time.perf_counter() - t


def timing_run(train: Path, holdout: Path, syn: Path, target: str, pinned: bool) -> float:
    code = ("import sys, time, pandas as pd; from datatwin.evaluation import evaluate\n"
            "rd = lambda p: pd.read_csv(p, keep_default_na=False, na_values=[''], low_memory=False)\n"
            "tr, ho, sy = rd(sys.argv[1]), rd(sys.argv[2]), rd(sys.argv[3])\n"
            "t = time.perf_counter(); evaluate(tr, sy, holdout=ho, target=sys.argv[4])\n"
            "print(f'{time.perf_counter() - t:.3f}')\n")
    cmd = (PIN if pinned else []) + [sys.executable, "-c", code, str(train), str(holdout), str(syn), target]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def memory_run(train: Path, holdout: Path, target: str, rows: int = 1_000_000) -> dict:
    code = ("import sys, time, resource, numpy as np, pandas as pd\n"
            "rd = lambda p: pd.read_csv(p, keep_default_na=False, na_values=[''], low_memory=False)\n"
            "tr, ho = rd(sys.argv[1]), rd(sys.argv[2])\n"
            "rng = np.random.default_rng(0); n = int(sys.argv[4])\n"
            "sy = pd.DataFrame({c: tr[c].to_numpy()[rng.integers(0, len(tr), n)] for c in tr.columns})\n"
            "sy = sy.astype(tr.dtypes.to_dict())\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
            "from datatwin.evaluation import evaluate\n"
            "t = time.perf_counter(); r = evaluate(tr, sy, holdout=ho, target=sys.argv[3])\n"
            "s = time.perf_counter() - t\n"
            "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
            "print(f'{s:.2f} {before:.0f} {peak:.0f} {r.summary[\"rows_used\"][\"synthetic\"]}')\n")
    out = subprocess.run([sys.executable, "-c", code, str(train), str(holdout), target, str(rows)], check=True,
                         capture_output=True, text=True).stdout.split()
    return {"rows": rows, "seconds": float(out[0]), "rss_before_mb": float(out[1]), "peak_rss_mb": float(out[2]),
            "rows_used": int(out[3])}


def figures(j: dict, o: dict) -> dict[str, tuple[float, float]]:
    q = j["quality"]
    s = o["summary"]
    return {
        "column_shapes": (q["column_shapes"], s["column_shapes"]),
        "pair_trends": (q["column_pair_trends"], s["pair_trends"]),
        "pair_trends_all_pairs": (q["all_pairs_variant"]["column_pair_trends"], s["pair_trends_all_pairs"]),
        "detection_auc": (j["detection"]["auc"], s["detection_auc"]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--judge-python", default=str(ROOT / ".judge" / "venv" / "bin" / "python"))
    ap.add_argument("--work", default=str(ROOT / "bench_out" / "evaluation"))
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    ap.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    ap.add_argument("--skip-memory", action="store_true", help="skip the 1M-row run")
    a = ap.parse_args(argv)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    if not Path(a.judge_python).exists():
        sys.exit(f"no judge venv at {a.judge_python}; make it with: bash {SHARED}/bench/setup.sh .judge/venv")

    rows = []
    for name in a.datasets:
        target = DATASETS[name]
        subprocess.run([a.judge_python, str(JUDGE), "split", "--real", str(SHARED / "datasets" / f"{name}.csv"),
                        "--seed", "0", "--out-dir", str(work), "--name", name], check=True, stdout=subprocess.DEVNULL)
        train_p, hold_p = work / f"{name}_train.csv", work / f"{name}_holdout.csv"
        marg_p = work / f"{name}_independent_marginals.csv"
        marginals(train_p, marg_p)
        train, hold = read_csv(train_p), read_csv(hold_p)
        for label, syn_p in (("independent marginals", marg_p), ("holdout as synthetic", hold_p)):
            print(f"[bench] {name}: {label} ...", file=sys.stderr, flush=True)
            j = judge_score(a.judge_python, train_p, hold_p, syn_p, target, work / f"{name}_{label[:4]}_judge.json")
            syn = hold.copy() if syn_p == hold_p else read_csv(syn_p)  # equal frames: split 50/50 like the judge
            o, secs = ours(train, hold, syn, target)
            rows.append({"dataset": name, "synthetic": label, "seconds": secs, "figures": figures(j, o),
                         "pairs": (j["quality"]["pairs_counted"], o["summary"]["pairs_counted"])})

    ok = True
    lines = ["| dataset | scored as synthetic | column shapes: judge / ours (Δ) | pair trends (pairs) | "
             "pair trends, all pairs | detection AUC | evaluate s |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = []
        for key in ("column_shapes", "pair_trends", "pair_trends_all_pairs", "detection_auc"):
            jv, ov = r["figures"][key]
            d = ov - jv
            ok &= abs(d) <= TARGETS[key]
            extra = f" ({r['pairs'][0]}/{r['pairs'][1]})" if key == "pair_trends" else ""
            cells.append(f"{jv:.4f} / {ov:.4f} ({d:+.4f}){extra}")
        lines.append(f"| {r['dataset']} | {r['synthetic']} | " + " | ".join(cells) + f" | {r['seconds']:.1f} |")
    worst = {k: max(abs(r["figures"][k][1] - r["figures"][k][0]) for r in rows) for k in TARGETS}

    timing = {}
    if "adult" in a.datasets:
        args = (work / "adult_train.csv", work / "adult_holdout.csv", work / "adult_independent_marginals.csv",
                "income")
        timing["two_cores"] = timing_run(*args, pinned=False)
        timing["one_core"] = timing_run(*args, pinned=True)
        if not a.skip_memory:
            timing["memory"] = memory_run(work / "adult_train.csv", work / "adult_holdout.csv", "income")

    table = "\n".join(lines)
    print(table)
    print("largest |Δ|: " + ", ".join(f"{k} {v:.1e} (target {TARGETS[k]})" for k, v in worst.items()))
    print("targets met" if ok else "TARGETS MISSED")
    if timing:
        print(json.dumps(timing))
    if not a.no_write:
        write_section(table, worst, ok, timing)
    return 0 if ok else 1


def write_section(table: str, worst: dict, ok: bool, timing: dict) -> None:
    import sklearn

    cpu = os.cpu_count()
    body = [
        MARK_START,
        "## Evaluation: agreement with the judge (SDMetrics 0.32) and speed",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on this machine ({cpu} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, scikit-learn {sklearn.__version__}; judge 1.2.0 in its own venv with SDMetrics "
        f"0.32.0; load average {os.getloadavg()[0]:.1f} from other work on the machine during the run). "
        "Command: `.venv/bin/python benchmarks/bench_evaluation.py`.",
        "",
        "Seed-0 judge splits; two synthetic tables per dataset: independent marginals (seed 0; the judge's floor) and "
        "the real holdout itself (both sides then split it 50/50 with seed 99; the ceiling). Each cell gives the "
        "judge's figure, ours, and ours minus the judge's. Targets: column shapes and pair trends within ±0.01, "
        "detection AUC within ±0.02.",
        "",
        table,
        "",
        "Largest differences: " + ", ".join(f"{k.replace('_', ' ')} {v:.1e}" for k, v in worst.items())
        + (" — **all targets met**." if ok else " — **targets missed**."),
    ]
    if timing:
        body += ["", "Time to evaluate adult (26,049 train vs 26,049 independent-marginals rows, holdout 6,512, "
                 "target income; everything: fidelity, detection, TSTR/TRTR, insights, privacy): "
                 f"**{timing['two_cores']:.1f} s** on both cores, {timing['one_core']:.1f} s pinned to one core "
                 "(`taskset -c 0`, one BLAS/OpenMP thread). Target: ≤ 30 s."]
        m = timing.get("memory")
        if m:
            body += ["", f"A {m['rows']:,}-row synthetic frame (adult columns) is evaluated on a seeded "
                     f"{m['rows_used']:,}-row subsample (exact copies on all rows) in {m['seconds']:.1f} s; the "
                     f"process peaks at {m['peak_rss_mb']:,.0f} MB RSS ({m['rss_before_mb']:,.0f} MB before "
                     "evaluate, with the 1M-row frame and the imports). Target: < 2 GB."]
    body.append(MARK_END)
    section = "\n".join(body)
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pat = re.compile(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), re.S)
    text = pat.sub(lambda _m: section, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
