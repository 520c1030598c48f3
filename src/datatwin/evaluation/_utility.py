"""ML utility: train on synthetic, test on real (TSTR) against train on real, test on real (TRTR).

Both models are LightGBM with library defaults and are scored on the real holdout, which neither
has seen. TRTR trains on as many real rows as TSTR has synthetic rows (or on all real rows when
there are fewer), so the comparison asks whether a synthetic row carries as much signal as a real
one; with as many synthetic rows as real rows, as usual, this is the judge's TRTR. The
feature-importance agreement is the Spearman correlation of the two models' gain importances.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._models import feature_frames, lgbm
from ._prepare import Prepared

HIGHER_IS_BETTER = {"roc_auc": True, "accuracy": True, "f1_macro": True, "r2": True, "mae": False}


def task_of(prep: Prepared, target: str) -> str:
    return "regression" if prep.is_continuous(target) else "classification"


def _target(prep: Prepared, frame: str, target: str, task: str) -> np.ndarray:
    v = prep.frames[frame][target]
    return v.astype(float) if task == "regression" else v.astype(np.int64)


def utility(prep: Prepared, target: str, seed: int, train: str = "real", syn: str = "synthetic",
            test: str = "holdout") -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score, roc_auc_score

    task = task_of(prep, target)
    y = {k: _target(prep, k, target, task) for k in (train, syn, test)}
    if task == "regression":
        keep = {k: np.flatnonzero(~np.isnan(v)) for k, v in y.items()}
    else:
        # missing labels are a class of their own (-1); the class list comes from the real data
        classes = np.unique(y[train])
        keep = {k: np.flatnonzero(np.isin(v, classes)) for k, v in y.items()}
    res: dict[str, Any] = {"task": task, "target": target, "model": "LightGBM (library defaults)"}
    dropped = {k: int(prep.n(k) - len(keep[k])) for k in (syn, test)}
    if any(dropped.values()):
        res["rows_dropped"] = {("synthetic" if k == syn else "holdout"): v for k, v in dropped.items() if v}
    n_syn = len(keep[syn])
    rng = np.random.default_rng([seed, 0x7A])
    tr_idx = keep[train]
    if len(tr_idx) > n_syn:
        tr_idx = np.sort(rng.choice(tr_idx, size=max(n_syn, 1), replace=False))
    res["train_rows"] = {"trtr": int(len(tr_idx)), "tstr": int(n_syn), "test": int(len(keep[test]))}
    if n_syn < 10 or len(keep[test]) < 10:
        res["skipped"] = "too few rows with a known target to train and test a model"
        return res
    feats, cols = feature_frames(prep, {"tr": (train, tr_idx), "sy": (syn, keep[syn]), "te": (test, keep[test])},
                                 drop=(target,))
    ytr, ysy, yte = y[train][tr_idx], y[syn][keep[syn]], y[test][keep[test]]
    res["features"] = cols
    scores: dict[str, dict[str, float]] = {}
    importances: dict[str, np.ndarray] = {}
    if task == "regression":
        for name, X, yy in (("trtr", feats["tr"], ytr), ("tstr", feats["sy"], ysy)):
            m = lgbm("reg", seed).fit(X, yy)
            pred = m.predict(feats["te"])
            scores[name] = {"r2": float(r2_score(yte, pred)), "mae": float(mean_absolute_error(yte, pred))}
            importances[name] = m.booster_.feature_importance(importance_type="gain")
    else:
        classes = np.unique(y[train])
        labels = [str(prep.levels[target][c]) if c >= 0 else "(missing)" for c in classes]
        res["classes"] = labels
        if len(np.unique(yte)) < 2:
            res["skipped"] = "the holdout has only one class of the target, so ROC AUC is undefined"
            return res
        yte_i = np.searchsorted(classes, yte)
        for name, X, yy in (("trtr", feats["tr"], ytr), ("tstr", feats["sy"], ysy)):
            yi = np.searchsorted(classes, yy)
            present = np.unique(yi)
            if len(present) < 2:
                pred = np.full(len(yte_i), present[0] if len(present) else 0)
                scores[name] = {"roc_auc": 0.5, "accuracy": float(accuracy_score(yte_i, pred)),
                                "f1_macro": float(f1_score(yte_i, pred, average="macro"))}
                importances[name] = np.zeros(len(cols))
                res.setdefault("notes", []).append(f"{name.upper()} training data has only one class")
                continue
            m = lgbm("clf", seed).fit(X, np.searchsorted(present, yi))
            proba = np.zeros((len(yte_i), len(classes)))
            proba[:, present] = m.predict_proba(feats["te"])
            pred = proba.argmax(1)
            if len(classes) == 2:
                auc = roc_auc_score(yte_i, proba[:, 1])
            else:
                lp = np.unique(yte_i)
                p = proba[:, lp]
                p = p / np.clip(p.sum(1, keepdims=True), 1e-12, None)
                auc = roc_auc_score(yte_i, p, multi_class="ovr", average="macro", labels=lp)
            scores[name] = {"roc_auc": float(auc), "accuracy": float(accuracy_score(yte_i, pred)),
                            "f1_macro": float(f1_score(yte_i, pred, average="macro"))}
            importances[name] = m.booster_.feature_importance(importance_type="gain")
    res.update(scores)
    res["delta"] = {k: scores["tstr"][k] - scores["trtr"][k] for k in scores["trtr"]}
    res["primary_metric"] = "r2" if task == "regression" else "roc_auc"
    res["feature_importance"] = _importance_agreement(cols, importances["trtr"], importances["tstr"])
    return res


def _importance_agreement(cols: list[str], real: np.ndarray, syn: np.ndarray) -> dict[str, Any]:
    real = np.asarray(real, float)
    syn = np.asarray(syn, float)
    rs = real / real.sum() if real.sum() > 0 else real
    ss = syn / syn.sum() if syn.sum() > 0 else syn
    out: dict[str, Any] = {
        "columns": [{"column": c, "trtr_gain_share": float(a), "tstr_gain_share": float(b)}
                    for c, a, b in sorted(zip(cols, rs, ss), key=lambda t: -t[1])],
    }
    if len(cols) < 3 or np.ptp(rs) == 0 or np.ptp(ss) == 0:
        out["spearman"] = math.nan
        out["note"] = "too few features, or a model that uses none, to compare importances"
        return out
    out["spearman"] = float(_spearman(rs, ss))
    k = min(5, len(cols))
    top_r = set(np.argsort(-rs, kind="stable")[:k])
    top_s = set(np.argsort(-ss, kind="stable")[:k])
    out["top_k"] = k
    out["top_k_overlap"] = len(top_r & top_s) / k
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float(np.dot(ra, rb) / math.sqrt(np.dot(ra, ra) * np.dot(rb, rb)))
