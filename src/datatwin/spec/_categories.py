"""Category and boolean columns: values drawn by weight, optionally per value of a parent column."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._checks import _is_num, _number
from ._columns import RunState, _Col, _Vals
from ._source import _Where


def _category_values(v: Any, p: tuple[Any, ...], w: _Where) -> tuple[list[Any], list[float] | None]:
    """``values`` as a list, or a mapping value -> weight."""
    if isinstance(v, dict):
        vals, weights = list(v.keys()), list(v.values())
    elif isinstance(v, list):
        vals, weights = v, None
    else:
        raise w.error(p, f"must be a list of values or a mapping value: weight, got {v!r}")
    if not vals:
        raise w.error(p, "needs at least one value")
    for i, x in enumerate(vals):
        if isinstance(x, (dt.date, dt.datetime)):
            x = vals[i] = x.isoformat()
        if not isinstance(x, (str, int, float, bool)) or (isinstance(x, float) and not math.isfinite(x)):
            raise w.error(p, f"value {x!r} must be text, a number or true/false")
    groups = {_vtype(x) for x in vals}
    if len(groups) > 1:
        raise w.error(p, "mixes text, numbers and true/false; quote the values to make them all text")
    seen: set[Any] = set()
    for x in vals:
        if x in seen:
            raise w.error(p, f"value {x!r} is listed twice")
        seen.add(x)
    if weights is not None:
        weights = [_number(x, (*p, str(k)), w, lo=0) for k, x in zip(vals, weights, strict=True)]
    return vals, weights


def _vtype(x: Any) -> str:
    return "b" if isinstance(x, bool) else ("n" if _is_num(x) else "s")


def _weights(v: Any, n: int, p: tuple[Any, ...], w: _Where) -> list[float]:
    if not isinstance(v, list) or len(v) != n:
        raise w.error(p, f"must be a list of {n} weights (one per value), got {v!r}")
    return [_number(x, (*p, i), w, lo=0) for i, x in enumerate(v)]


class _CategoryCol(_Col):
    type = "category"
    fkind = "cat"
    groupable = {"values", "weights"}

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        super().__init__(name, d, path, w)
        if "values" not in d:
            raise self.err((), "a category needs values (a list, or a mapping value: weight)")
        self.values, weights = _category_values(d["values"], (*path, "values"), w)
        if "weights" in d:
            if weights is not None:
                raise self.err("weights", "give weights either in values (value: weight) or here, not both")
            weights = _weights(d["weights"], len(self.values), (*path, "weights"), w)
        self.weights = weights if weights is not None else [1.0] * len(self.values)
        if sum(self.weights) <= 0:
            raise self.err("weights", "must not all be zero")

    def bind(self, cols: Mapping[str, _Col]) -> None:
        super().bind(cols)
        g = self.groups
        rows = [self.weights]
        if g is not None:
            index = {(type(v), v): i for i, v in enumerate(self.values)}
            per: list[tuple[list[Any], list[float]] | None] = []
            for o, p in zip(g.over, g.paths, strict=True):
                if o is None:
                    per.append(None)
                    continue
                if "values" in o:
                    vals, ws = _category_values(o["values"], (*p, "values"), self.w)  # type: ignore[misc]
                    if "weights" in o:
                        if ws is not None:
                            raise self.w.error((*p, "weights"), "give weights either in values or here")  # type: ignore[misc]
                        ws = _weights(o["weights"], len(vals), (*p, "weights"), self.w)  # type: ignore[misc]
                    ws = ws if ws is not None else [1.0] * len(vals)
                else:
                    vals = list(self.values)
                    ws = _weights(o.get("weights"), len(vals), (*p, "weights"), self.w)  # type: ignore[misc]
                if sum(ws) <= 0:
                    raise self.w.error((*p, "weights"), "must not all be zero")  # type: ignore[misc]
                for x in vals:
                    if (type(x), x) not in index:
                        if _vtype(x) != _vtype(self.values[0]):
                            raise self.w.error((*p, "values"), "mixes value types with the column's values")  # type: ignore[misc]
                        index[(type(x), x)] = len(self.values)
                        self.values.append(x)
                per.append((vals, ws))
            k = len(self.values)
            rows = []
            for item in [*per, None]:
                r = np.zeros(k)
                if item is None:
                    r[: len(self.weights)] = self.weights
                else:
                    for x, wt in zip(*item, strict=True):
                        r[index[(type(x), x)]] = wt
                rows.append(list(r))
        k = len(self.values)
        cum = np.cumsum(np.asarray(rows, dtype=np.float64), axis=1)
        cum /= cum[:, -1:]
        cum[:, -1] = 1.0
        self.cum = cum
        last = np.asarray(rows) > 0
        self.last = (k - 1 - np.argmax(last[:, ::-1], axis=1)).astype(np.int64)
        self.code_dtype = np.int8 if k < 127 else (np.int16 if k < 32_000 else np.int32)
        self.dtype = pd.CategoricalDtype(self.values)

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: RunState) -> _Vals:
        n = len(rows)
        u = rng.random(n)
        if self.groups is None:
            codes = np.searchsorted(self.cum[0], u, side="right")
            codes = np.minimum(codes, self.last[0])
        else:
            pc = self.groups.codes(ctx)
            slot = np.where(pc < 0, len(self.cum) - 1, pc)
            codes = np.empty(n, dtype=np.int64)
            order = np.argsort(slot, kind="stable")
            bounds = np.searchsorted(slot[order], np.arange(len(self.cum) + 1))
            for s in range(len(self.cum)):
                idx = order[bounds[s]:bounds[s + 1]]
                if len(idx):
                    codes[idx] = np.minimum(np.searchsorted(self.cum[s], u[idx], side="right"), self.last[s])
        return _Vals(codes.astype(self.code_dtype), None)

    def output(self, v: _Vals) -> Any:
        return pd.Categorical.from_codes(v.values, dtype=self.dtype)


class _BoolCol(_Col):
    type = "boolean"
    fkind = "b"
    groupable = {"p"}

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        super().__init__(name, d, path, w)
        self.p = _number(d["p"], (*path, "p"), w, lo=0, hi=1, what="a probability in [0, 1]") if "p" in d else 0.5
        self.values = [False, True]

    def bind(self, cols: Mapping[str, _Col]) -> None:
        super().bind(cols)
        self.table = None
        if self.groups is not None:
            self.table = self.groups.table("p", self.p, lambda v, p: _number(
                v, p, self.w, lo=0, hi=1, what="a probability in [0, 1]"))

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: RunState) -> _Vals:
        p = self.p if self.table is None else self.table[self.groups.codes(ctx)]  # type: ignore[union-attr]
        return _Vals(rng.random(len(rows)) < p, None)

    def output(self, v: _Vals) -> Any:
        if self.nullable:
            m = v.mask if v.mask is not None else np.zeros(len(v.values), dtype=bool)
            return pd.arrays.BooleanArray(v.values, m)
        return v.values

