"""Formula columns: ``expr`` over other columns, optionally converted to a number, flag or date."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._checks import _number, _suggest
from ._columns import RunState, _Col, _Vals
from ._dates import _check_strftime, _DateFormatter
from ._expr import _check_expr, _Expr, _expr_names
from ._numbers import _when_output
from ._source import _Where

_AS = ("integer", "float", "boolean", "date", "datetime")


class _FormulaCol(_Col):
    """``expr`` over other columns, optionally converted (``as: integer|float|boolean|date|datetime``)."""

    type = "formula"

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        super().__init__(name, d, path, w)
        if "expr" not in d:
            raise self.err((), "a formula column needs expr, e.g. expr: price * quantity")
        self.as_ = d.get("as")
        if self.as_ is not None and self.as_ not in _AS:
            raise self.err("as", f"unknown result type {self.as_!r} ({_suggest(self.as_, _AS)}choose "
                                 f"{', '.join(_AS)})")
        self.decimals = None
        if "decimals" in d:
            self.decimals = int(_number(d["decimals"], (*path, "decimals"), w, lo=0, hi=12, integer=True,
                                        what="a whole number of decimals in [0, 12]"))
        self.fmt = d.get("format")
        if self.fmt is not None:
            if self.as_ not in ("date", "datetime"):
                raise self.err("format", "format applies to as: date or as: datetime")
            _check_strftime(self.fmt, (*path, "format"), w)
        self.unit = self.as_ if self.as_ in ("date", "datetime") else None
        self.formatter = _DateFormatter(self.fmt, self.unit) if self.fmt and self.unit else None
        _check_expr(d["expr"], (*path, "expr"), w)
        self.fkind = {"integer": "i", "float": "f", "boolean": "b", "date": "i", "datetime": "f"}.get(
            self.as_, "f")  # type: ignore[arg-type]

    def refs(self) -> list[tuple[str, tuple[Any, ...]]]:
        p = (*self.path, "expr")
        return [(nm, p) for nm in _expr_names(self.d["expr"], p, self.w)]

    def bind(self, cols: Mapping[str, _Col]) -> None:
        self.expr = _Expr(self.d["expr"], (*self.path, "expr"), self.w, cols)
        if self.as_ is None:
            self.fkind = self.expr.kind
        if self.decimals is not None and (self.fkind != "f" or self.unit):
            raise self.err("decimals", "decimals applies to formulas with a fractional (float) result")
        self.snull = self.expr.may_null

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: RunState) -> _Vals:
        n = len(rows)
        x, mask = self.expr.evaluate(ctx, n)
        if self.as_ == "boolean":
            x = x != 0
        elif self.as_ in ("integer", "date"):
            x = np.floor(x) if self.as_ == "date" else np.round(x)
            x = np.clip(x, -(2.0**62), 2.0**62).astype(np.int64)
        elif self.as_ == "datetime":
            x = np.round(np.clip(x.astype(np.float64) * 86400.0, -(2.0**62), 2.0**62)).astype(np.int64)
        elif self.as_ == "float" or self.fkind == "f":
            x = x.astype(np.float64)
            if self.decimals is not None:
                x = np.round(x, self.decimals)
        return _Vals(x, mask)

    def output(self, v: _Vals) -> Any:
        if self.unit is not None:
            return _when_output(v, self.unit, self.formatter)
        if self.fkind == "i":
            if self.nullable:
                m = v.mask if v.mask is not None else np.zeros(len(v.values), dtype=bool)
                return pd.arrays.IntegerArray(v.values.astype(np.int64), m)
            return v.values.astype(np.int64)
        if self.fkind == "b":
            if self.nullable:
                m = v.mask if v.mask is not None else np.zeros(len(v.values), dtype=bool)
                return pd.arrays.BooleanArray(v.values.astype(bool), m)
            return v.values.astype(bool)
        x = v.values.astype(np.float64)
        return np.where(v.mask, np.nan, x) if v.mask is not None else x
