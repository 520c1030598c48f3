"""Rebalancing benchmark: does adding rebalanced synthetic minority rows help a classifier?

On mammography (2.3 % positive; the judge's seed-0 split), a LightGBM classifier is trained on
(a) the real train rows, (b) real rows + SMOTE oversampling (imbalanced-learn), (c) real rows +
datatwin rows sampled with `rebalance={"class": {1: 0.5}}`, (d) random oversampling of the real
positives; each is scored on the real holdout: minority recall (threshold 0.5), PR-AUC and ROC AUC,
averaged over seeds. Prints a table and writes it to BENCHMARKS.md between the `rebalance` markers.

usage: python benchmarks/bench_rebalance.py [--seeds 3] [--work .judge]
needs: pip install imbalanced-learn (benchmark only, not a datatwin dependency)
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import write_section  # benchmarks/ is on sys.path when a script runs

import datatwin

ROOT = Path(__file__).resolve().parent.parent


def _fit_score(x: pd.DataFrame, y: np.ndarray, xh: pd.DataFrame, yh: np.ndarray, seed: int) -> dict[str, float]:
    import lightgbm as lgb
    from sklearn.metrics import average_precision_score, recall_score, roc_auc_score

    model = lgb.LGBMClassifier(random_state=seed, n_jobs=1, verbose=-1, deterministic=True, force_row_wise=True)
    model.fit(x, y)
    p = model.predict_proba(xh)[:, 1]
    return {"recall": recall_score(yh, p >= 0.5), "pr_auc": average_precision_score(yh, p),
            "roc_auc": roc_auc_score(yh, p)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--work", default=str(ROOT / ".judge"))
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    from imblearn.over_sampling import SMOTE, RandomOverSampler

    work = Path(a.work) / "data"
    train = pd.read_csv(work / "mammography_train.csv")
    hold = pd.read_csv(work / "mammography_holdout.csv")
    feats = [c for c in train.columns if c != "class"]
    x, y = train[feats], train["class"].to_numpy()
    xh, yh = hold[feats], hold["class"].to_numpy()
    n_extra = int((y == 0).sum() - (y == 1).sum())  # rows needed to balance the classes
    results: dict[str, list[dict[str, float]]] = {}
    t0 = time.perf_counter()
    for seed in range(a.seeds):
        results.setdefault("real only", []).append(_fit_score(x, y, xh, yh, seed))
        xs, ys = SMOTE(random_state=seed).fit_resample(x, y)
        results.setdefault("real + SMOTE", []).append(_fit_score(xs, ys, xh, yh, seed))
        xr, yr = RandomOverSampler(random_state=seed).fit_resample(x, y)
        results.setdefault("real + random oversampling", []).append(_fit_score(xr, yr, xh, yh, seed))
        syn = datatwin.Synthesizer(random_state=seed).fit(train)
        # Only synthetic positives are added: the minority class is what is short.
        extra = syn.sample(n_extra, seed=seed, conditions={"class": 1})
        xd = pd.concat([x, extra[feats]], ignore_index=True)
        yd = np.r_[y, extra["class"].to_numpy()]
        results.setdefault("real + datatwin (conditioned on class=1)", []).append(_fit_score(xd, yd, xh, yh, seed))
        mixed = syn.sample(len(train), seed=seed, rebalance={"class": {1: 0.5}})
        xm = pd.concat([x, mixed[feats]], ignore_index=True)
        ym = np.r_[y, mixed["class"].to_numpy()]
        results.setdefault("real + datatwin rebalanced 50/50", []).append(_fit_score(xm, ym, xh, yh, seed))
    secs = time.perf_counter() - t0
    lines = ["| training data | minority recall | PR-AUC | ROC AUC |", "|---|---|---|---|"]
    for name, rs in results.items():
        m = {k: np.mean([r[k] for r in rs]) for k in rs[0]}
        s = {k: np.std([r[k] for r in rs]) for k in rs[0]}
        lines.append(f"| {name} | {m['recall']:.3f} ± {s['recall']:.3f} | {m['pr_auc']:.3f} ± {s['pr_auc']:.3f} | "
                     f"{m['roc_auc']:.3f} ± {s['roc_auc']:.3f} |")
    table = "\n".join(lines)
    text = (f"## Rebalancing rare classes (mammography)\n\nMeasured {dt.date.today().isoformat()} on "
            f"{platform.node() or 'this machine'} (2 cores). Command: `.venv/bin/python benchmarks/bench_rebalance.py "
            f"--seeds {a.seeds}` ({secs:.0f} s). Judge seed-0 split: {len(train):,} train rows "
            f"({int(y.sum())} positive), {len(hold):,} holdout rows ({int(yh.sum())} positive); LightGBM defaults; "
            f"mean ± sd over {a.seeds} seeds (the seed drives the sampler and the classifier). datatwin adds "
            f"{n_extra:,} synthetic rows to the real ones, like the oversamplers.\n\n{table}\n")
    print(text)
    if not a.no_write:
        write_section("rebalance", text)


if __name__ == "__main__":
    main()
