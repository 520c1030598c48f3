"""``evaluate``: fidelity, detection, utility, insights and privacy of a synthetic table."""

from __future__ import annotations

import inspect
import math
import time
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError
from .._progress import ProgressCallback, report
from . import _fidelity, _verdicts
from ._detection import detection as _detection
from ._insights import insights as _insights
from ._prepare import (
    ANALYSED,
    CONTINUOUS,
    check_frame,
    check_same_columns,
    prepare,
    resolve_kinds,
    row_hashes,
    subsample,
)
from ._privacy import distance_privacy, exact_copies
from ._result import RESULT_FORMAT_VERSION, EvaluationResult
from ._utility import utility as _utility

__all__ = ["evaluate"]

NO_HOLDOUT = ("no holdout was given; pass real rows the generator never saw as holdout= to measure "
              "this")


def _check_params(max_rows: Any, random_state: Any, pass_band: Any, progress: Any) -> None:
    if isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < 100:
        raise InputError(f"max_rows must be an int of at least 100, got {max_rows!r}")
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
        raise InputError(f"random_state must be a non-negative int, got {random_state!r}")
    if isinstance(pass_band, bool) or not isinstance(pass_band, (int, float)) or not 0 <= pass_band < 1:
        raise InputError(f"pass_band must be a number in [0, 1) such as 0.02 (2 points), got {pass_band!r}")
    _check_progress(progress)


def _check_progress(progress: Any) -> None:
    what = "progress must be a function that takes one datatwin.ProgressEvent (ev.stage, ev.completed, ev.total)"
    if progress is None:
        return
    if not callable(progress):
        raise InputError(f"{what} or None, got {type(progress).__name__}")
    try:
        params = inspect.signature(progress).parameters.values()
    except (TypeError, ValueError):  # a builtin or C function without a signature: take it as it is
        return
    required = [p for p in params if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    # The old protocol called progress(stage, fraction); such a function would fail mid-run.
    if len(required) > 1:
        raise InputError(f"{what}; this one takes {len(required)} arguments (the old progress(stage, fraction) "
                         "form): write it as lambda ev: ... using ev.stage and ev.completed / ev.total")


def _check_target(real: pd.DataFrame, kinds: dict[str, str], target: str | None) -> None:
    if target is None:
        return
    if target not in real.columns:
        cols = ", ".join(repr(str(c)) for c in list(real.columns)[:8])
        more = ", ..." if real.shape[1] > 8 else ""
        raise InputError(f"target column {target!r} is not in the data; choose one of {cols}{more}")
    kind = kinds[target]
    values = real[target].dropna().unique()
    if len(values) < 2:
        only = f" ({str(values[0])[:30]!r})" if len(values) else ""
        what = "class" if kind not in CONTINUOUS else "value"
        raise InputError(f"target column {target!r} has only one {what}{only} in the real data; a model needs "
                         "at least two, so choose another target or leave it out")
    if kind not in ANALYSED:
        raise InputError(f"target column {target!r} is of kind {kind!r}, which cannot be predicted; choose a "
                         "numeric, categorical, boolean or date column")


def evaluate(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    holdout: pd.DataFrame | None = None,
    target: str | None = None,
    metadata: dict[str, str] | None = None,
    max_rows: int = 50_000,
    random_state: int = 0,
    pass_band: float = 0.02,
    progress: ProgressCallback | None = None,
    guarantee: dict[str, Any] | None = None,
) -> EvaluationResult:
    """Measure how faithful, useful and private a synthetic table is.

    Args:
        real: the real rows the generator was trained on.
        synthetic: the synthetic rows, with the same columns.
        holdout: real rows the generator never saw. Needed for ML utility (TSTR vs TRTR) and for
            the distance-based privacy checks; without it those are reported as not measured.
        target: a column to predict for ML utility and to analyse for equivalence of insights.
        metadata: column name -> kind ("numeric", "categorical", "boolean", "datetime", "id",
            "pii", "text", "constant"); columns left out are inferred. id, pii, text and
            constant columns are excluded from the distribution metrics.
        max_rows: each input larger than this is evaluated on a seeded random subsample of this
            many rows (the result states the sizes used). Exact copies are checked on all rows.
        random_state: seed of every random choice (subsamples, folds, models).
        pass_band: the largest TSTR shortfall against TRTR that still passes, in points of the
            score (0.02 = 2 points of ROC AUC or R²; relative for MAE).
        guarantee: the formal privacy guarantee of the model that made ``synthetic``
            (``Synthesizer.privacy_``: epsilon, delta, how they were spent, the accountant); the
            report states it beside the empirical checks. ``None``: no formal guarantee.
        progress: called with a :class:`datatwin.ProgressEvent` as the work goes on, the same
            protocol as ``fit`` and ``sample``: for each of the stages "prepare", "fidelity",
            "detection", "utility", "insights" and "privacy" in turn, ``completed=0, total=1``
            when it starts and ``completed=1, total=1`` when it ends (``info["skipped"]`` gives
            the reason when a stage had nothing to measure).

    Returns:
        An :class:`EvaluationResult`.

    Raises:
        InputError: empty frames, different columns, incompatible column types, an unusable target,
            or a ``progress`` that is not a function of one event.

    Example:
        >>> import pandas as pd, datatwin
        >>> real = pd.DataFrame({"age": [23, 35, 47, 51, 62] * 20, "plan": ["a", "b", "a", "c", "b"] * 20})
        >>> synthetic = real.sample(frac=1.0, random_state=1).reset_index(drop=True)
        >>> events = []
        >>> result = datatwin.evaluate(real, synthetic, progress=events.append)
        >>> [(ev.stage, ev.completed, ev.total) for ev in events][:3]
        [('prepare', 0, 1), ('prepare', 1, 1), ('fidelity', 0, 1)]
        >>> [ev.stage for ev in events if ev.completed == 1]
        ['prepare', 'fidelity', 'detection', 'utility', 'insights', 'privacy']
    """
    from threadpoolctl import threadpool_limits

    if guarantee is not None and not (isinstance(guarantee, dict) and {"epsilon", "delta"} <= set(guarantee)):
        raise InputError("guarantee must be a model's privacy_ record (a dict with epsilon and delta) or None")
    # One BLAS thread: on a small, shared machine, multithreaded OpenBLAS busy-waits and can run
    # 20-50x slower when another process holds a core (measured on 2 cores); our matrices are small.
    with threadpool_limits(limits=1, user_api="blas"):
        return _evaluate(real, synthetic, holdout=holdout, target=target, metadata=metadata, max_rows=max_rows,
                         random_state=random_state, pass_band=pass_band, progress=progress, guarantee=guarantee)


def _evaluate(real: pd.DataFrame, synthetic: pd.DataFrame, *, holdout: pd.DataFrame | None, target: str | None,
              metadata: dict[str, str] | None, max_rows: int, random_state: int, pass_band: float,
              progress: ProgressCallback | None, guarantee: dict[str, Any] | None) -> EvaluationResult:
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    def start(stage: str) -> None:
        timings[stage] = time.perf_counter()
        report(progress, stage, 0, 1)

    def end(stage: str, skipped: str | None = None) -> None:
        timings[stage] = time.perf_counter() - timings[stage]
        if skipped:
            report(progress, stage, 1, 1, skipped=skipped)
        else:
            report(progress, stage, 1, 1)

    _check_params(max_rows, random_state, pass_band, progress)
    seed = int(random_state)
    real = check_frame(real, "real")
    synthetic = check_frame(synthetic, "synthetic")
    if holdout is not None:
        holdout = check_frame(holdout, "holdout")
        check_same_columns(real, holdout, "holdout")
    check_same_columns(real, synthetic, "synthetic")
    kinds, kinds_source = resolve_kinds(real, metadata)
    _check_target(real, kinds, target)
    if not any(k in ANALYSED for k in kinds.values()):
        raise InputError("no column can be compared: every column is an id, PII, free text or constant; "
                         "give the data at least one numeric, categorical, boolean or date column")
    start("prepare")
    notes: list[str] = []
    synthetic = synthetic[list(real.columns)]
    if holdout is not None:
        holdout = holdout[list(real.columns)]
        if holdout.shape == synthetic.shape and holdout.reset_index(drop=True).equals(
                synthetic.reset_index(drop=True)):
            rs = np.random.RandomState(seed + 99)
            perm = rs.permutation(len(holdout))
            half = len(holdout) // 2
            synthetic = holdout.iloc[np.sort(perm[:half])]
            holdout = holdout.iloc[np.sort(perm[half:])]
            notes.append(f"The synthetic data is the holdout itself, so the holdout was split in two: "
                         f"{len(synthetic)} rows play the synthetic data and {len(holdout)} the holdout.")

    given = {"real": len(real), "synthetic": len(synthetic)}
    frames = {"real": subsample(real, max_rows, seed, 1), "synthetic": subsample(synthetic, max_rows, seed, 2)}
    if holdout is not None:
        given["holdout"] = len(holdout)
        frames["holdout"] = subsample(holdout, max_rows, seed, 3)
    prep = prepare(frames, kinds)
    notes.extend(prep.notes)
    used = {k: len(v) for k, v in frames.items()}
    if any(used[k] < given[k] for k in used):
        notes.append("Large inputs were evaluated on seeded random subsamples of at most "
                     f"{max_rows:,} rows: " + ", ".join(f"{k} {used[k]:,} of {given[k]:,}" for k in used
                                                           if used[k] < given[k])
                     + ". Exact copies are checked on all rows.")
    end("prepare")

    # ---------------------------------------------------------------- fidelity
    start("fidelity")
    shapes = _fidelity.column_shapes(prep)
    shape_scores = [r["score"] for r in shapes if not math.isnan(r["score"])]
    shapes_score = float(np.mean(shape_scores)) if shape_scores else math.nan
    pairs = _fidelity.pair_trends(prep)
    if holdout is not None:
        # How well unseen real rows keep the same pairs: the noise floor of this figure.
        pairs["holdout_score"] = _fidelity.pair_trends(prep, "real", "holdout")["score"]
    quality = _nanmean([shapes_score, pairs["score"]])
    quality_all = _nanmean([shapes_score, pairs["score_all_pairs"]])
    missing = [{"column": c, "kind": kinds[c], "real": float(frames["real"][c].isna().mean()),
                "synthetic": float(frames["synthetic"][c].isna().mean())} for c in real.columns]
    fidelity: dict[str, Any] = {
        "quality": quality,
        "quality_all_pairs": quality_all,
        "column_shapes": {"score": shapes_score, "columns": shapes},
        "pair_trends": pairs,
        "missing_values": missing,
        "coverage": _fidelity.coverage(prep),
        "summary_statistics": _fidelity.summary_statistics(prep),
        "histograms": _fidelity.histograms(prep),
        "associations": _fidelity.association_matrices(prep, pairs["pairs"]),
    }
    end("fidelity")

    # ---------------------------------------------------------------- detection
    start("detection")
    det = _detection(prep, "holdout" if holdout is not None else "real", "synthetic", seed)
    end("detection", det.get("skipped") if isinstance(det.get("skipped"), str) else None)

    # ---------------------------------------------------------------- utility
    start("utility")
    util: dict[str, Any] | None = None
    util_reason = None
    if target is None:
        util_reason = "no target column was given; pass target= to measure this"
    elif holdout is None:
        util_reason = NO_HOLDOUT
    else:
        util = _utility(prep, target, seed)
    end("utility", util_reason)

    # ---------------------------------------------------------------- insights
    start("insights")
    ins = None
    ins_reason = None
    if target is None:
        ins_reason = "no target column was given; pass target= to compare analyses"
    else:
        ins = _insights(prep, target)
    end("insights", ins_reason)

    # ---------------------------------------------------------------- privacy
    start("privacy")
    copies = exact_copies(row_hashes(synthetic, kinds), row_hashes(real, kinds),
                          row_hashes(holdout, kinds) if holdout is not None else None)
    dist = None
    priv_reason = None
    if holdout is None:
        priv_reason = NO_HOLDOUT
    elif min(used["holdout"], used["real"], used["synthetic"]) < 2:
        priv_reason = "too few rows"
    else:
        dist = distance_privacy(prep, seed)
    privacy: dict[str, Any] = {"exact_copies": copies, "distances": dist}
    if priv_reason:
        privacy["skipped"] = priv_reason
    end("privacy")

    # ---------------------------------------------------------------- verdicts
    V = _verdicts
    verdicts = [
        V.column_shapes(shapes_score, shapes),
        V.pair_trends(pairs),
        V.missing_values(missing),
        V.coverage(fidelity["coverage"]),
        V.detection(det),
        V.utility(util, pass_band, util_reason),
        V.feature_importance(util, util_reason),
        V.insights(ins, ins_reason),
        V.exact_copies(copies),
        V.dcr_share(dist, priv_reason),
        V.nndr(dist, priv_reason),
        V.mia(dist, priv_reason),
    ]
    overall = V.worst([v["status"] for v in verdicts])
    sections = {s: V.worst([v["status"] for v in verdicts if v["section"] == s]) for s in V.SECTIONS}
    timings["total"] = time.perf_counter() - t_start

    summary: dict[str, Any] = {
        "overall": overall,
        "sections": sections,
        "quality": quality,
        "column_shapes": shapes_score,
        "pair_trends": pairs["score"],
        "pairs_counted": pairs["pairs_counted"],
        "quality_all_pairs": quality_all,
        "pair_trends_all_pairs": pairs["score_all_pairs"],
        "detection_auc": det.get("auc"),
    }
    if util is not None and "skipped" not in util:
        m = util["primary_metric"]
        summary.update(task=util["task"], utility_metric=m, tstr=util["tstr"][m], trtr=util["trtr"][m],
                       tstr_delta=util["delta"][m], feature_importance_spearman=util["feature_importance"]["spearman"])
    if ins is not None and "skipped" not in ins:
        summary["insights_hold_share"] = ins["hold_share"]
    summary.update(exact_copy_rate=copies["rate"], exact_copy_baseline=copies["baseline"])
    if dist is not None:
        summary.update(dcr_share=dist["dcr_share"], nndr_low_share=dist["nndr_low_share"], mia_auc=dist["mia_auc"])
    summary["rows_used"] = used
    summary["seconds"] = timings["total"]

    from .._version import __version__

    data = {
        "format_version": RESULT_FORMAT_VERSION,
        "datatwin_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "summary": summary,
        "verdicts": verdicts,
        "data": {
            "rows_given": given, "rows_used": used, "max_rows": int(max_rows), "random_state": seed,
            "target": target, "pass_band": float(pass_band), "kinds": kinds, "kinds_source": kinds_source,
            "analysed_columns": prep.columns,
            "excluded_columns": [c for c in real.columns if c not in prep.columns],
            "holdout": holdout is not None,
        },
        "fidelity": fidelity,
        "detection": det,
        "utility": util if util is not None else {"skipped": util_reason},
        "insights": ins if ins is not None else {"skipped": ins_reason},
        "privacy": privacy,
        "guarantee": guarantee,
        "notes": notes,
        "timings": timings,
    }
    return EvaluationResult(data)


def _nanmean(xs: list[float]) -> float:
    vals = [x for x in xs if not math.isnan(x)]
    return float(np.mean(vals)) if vals else math.nan
