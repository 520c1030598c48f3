"""Differential privacy on adult: all-3-way-marginal TVD, the judge's figures, fit time, beside peers.

adult (../shared/datasets/adult.csv) is split in two seeded halves: A trains, B is the holdout
(the judge's TSTR and detection) and "one real half against the other" (the floor of the TVD
from sampling alone). The TVD metric of the DP papers: numbers cut into 16 quantile bins of A,
categories as they are (a public domain for evaluation only); mean total-variation distance over
all k-way marginals with at most 10,000 cells, k = 1, 2, 3.

datatwin runs at each epsilon with delta 1e-5, once with the public domain declared in the
metadata (category lists, min/max: what MST and AIM are given) and once with nothing declared
(value protection spends its share of epsilon). Peers (private-pgm's MST and AIM) run in their
own venv on the discretized A written here (``A_disc.csv``, ``A_domain.json``); their synthetic
code files are scored with ``--peer NAME=FILE``.

    .venv/bin/python benchmarks/bench_privacy.py [--eps 0.1,1,10] [--judge] [--argn]
        [--peer mst_1=/tmp/pgm/mst_e1.csv ...] [--write] [--work .judge]

``--judge`` adds the judge's quality, detection and TSTR (needs bash ../shared/bench/setup.sh
.judge/venv); ``--argn`` adds DP-SGD ARGN at epsilon 10 and the non-private ARGN.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import datatwin  # noqa: E402

BINS = 16
MAX_CELLS = 10_000


def discretizer(real: pd.DataFrame) -> dict[str, tuple[str, object]]:
    spec: dict[str, tuple[str, object]] = {}
    for c in real.columns:
        if pd.api.types.is_numeric_dtype(real[c]) and real[c].nunique() > BINS:
            spec[c] = ("num", np.unique(np.quantile(real[c].dropna(), np.linspace(0, 1, BINS + 1))))
        else:
            # Numbered in order of first appearance in A: the codes the peers were given.
            spec[c] = ("cat", {k: i for i, k in enumerate(_text(real[c]).unique())})
    return spec


NA = "\x00missing"


def _text(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), NA).astype(str)


def discretize(df: pd.DataFrame, spec: dict[str, tuple[str, object]]) -> pd.DataFrame:
    out = {}
    for c, (kind, how) in spec.items():
        if kind == "num":
            edges = np.asarray(how)
            v = pd.to_numeric(df[c], errors="coerce").to_numpy(float)
            out[c] = np.clip(np.searchsorted(edges[1:-1], np.nan_to_num(v, nan=edges[0]), side="right"), 0,
                             len(edges) - 2)
        else:
            cats = dict(how)  # type: ignore[arg-type]
            out[c] = _text(df[c]).map(cats).fillna(len(cats)).astype(int).to_numpy()
    return pd.DataFrame(out)


def undiscretize(codes: pd.DataFrame, spec: dict[str, tuple[str, object]], real: pd.DataFrame,
                 rng: np.random.Generator) -> pd.DataFrame:
    """Peer output (codes) back to values, for the judge: a number uniform in its bin."""
    out = {}
    for c, (kind, how) in spec.items():
        k = codes[c].to_numpy().astype(int)
        if kind == "num":
            e = np.asarray(how)
            k = np.clip(k, 0, len(e) - 2)
            v = e[k] + rng.random(len(k)) * (e[k + 1] - e[k])
            out[c] = np.round(v).astype(np.int64) if pd.api.types.is_integer_dtype(real[c]) else v
        else:
            inv = {i: v for v, i in dict(how).items()}  # type: ignore[arg-type]
            out[c] = [None if inv.get(int(i)) == NA else inv.get(int(i)) for i in k]
    return pd.DataFrame(out)


def tvd(a: pd.DataFrame, b: pd.DataFrame, k: int, sizes: dict[str, int]) -> float:
    res = []
    for t in itertools.combinations(a.columns, k):
        cells = int(np.prod([sizes[c] for c in t]))
        if cells > MAX_CELLS:
            continue

        def hist(df: pd.DataFrame, t: tuple[str, ...] = t, cells: int = cells) -> np.ndarray:
            idx = np.zeros(len(df), dtype=np.int64)
            for c in t:
                idx = idx * sizes[c] + np.clip(df[c].to_numpy().astype(np.int64), 0, sizes[c] - 1)
            return np.bincount(idx, minlength=cells) / len(df)

        res.append(0.5 * np.abs(hist(a) - hist(b)).sum())
    return float(np.mean(res))


def public_metadata(real: pd.DataFrame) -> dict[str, object]:
    cols: dict[str, object] = {}
    for c in real.columns:
        if pd.api.types.is_numeric_dtype(real[c]):
            cols[c] = {"kind": "numeric", "min": int(real[c].min()), "max": int(real[c].max())}
        else:
            cols[c] = {"kind": "categorical", "categories": sorted(real[c].dropna().astype(str).unique().tolist())}
    return {"columns": cols}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eps", default="0.1,1,10")
    ap.add_argument("--delta", type=float, default=1e-5)
    ap.add_argument("--peer", action="append", default=[], help="NAME=codes.csv (discretized synthetic rows)")
    ap.add_argument("--judge", action="store_true")
    ap.add_argument("--argn", action="store_true")
    ap.add_argument("--work", default=str(ROOT / ".judge"))
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--repeats", type=int, default=1,
                    help="fits per epsilon for the marginal engine: DP noise is fresh each fit, so report the mean")
    ap.add_argument("--peers-only", action="store_true",
                    help="score only the --peer files; other rows come from the last run's cache")
    a = ap.parse_args()
    work = Path(a.work) / "privacy"
    work.mkdir(parents=True, exist_ok=True)
    df = pd.read_csv(Path(a.shared) / "datasets" / "adult.csv")
    idx = np.random.default_rng(0).permutation(len(df))
    half = len(df) // 2
    train, hold = df.iloc[idx[:half]].reset_index(drop=True), df.iloc[idx[half:]].reset_index(drop=True)
    train.to_csv(work / "A.csv", index=False)
    hold.to_csv(work / "B.csv", index=False)
    spec = discretizer(train)
    dtrain = discretize(train, spec)
    sizes = {c: int(dtrain[c].max()) + 1 for c in dtrain.columns}
    dtrain.to_csv(work / "A_disc.csv", index=False)
    (work / "A_domain.json").write_text(json.dumps(sizes))
    meta = public_metadata(train)
    rows: list[dict[str, object]] = []
    # Rows of earlier runs, so peers (hours of CPU) and datatwin can be scored in separate runs.
    cache_file = work / "rows.json"
    cache: dict[str, dict[str, object]] = json.loads(cache_file.read_text()) if cache_file.exists() else {}

    def record(name: str, eps: object, synthetic: pd.DataFrame | None, codes: pd.DataFrame | None = None,
               fit_s: float | None = None, note: str = "") -> None:
        codes = discretize(synthetic, spec) if codes is None else codes[list(dtrain.columns)]
        fit = None if fit_s is None else round(fit_s, 1)
        row: dict[str, object] = {"generator": name, "epsilon": eps, "fit_s": fit,
                                  **{f"tvd{k}": round(tvd(dtrain, codes, k, sizes), 4) for k in (1, 2, 3)}}
        if a.judge:
            values = synthetic if synthetic is not None else undiscretize(codes, spec, train,
                                                                         np.random.default_rng(0))
            path = work / f"syn_{name}_{eps}.csv"
            values.to_csv(path, index=False)
            row.update(judge(Path(a.shared), Path(a.work), work, path, f"{name}_{eps}"))
        row["note"] = note
        remember(row)

    def remember(row: dict[str, object]) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)
        cache[f"{row['generator']}|{row['epsilon']}"] = row
        cache_file.write_text(json.dumps(cache, indent=1))

    def score_peers() -> None:
        for peer in a.peer:
            name, path = peer.split("=", 1)
            label, _, eps_txt = name.rpartition("_")
            record(label, float(eps_txt), None, codes=pd.read_csv(path), note=f"codes from {path}")

    if a.peers_only:
        score_peers()
        for key, row in cache.items():  # rows scored before the judge's keys were read from its JSON
            score = work / f"score_{row['generator']}_{row['epsilon']}.json"
            if score.exists():
                cache[key] = {**{k: v for k, v in row.items() if k != "note"}, **judged(score), "note": row["note"]}
        render(list(cache.values()), a)
        return
    record("real half B", "-", hold, note="one real half against the other: the floor")
    shuffled = pd.DataFrame({c: train[c].to_numpy()[np.random.default_rng(i).permutation(half)]
                             for i, c in enumerate(train.columns)})
    record("independent", "-", shuffled, note="exact one-way marginals, no relations")
    for eps in [float(e) for e in a.eps.split(",")]:
        for public in (True, False):
            t = time.perf_counter()
            syn = datatwin.Synthesizer(engine="marginal", privacy=datatwin.DP(eps, a.delta), random_state=0)
            syn.fit(train, meta if public else None)
            fit_s = time.perf_counter() - t
            spent = syn.privacy_
            assert spent["epsilon"] <= eps + 1e-9 and spent["delta"] <= a.delta * (1 + 1e-9)
            record(f"datatwin marginal{' public' if public else ''}", eps, syn.sample(half, seed=1), fit_s=fit_s,
                   note="public domain declared" if public else "ranges and categories measured (value protection)")
    if a.repeats > 1:
        for eps in [float(e) for e in a.eps.split(",")]:
            runs = []
            for _ in range(a.repeats):
                syn = datatwin.Synthesizer(engine="marginal", privacy=datatwin.DP(eps, a.delta)).fit(train, meta)
                codes = discretize(syn.sample(half, seed=1), spec)
                runs.append([tvd(dtrain, codes, k, sizes) for k in (1, 2, 3)])
            mean, sd = np.mean(runs, axis=0), np.std(runs, axis=0)
            row = {"generator": f"datatwin marginal public, mean of {a.repeats} fits", "epsilon": eps,
                   **{f"tvd{k}": round(float(mean[k - 1]), 4) for k in (1, 2, 3)},
                   "note": f"tvd3 sd {sd[2]:.4f}, range {min(r[2] for r in runs):.4f}-{max(r[2] for r in runs):.4f}"}
            remember(row)
    t = time.perf_counter()
    plain = datatwin.Synthesizer(engine="marginal", random_state=0).fit(train)
    record("datatwin marginal (no DP)", "inf", plain.sample(half, seed=1), fit_s=time.perf_counter() - t)
    if a.argn:
        for eps in (10.0,):
            t = time.perf_counter()
            syn = datatwin.Synthesizer(engine="argn", privacy=datatwin.DP(eps, a.delta), random_state=0)
            syn.fit(train, meta)
            record("datatwin argn DP-SGD public", eps, syn.sample(half, seed=1), fit_s=time.perf_counter() - t)
        t = time.perf_counter()
        syn = datatwin.Synthesizer(engine="argn", random_state=0).fit(train)
        record("datatwin argn (no DP)", "inf", syn.sample(half, seed=1), fit_s=time.perf_counter() - t)
    score_peers()
    render(list(cache.values()), a)


JUDGE_KEYS = ("quality", "detection_auc", "tstr_auc", "delta_auc", "dcr_share", "exact_copy_rate")


def judge(shared: Path, work_root: Path, work: Path, synthetic: Path, label: str) -> dict[str, object]:
    jpy = work_root / "venv" / "bin" / "python"
    out = work / f"score_{label}.json"
    cmd = [str(jpy), str(shared / "bench" / "judge.py"), "score", "--train", str(work / "A.csv"), "--holdout",
           str(work / "B.csv"), "--synthetic", str(synthetic), "--target", "income", "--label", label, "--out",
           str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return judged(out)


def judged(score: Path) -> dict[str, object]:
    """The judge's headline figures from its JSON (the trtr_auc of the same split is in the note)."""
    summary = json.loads(score.read_text())["summary"]
    return {k: summary.get(k) for k in JUDGE_KEYS}


def render(rows: list[dict[str, object]], a: argparse.Namespace) -> None:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in cols) + " |" for r in rows]
    table = "\n".join(lines)
    print(table)
    if not a.write:
        return
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    text = (f"\n## Differential privacy on adult ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)\n\n"
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; load: "
            f"`{load}`.\nCommand: `.venv/bin/python benchmarks/bench_privacy.py {' '.join(sys.argv[1:])}`\n\n"
            f"adult halves (16,280 rows each, seed 0): A trains, B is the holdout. tvdk = mean total-variation "
            f"distance over all k-way marginals with <= {MAX_CELLS:,} cells (numbers in {BINS} quantile bins of A). "
            f"delta = {a.delta:g}. fit_s: seconds, fit only.\n\n{table}\n")
    with open(ROOT / "BENCHMARKS.md", "a", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
