"""Privacy: does the synthetic data copy, or sit suspiciously close to, the real training rows?

* Exact copies: synthetic rows identical (on the modelled columns) to some real training row,
  against the same rate for real holdout rows, which the generator never saw (a natural
  baseline: some tables repeat people).
* DCR share: for synthetic rows, is the closest real row a training row or a holdout row? The
  training side is a random subsample of the holdout's size, so an honest generator gives 0.5.
* NNDR: the ratio of the distances to the nearest and second-nearest training row. A ratio near 0
  means a synthetic row sits on one particular real person. We report the share of synthetic
  rows whose ratio is below the 5th percentile of the holdout rows' own ratios (5 % is ideal).
* Membership inference: an attacker who holds the synthetic data scores candidate people by their
  distance to the nearest synthetic row; the ROC AUC of telling training members from holdout
  non-members that way (0.5 means the attack learns nothing).

Distances follow the judge: numbers and dates through the training data's quantiles to 0..1 (a
missing number is 0 plus a missing flag of 1), categories one-hot over the 100 most frequent
training levels plus "other", scaled so that one mismatch costs 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._prepare import Prepared

CAP_SYNTH_ROWS = 10_000
CAP_REF_ROWS = 20_000
CAP_ATTACK_SYNTH_ROWS = 10_000  # synthetic rows the attacker searches
CAP_ATTACK_CANDIDATES = 4_000   # members and non-members scored, each
CAP_NNDR_BASELINE_ROWS = 5_000  # holdout rows whose own NNDR gives the baseline
CAP_ONEHOT_LEVELS = 100
EPS = 1e-6


def embed(prep: Prepared, parts: dict[str, tuple[str, np.ndarray]], fit_on: str) -> dict[str, np.ndarray]:
    blocks: dict[str, list[np.ndarray]] = {k: [] for k in parts}
    for c in prep.columns:
        ref_all = prep.frames[fit_on][c]
        if prep.is_continuous(c):
            ref = ref_all[~np.isnan(ref_all)]
            qs = np.unique(np.quantile(ref, np.linspace(0, 1, 1001))) if len(ref) else np.array([0.0])
            vals = {k: prep.frames[f][c][idx] for k, (f, idx) in parts.items()}
            any_nan = any(np.isnan(v).any() for v in vals.values())
            for k, x in vals.items():
                if len(qs) > 1:
                    lo = np.searchsorted(qs, x, side="left")
                    hi = np.searchsorted(qs, x, side="right")
                    u = ((lo + hi) / 2.0) / len(qs)
                else:
                    u = np.zeros(len(x))
                nan = np.isnan(x)
                blocks[k].append(np.where(nan, 0.0, np.clip(u, 0, 1))[:, None])
                if any_nan:
                    blocks[k].append(nan.astype(float)[:, None])
        else:
            k_levels = len(prep.levels[c])
            counts = np.bincount(np.where(ref_all < 0, k_levels, ref_all), minlength=k_levels + 1)
            order = [i for i in np.argsort(-counts, kind="stable") if counts[i] > 0][:CAP_ONEHOT_LEVELS]
            width = len(order) + 1
            lut = np.full(k_levels + 1, width - 1, dtype=np.int64)
            lut[order] = np.arange(len(order))
            for k, (f, idx) in parts.items():
                v = prep.frames[f][c][idx]
                codes = lut[np.where(v < 0, k_levels, v)]
                oh = np.zeros((len(v), width), dtype=float)
                oh[np.arange(len(v)), codes] = 1 / np.sqrt(2)
                blocks[k].append(oh)
    return {k: np.hstack(b).astype(np.float32) if b else np.zeros((len(parts[k][1]), 0), np.float32)
            for k, b in blocks.items()}


def _nn(ref: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(ref))
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=2).fit(ref)
    return nn.kneighbors(query, return_distance=True)[0]


def exact_copies(syn_hashes: np.ndarray, real_hashes: np.ndarray, holdout_hashes: np.ndarray | None) -> dict[str, Any]:
    real_set = np.unique(real_hashes)
    rate = float(np.isin(syn_hashes, real_set).mean())
    out: dict[str, Any] = {"rate": rate, "synthetic_rows_checked": int(len(syn_hashes)),
                           "real_rows": int(len(real_hashes)),
                           "synthetic_duplicate_rate": float(1 - len(np.unique(syn_hashes)) / len(syn_hashes))}
    if holdout_hashes is not None:
        out["baseline"] = float(np.isin(holdout_hashes, real_set).mean())
        out["baseline_source"] = "holdout rows found in the real training data"
    else:
        # no holdout: how often a real row repeats another real row is the nearest stand-in
        _, inv, cnt = np.unique(real_hashes, return_inverse=True, return_counts=True)
        out["baseline"] = float((cnt[inv] > 1).mean())
        out["baseline_source"] = "real rows that repeat another real row (no holdout given)"
    return out


def distance_privacy(prep: Prepared, seed: int, train: str = "real", syn: str = "synthetic",
                     holdout: str = "holdout") -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    rs = np.random.RandomState(seed + 17)
    n_ho, n_tr, n_sy = prep.n(holdout), prep.n(train), prep.n(syn)
    n_ref = min(n_ho, n_tr, CAP_REF_ROWS)
    ho_idx = rs.choice(n_ho, n_ref, replace=False) if n_ho > n_ref else np.arange(n_ho)
    tr_idx = rs.choice(n_tr, n_ref, replace=False)
    n_q = min(n_sy, CAP_SYNTH_ROWS)
    sy_idx = rs.choice(n_sy, n_q, replace=False) if n_sy > n_q else np.arange(n_sy)
    n_att = min(n_sy, CAP_ATTACK_SYNTH_ROWS)
    att_idx = rs.choice(n_sy, n_att, replace=False) if n_sy > n_att else np.arange(n_sy)
    # draws beyond the judge's: random subsets for the NNDR baseline and the attack
    base_idx = rs.permutation(n_ref)[:CAP_NNDR_BASELINE_ROWS]
    n_c = min(n_ref, CAP_ATTACK_CANDIDATES)
    mem_idx, non_idx = rs.permutation(n_ref)[:n_c], rs.permutation(n_ref)[:n_c]
    emb = embed(prep, {"tr": (train, tr_idx), "ho": (holdout, ho_idx), "sy": (syn, sy_idx),
                       "att": (syn, att_idx)}, fit_on=train)

    # DCR share (the judge's definition) and the synthetic side of NNDR
    d_tr2 = _nn(emb["tr"], emb["sy"], 2)
    d_tr = d_tr2[:, 0]
    d_ho = _nn(emb["ho"], emb["sy"], 1)[:, 0]
    closer = d_tr < d_ho - EPS
    ties = np.abs(d_tr - d_ho) <= EPS
    share = float(closer.mean() + 0.5 * ties.mean())

    # NNDR baseline: holdout rows against the same training subsample
    nndr_sy = _ratio(d_tr2)
    nndr_ho = _ratio(_nn(emb["tr"], emb["ho"][base_idx], 2))
    p05 = float(np.quantile(nndr_ho, 0.05)) if len(nndr_ho) else math.nan
    low_share = float(np.mean(nndr_sy < p05)) if not math.isnan(p05) else math.nan

    # membership inference: members (training subsample) vs non-members (holdout), scored by
    # closeness to the synthetic data
    d_att = _nn(emb["att"], np.vstack([emb["tr"][mem_idx], emb["ho"][non_idx]]), 1)[:, 0]
    labels = np.r_[np.ones(n_c), np.zeros(n_c)]
    mia_auc = float(roc_auc_score(labels, -d_att))

    return {
        "dcr_share": share,
        "dcr_share_ties": float(ties.mean()),
        "dcr_train_median": float(np.median(d_tr)),
        "dcr_holdout_median": float(np.median(d_ho)),
        "dcr_train_p05": float(np.quantile(d_tr, 0.05)),
        "dcr_holdout_p05": float(np.quantile(d_ho, 0.05)),
        "dcr_histogram": _hist_pair(d_tr, d_ho),
        "nndr_low_share": low_share,
        "nndr_holdout_p05": p05,
        "nndr_synthetic_median": float(np.median(nndr_sy)),
        "nndr_holdout_median": float(np.median(nndr_ho)),
        "mia_auc": mia_auc,
        "rows": {"reference_each": int(n_ref), "synthetic_queries": int(n_q), "attack_synthetic_rows": int(n_att),
                 "attack_candidates_each": int(n_c), "nndr_baseline_rows": int(len(base_idx))},
    }


def _ratio(d2: np.ndarray) -> np.ndarray:
    if d2.shape[1] < 2:
        return np.zeros(len(d2))
    d1, d2_ = d2[:, 0].astype(float), d2[:, 1].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(d2_ > 0, d1 / d2_, 0.0)  # on top of two identical real rows: ratio 0
    return r


def _hist_pair(a: np.ndarray, b: np.ndarray, bins: int = 40) -> dict[str, Any]:
    hi = float(np.quantile(np.r_[a, b], 0.99)) if len(a) + len(b) else 1.0
    hi = hi if hi > 0 else 1.0
    edges = np.linspace(0, hi, bins + 1)
    return {"edges": edges.tolist(),
            "train": (np.histogram(np.clip(a, 0, hi), edges)[0] / max(len(a), 1)).tolist(),
            "holdout": (np.histogram(np.clip(b, 0, hi), edges)[0] / max(len(b), 1)).tolist()}
