"""Detection: can a classifier tell the real rows from the synthetic ones?

A LightGBM classifier (library defaults) learns to separate an equal number of real rows (the
holdout when there is one, else the real data) and synthetic rows; the figure is the mean ROC AUC
over 5 stratified folds. 0.5 means indistinguishable, 1.0 trivially separable. The draw of the
rows and the folds follow the judge exactly, so the figures agree with it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._models import feature_frames, lgbm
from ._prepare import Prepared

CAP_ROWS_PER_CLASS = 20_000
MIN_ROWS_PER_CLASS = 25


def detection(prep: Prepared, real: str, syn: str, seed: int) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    n = min(prep.n(real), prep.n(syn), CAP_ROWS_PER_CLASS)
    if n < MIN_ROWS_PER_CLASS:
        return {"skipped": f"needs at least {MIN_ROWS_PER_CLASS} rows on each side, has {n}"}
    rs = np.random.default_rng([seed, 0xD7])
    ir = rs.permutation(prep.n(real))[:n]
    isy = rs.permutation(prep.n(syn))[:n]
    feats, cols = feature_frames(prep, {"r": (real, ir), "s": (syn, isy)})
    import pandas as pd

    X = pd.concat([feats["r"], feats["s"]], ignore_index=True)
    y = np.r_[np.zeros(n), np.ones(n)]
    aucs, gains = [], np.zeros(len(cols))
    for k, (tr, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y)):
        m = lgbm("clf", seed + k)
        m.fit(X.iloc[tr], y[tr])
        p = m.predict_proba(X.iloc[te])[:, 1]
        aucs.append(float(roc_auc_score(y[te], p)))
        gains += m.booster_.feature_importance(importance_type="gain")
    share = gains / gains.sum() if gains.sum() > 0 else gains
    order = np.argsort(-share, kind="stable")
    return {
        "auc": float(np.mean(aucs)),
        "auc_fold_std": float(np.std(aucs)),
        "auc_folds": aucs,
        "rows_per_class": int(n),
        "real_side": real,
        "model": "LightGBM classifier (library defaults), 5-fold stratified CV, mean ROC AUC",
        "telltale_columns": [{"column": cols[i], "gain_share": float(share[i])} for i in order[:8]
                             if share[i] > 0],
    }


def detection_auc_is_valid(res: dict[str, Any]) -> bool:
    return "auc" in res and not math.isnan(res["auc"])
