"""One converter to plain JSON/YAML data, shared by model files, specs, constraints and reports."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["plain"]


def _iso(d: dt.date) -> str:
    return d.isoformat()


def plain(x: Any, *, strict: bool = True, dates: Callable[[dt.date], str] = _iso) -> Any:
    """``x`` as plain Python data: numpy scalars and arrays unwrapped, dates as text.

    ``strict`` (JSON): keys become text, NaN and infinities become ``None``, missing markers
    (``pd.NA``, ``NaT``) become ``None``, any other object becomes its text. Not strict (YAML):
    number and bool keys and non-finite floats are kept, unknown objects are left as they are.

    Example:
        >>> plain({1: np.float64("nan"), "a": (np.int64(2), np.bool_(True))})
        {'1': None, 'a': [2, True]}
    """
    if isinstance(x, dict):
        return {(plain(k, strict=strict, dates=dates) if not strict and isinstance(k, (bool, int, float, np.generic))
                 else str(k)): plain(v, strict=strict, dates=dates) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v, strict=strict, dates=dates) for v in x]
    if isinstance(x, np.ndarray):
        return [plain(v, strict=strict, dates=dates) for v in x.tolist()]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and strict and not math.isfinite(x):
        return None
    if x is None or isinstance(x, (str, bool, int, float)):
        return x
    if isinstance(x, (dt.date, dt.datetime)) and not _is_na(x):
        return dates(x)
    if strict and _is_na(x):
        return None
    return str(x) if strict else x


def _is_na(x: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):  # containers and objects that pandas cannot judge
        return False
