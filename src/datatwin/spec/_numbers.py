"""Number columns (integer, float) and date columns (date, datetime): a distribution drawn per
row, clipped to bounds that may be formulas over other columns or differ per group."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from .._formula import any_mask
from ._checks import _is_num, _number, _suggest
from ._columns import RunState, _Col, _Vals
from ._dates import _check_strftime, _DateFormatter, _parse_when, _when_text
from ._expr import _Expr, _expr_names
from ._source import _Where

_DISTS: dict[str, list[tuple[str, ...]]] = {
    "uniform": [()], "normal": [("mean", "sd")], "lognormal": [("mu", "sigma"), ("mean", "sd")],
    "poisson": [("mean",)], "exponential": [("mean",)],
}
_PARAM_RULES = {  # (lower bound, open?)
    "mean": (None, False), "sd": (0.0, False), "mu": (None, False), "sigma": (0.0, False),
}


class _Bound:
    """A min or max: a literal, a formula over other columns, and/or per-group values."""

    def __init__(self, const: float | None = None, expr_text: Any = None,
                 path: tuple[Any, ...] = ()) -> None:
        self.const, self.expr_text, self.path = const, expr_text, path
        self.expr: _Expr | None = None
        self.levels: np.ndarray | None = None

    def values(self, ctx: dict[str, _Vals], pc: np.ndarray | None, n: int, scale: float) -> tuple[Any, Any]:
        v: Any = self.const
        mask = None
        if self.expr is not None:
            e, mask = self.expr.evaluate(ctx, n)
            v = e.astype(np.float64) * scale
        if self.levels is not None and pc is not None:
            g = self.levels[pc]
            v = g if v is None else np.where(np.isnan(g), v, g)
        return v, mask


class _NumberCol(_Col):
    """integer / float: a distribution, clipped to min/max, rounded to decimals."""

    unit: str | None = None
    scale = 1.0  # formula units (days) -> internal units

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        super().__init__(name, d, path, w)
        self.integer = self.type in ("integer", "date", "datetime")
        self.fkind = "i" if self.integer else "f"
        dist = d.get("distribution", "uniform")
        if dist not in _DISTS:
            raise self.err("distribution", f"unknown distribution {dist!r} ({_suggest(dist, _DISTS)}"
                                           f"choose {', '.join(_DISTS)})")
        self.dist = dist
        used = [k for k in ("mean", "sd", "mu", "sigma") if k in d or any(
            isinstance(o, dict) and k in o for o in (d.get("params") or {}).values())]
        forms = _DISTS[dist]
        form = next((f for f in forms if set(used) <= set(f)), None)
        if form is None:
            extra = sorted(set(used) - set(forms[0])) if len(forms) == 1 else sorted(used)
            takes = " or ".join("+".join(f) for f in forms if f) or "only min and max"
            key = extra[0] if extra else "distribution"
            raise self.err(key, f"{dist} takes {takes}; remove {', '.join(extra) or 'the others'}")
        self.form = form
        self.decimals: int | None = None
        if "decimals" in d:
            self.decimals = int(_number(d["decimals"], (*path, "decimals"), w, lo=0, hi=12, integer=True,
                                        what="a whole number of decimals in [0, 12]"))
        self.lo = self._bound("min")
        self.hi = self._bound("max")
        self.defaults: dict[str, float | None] = {}
        for k in form:
            self.defaults[k] = self._param(d[k], (*path, k), k) if k in d else None

    @property
    def groupable(self) -> set[str]:  # type: ignore[override]
        return set(self.form) | {"min", "max"}

    def _param(self, v: Any, p: tuple[Any, ...], key: str) -> float:
        lo, _ = _PARAM_RULES.get(key, (None, False))
        if key == "mean" and self.dist in ("poisson", "exponential", "lognormal"):
            return _number(v, p, self.w, lo=0, lo_open=self.dist != "poisson")
        return _number(v, p, self.w, lo=lo)

    def _literal(self, v: Any, p: tuple[Any, ...]) -> float | None:
        return float(v) if _is_num(v) and math.isfinite(float(v)) else None

    def _bound(self, key: str) -> _Bound | None:
        if key not in self.d:
            return None
        v, p = self.d[key], (*self.path, key)
        lit = self._literal(v, p)
        if lit is not None:
            return _Bound(const=lit, path=p)
        if isinstance(v, str) and v.strip():
            return _Bound(expr_text=v, path=p)
        raise self.w.error(p, f"must be {self._bound_what()} or a formula over other columns, got {v!r}")

    def _bound_what(self) -> str:
        return "a number"

    def refs(self) -> list[tuple[str, tuple[Any, ...]]]:
        out = super().refs()
        for b in (self.lo, self.hi):
            if b is not None and b.expr_text is not None:
                out += [(nm, b.path) for nm in _expr_names(b.expr_text, b.path, self.w)]
        return out

    def bind(self, cols: Mapping[str, _Col]) -> None:
        super().bind(cols)
        for b in (self.lo, self.hi):
            if b is not None and b.expr_text is not None:
                b.expr = _Expr(b.expr_text, b.path, self.w, cols)
                if b.expr.kind == "b":
                    raise self.w.error(b.path, f"{b.expr_text!r} is a condition, not a {self._bound_what()}")
                self.snull |= b.expr.may_null
        self.tables: dict[str, Any] = {}
        g = self.groups
        missing_default = False
        for k in self.form:
            if g is not None:
                self.tables[k] = g.table(k, self.defaults[k], functools.partial(self._param, key=k))
            for i in range(len(g.levels) if g else 1):
                given = self.defaults[k] is not None or (g is not None and g.over[i] is not None
                                                         and k in g.over[i])  # type: ignore[operator]
                if not given:
                    where = f" for {g.parent.name} = {g.levels[i]!r}" if g else ""
                    raise self.err(k if g is None else "params",
                                   f"{self.dist} needs {k}{where}; give it " + (
                                       "at the column level or under params" if g else "here"))
            missing_default |= self.defaults[k] is None
        for key, b in (("min", self.lo), ("max", self.hi)):
            if g is not None:
                tab = g.table(key, None, lambda v, p: self._group_bound(v, p))
                if tab is not None:
                    if b is None:
                        b = _Bound(path=(*self.path, key))
                        setattr(self, "lo" if key == "min" else "hi", b)
                    b.levels = tab
            if self.dist == "uniform":
                complete = b is not None and (b.const is not None or b.expr is not None or (
                    b.levels is not None and not np.isnan(b.levels[:-1]).any()))
                if not complete:
                    raise self.err(key, f"a uniform {self.type} needs {key}")
                if b is not None and b.const is None and b.expr is None:
                    missing_default = True
        if g is not None and missing_default and g.parent.snull:
            self.snull = True
        self._check_literal_range()

    def _group_bound(self, v: Any, p: tuple[Any, ...]) -> float:
        lit = self._literal(v, p)
        if lit is None:
            raise self.w.error(p, f"must be {self._bound_what()} (formulas go at the column level)")
        return lit

    def _check_literal_range(self) -> None:
        lo = self.lo.const if self.lo is not None else None
        hi = self.hi.const if self.hi is not None else None
        if lo is None or hi is None:
            return
        glo, ghi = self._grid(lo, hi)
        if glo > ghi:
            grid = "whole number" if self.integer else f"value with {self.decimals} decimals"
            raise self.err("max", f"no {grid} lies between min {self._show(lo)} and max {self._show(hi)}"
                           if lo <= hi else f"max {self._show(hi)} is below min {self._show(lo)}")

    def _show(self, x: float) -> str:
        return f"{x:g}"

    def _grid(self, lo: Any, hi: Any) -> tuple[Any, Any]:
        if self.integer:
            return np.ceil(np.asarray(lo) - 1e-9), np.floor(np.asarray(hi) + 1e-9)
        if self.decimals is not None:
            f = 10.0**self.decimals
            return np.ceil(np.asarray(lo) * f - 1e-9) / f, np.floor(np.asarray(hi) * f + 1e-9) / f
        return lo, hi

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: RunState) -> _Vals:
        n = len(rows)
        pc = self.groups.codes(ctx) if self.groups is not None else None
        mask = None
        params: dict[str, Any] = {}
        for k in self.form:
            tab = self.tables.get(k)
            v = self.defaults[k] if tab is None else tab[pc]
            if isinstance(v, np.ndarray):
                nan = np.isnan(v)
                if nan.any():
                    mask = any_mask(mask, nan)
                    v = np.where(nan, 1.0, v)
            params[k] = v
        lo, lom = self.lo.values(ctx, pc, n, self.scale) if self.lo is not None else (None, None)
        hi, him = self.hi.values(ctx, pc, n, self.scale) if self.hi is not None else (None, None)
        mask = any_mask(mask, lom, him)
        bad = None
        if lo is not None or hi is not None:
            glo, ghi = self._grid(-np.inf if lo is None else lo, np.inf if hi is None else hi)
            infeasible = np.asarray(glo > ghi)
            if infeasible.any():
                bad = np.broadcast_to(infeasible, (n,)).copy() if infeasible.ndim == 0 else infeasible
                if mask is not None:
                    bad &= ~mask
                ghi = np.where(infeasible, glo, ghi)
        x: np.ndarray
        if self.dist == "uniform":
            if isinstance(glo, np.ndarray) or isinstance(ghi, np.ndarray):
                nan = np.isnan(glo) | np.isnan(ghi)
                if nan.any():
                    mask = any_mask(mask, nan)
                    glo, ghi = np.where(nan, 0.0, glo), np.where(nan, 0.0, ghi)
            if self.integer:
                x = rng.integers(_ints(glo), _ints(ghi), size=n, endpoint=True)
            else:
                x = rng.uniform(glo, ghi, size=n)
        else:
            if self.dist == "normal":
                x = rng.normal(params["mean"], params["sd"], size=n)
            elif self.dist == "lognormal":
                if "mu" in params:
                    mu, sigma = params["mu"], params["sigma"]
                else:
                    mean, sd = params["mean"], params["sd"]
                    s2 = np.log1p((np.asarray(sd) / np.asarray(mean)) ** 2)
                    mu, sigma = np.log(mean) - s2 / 2, np.sqrt(s2)
                with np.errstate(over="ignore"):
                    x = rng.lognormal(mu, sigma, size=n)
            elif self.dist == "poisson":
                x = rng.poisson(params["mean"], size=n).astype(np.float64)
            else:
                x = rng.exponential(params["mean"], size=n)
            if self.integer or self.decimals is not None:
                x = np.round(x, 0 if self.integer else cast(int, self.decimals))
            if lo is not None:
                x = np.fmax(x, glo)
            if hi is not None:
                x = np.fmin(x, ghi)
        if self.integer:
            x = np.clip(x, -(2.0**62), 2.0**62).astype(np.int64) if x.dtype.kind == "f" else x
        elif self.decimals is not None and self.dist == "uniform":
            x = np.round(x, self.decimals)
            x = np.fmin(np.fmax(x, glo), ghi)
        return _Vals(x, mask, bad)

    def output(self, v: _Vals) -> Any:
        if self.integer:
            if self.nullable:
                m = v.mask if v.mask is not None else np.zeros(len(v.values), dtype=bool)
                return pd.arrays.IntegerArray(v.values, m)
            return v.values
        if v.mask is not None:
            return np.where(v.mask, np.nan, v.values)
        return v.values


def _ints(x: Any) -> Any:
    return int(x) if np.ndim(x) == 0 else np.asarray(x).astype(np.int64)


class _IntegerCol(_NumberCol):
    type = "integer"


class _FloatCol(_NumberCol):
    type = "float"


class _DateCol(_NumberCol):
    """date / datetime: a uniform draw of whole days / seconds between min and max (bounds may be
    formulas such as ``start_date + 1``, in days), written with ``format`` or as datetime64."""

    type = "date"
    unit = "date"

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        self.fmt = d.get("format")
        if self.fmt is not None:
            _check_strftime(self.fmt, (*path, "format"), w)
        if "distribution" in d and d["distribution"] != "uniform":
            raise w.error((*path, "distribution"), f"{self.type} columns are uniform between min and max")
        super().__init__(name, d, path, w)
        self.fkind = "i" if self.unit == "date" else "f"
        self.scale = 1.0 if self.unit == "date" else 86400.0
        self.formatter = _DateFormatter(self.fmt, self.unit) if self.fmt else None

    @property
    def groupable(self) -> set[str]:  # type: ignore[override]
        return {"min", "max"}

    def _literal(self, v: Any, p: tuple[Any, ...]) -> float | None:
        if _is_num(v):
            raise self.w.error(p, f"must be a {self.unit} such as 2024-01-31 or a formula, got {v!r}")
        x = _parse_when(v, self.fmt, self.unit)
        if x is None and isinstance(v, str) and re.match(r"\s*\d{1,4}[-/.]\d", v):
            raise self.w.error(p, f"{v!r} is not a valid {self.unit} (write it as YYYY-MM-DD"
                                  f"{' HH:MM:SS' if self.unit == 'datetime' else ''})")
        return x

    def _bound_what(self) -> str:
        return f"a {self.unit} (YYYY-MM-DD{' HH:MM:SS' if self.unit == 'datetime' else ''})"

    def _show(self, x: float) -> str:
        return _when_text(x, self.unit)  # type: ignore[arg-type]

    def output(self, v: _Vals) -> Any:
        return _when_output(v, self.unit, self.formatter)  # type: ignore[arg-type]


class _DatetimeCol(_DateCol):
    type = "datetime"
    unit = "datetime"


def _when_output(v: _Vals, unit: str, formatter: _DateFormatter | None) -> Any:
    secs = v.values.astype(np.int64) * (86400 if unit == "date" else 1)
    if formatter is not None:
        return formatter.format(secs, v.mask)
    out = secs.view("M8[s]")
    if v.mask is not None:
        out = out.copy()
        out[v.mask] = np.datetime64("NaT")
    return out

