"""Shared model helpers: LightGBM with fixed, deterministic settings and the feature view it eats."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._prepare import NAN_TOKEN, Prepared

N_JOBS = 1


def lgbm(kind: str, seed: int, **extra: Any) -> Any:
    import lightgbm as lgb

    params: dict[str, Any] = dict(random_state=seed, n_jobs=N_JOBS, verbose=-1, deterministic=True,
                                  force_row_wise=True, **extra)
    return lgb.LGBMClassifier(**params) if kind == "clf" else lgb.LGBMRegressor(**params)


def feature_frames(prep: Prepared, parts: dict[str, tuple[str, np.ndarray | None]],
                   drop: tuple[str, ...] = ()) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """LightGBM inputs for row subsets of prepared frames, built as the judge builds them:
    numbers as float, categories as pandas Categorical over the sorted canonical strings that occur
    in these parts, missing as a level of its own.

    ``parts`` maps an output name to (frame name, row indices or None for all rows).
    """
    cols = [c for c in prep.columns if c not in drop]
    out: dict[str, dict[str, object]] = {k: {} for k in parts}
    for c in cols:
        if prep.is_continuous(c):
            for k, (frame, idx) in parts.items():
                v = prep.frames[frame][c]
                out[k][c] = v if idx is None else v[idx]
            continue
        levels = prep.levels[c]
        codes = {}
        for k, (frame, idx) in parts.items():
            v = prep.frames[frame][c]
            codes[k] = v if idx is None else v[idx]
        used = np.unique(np.concatenate([v[v >= 0] for v in codes.values()]))
        names = [str(levels[i]) for i in used]
        has_nan = any((v < 0).any() for v in codes.values())
        cats = sorted(names + ([NAN_TOKEN] if has_nan and NAN_TOKEN not in names else []))
        pos = {name: i for i, name in enumerate(cats)}
        lut = np.full(len(levels) + 1, -1, dtype=np.int32)  # last slot: missing
        for i, name in zip(used, names, strict=True):
            lut[i] = pos[name]
        if has_nan:
            lut[-1] = pos[NAN_TOKEN]
        for k, v in codes.items():
            mapped = lut[np.where(v < 0, len(levels), v)]
            out[k][c] = pd.Categorical.from_codes(mapped, categories=cats)
    frames = {k: pd.DataFrame(v, columns=cols) for k, v in out.items()}
    return frames, cols
