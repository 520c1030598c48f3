"""Fidelity: column shapes and column pair trends exactly as SDMetrics 0.32's QualityReport
computes them, plus missing-value rates, coverage, summary statistics and plot data.

SDMetrics details reproduced here (they move the figures by more than rounding):

* Column shapes: KSComplement (1 - two-sample KS D, missing values dropped, values rounded to
  14 decimals) for numeric and datetime columns; TVComplement for categorical and boolean
  columns, on the non-missing values, with a 1e-6 pseudo-count in the real data for every
  level that only the synthetic data has.
* Pair trends: Pearson correlation similarity 1 - |r_real - r_syn| / 2 for two continuous
  columns (rows where both are present; a column with one distinct value gives no score);
  contingency similarity 1 - TVD of the joint frequencies otherwise (missing is a level of its
  own). A continuous column paired with a discrete one is cut into the 10 equal-width bins of
  ``numpy.histogram_bin_edges``, computed on each frame separately, as SDMetrics does.
* Thresholds: a pair counts only if |r_real| > 0.5, or its real Cramer's V (no continuity
  correction) > 0.3. The all-pairs variant counts every pair.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._prepare import Prepared

MAX_DECIMALS = 14  # sys.float_info.dig - 1, as SDMetrics rounds before the KS test
CORRELATION_THRESHOLD = 0.5
ASSOCIATION_THRESHOLD = 0.3
N_BINS_PAIRS = 10
HEATMAP_MAX_COLUMNS = 30
HIST_BINS = 30
BAR_LEVELS = 12


# ----------------------------------------------------------------------------- single columns
def ks_complement(real: np.ndarray, syn: np.ndarray) -> float:
    a = np.round(real[~np.isnan(real)], MAX_DECIMALS)
    b = np.round(syn[~np.isnan(syn)], MAX_DECIMALS)
    if len(a) == 0 or len(b) == 0:
        return math.nan
    a.sort()
    b.sort()
    both = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, both, side="right") / len(a)
    cdf_b = np.searchsorted(b, both, side="right") / len(b)
    return float(1.0 - np.max(np.abs(cdf_a - cdf_b)))


def tv_complement(real: np.ndarray, syn: np.ndarray, n_levels: int) -> float:
    cr = np.bincount(real[real >= 0], minlength=n_levels).astype(float)
    cs = np.bincount(syn[syn >= 0], minlength=n_levels).astype(float)
    if cr.sum() == 0 or cs.sum() == 0:
        return math.nan
    cr = cr + np.where((cs > 0) & (cr == 0), 1e-6, 0.0)  # SDMetrics' regularisation
    keep = cr > 0
    f_obs = cs[keep] / cs.sum()
    f_exp = cr[keep] / cr.sum()
    return float(1.0 - 0.5 * np.abs(f_obs - f_exp).sum())


def column_shapes(prep: Prepared, real: str = "real", syn: str = "synthetic") -> list[dict[str, Any]]:
    rows = []
    for c in prep.columns:
        r, s = prep.frames[real][c], prep.frames[syn][c]
        if prep.is_continuous(c):
            score, metric = ks_complement(r, s), "KSComplement"
        else:
            score, metric = tv_complement(r, s, len(prep.levels[c])), "TVComplement"
        rows.append({"column": c, "kind": prep.kinds[c], "metric": metric, "score": score})
    return rows


# ----------------------------------------------------------------------------- pairs
def _discretize(x: np.ndarray) -> np.ndarray | None:
    """SDMetrics' ColumnPairTrends discretisation: 10 equal-width bins of this frame's own values,
    ``np.digitize`` on the open edges (so the maximum and NaN land in bin 11)."""
    try:
        edges = np.histogram_bin_edges(x[~np.isnan(x)])
        return np.digitize(x, bins=edges).astype(np.int64)
    except (ValueError, TypeError):
        return None


def _discrete_codes(prep: Prepared, frame: str, c: str) -> tuple[np.ndarray, int]:
    codes = prep.frames[frame][c].astype(np.int64)
    k = len(prep.levels[c])
    return np.where(codes < 0, k, codes), k + 1


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) < 2:
        raise ValueError("fewer than two rows where both columns are present")
    xm, ym = x - x.mean(), y - y.mean()
    nx, ny = np.linalg.norm(xm), np.linalg.norm(ym)
    if nx == 0 or ny == 0:
        return math.nan
    return float(np.clip(np.dot(xm / nx, ym / ny), -1.0, 1.0))


def _n_unique(x: np.ndarray) -> int:
    return len(np.unique(x[~np.isnan(x)]))


def cramers_v(a: np.ndarray, b: np.ndarray, ka: int, kb: int) -> float:
    """Cramer's V of two code arrays (scipy ``association(method='cramer')``, no correction)."""
    table = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).astype(float)
    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    if table.size == 0 or min(table.shape) < 2:
        return math.nan
    n = table.sum()
    expected = np.outer(table.sum(1), table.sum(0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return math.sqrt(chi2 / n / (min(table.shape) - 1))


def _contingency_score(ra: np.ndarray, rb: np.ndarray, sa: np.ndarray, sb: np.ndarray, ka: int, kb: int) -> float:
    pr = np.bincount(ra * kb + rb, minlength=ka * kb) / len(ra)
    ps = np.bincount(sa * kb + sb, minlength=ka * kb) / len(sa)
    return float(1.0 - 0.5 * np.abs(pr - ps).sum())


class _PairView:
    """Per-frame inputs of the pair metrics: raw floats, own-bin codes, and discrete codes."""

    def __init__(self, prep: Prepared, frame: str):
        self.prep, self.frame = prep, frame
        self.values: dict[str, np.ndarray] = {}
        self.codes: dict[str, tuple[np.ndarray, int] | None] = {}
        self.nunique: dict[str, int] = {}
        for c in prep.columns:
            v = prep.frames[frame][c]
            if prep.is_continuous(c):
                self.values[c] = v
                self.nunique[c] = _n_unique(v)
                d = _discretize(v)
                self.codes[c] = None if d is None else (d, N_BINS_PAIRS + 2)
            else:
                self.codes[c] = _discrete_codes(prep, frame, c)


def _union_k(kr: int, ks: int) -> int:
    return max(kr, ks)


def pair_trends(prep: Prepared, real: str = "real", syn: str = "synthetic") -> dict[str, Any]:
    """Every analysed pair with its metric, score, real/synthetic correlation or association and
    whether it meets the SDMetrics thresholds; plus the two averages."""
    R, S = _PairView(prep, real), _PairView(prep, syn)
    cols = prep.columns
    pairs = []
    for i, a in enumerate(cols):
        for b in cols[i + 1:]:
            ca, cb = prep.is_continuous(a), prep.is_continuous(b)
            row: dict[str, Any] = {"column_1": a, "column_2": b, "real_correlation": math.nan,
                                   "synthetic_correlation": math.nan, "real_association": math.nan,
                                   "synthetic_association": math.nan}
            if ca and cb:
                row["metric"] = "CorrelationSimilarity"
                try:
                    if 1 in (R.nunique[a], R.nunique[b], S.nunique[a], S.nunique[b]):
                        raise ValueError("constant column")
                    r_real = _pearson(R.values[a], R.values[b])
                    r_syn = _pearson(S.values[a], S.values[b])
                except ValueError:
                    row.update(score=math.nan, score_all=math.nan, meets_threshold=False)
                    pairs.append(row)
                    continue
                row["real_correlation"], row["synthetic_correlation"] = r_real, r_syn
                ok = not (math.isnan(r_real) or math.isnan(r_syn))
                score = 1 - abs(r_real - r_syn) / 2 if ok else math.nan
                row["score_all"] = score if (ok and abs(r_real) > 0) else math.nan
                meets = not math.isnan(r_real) and abs(r_real) > CORRELATION_THRESHOLD
                row["score"] = score if meets else math.nan
                row["meets_threshold"] = meets
            else:
                row["metric"] = "ContingencySimilarity"
                ra, rb, sa, sb = R.codes[a], R.codes[b], S.codes[a], S.codes[b]
                if ra is None or rb is None or sa is None or sb is None:
                    row.update(score=math.nan, score_all=math.nan, meets_threshold=False)
                    pairs.append(row)
                    continue
                ka, kb = _union_k(ra[1], sa[1]), _union_k(rb[1], sb[1])
                v_real = cramers_v(ra[0], rb[0], ka, kb)
                row["real_association"] = v_real
                row["synthetic_association"] = cramers_v(sa[0], sb[0], ka, kb)
                score = _contingency_score(ra[0], rb[0], sa[0], sb[0], ka, kb)
                row["score_all"] = score
                meets = not math.isnan(v_real) and v_real > ASSOCIATION_THRESHOLD
                row["score"] = score if meets else math.nan
                row["meets_threshold"] = meets
            pairs.append(row)
    counted = [p["score"] for p in pairs if p["meets_threshold"] and not math.isnan(p["score"])]
    every = [p["score_all"] for p in pairs if not math.isnan(p["score_all"])]
    return {
        "score": float(np.mean(counted)) if counted else math.nan,
        "score_all_pairs": float(np.mean(every)) if every else math.nan,
        "pairs_counted": len(counted),
        "pairs_total": len(pairs),
        "thresholds": {"real_correlation": CORRELATION_THRESHOLD, "real_association": ASSOCIATION_THRESHOLD},
        "pairs": pairs,
    }


def association_matrices(prep: Prepared, pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """Real and synthetic association matrices for the heatmaps: Pearson r for two continuous
    columns, Cramer's V otherwise (on the same inputs as the pair metrics)."""
    cols = prep.columns[:HEATMAP_MAX_COLUMNS]
    idx = {c: i for i, c in enumerate(cols)}
    k = len(cols)
    real = np.full((k, k), np.nan)
    syn = np.full((k, k), np.nan)
    np.fill_diagonal(real, 1.0)
    np.fill_diagonal(syn, 1.0)
    for p in pairs:
        a, b = p["column_1"], p["column_2"]
        if a not in idx or b not in idx:
            continue
        i, j = idx[a], idx[b]
        if p["metric"] == "CorrelationSimilarity":
            rv, sv = p["real_correlation"], p["synthetic_correlation"]
        else:
            rv, sv = p["real_association"], p["synthetic_association"]
        real[i, j] = real[j, i] = rv
        syn[i, j] = syn[j, i] = sv
    return {"columns": cols, "real": real.tolist(), "synthetic": syn.tolist(),
            "difference": np.abs(real - syn).tolist(),
            "note": "Pearson r between two numeric/date columns; Cramer's V (0..1) where a category is involved"}


# ----------------------------------------------------------------------------- other fidelity figures
def coverage(prep: Prepared, real: str = "real", syn: str = "synthetic") -> list[dict[str, Any]]:
    rows = []
    for c in prep.columns:
        r, s = prep.frames[real][c], prep.frames[syn][c]
        if prep.is_continuous(c):
            r, s = r[~np.isnan(r)], s[~np.isnan(s)]
            if len(r) == 0 or len(s) == 0:
                rows.append({"column": c, "kind": prep.kinds[c], "range_coverage": math.nan,
                             "real_share_covered": math.nan})
                continue
            lo, hi, slo, shi = r.min(), r.max(), s.min(), s.max()
            overlap = max(0.0, min(hi, shi) - max(lo, slo))
            rng = hi - lo
            rows.append({"column": c, "kind": prep.kinds[c],
                         "range_coverage": float(overlap / rng) if rng > 0 else float(slo <= lo <= shi),
                         "real_share_covered": float(np.mean((r >= slo) & (r <= shi))),
                         "synthetic_share_outside_real_range": float(np.mean((s < lo) | (s > hi)))})
        else:
            k = len(prep.levels[c])
            cr = np.bincount(r[r >= 0], minlength=k)
            cs = np.bincount(s[s >= 0], minlength=k)
            in_real, in_syn = cr > 0, cs > 0
            rows.append({"column": c, "kind": prep.kinds[c],
                         "category_coverage": float((in_real & in_syn).sum() / max(in_real.sum(), 1)),
                         "real_share_covered": float(cr[in_syn].sum() / max(cr.sum(), 1)),
                         "synthetic_share_new_categories": float(cs[~in_real].sum() / max(cs.sum(), 1)),
                         "real_categories": int(in_real.sum()), "synthetic_categories": int(in_syn.sum())})
    return rows


QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def summary_statistics(prep: Prepared, real: str = "real", syn: str = "synthetic") -> list[dict[str, Any]]:
    rows = []
    for c in prep.columns:
        row: dict[str, Any] = {"column": c, "kind": prep.kinds[c]}
        for side, frame in (("real", real), ("synthetic", syn)):
            v = prep.frames[frame][c]
            if prep.is_continuous(c):
                x = v[~np.isnan(v)]
                if len(x) == 0:
                    row[side] = None
                    continue
                qs = np.quantile(x, QUANTILES)
                row[side] = {"mean": float(x.mean()), "std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
                             "min": float(x.min()), "max": float(x.max()),
                             **{f"q{int(q * 100):02d}": float(val) for q, val in zip(QUANTILES, qs, strict=True)}}
            else:
                k = len(prep.levels[c])
                cnt = np.bincount(v[v >= 0], minlength=k)
                total = max(int(cnt.sum()), 1)
                top = np.argsort(-cnt, kind="stable")[:5]
                row[side] = {"levels": int((cnt > 0).sum()),
                             "top": [[str(prep.levels[c][i]), float(cnt[i] / total)] for i in top if cnt[i] > 0]}
        rows.append(row)
    return rows


def histograms(prep: Prepared, real: str = "real", syn: str = "synthetic") -> dict[str, Any]:
    """Binned shares per column for the report's plots (JSON-friendly, no raw rows)."""
    out: dict[str, Any] = {}
    for c in prep.columns:
        r, s = prep.frames[real][c], prep.frames[syn][c]
        if prep.is_continuous(c):
            rv, sv = r[~np.isnan(r)], s[~np.isnan(s)]
            if len(rv) == 0:
                continue
            uniq = np.unique(rv)
            if len(uniq) <= HIST_BINS and np.all(uniq == np.round(uniq)):
                lo, hi = uniq.min() - 0.5, uniq.max() + 0.5
                nb = int(hi - lo)
            else:
                lo, hi = np.quantile(rv, [0.005, 0.995])
                if hi <= lo:
                    lo, hi = rv.min(), rv.max()
                if hi <= lo:
                    lo, hi = lo - 0.5, hi + 0.5
                nb = HIST_BINS
            edges = np.linspace(lo, hi, nb + 1)
            hr = np.histogram(np.clip(rv, lo, hi), edges)[0] / len(rv)
            hs = np.histogram(np.clip(sv, lo, hi), edges)[0] / max(len(sv), 1)
            out[c] = {"type": "numeric", "kind": prep.kinds[c], "edges": edges.tolist(), "real": hr.tolist(),
                      "synthetic": hs.tolist(), "clipped": True}
        else:
            k = len(prep.levels[c])
            cr = np.bincount(r[r >= 0], minlength=k)
            cs = np.bincount(s[s >= 0], minlength=k)
            order = [i for i in np.argsort(-cr, kind="stable") if cr[i] > 0][:BAR_LEVELS]
            labels = [str(prep.levels[c][i]) for i in order]
            nr, ns = max(len(r), 1), max(len(s), 1)
            real_sh = [float(cr[i] / nr) for i in order]
            syn_sh = [float(cs[i] / ns) for i in order]
            rest_r = float(cr.sum() / nr) - sum(real_sh)
            rest_s = float(cs.sum() / ns) - sum(syn_sh)
            if rest_r > 1e-12 or rest_s > 1e-12:
                labels.append("(other)")
                real_sh.append(max(rest_r, 0.0))
                syn_sh.append(max(rest_s, 0.0))
            miss_r, miss_s = float(np.mean(r < 0)), float(np.mean(s < 0))
            if miss_r > 0 or miss_s > 0:
                labels.append("(missing)")
                real_sh.append(miss_r)
                syn_sh.append(miss_s)
            out[c] = {"type": "categorical", "kind": prep.kinds[c], "labels": labels, "real": real_sh,
                      "synthetic": syn_sh}
    return out
