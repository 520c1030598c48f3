"""Broad benchmark (issue #17): datatwin with default settings on 27 real tables nobody tuned for.

For each table (see `_broad_tables.py`): write it to CSV, the judge's seed-0 split, fit datatwin
(default settings, random_state=0) on train and sample as many rows as train in a child process
timed by `judge.py time`, score the rows against the holdout with `judge.py score`, and score the
holdout itself as the ceiling (`--holdout-as-synthetic`). Each table's row is cached in
`<work>/broad/results/<table>.json`, so a rerun skips finished tables (unless `--force`); one table
that fails or runs past `--timeout` is recorded as failed with its error and the run goes on.
The summary (one page) is printed and written between the `broad` markers of BENCHMARKS.md.

usage: python benchmarks/bench_broad.py [--tables a,b,c] [--force] [--timeout 1200]
           [--max-training-time S] [--single-core] [--work .judge] [--shared ../shared]
           [--render-only] [--no-write]
       python benchmarks/bench_broad.py --list
Run from the repository root with datatwin importable (PYTHONPATH=src or an installed venv).
Needs the judge's venv (bash ../shared/bench/setup.sh .judge/venv), GNU time and statsmodels.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, _broad_tables

PIN = ["taskset", "-c", "0", "env", "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1"]
RARE = "_RARE_"
# The targets.
DET_GAP, DET_MAX, DCR_MAX, DCR_MIN_TRAIN = 0.10, 0.85, 0.53, 200


# --- the child: fit + sample one table (run under `judge.py time`) -------------------------------

def fit_child(train: str, out: str, n: int, seed: int, max_training_time: float | None) -> int:
    """Fit on TRAIN with default settings and write N rows to OUT; print `BENCH` lines.

    Reads and writes with datatwin's own table functions, as `datatwin synth` does, so the kinds
    come from the product's reading of the file (leading zeros, date strings) and not pandas'.
    """
    try:
        import datatwin
        from datatwin.io import read_table, write_table

        df = read_table(train)
        kw: dict[str, Any] = {} if max_training_time is None else {"max_training_time": max_training_time}
        t = time.perf_counter()
        model = datatwin.Synthesizer(random_state=seed, **kw).fit(df)
        print(f"BENCH fit_seconds={time.perf_counter() - t:.4f}", flush=True)
        epochs = getattr(getattr(model, "engine_", None), "epochs_", None)
        if epochs is not None:
            print(f"BENCH epochs={epochs}", flush=True)
        t = time.perf_counter()
        syn = model.sample(n, seed=seed)
        print(f"BENCH sample_seconds={time.perf_counter() - t:.4f}\nBENCH sample_rows={len(syn)}", flush=True)
        write_table(syn, out)
    except Exception as exc:  # reported to the parent as one line; the traceback goes to stderr
        import traceback

        traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"BENCH_ERROR {type(exc).__name__}: {first}", flush=True)
        return 1
    return 0


# --- the parent ----------------------------------------------------------------------------------

def run_limited(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run cmd in its own process group; on timeout kill the whole group (judge -> time -> python)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         env=env)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return -9, out, err + f"\ntimed out after {timeout:.0f} s"
    return p.returncode, out, err


def first_error(out: str, err: str) -> str:
    for line in out.splitlines():
        if line.startswith("BENCH_ERROR "):
            return line[len("BENCH_ERROR "):]
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return lines[-1].strip()[:300] if lines else "unknown error"


def output_checks(train_csv: Path, syn_csv: Path) -> list[str]:
    """The issue's checks: columns that came out all `_RARE_`, or constant where train was not,
    or missing from the output."""
    import pandas as pd

    tr = pd.read_csv(train_csv, dtype=str, keep_default_na=False)
    sy = pd.read_csv(syn_csv, dtype=str, keep_default_na=False)
    found = []
    for c in tr.columns:
        if c not in sy.columns:
            found.append(f"{c}: missing")
            continue
        s = sy[c]
        if len(s) and (s[s != ""] == RARE).all() and (s != "").any() and not (tr[c] == RARE).all():
            found.append(f"{c}: all {RARE}")
        elif s.nunique() <= 1 < tr[c].nunique():
            found.append(f"{c}: constant")
        elif _zero_padded(tr[c]):
            # Codes such as postal codes: digits with leading zeros must keep their width.
            v = s[s != ""]
            bad = int((v.str.len() != tr[c][tr[c] != ""].str.len().iloc[0]).sum())
            if bad:
                found.append(f"{c}: {bad} of {len(v)} lost their leading zeros / width")
        elif _repeated_text(tr[c]):
            # A repeated text column (place, company, product) is a category: values the training
            # rows never had mean it was taken for PII and faked.
            v = s[s != ""]
            new = float((~v.isin(set(tr[c]))).mean()) if len(v) else 0.0
            if new > 0.5:
                found.append(f"{c}: {new:.0%} of values not in train (faked?)")
        elif _all_dates(tr[c]):
            # Written back as dates at all? (A date column learned as text can come out as
            # strings shaped like dates, e.g. '3081-55-29T04:60:18Z'.)
            v = s[s != ""]
            bad = int(pd.to_datetime(v, errors="coerce", utc=True, format="mixed").isna().sum())
            if bad:
                found.append(f"{c}: {bad} of {len(v)} not valid dates")
    return found


def _zero_padded(col: Any) -> bool:
    v = col[col != ""]
    return bool(len(v) and v.str.fullmatch(r"\d+").all() and v.str.len().nunique() == 1 and v.str.startswith("0").any())


def _repeated_text(col: Any) -> bool:
    import pandas as pd

    v = col[col != ""]
    return bool(len(v) >= 50 and pd.to_numeric(v, errors="coerce").isna().all() and v.nunique() <= len(v) / 3)


def _all_dates(col: Any) -> bool:
    import pandas as pd

    v = col[col != ""]
    if v.empty or pd.to_numeric(v, errors="coerce").notna().all():  # numbers (epochs too) are not checked
        return False
    return bool(pd.to_datetime(v, errors="coerce", utc=True, format="mixed").notna().all())


TZ_SUFFIX = r"(?:Z|[+-]\d{2}:?\d{2})$"


def judge_view(paths: list[Path], ref: Path) -> tuple[list[Path], dict[str, int]]:
    """Copies of the CSVs that the judge can read: it fails on timestamps that carry a UTC offset
    ('Cannot subtract tz-naive and tz-aware'), so every column of `ref` (train) whose values all
    end in an offset or 'Z' is rewritten as naive UTC in all files alike. datatwin still learns
    and writes the original form; only the scoring sees UTC. Synthetic cells that are no dates
    become empty and are counted (the `_RARE_` check reports them on the raw output)."""
    import pandas as pd

    tr = pd.read_csv(ref, dtype=str, keep_default_na=False)
    cols = [c for c in tr.columns if (v := tr[c][tr[c] != ""]).size and v.str.contains(TZ_SUFFIX).all()]
    if not cols:
        return paths, {}
    out, lost = [], {}
    for p in paths:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
        for c in cols:
            if c in df.columns:
                ts = pd.to_datetime(df[c].where(df[c] != ""), utc=True, errors="coerce", format="ISO8601")
                bad = int((ts.isna() & (df[c] != "")).sum())
                if bad:
                    lost[f"{p.stem}:{c}"] = bad
                df[c] = ts.dt.tz_localize(None).dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
        q = p.with_name(p.stem + "_judgeview.csv")
        df.to_csv(q, index=False)
        out.append(q)
    return out, lost


def score(jpy: Path, judge: Path, train: Path, hold: Path, syn: Path, target: str | None, out: Path,
          label: str, ceiling: bool, timeout: float, pin: list[str]) -> dict[str, Any]:
    cmd = pin + [str(jpy), str(judge), "score", "--train", str(train), "--holdout", str(hold), "--synthetic",
                 str(syn), "--label", label, "--out", str(out)]
    if target:
        cmd += ["--target", target]
    if ceiling:
        cmd += ["--holdout-as-synthetic"]
    # One judge job: the machine is shared, and the scores do not depend on the job count.
    rc, so, se = run_limited(cmd, timeout, env={**os.environ, "JUDGE_N_JOBS": "1"})
    if rc != 0:
        raise RuntimeError(f"judge score{' (ceiling)' if ceiling else ''}: {first_error(so, se)}")
    return json.loads(out.read_text())["summary"]


def split(df: Any, train: Path, hold: Path, seed: int = 0, train_frac: float = 0.8) -> None:
    """The judge's split (`judge.py split`: the same rows, in the same order), written from the
    table itself. The judge re-reads the CSV with inferred types before it writes train/holdout,
    which turns postal codes such as '01626' into 1626 before datatwin ever sees them."""
    import numpy as np

    idx = np.random.default_rng(seed).permutation(len(df))
    n_train = int(round(len(df) * train_frac))
    df.iloc[np.sort(idx[:n_train])].to_csv(train, index=False)
    df.iloc[np.sort(idx[n_train:])].to_csv(hold, index=False)


def run_table(t: Any, a: argparse.Namespace, dirs: dict[str, Path], jpy: Path, judge: Path) -> dict[str, Any]:
    name, pin = t.name, (PIN if a.single_core else [])
    row: dict[str, Any] = {"table": name, "target": t.target, "source": t.source, "shows": t.shows,
                           "measured": dt.datetime.now().isoformat(timespec="minutes"),
                           "load_before": round(os.getloadavg()[0], 2)}
    try:
        df = t.build()
        row.update(rows=len(df), columns=df.shape[1])
        csv = dirs["data"] / f"{name}.csv"
        df.to_csv(csv, index=False)  # missing values become empty cells, as the judge reads them
        train, hold = dirs["data"] / f"{name}_train.csv", dirs["data"] / f"{name}_holdout.csv"
        split(df, train, hold)
        with open(train, encoding="utf-8") as f:
            n = sum(1 for _ in f) - 1
        with open(hold, encoding="utf-8") as f:
            row.update(train_rows=n, holdout_rows=sum(1 for _ in f) - 1)
        # The ceiling does not depend on datatwin: score it first, so that it is there even when
        # the fit fails.
        jtrain, jhold = judge_view([train, hold], train)[0]
        ceil_json = dirs["out"] / f"{name}_ceiling.json"
        try:
            row["ceiling"] = score(jpy, judge, jtrain, jhold, jhold, t.target, ceil_json, "holdout_as_synthetic",
                                   True, 900, pin)
        except RuntimeError as exc:  # the judge's own trouble with this table: note it, still fit
            row["ceiling_error"] = str(exc).splitlines()[0][:300]
        syn, timing = dirs["out"] / f"{name}_datatwin.csv", dirs["out"] / f"{name}_time.json"
        syn.unlink(missing_ok=True)
        child = [sys.executable, str(Path(__file__).resolve()), "--fit-child", str(train), str(syn), str(n), "0"]
        if a.max_training_time is not None:
            child += ["--max-training-time", str(a.max_training_time)]
        rc, so, se = run_limited(pin + [str(jpy), str(judge), "time", "--out", str(timing), "--log",
                                        str(dirs["logs"] / f"{name}_fit.log"), "--"] + child, a.timeout)
        tj = json.loads(timing.read_text()) if timing.exists() and rc != -9 else {}
        bench = tj.get("bench", {})
        row.update(fit_s=bench.get("fit_seconds"), sample_s=bench.get("sample_seconds"), epochs=bench.get("epochs"),
                   wall_s=tj.get("wall_seconds"), cpu_s=tj.get("cpu_seconds_best"), rss_mb=tj.get("peak_rss_mb_best"))
        log = dirs["logs"] / f"{name}_fit.log"
        log_text = log.read_text(errors="replace") if log.exists() else ""
        if rc == -9:
            raise RuntimeError(f"fit+sample timed out after {a.timeout:.0f} s")
        if rc != 0 or tj.get("returncode", 0) != 0 or not syn.exists():
            raise RuntimeError(f"fit/sample: {first_error(so + log_text, se + log_text)}")
        row["checks"] = output_checks(train, syn)
        (jtrain, jhold, jsyn), lost = judge_view([train, hold, syn], train)
        if lost:
            row["judge_view_lost"] = lost
        row["synthetic"] = score(jpy, judge, jtrain, jhold, jsyn, t.target, dirs["out"] / f"{name}_score.json",
                                 "datatwin", False, 900, pin)
        row["status"] = "ok"
    except Exception as exc:
        row["status"] = "failed"
        row["error"] = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    row["load_after"] = round(os.getloadavg()[0], 2)
    return row


# --- the summary ---------------------------------------------------------------------------------

def _f(v: Any, nd: int = 3) -> str:
    return "–" if v is None else f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _tstr(s: dict[str, Any] | None) -> tuple[str, float | None]:
    """The TSTR figure and its delta vs TRTR: AUC for classification, R² for regression."""
    if not s:
        return "–", None
    for k, lab in (("auc", "AUC"), ("r2", "R²")):
        if f"tstr_{k}" in s:
            return f"{lab} {s[f'tstr_{k}']:.3f}", s.get(f"delta_{k}")
    return "–", None


def render(rows: list[dict[str, Any]], names: list[str], a: argparse.Namespace, cmd: str,
           load: tuple[float, float]) -> str:
    by = {r["table"]: r for r in rows}
    head = ("| table | rows × cols (train) | quality (ceiling) | detection (ceiling) | TSTR (Δ vs TRTR; ceiling Δ) "
            "| DCR share (ceiling) | copies (holdout) | fit s | sample s | status |\n|" + "---|" * 10 + "\n")
    body, det, ceil_det, faults = "", [], [], []
    for name in names:
        r = by.get(name)
        if r is None:
            body += f"| {name} | – | – | – | – | – | – | – | – | not run (time) |\n"
            continue
        s, c = r.get("synthetic") or {}, r.get("ceiling") or {}
        shape = f"{r.get('rows', '–')} × {r.get('columns', '–')} ({r.get('train_rows', '–')})"
        tl, td = _tstr(s)
        _, cd = _tstr(c)
        tstr = "–" if tl == "–" else f"{tl} ({_f(td)}; {_f(cd)})"
        status = r["status"] if r["status"] == "ok" else f"**failed**: {r.get('error', '')}"
        if r.get("checks"):
            status += "; **" + "; ".join(r["checks"]) + "**"
        miss = []
        d, cdet = s.get("detection_auc"), c.get("detection_auc")
        if d is not None and cdet is not None:
            det.append(d)
            ceil_det.append(cdet)
            if d > DET_MAX:
                miss.append(f"detection {d:.3f} > {DET_MAX} (ceiling {cdet:.3f})")
        dcr = s.get("dcr_share")
        if dcr is not None and (r.get("train_rows") or 0) >= DCR_MIN_TRAIN and dcr > DCR_MAX:
            miss.append(f"DCR {dcr:.4f} > {DCR_MAX} (ceiling {_f(c.get('dcr_share'))})")
        cp, base = s.get("exact_copy_rate"), s.get("exact_copy_rate_holdout_baseline")
        if cp is not None and base is not None and cp > base:
            miss.append(f"copies {cp:.2%} > holdout {base:.2%}")
        if r.get("checks"):
            miss.append("output: " + "; ".join(r["checks"]))
        if r["status"] != "ok":
            miss.append(f"failed: {r.get('error', '')}")
        if miss:
            faults.append(f"- **{name}**: " + "; ".join(miss))
        copies = "–" if cp is None else f"{cp:.2%} ({base:.2%})"
        body += (f"| {name} | {shape} | {_f(s.get('quality'))} ({_f(c.get('quality'))}) | {_f(d)} ({_f(cdet)}) | "
                 f"{tstr} | {_f(dcr)} ({_f(c.get('dcr_share'))}) | "
                 f"{copies} | {_f(r.get('fit_s'), 1)} | {_f(r.get('sample_s'), 2)} | {status} |\n")
    ok = [r for r in rows if r["status"] == "ok" and r["table"] in names]
    failed = [r for r in rows if r["status"] != "ok" and r["table"] in names]
    not_run = [n for n in names if n not in by]

    def mark(good: bool) -> str:
        return "**met**" if good else "**missed**"

    med_d = statistics.median(det) if det else None
    med_c = statistics.median(ceil_det) if ceil_det else None
    big = [r for r in ok if (r.get("train_rows") or 0) >= DCR_MIN_TRAIN]
    dcr_bad = [r["table"] for r in big if r["synthetic"].get("dcr_share", 0) > DCR_MAX]
    cp_bad = [r["table"] for r in ok if r["synthetic"].get("exact_copy_rate", 0)
              > r["synthetic"].get("exact_copy_rate_holdout_baseline", 1)]
    det_bad = [r["table"] for r in ok if r["synthetic"].get("detection_auc", 0) > DET_MAX]
    chk_bad = [r["table"] for r in ok if r.get("checks")]
    targets = [
        f"- Every table synthesizes without error: {mark(not failed)} ({len(ok)} ok, {len(failed)} failed"
        f"{', ' + str(len(not_run)) + ' not run' if not_run else ''}).",
        f"- No output column all `{RARE}` or constant where the input was not: {mark(not chk_bad)}"
        f"{' (' + ', '.join(chk_bad) + ')' if chk_bad else ''}.",
        f"- Median detection within {DET_GAP} of the median ceiling: "
        + ("– (nothing scored)" if med_d is None else
           f"{mark(med_d - med_c <= DET_GAP)} (median {med_d:.3f} vs ceiling {med_c:.3f}, gap {med_d - med_c:+.3f})."),
        f"- No table above {DET_MAX} detection: {mark(not det_bad)}"
        f"{' (' + ', '.join(det_bad) + ')' if det_bad else ''}.",
        f"- DCR share ≤ {DCR_MAX} on tables with ≥ {DCR_MIN_TRAIN} train rows: {mark(not dcr_bad)} "
        f"({len(big) - len(dcr_bad)} of {len(big)} within{'; over: ' + ', '.join(dcr_bad) if dcr_bad else ''}).",
        f"- Exact copies no higher than the holdout's own rate: {mark(not cp_bad)}"
        f"{' (' + ', '.join(cp_bad) + ')' if cp_bad else ''}.",
    ]
    dates = sorted(r["measured"][:10] for r in rows if r["table"] in names)
    when = (dates[0] if dates and dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}") if dates else "–"
    loads = [(r.get("load_before"), r.get("load_after")) for r in rows if r["table"] in names]
    lo = [x for pair in loads for x in pair if x is not None]
    mtt = "the product's default" if a.max_training_time is None else f"{a.max_training_time:g} s"
    text = (
        f"Measured {when} on {platform.node() or 'this machine'} ({platform.machine()}, 2-core VM shared with other "
        f"work, Python {platform.python_version()}); 1-min load average per table {min(lo):.1f}–{max(lo):.1f} "
        f"(this render: {load[0]:.1f} before, {load[1]:.1f} after)." if lo else
        f"Measured {when} on {platform.node() or 'this machine'} (2-core VM)."
    )
    text += (
        f"\nCommand: `PYTHONPATH=src .venv/bin/python {cmd}` (default settings, `random_state=0`, max training time: "
        f"{mtt}; {'pinned to one core' if a.single_core else 'all cores'}; judge 1.2.0, seed-0 split, judge seed 0). "
        f"Tables: `python benchmarks/bench_broad.py --list` (sources in `benchmarks/_broad_tables.py`). "
        f"Ceiling = the real holdout scored as synthetic (split 50/50, as ANCHORS.md defines it). "
        f"TSTR is AUC for a categorical target and R² for a numeric one; Δ is TSTR − TRTR, with the ceiling's Δ "
        f"after the semicolon. Copies: exact-copy rate of the synthetic rows (the holdout's own rate). "
        f"fit s / sample s: timers inside the child process.\n\n"
        "Targets (issue #17):\n" + "\n".join(targets) + "\n\n" + head + body
    )
    if faults:
        text += "\nMisses per table:\n" + "\n".join(faults) + "\n"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the tables (name, shape, target, source) and exit")
    ap.add_argument("--tables", default=None, help="comma-separated table names (default: all)")
    ap.add_argument("--force", action="store_true", help="re-run tables that have a cached result")
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds for one table's fit+sample")
    ap.add_argument("--max-training-time", type=float, default=None, help="passed to Synthesizer (default: "
                    "the product's default)")
    ap.add_argument("--single-core", action="store_true", help="pin fit and scoring to one core")
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--work", default=str(ROOT / ".judge"))
    ap.add_argument("--render-only", action="store_true", help="rewrite the summary from cached rows; run nothing")
    ap.add_argument("--recheck", action="store_true", help="redo the output checks of cached tables")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    ap.add_argument("--fit-child", nargs=4, metavar=("TRAIN", "OUT", "N", "SEED"), help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.fit_child:
        tr, out, n, seed = a.fit_child
        sys.exit(fit_child(tr, out, int(n), int(seed), a.max_training_time))

    from _broad_tables import TABLES

    if a.list:
        print(f"{'table':18s} {'rows':>6s} {'cols':>4s}  {'target':15s} source")
        for t in TABLES:
            df = t.build()
            print(f"{t.name:18s} {len(df):6d} {df.shape[1]:4d}  {t.target or '-':15s} {t.source}"
                  f"{'  [' + t.shows + ']' if t.shows else ''}")
        return
    names = [t.name for t in TABLES]
    chosen = names if a.tables is None else a.tables.split(",")
    unknown = [c for c in chosen if c not in names]
    if unknown:
        sys.exit(f"unknown tables {unknown}; see --list")
    shared, work = Path(a.shared), Path(a.work)
    judge, jpy = shared / "bench" / "judge.py", work / "venv" / "bin" / "python"
    if not jpy.exists():
        sys.exit(f"no judge venv at {jpy}: run bash {shared}/bench/setup.sh {work}/venv (or pass --work)")
    dirs = {k: work / "broad" / k for k in ("data", "out", "results", "logs")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    by_name = {t.name: t for t in TABLES}
    for t in ([] if a.render_only else [by_name[c] for c in chosen]):  # in the order asked for
        res = dirs["results"] / f"{t.name}.json"
        if res.exists() and not a.force:
            print(f"{t.name}: cached ({res})", flush=True)
            continue
        start = time.perf_counter()
        print(f"{t.name}: running (load {os.getloadavg()[0]:.1f})", flush=True)
        row = run_table(t, a, dirs, jpy, judge)
        res.write_text(json.dumps(row, indent=1))
        s = row.get("synthetic") or {}
        print(f"{t.name}: {row['status']} {row.get('error', '')} detection={s.get('detection_auc')} "
              f"ceiling={(row.get('ceiling') or {}).get('detection_auc')} dcr={s.get('dcr_share')} "
              f"checks={row.get('checks')} ({time.perf_counter() - start:.0f} s)", flush=True)
    rows = [json.loads(p.read_text()) for p in sorted(dirs["results"].glob("*.json"))]
    if a.recheck:  # re-run the output checks on the stored files of cached tables
        for r in rows:
            syn = dirs["out"] / f"{r['table']}_datatwin.csv"
            if r["status"] == "ok" and syn.exists():
                r["checks"] = output_checks(dirs["data"] / f"{r['table']}_train.csv", syn)
                (dirs["results"] / f"{r['table']}.json").write_text(json.dumps(r, indent=1))
    # The summary always covers every table: those without a cached row show as not run.
    cmd = "benchmarks/bench_broad.py" + "".join(
        f" {k} {v}" for k, v in (("--max-training-time", a.max_training_time),) if v is not None)
    text = render(rows, names, a, cmd, (load0, os.getloadavg()[0]))
    print(text)
    if not a.no_write:
        from _common import write_section

        write_section("broad", text, "## Broad benchmark: 27 tables nobody tuned for (issue #17)")


if __name__ == "__main__":
    main()
