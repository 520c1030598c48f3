"""Equivalence of insights: run the same two analyses on the real and on the synthetic data and
check that they reach the same conclusions.

* Group-by: the target's mean (regression) or the rate of one class (classification) for every
  level of the categorical columns most associated with the target.
* Regression: ordinary least squares (numeric target) or logistic regression (class of interest
  vs the rest), on standardised numeric columns and one-hot categories (reference level: the most
  frequent), with 95 % confidence intervals from the closed-form covariance (OLS) or the inverse
  Fisher information (logistic, fitted by Newton steps with a tiny ridge for stability).

A group figure "holds" when the synthetic figure lies within sampling noise of the real one
(difference below 1.96 combined standard errors) or within a practical margin (2 percentage points
for a rate, 0.1 standard deviation of the target for a mean), and, where the real level differs
clearly from the overall figure, on the same side of it. A coefficient "holds" when the two 95 %
intervals overlap and, where the real coefficient is clearly non-zero, the synthetic one has the
same sign.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._fidelity import cramers_v
from ._prepare import Prepared

Z = 1.959963984540054
MAX_GROUP_COLUMNS = 3
MAX_GROUP_LEVELS = 8
MAX_CATEGORY_LEVELS = 30
MIN_GROUP_ROWS = 30
RATE_MARGIN = 0.02
MEAN_MARGIN_SD = 0.1
MAX_NUMERIC_FEATURES = 15
MAX_CATEGORICAL_FEATURES = 8
MAX_ONEHOT_LEVELS = 6
RIDGE = 1e-3


def insights(prep: Prepared, target: str, real: str = "real", syn: str = "synthetic") -> dict[str, Any]:
    task = "regression" if prep.kinds[target] == "numeric" else (
        "classification" if not prep.is_continuous(target) else None)
    if task is None:
        return {"skipped": "insights need a numeric or categorical target (not a date)"}
    yr, ys = prep.frames[real][target], prep.frames[syn][target]
    out: dict[str, Any] = {"task": task, "target": target}
    if task == "classification":
        k = len(prep.levels[target])
        counts = np.bincount(yr[yr >= 0], minlength=k)
        present = np.flatnonzero(counts)
        # binary: the rarer class (e.g. ">50K"); more classes: the most frequent one
        cls = int(present[np.argmin(counts[present])]) if len(present) == 2 else int(np.argmax(counts))
        out["class_of_interest"] = str(prep.levels[target][cls])
        yr_f = np.where(yr < 0, np.nan, (yr == cls).astype(float))
        ys_f = np.where(ys < 0, np.nan, (ys == cls).astype(float))
    else:
        yr_f, ys_f = yr.astype(float), ys.astype(float)
    out["group_by"] = _group_by(prep, target, task, yr_f, ys_f, real, syn)
    out["regression"] = _regression(prep, target, task, yr_f, ys_f, real, syn)
    items = [g["holds"] for tbl in out["group_by"]["tables"] for g in tbl["groups"]]
    items += [c["holds"] for c in out["regression"].get("coefficients", [])]
    out["conclusions"] = len(items)
    out["hold_share"] = float(np.mean(items)) if items else math.nan
    return out


# ----------------------------------------------------------------------------- group-by
def _stat(y: np.ndarray, task: str) -> tuple[float, float, int]:
    y = y[~np.isnan(y)]
    n = len(y)
    if n == 0:
        return math.nan, math.nan, 0
    m = float(y.mean())
    if task == "classification":
        se = math.sqrt(max(m * (1 - m), 0.0) / n)
    else:
        se = float(y.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return m, se, n


def _group_by(prep: Prepared, target: str, task: str, yr: np.ndarray, ys: np.ndarray, real: str,
              syn: str) -> dict[str, Any]:
    cands = []
    ok_r = ~np.isnan(yr)
    ty = _binned(yr)
    for c in prep.columns:
        if c == target or prep.is_continuous(c):
            continue
        codes = prep.frames[real][c]
        k = len(prep.levels[c])
        n_levels = len(np.unique(codes[codes >= 0]))
        if not 2 <= n_levels <= MAX_CATEGORY_LEVELS:
            continue
        a = np.where(codes < 0, k, codes)[ok_r]
        v = cramers_v(a, ty[ok_r], k + 1, int(ty.max()) + 1)
        if not math.isnan(v):
            cands.append((v, c))
    cands.sort(key=lambda t: -t[0])
    margin = RATE_MARGIN if task == "classification" else MEAN_MARGIN_SD * float(np.nanstd(yr))
    overall_r, _, _ = _stat(yr, task)
    overall_s, _, _ = _stat(ys, task)
    tables = []
    for assoc, c in cands[:MAX_GROUP_COLUMNS]:
        cr, cs = prep.frames[real][c], prep.frames[syn][c]
        k = len(prep.levels[c])
        counts = np.bincount(cr[cr >= 0], minlength=k)
        levels = [i for i in np.argsort(-counts, kind="stable") if counts[i] >= MIN_GROUP_ROWS][:MAX_GROUP_LEVELS]
        groups = []
        for lv in levels:
            mr, ser, nr = _stat(yr[cr == lv], task)
            ms, ses, ns = _stat(ys[cs == lv], task)
            g: dict[str, Any] = {"level": str(prep.levels[c][lv]), "real": mr, "real_ci": [mr - Z * ser, mr + Z * ser],
                                 "real_rows": nr, "synthetic": ms, "synthetic_rows": ns}
            if ns < 2 or math.isnan(ms):
                g.update(holds=False, reason="the synthetic data has (almost) no rows in this group")
                groups.append(g)
                continue
            g["synthetic_ci"] = [ms - Z * ses, ms + Z * ses]
            diff = ms - mr
            noise = Z * math.sqrt(ser ** 2 + ses ** 2) if not (math.isnan(ser) or math.isnan(ses)) else math.inf
            value_ok = abs(diff) <= max(noise, margin)
            real_side = mr - overall_r
            clear = abs(real_side) > Z * ser if not math.isnan(ser) else False
            side_ok = (not clear) or np.sign(ms - overall_s) == np.sign(real_side)
            g["holds"] = bool(value_ok and side_ok)
            if not value_ok:
                g["reason"] = "the synthetic figure differs from the real one by more than sampling noise"
            elif not side_ok:
                g["reason"] = "the group falls on the other side of the overall figure"
            groups.append(g)
        tables.append({"column": c, "association_with_target": assoc, "groups": groups})
    return {"statistic": "rate" if task == "classification" else "mean", "overall_real": overall_r,
            "overall_synthetic": overall_s, "margin": margin, "tables": tables}


def _binned(y: np.ndarray) -> np.ndarray:
    """The target as small integer codes for Cramer's V (10 quantile bins for a numeric target)."""
    ok = ~np.isnan(y)
    if len(np.unique(y[ok])) <= 10:
        u = np.unique(y[ok])
        return np.where(ok, np.searchsorted(u, np.nan_to_num(y)), len(u)).astype(np.int64)
    edges = np.unique(np.quantile(y[ok], np.linspace(0, 1, 11)[1:-1]))
    return np.where(ok, np.searchsorted(edges, np.nan_to_num(y)), len(edges) + 1).astype(np.int64)


# ----------------------------------------------------------------------------- regression
def _design(prep: Prepared, target: str, real: str, syn: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """Same design matrix for both frames, all parameters taken from the real data."""
    names: list[str] = ["(intercept)"]
    cols_r: list[np.ndarray] = [np.ones(prep.n(real))]
    cols_s: list[np.ndarray] = [np.ones(prep.n(syn))]
    numeric = [c for c in prep.columns if c != target and prep.kinds[c] == "numeric"]
    cats = [c for c in prep.columns if c != target and not prep.is_continuous(c)]
    for c in numeric[:MAX_NUMERIC_FEATURES]:
        r, s = prep.frames[real][c], prep.frames[syn][c]
        mu, sd = np.nanmean(r), np.nanstd(r)
        if not np.isfinite(sd) or sd == 0:
            continue
        cols_r.append(np.nan_to_num((r - mu) / sd))
        cols_s.append(np.nan_to_num((s - mu) / sd))
        names.append(f"{c} (per SD)")
    used = 0
    for c in cats:
        r, s = prep.frames[real][c], prep.frames[syn][c]
        k = len(prep.levels[c])
        counts = np.bincount(np.where(r < 0, k, r), minlength=k + 1)
        present = np.flatnonzero(counts)
        if not 2 <= len(present) <= MAX_CATEGORY_LEVELS or used >= MAX_CATEGORICAL_FEATURES:
            continue
        used += 1
        order = [i for i in np.argsort(-counts, kind="stable") if counts[i] >= MIN_GROUP_ROWS]
        for lv in order[1:MAX_ONEHOT_LEVELS]:  # order[0] is the reference level
            label = "(missing)" if lv == k else str(prep.levels[c][lv])
            cols_r.append((np.where(r < 0, k, r) == lv).astype(float))
            cols_s.append((np.where(s < 0, k, s) == lv).astype(float))
            names.append(f"{c} = {label}")
    return {"real": np.column_stack(cols_r), "synthetic": np.column_stack(cols_s)}, names


def _ols(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    XtX = X.T @ X
    XtX_inv = np.linalg.pinv(XtX)
    beta = XtX_inv @ (X.T @ y)
    resid = y - X @ beta
    dof = max(len(y) - X.shape[1], 1)
    sigma2 = float(resid @ resid) / dof
    se = np.sqrt(np.clip(np.diag(XtX_inv) * sigma2, 0, None))
    return beta, se


def _logit(X: np.ndarray, y: np.ndarray, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    p_ = X.shape[1]
    pen = np.full(p_, RIDGE)
    pen[0] = 0.0
    beta = np.zeros(p_)
    base = np.clip(y.mean(), 1e-6, 1 - 1e-6)
    beta[0] = math.log(base / (1 - base))
    H = np.eye(p_)
    for _ in range(iters):
        eta = np.clip(X @ beta, -30, 30)
        p = 1 / (1 + np.exp(-eta))
        w = p * (1 - p)
        H = (X * w[:, None]).T @ X + np.diag(pen)
        g = X.T @ (y - p) - pen * beta
        step = np.linalg.lstsq(H, g, rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-7:
            break
    cov = np.linalg.pinv(H)
    return beta, np.sqrt(np.clip(np.diag(cov), 0, None))


def _regression(prep: Prepared, target: str, task: str, yr: np.ndarray, ys: np.ndarray, real: str,
                syn: str) -> dict[str, Any]:
    X, names = _design(prep, target, real, syn)
    if len(names) < 2:
        return {"skipped": "no usable feature columns"}
    fits = {}
    scale = 1.0
    if task == "regression":
        scale = float(np.nanstd(yr)) or 1.0
    for side, y in (("real", yr), ("synthetic", ys)):
        ok = ~np.isnan(y)
        Xs, ys_ = X[side][ok], y[ok]
        if len(ys_) <= X[side].shape[1] + 2 or (task == "classification" and len(np.unique(ys_)) < 2):
            return {"skipped": f"the {side} data has too few usable rows (or one class) for the regression"}
        if task == "regression":
            fits[side] = _ols(Xs, (ys_ - np.nanmean(yr)) / scale)
        else:
            fits[side] = _logit(Xs, ys_)
    coefs = []
    (br, ser), (bs, ses) = fits["real"], fits["synthetic"]
    for i, name in enumerate(names):
        if i == 0:
            continue
        lo_r, hi_r = br[i] - Z * ser[i], br[i] + Z * ser[i]
        lo_s, hi_s = bs[i] - Z * ses[i], bs[i] + Z * ses[i]
        overlap = lo_r <= hi_s and lo_s <= hi_r
        real_clear = lo_r > 0 or hi_r < 0
        same_sign = np.sign(bs[i]) == np.sign(br[i])
        holds = bool(overlap and (same_sign or not real_clear))
        effect = ("raises" if br[i] > 0 else "lowers") if real_clear else "has no clear effect on"
        coefs.append({"term": name, "real": float(br[i]), "real_ci": [float(lo_r), float(hi_r)],
                      "synthetic": float(bs[i]), "synthetic_ci": [float(lo_s), float(hi_s)],
                      "real_conclusion": effect, "holds": holds})
    model = ("ordinary least squares, target in standard deviations" if task == "regression"
             else "logistic regression, coefficients in log-odds")
    return {"model": model, "coefficients": coefs}
