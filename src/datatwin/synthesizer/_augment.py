"""Blend real and synthetic rows: a real table plus synthetic rows from a fitted model, at a chosen
synthetic share, shuffled, optionally labelled by source."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError

__all__ = ["augment"]

_TAG = 0xA06


def augment(real: pd.DataFrame, synthesizer: Any, ratio: float = 0.5, *, n: int | None = None,
            label_column: str | None = None, seed: int = 0) -> pd.DataFrame:
    """Mix real rows with synthetic rows sampled from a fitted synthesizer, shuffled.

    Parameters:
        real: the real table (the columns the model was fitted on, in any order).
        synthesizer: a fitted :class:`Synthesizer`, or the path of a saved model file.
        ratio: the synthetic share of the output, in [0, 1). Without ``n`` every real row is kept
            and ``round(len(real) * ratio / (1 - ratio))`` synthetic rows are added: 0.5 doubles
            the table, 0.2 adds one synthetic row for every four real ones.
        n: the number of output rows instead: ``round(n * ratio)`` synthetic rows, the rest real
            rows drawn without replacement (``ratio`` may then be 1).
        label_column: if given, a column of that name says ``real`` or ``synthetic`` for each row.
        seed: seeds the synthetic sample, the real subsample and the shuffle (same seed, same rows).

    Returns:
        A DataFrame with the real table's columns (plus ``label_column``), rows shuffled.

    Example:
        >>> import pandas as pd, datatwin
        >>> df = pd.DataFrame({"x": list(range(40)) * 3, "g": ["a", "b", "c"] * 40})
        >>> syn = datatwin.Synthesizer(engine="copula", random_state=0).fit(df)
        >>> out = datatwin.augment(df, syn, ratio=0.25, label_column="source")
        >>> len(out), int((out.source == "synthetic").sum())
        (160, 40)
    """
    if not isinstance(real, pd.DataFrame) or len(real) == 0:
        raise InputError("augment needs the real rows as a non-empty DataFrame")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.floating, np.integer)) or not (
            0 <= float(ratio) <= 1) or (n is None and float(ratio) == 1):
        raise InputError(f"ratio is the synthetic share of the output and must be in [0, 1) "
                         f"(or [0, 1] with n), got {ratio!r}")
    ratio = float(ratio)
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise InputError(f"n must be a positive number of rows, got {n!r}")
    if isinstance(synthesizer, (str, os.PathLike)):
        from ._estimator import load

        synthesizer = load(synthesizer)
    if not callable(getattr(synthesizer, "sample", None)):
        raise InputError(f"synthesizer must be a fitted datatwin Synthesizer or a model file, "
                         f"got {type(synthesizer).__name__}")
    columns = [str(c) for c in real.columns]
    model_cols = getattr(synthesizer, "columns_", None)
    if model_cols is not None:
        missing = [c for c in model_cols if c not in columns]
        extra = [c for c in columns if c not in model_cols]
        if missing or extra:
            raise InputError("the real table and the model have different columns: "
                             + "; ".join(p for p in (f"not in the table: {missing}" if missing else "",
                                                     f"not in the model: {extra}" if extra else "") if p))
    if label_column is not None and (not isinstance(label_column, str) or not label_column):
        raise InputError(f"label_column must be a column name, got {label_column!r}")
    if label_column is not None and label_column in columns:
        raise InputError(f"label column {label_column!r} is already a column of the table; choose another name")

    ss_sample, ss_real, ss_shuffle = np.random.SeedSequence([int(seed), _TAG]).spawn(3)
    if n is None:
        k = int(round(len(real) * ratio / (1 - ratio)))
        real_part = real
    else:
        k = int(round(n * ratio))
        m = n - k
        if m > len(real):
            raise InputError(f"n={n} at ratio {ratio} needs {m:,} real rows but the table has {len(real):,}; "
                             "lower n or raise ratio")
        pick = np.sort(np.random.default_rng(ss_real).choice(len(real), size=m, replace=False))
        real_part = real.iloc[pick]
    real_part = real_part.reset_index(drop=True)
    real_part.columns = columns
    parts = [real_part]
    if k > 0:
        sample_seed = int(ss_sample.generate_state(1)[0] % (2**31))
        syn = synthesizer.sample(k, seed=sample_seed)
        parts.append(syn[columns].reset_index(drop=True))
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].copy()
    if label_column is not None:
        labels = np.array(["real", "synthetic"], dtype=object)[np.r_[np.zeros(len(real_part), dtype=np.int8),
                                                                      np.ones(k, dtype=np.int8)]]
        out[label_column] = pd.array(labels, dtype="str")
    order = np.random.default_rng(ss_shuffle).permutation(len(out))
    return out.iloc[order].reset_index(drop=True)
