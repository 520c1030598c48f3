"""ML utility: train on synthetic, test on real (TSTR) against train on real, test on real (TRTR).

Both models are LightGBM with library defaults and are scored on the real holdout, which neither
has seen. TRTR trains on as many real rows as TSTR has synthetic rows (or on all real rows when
there are fewer), so the comparison asks whether a synthetic row carries as much signal as a real
one; with as many synthetic rows as real rows, as usual, this is the judge's TRTR. The
feature-importance agreement is the Spearman correlation of the two sides' permutation importances on
the holdout (see ``importance``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._models import feature_frames, lgbm
from ._prepare import Prepared

HIGHER_IS_BETTER = {"roc_auc": True, "accuracy": True, "f1_macro": True, "r2": True, "mae": False}
IMPORTANCE_TEST_ROWS = 5_000


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
    if not [c for c in prep.columns if c != target]:
        res["skipped"] = "there is no column besides the target to predict it from"
        return res
    feats, cols = feature_frames(prep, {"tr": (train, tr_idx), "sy": (syn, keep[syn]), "te": (test, keep[test])},
                                 drop=(target,))
    ytr, ysy, yte = y[train][tr_idx], y[syn][keep[syn]], y[test][keep[test]]
    res["features"] = cols
    scores: dict[str, dict[str, float]] = {}
    outputs: dict[str, np.ndarray] = {}  # holdout predictions (regression) or class probabilities
    if task == "regression":
        for name, X, yy in (("trtr", feats["tr"], ytr), ("tstr", feats["sy"], ysy)):
            m = lgbm("reg", seed).fit(X, yy)
            pred = m.predict(feats["te"])
            outputs[name] = pred
            scores[name] = {"r2": float(r2_score(yte, pred)), "mae": float(mean_absolute_error(yte, pred))}
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
                outputs[name] = np.eye(len(classes))[pred]
                scores[name] = {"roc_auc": 0.5, "accuracy": float(accuracy_score(yte_i, pred)),
                                "f1_macro": float(f1_score(yte_i, pred, average="macro"))}
                res.setdefault("notes", []).append(f"{name.upper()} training data has only one class")
                continue
            m = lgbm("clf", seed).fit(X, np.searchsorted(present, yi))
            proba = np.zeros((len(yte_i), len(classes)))
            proba[:, present] = m.predict_proba(feats["te"])
            pred = proba.argmax(1)
            outputs[name] = proba
            if len(classes) == 2:
                auc = roc_auc_score(yte_i, proba[:, 1])
            else:
                lp = np.unique(yte_i)
                p = proba[:, lp]
                p = p / np.clip(p.sum(1, keepdims=True), 1e-12, None)
                auc = roc_auc_score(yte_i, p, multi_class="ovr", average="macro", labels=lp)
            scores[name] = {"roc_auc": float(auc), "accuracy": float(accuracy_score(yte_i, pred)),
                            "f1_macro": float(f1_score(yte_i, pred, average="macro"))}
    res.update(scores)
    res["delta"] = {k: scores["tstr"][k] - scores["trtr"][k] for k in scores["trtr"]}
    res["primary_metric"] = "r2" if task == "regression" else "roc_auc"
    y_eval = yte if task == "regression" else yte_i
    res["delta_se"] = {res["primary_metric"]: _bootstrap_se(task, y_eval, outputs["trtr"], outputs["tstr"], seed)}
    res["feature_importance"] = _importance_agreement(
        cols, importance(feats["tr"], ytr, feats["te"], yte, task, seed),
        importance(feats["sy"], ysy, feats["te"], yte, task, seed))
    res["feature_importance"]["definition"] = (
        f"drop in {'R²' if task == 'regression' else 'ROC AUC'} on the holdout when one column is shuffled, for "
        "LightGBM models that see half of the columns per tree (so that correlated columns share the credit)")
    return res


def importance(X, y: np.ndarray, X_test, y_test: np.ndarray, task: str, seed: int) -> np.ndarray:
    """Permutation importance on the real holdout of a LightGBM model that samples half of the
    columns per tree. Judged on unseen real rows, a column that only helps a model fit noise scores
    about 0; the column sampling spreads credit over correlated columns (marital status and
    relationship, say), where plain gain importance gives it all to whichever one wins the first split."""
    from sklearn.metrics import r2_score, roc_auc_score

    rng = np.random.default_rng([seed, 0x1F])
    if len(X_test) > IMPORTANCE_TEST_ROWS:
        keep = np.sort(rng.choice(len(X_test), IMPORTANCE_TEST_ROWS, replace=False))
        X_test, y_test = X_test.iloc[keep].reset_index(drop=True), y_test[keep]
    if task == "regression":
        m = lgbm("reg", seed, colsample_bytree=0.5).fit(X, y)
        score = lambda Z: r2_score(y_test, m.predict(Z))  # noqa: E731
    else:
        present = np.unique(y)
        if len(present) < 2:
            return np.zeros(X.shape[1])
        m = lgbm("clf", seed, colsample_bytree=0.5).fit(X, np.searchsorted(present, y))
        yt = np.searchsorted(present, y_test)
        ok = np.isin(y_test, present)
        Xo, yt = X_test[ok], yt[ok]
        if len(np.unique(yt)) < 2:
            return np.zeros(X.shape[1])

        def score(Z):
            p = m.predict_proba(Z[ok] if len(Z) != len(Xo) else Z)
            if p.shape[1] == 2:
                return roc_auc_score(yt, p[:, 1])
            lp = np.unique(yt)
            q = p[:, lp] / np.clip(p[:, lp].sum(1, keepdims=True), 1e-12, None)
            return roc_auc_score(yt, q, multi_class="ovr", average="macro", labels=lp)

        X_test = Xo.reset_index(drop=True)
    base = score(X_test)
    out = np.zeros(X.shape[1])
    for j, c in enumerate(X_test.columns):
        Z = X_test.copy()
        Z[c] = Z[c].iloc[rng.permutation(len(Z))].set_axis(Z.index)
        out[j] = base - score(Z)
    return out


def _primary(task: str, y: np.ndarray, out: np.ndarray) -> float:
    from scipy.stats import rankdata

    if task == "regression":
        ss_tot = float(((y - y.mean()) ** 2).sum())
        return 1 - float(((y - out) ** 2).sum()) / ss_tot if ss_tot > 0 else math.nan
    if out.shape[1] == 2:
        pos = y == 1
        n1, n0 = int(pos.sum()), int((~pos).sum())
        if n1 == 0 or n0 == 0:
            return math.nan
        r = rankdata(out[:, 1])
        return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
    from sklearn.metrics import roc_auc_score

    lp = np.unique(y)
    if len(lp) < 2:
        return math.nan
    q = out[:, lp] / np.clip(out[:, lp].sum(1, keepdims=True), 1e-12, None)
    return float(roc_auc_score(y, q, multi_class="ovr", average="macro", labels=lp))


def _bootstrap_se(task: str, y: np.ndarray, real_out: np.ndarray, syn_out: np.ndarray, seed: int) -> float:
    """Standard error of TSTR minus TRTR on the primary metric, by a paired bootstrap of the holdout rows:
    how much of the difference a holdout of this size leaves to chance."""
    n_boot = 100 if task == "regression" or syn_out.shape[1] == 2 else 30
    rng = np.random.default_rng([seed, 0xB0])
    diffs = []
    for _ in range(n_boot):
        i = rng.integers(0, len(y), len(y))
        d = _primary(task, y[i], syn_out[i]) - _primary(task, y[i], real_out[i])
        if not math.isnan(d):
            diffs.append(d)
    return float(np.std(diffs, ddof=1)) if len(diffs) > 2 else math.nan


def _importance_agreement(cols: list[str], real: np.ndarray, syn: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {
        "columns": [{"column": c, "real_importance": float(a), "synthetic_importance": float(b)}
                    for c, a, b in sorted(zip(cols, real, syn, strict=True), key=lambda t: -t[1])],
    }
    if len(cols) < 3 or np.ptp(real) == 0 or np.ptp(syn) == 0:
        out["spearman"] = math.nan
        out["note"] = "too few feature columns, or a model that uses none, to compare importances"
        return out
    out["spearman"] = float(_spearman(real, syn))
    k = min(5, len(cols))
    top_r = set(np.argsort(-real, kind="stable")[:k])
    top_s = set(np.argsort(-syn, kind="stable")[:k])
    out["top_k"] = k
    out["top_k_overlap"] = len(top_r & top_s) / k
    return out


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float(np.dot(ra, rb) / math.sqrt(np.dot(ra, ra) * np.dot(rb, rb)))
