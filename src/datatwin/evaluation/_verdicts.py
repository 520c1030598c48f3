"""Plain-language verdicts: every rule that turns a figure into pass / warn / fail lives here.

Where sampling noise matters (privacy shares and the attack AUC), the pass limit widens with
three standard errors of the figure, so small tables are not failed for noise alone.
"""

from __future__ import annotations

import math
from typing import Any

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
ORDER = {SKIP: 0, PASS: 1, WARN: 2, FAIL: 3}

SECTIONS = {
    "fidelity": "Statistical fidelity",
    "detection": "Real or synthetic?",
    "utility": "Machine-learning utility",
    "insights": "Same conclusions",
    "privacy": "Privacy",
}

# thresholds (documented in docs/evaluation.md)
SHAPES = (0.90, 0.80)
PAIRS = (0.90, 0.80)
PAIRS_NOISE = 0.02  # pair trends pass within this of the real holdout's own score, when that is below 0.92
MISSING = (0.02, 0.05)
COVERAGE = (0.98, 0.95)
DETECTION = (0.65, 0.80)
IMPORTANCE = (0.60, 0.30)
INSIGHTS = (0.80, 0.60)
UTILITY_WARN_FACTOR = 2.5


def verdict(key: str, section: str, title: str, status: str, value: float | None, message: str,
            **extra: Any) -> dict[str, Any]:
    return {"key": key, "section": section, "title": title, "status": status,
            "value": None if value is None or (isinstance(value, float) and math.isnan(value)) else value,
            "message": message, **extra}


def _grade_high(x: float, limits: tuple[float, float]) -> str:
    return PASS if x >= limits[0] else WARN if x >= limits[1] else FAIL


def _grade_low(x: float, limits: tuple[float, float]) -> str:
    return PASS if x <= limits[0] else WARN if x <= limits[1] else FAIL


def worst(statuses: list[str]) -> str:
    live = [s for s in statuses if s != SKIP]
    return max(live, key=ORDER.__getitem__) if live else SKIP


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


# ----------------------------------------------------------------------------- fidelity
def column_shapes(score: float, rows: list[dict[str, Any]]) -> dict[str, Any]:
    if math.isnan(score):
        return verdict("column_shapes", "fidelity", "Column distributions", SKIP, None,
                       "No column could be compared.")
    st = _grade_high(score, SHAPES)
    worst_cols = sorted((r for r in rows if not math.isnan(r["score"])), key=lambda r: r["score"])[:3]
    weak = ", ".join(f"{r['column']} ({r['score']:.2f})" for r in worst_cols if r["score"] < SHAPES[0])
    msg = {PASS: f"Each column's distribution closely matches the real one (average similarity {score:.3f} of 1).",
           WARN: f"Column distributions roughly match the real ones (average similarity {score:.3f} of 1).",
           FAIL: f"Column distributions differ clearly from the real ones (average similarity {score:.3f} of 1)."}[st]
    if weak:
        msg += f" Least similar: {weak}."
    return verdict("column_shapes", "fidelity", "Column distributions", st, score, msg)


def pair_trends(res: dict[str, Any]) -> dict[str, Any]:
    score, n = res["score"], res["pairs_counted"]
    if n == 0 or math.isnan(score):
        return verdict("pair_trends", "fidelity", "Relationships between columns", SKIP, None,
                       "No pair of columns is strongly related in the real data (|r| > 0.5 or Cramer's V > 0.3), "
                       f"so there is no strong relationship to keep; over all pairs the similarity is "
                       f"{res['score_all_pairs']:.3f}.")
    ref = res.get("holdout_score")
    limits = PAIRS
    if ref is not None and not math.isnan(ref) and ref - PAIRS_NOISE < PAIRS[0]:
        # Unseen real rows score only `ref` (few strong pairs, a small holdout): a pass bar above
        # what real data reaches would fail a perfect generator by chance. Fail stays where it was.
        pass_at = ref - PAIRS_NOISE
        limits = (pass_at, min(PAIRS[1], pass_at))
    st = _grade_high(score, limits)
    lead = {PASS: "Relationships between columns are kept", WARN: "Relationships between columns are partly kept",
            FAIL: "Relationships between columns are lost"}[st]
    return verdict("pair_trends", "fidelity", "Relationships between columns", st, score,
                   f"{lead}: over the {n} strongly related pairs the similarity averages {score:.3f} of 1 "
                   f"({res['score_all_pairs']:.3f} over all {res['pairs_total']} pairs)"
                   + (f"; unseen real rows score {ref:.3f}." if ref is not None and not math.isnan(ref) else "."))


def missing_values(rows: list[dict[str, Any]]) -> dict[str, Any]:
    diffs = [(abs(r["real"] - r["synthetic"]), r["column"]) for r in rows]
    if not diffs:
        return verdict("missing_values", "fidelity", "Missing values", SKIP, None, "No columns.")
    d, col = max(diffs)
    st = _grade_low(d, MISSING)
    if d == 0:
        msg = "Missing values occur exactly as often as in the real data."
    else:
        msg = {PASS: f"Missing values occur about as often as in the real data (largest gap {pct(d)}, in {col}).",
               WARN: f"Missing-value rates drift from the real data (largest gap {pct(d)}, in {col}).",
               FAIL: f"Missing-value rates differ from the real data (largest gap {pct(d)}, in {col})."}[st]
    return verdict("missing_values", "fidelity", "Missing values", st, d, msg)


def coverage(rows: list[dict[str, Any]]) -> dict[str, Any]:
    vals = [(r["real_share_covered"], r["column"]) for r in rows if not math.isnan(r["real_share_covered"])]
    if not vals:
        return verdict("coverage", "fidelity", "Coverage of values", SKIP, None, "No column could be compared.")
    v, col = min(vals)
    st = _grade_high(v, COVERAGE)
    msg = {PASS: f"The synthetic data spans the real values and categories (at least {pct(v)} of real values "
                 "in every column fall inside what the synthetic data covers).",
           WARN: f"Some real values are not covered: only {pct(v)} of the real values of {col} fall inside what "
                 "the synthetic data covers.",
           FAIL: f"Real values are missing from the synthetic data: only {pct(v)} of the real values of {col} "
                 "fall inside what the synthetic data covers."}[st]
    return verdict("coverage", "fidelity", "Coverage of values", st, v, msg)


# ----------------------------------------------------------------------------- detection
def detection(res: dict[str, Any]) -> dict[str, Any]:
    title = "Can a classifier tell them apart?"
    if "auc" not in res:
        return verdict("detection", "detection", title, SKIP, None, f"Not run: {res.get('skipped', '')}.")
    auc = res["auc"]
    st = _grade_low(auc, DETECTION)
    cols = ", ".join(t["column"] for t in res.get("telltale_columns", [])[:3])
    msg = {PASS: f"A classifier can hardly tell synthetic rows from real ones (ROC AUC {auc:.3f}; "
                 "0.5 means indistinguishable).",
           WARN: f"A classifier can partly tell synthetic rows from real ones (ROC AUC {auc:.3f}; "
                 "0.5 means indistinguishable).",
           FAIL: f"A classifier easily tells synthetic rows from real ones (ROC AUC {auc:.3f}; "
                 "0.5 means indistinguishable)."}[st]
    if st != PASS and cols:
        msg += f" It relies most on: {cols}."
    return verdict("detection", "detection", title, st, auc, msg)


# ----------------------------------------------------------------------------- utility
METRIC_NAMES = {"roc_auc": "ROC AUC", "accuracy": "accuracy", "f1_macro": "macro F1", "r2": "R²", "mae": "MAE"}


def delta_status(metric: str, trtr: float, tstr: float, band: float, se: float | None = None) -> tuple[str, float]:
    """Status of one TSTR-vs-TRTR comparison and its shortfall (positive = synthetic is worse).

    Scores in [0, 1] compare in absolute points; MAE compares relative to TRTR's MAE. The holdout
    that both models are scored on has its own sampling noise (``se``, from a paired bootstrap):
    a shortfall within 1.96 SE is no evidence of a loss, so it passes even where it exceeds the
    band (a band narrower than the noise would fail a perfect generator by chance). Warn up to
    2.5 x the band (the 2-5 point accuracy-delta guidance for a 2-point band) or one more 1.96 SE
    beyond the pass limit, whichever is wider; fail beyond."""
    if metric == "mae":
        short = (tstr - trtr) / trtr if trtr > 0 else (0.0 if tstr <= trtr else math.inf)
    else:
        short = trtr - tstr
    noise = 1.96 * se if se is not None and math.isfinite(se) else 0.0
    pass_limit = max(band, noise)
    st = PASS if short <= pass_limit else WARN if short <= max(UTILITY_WARN_FACTOR * band, pass_limit + noise) \
        else FAIL
    return st, short


def utility(res: dict[str, Any] | None, band: float, reason: str | None) -> dict[str, Any]:
    title = "Train on synthetic, test on real"
    if res is None or "skipped" in res:
        why = reason or (res or {}).get("skipped", "")
        return verdict("utility", "utility", title, SKIP, None, f"Not measured: {why}.")
    m = res["primary_metric"]
    se = (res.get("delta_se") or {}).get(m)
    st, short = delta_status(m, res["trtr"][m], res["tstr"][m], band, se)
    name = METRIC_NAMES[m]
    noise = f", noise ±{1.96 * se:.3f}" if se is not None and math.isfinite(se) else ""
    pair = f"{name} {res['tstr'][m]:.3f} vs {res['trtr'][m]:.3f}{noise}"
    msg = {PASS: f"A model trained on the synthetic data predicts {res['target']} on unseen real rows about as "
                 f"well as one trained on real data ({pair}, within the {band:g} band or the holdout's noise).",
           WARN: f"A model trained on the synthetic data predicts {res['target']} on unseen real rows somewhat "
                 f"worse than one trained on real data ({pair}; the band is {band:g}).",
           FAIL: f"A model trained on the synthetic data predicts {res['target']} on unseen real rows clearly "
                 f"worse than one trained on real data ({pair}; the band is {band:g})."}[st]
    return verdict("utility", "utility", title, st, res["delta"][m], msg, metric=m)


def feature_importance(res: dict[str, Any] | None, reason: str | None) -> dict[str, Any]:
    title = "Same drivers of the prediction"
    fi = (res or {}).get("feature_importance")
    if not fi or math.isnan(fi.get("spearman", math.nan)):
        why = reason or (res or {}).get("skipped") or (fi or {}).get("note", "")
        return verdict("feature_importance", "utility", title, SKIP, None, f"Not measured: {why}.")
    rho = fi["spearman"]
    st = _grade_high(rho, IMPORTANCE)
    msg = {PASS: f"Models trained on synthetic and on real data rely on the same columns (rank correlation of "
                 f"the columns' importance {rho:.2f}; 1 = same order).",
           WARN: f"Models trained on synthetic and on real data rely on partly different columns (rank correlation "
                 f"of the columns' importance {rho:.2f}; 1 = same order).",
           FAIL: f"Models trained on synthetic and on real data rely on different columns (rank correlation of "
                 f"the columns' importance {rho:.2f}; 1 = same order)."}[st]
    return verdict("feature_importance", "utility", title, st, rho, msg)


# ----------------------------------------------------------------------------- insights
def insights(res: dict[str, Any] | None, reason: str | None) -> dict[str, Any]:
    title = "Same analysis, same answer"
    if res is None or "skipped" in res or not res.get("conclusions"):
        why = reason or (res or {}).get("skipped", "no conclusion to compare")
        return verdict("insights", "insights", title, SKIP, None, f"Not measured: {why}.")
    share, n = res["hold_share"], res["conclusions"]
    st = _grade_high(share, INSIGHTS)
    held = round(share * n)
    msg = {PASS: f"Analyses of the synthetic data reach the real data's conclusions: {held} of {n} group "
                 "figures and regression effects hold.",
           WARN: f"Some conclusions change on synthetic data: {held} of {n} group figures and regression "
                 "effects hold.",
           FAIL: f"Many conclusions change on synthetic data: only {held} of {n} group figures and regression "
                 "effects hold."}[st]
    return verdict("insights", "insights", title, st, share, msg)


# ----------------------------------------------------------------------------- privacy
def exact_copies(res: dict[str, Any]) -> dict[str, Any]:
    rate, base = res["rate"], res["baseline"]
    st = PASS if rate <= 1.5 * base + 0.001 else WARN if rate <= 2 * base + 0.01 else FAIL
    basis = "unseen real rows" if res["baseline_source"].startswith("holdout") else "real rows among themselves"
    if rate == 0:
        msg = f"No synthetic row copies a real training row ({basis} match at {pct(base, 2)})."
    else:
        msg = {PASS: f"Copies of real rows are no more common than chance: {pct(rate, 2)} of synthetic rows match a "
                     f"training row ({basis}: {pct(base, 2)}).",
               WARN: f"Some synthetic rows copy real training rows: {pct(rate, 2)} match a training row ("
                     f"{basis}: {pct(base, 2)}).",
               FAIL: f"The synthetic data copies real training rows: {pct(rate, 2)} of synthetic rows are exact "
                     f"copies ({basis}: {pct(base, 2)})."}[st]
    return verdict("exact_copies", "privacy", "Exact copies of real rows", st, rate, msg, baseline=base)


def _privacy_skip(key: str, title: str, reason: str) -> dict[str, Any]:
    return verdict(key, "privacy", title, SKIP, None, f"Not measured: {reason}.")


def dcr_share(res: dict[str, Any] | None, reason: str | None) -> dict[str, Any]:
    title = "Closer to training rows than to unseen rows?"
    if res is None:
        return _privacy_skip("dcr_share", title, reason or "")
    share, n = res["dcr_share"], res["rows"]["synthetic_queries"]
    limit = 0.5 + max(0.03, 3 * math.sqrt(0.25 / max(n, 1)))
    st = PASS if share <= limit else WARN if share <= max(0.6, limit + 0.05) else FAIL
    msg = {PASS: f"Synthetic rows are no closer to the training rows than to real rows the generator never saw "
                 f"(share {share:.3f}; 0.5 is ideal).",
           WARN: f"Synthetic rows lean towards the training rows (share {share:.3f} closer to a training row; "
                 "0.5 is ideal).",
           FAIL: f"Synthetic rows sit closer to the training rows than to unseen real rows (share {share:.3f}; "
                 "0.5 is ideal): the generator memorises."}[st]
    return verdict("dcr_share", "privacy", title, st, share, msg)


def nndr(res: dict[str, Any] | None, reason: str | None) -> dict[str, Any]:
    title = "Rows that single out one real person"
    if res is None or math.isnan(res.get("nndr_low_share", math.nan)):
        return _privacy_skip("nndr", title, reason or "too few rows")
    low, n = res["nndr_low_share"], res["rows"]["synthetic_queries"]
    limit = 0.05 + max(0.03, 3 * math.sqrt(0.05 * 0.95 / max(n, 1)))
    st = PASS if low <= limit else WARN if low <= max(0.15, limit + 0.05) else FAIL
    msg = {PASS: f"Synthetic rows do not single out individual real people: {pct(low)} sit unusually close to one "
                 "training row (5% expected by chance).",
           WARN: f"Some synthetic rows sit unusually close to one training row: {pct(low)} (5% expected).",
           FAIL: f"Many synthetic rows sit on one particular training row: {pct(low)} (5% expected)."}[st]
    return verdict("nndr", "privacy", title, st, low, msg)


def mia(res: dict[str, Any] | None, reason: str | None) -> dict[str, Any]:
    title = "Membership-inference attack"
    if res is None:
        return _privacy_skip("mia", title, reason or "")
    auc, n = res["mia_auc"], res["rows"]["attack_candidates_each"]
    se = math.sqrt((2 / max(n, 1)) / 12)
    limit = 0.5 + max(0.05, 3 * se)
    st = PASS if auc <= limit else WARN if auc <= max(0.6, limit + 0.05) else FAIL
    msg = {PASS: f"An attacker holding the synthetic data cannot tell who was in the training data (ROC AUC "
                 f"{auc:.3f}; 0.5 is a coin toss).",
           WARN: f"An attacker holding the synthetic data can guess a little better than chance who was in the "
                 f"training data (ROC AUC {auc:.3f}; 0.5 is a coin toss).",
           FAIL: f"An attacker holding the synthetic data can tell who was in the training data (ROC AUC {auc:.3f}; "
                 "0.5 is a coin toss)."}[st]
    return verdict("mia", "privacy", title, st, auc, msg)
