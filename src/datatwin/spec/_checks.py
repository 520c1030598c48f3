"""Checks of single spec values (numbers, text, field names) and "did you mean" suggestions."""

from __future__ import annotations

import difflib
import math
from typing import Any

import numpy as np

from ._source import _Where

_SYNONYMS = {"gauss": "normal", "gaussian": "normal", "gausian": "normal", "norm": "normal", "lognorm": "lognormal",
             "exp": "exponential", "expon": "exponential", "int": "integer", "number": "float", "double": "float",
             "categorical": "category", "choice": "category", "enum": "category", "bool": "boolean",
             "timestamp": "datetime", "id": "sequence", "counter": "sequence", "fake": "faker",
             "expression": "formula", "std": "sd", "stdev": "sd", "sigma": "sd", "lambda": "mean", "lam": "mean",
             "rate": "mean", "low": "min", "high": "max", "probability": "p"}


def _suggest(word: Any, options: Any) -> str:
    opts = [str(o) for o in options]
    alias = _SYNONYMS.get(str(word).lower())
    if alias in opts:
        return f"did you mean {alias!r}? "
    close = difflib.get_close_matches(str(word), opts, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _choices(options: Any, limit: int = 12) -> str:
    opts = [str(o) for o in options]
    return ", ".join(opts[:limit]) + (", ..." if len(opts) > limit else "")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _number(v: Any, path: tuple[Any, ...], w: _Where, *, lo: float | None = None, hi: float | None = None,
            lo_open: bool = False, integer: bool = False, what: str = "a number") -> float:
    if not _is_num(v) or not math.isfinite(float(v)):
        raise w.error(path, f"must be {what}, got {v!r}")
    x = float(v)
    if integer and not float(v).is_integer():
        raise w.error(path, f"must be a whole number, got {v!r}")
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise w.error(path, f"must be {'above' if lo_open else 'at least'} {lo:g}, got {v!r}")
    if hi is not None and x > hi:
        raise w.error(path, f"must be at most {hi:g}, got {v!r}")
    return x


def _text(v: Any, path: tuple[Any, ...], w: _Where, what: str = "text") -> str:
    if not isinstance(v, str) or not v.strip():
        raise w.error(path, f"must be {what}, got {v!r}")
    return v


def _check_keys(d: Any, allowed: set[str], path: tuple[Any, ...], w: _Where, what: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise w.error(path, f"must be a mapping of fields, got {type(d).__name__} {d!r}")
    for k in d:
        if str(k) not in allowed:
            raise w.error((*path, str(k)), f"unknown field {str(k)!r} in {what} ({_suggest(k, allowed)}"
                                           f"fields: {_choices(sorted(allowed), 30)})")
    return {str(k): v for k, v in d.items()}

