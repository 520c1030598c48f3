"""What every spec column type shares: per-block values, the base class, per-group parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .._exceptions import SpecError
from ._checks import _check_keys, _choices, _number, _suggest
from ._source import _Where


class RunState(Protocol):
    """What a column may read of the generation call (``spec._generate._Run``): the row count,
    the seed and the Faker pools. A protocol, so column types need not import the generator."""

    n: int
    seed: int
    pools: dict[str, Any]


class _Vals:
    """One column of a block while it is generated: values in internal units and a missing mask."""

    __slots__ = ("bad", "mask", "values")

    def __init__(self, values: np.ndarray, mask: np.ndarray | None = None, bad: np.ndarray | None = None) -> None:
        self.values, self.mask, self.bad = values, mask, bad


_COMMON = {"type", "null_rate", "description"}


class _Col:
    """Base of the compiled column types."""

    type = ""
    fkind = "f"  # how formulas see the column: i, f, b, cat (codes), text (not usable)
    groupable: set[str] = set()

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        self.name, self.d, self.path, self.w = name, d, path, w
        self.null_rate = _number(d["null_rate"], (*path, "null_rate"), w, lo=0, hi=1, what="a share in [0, 1]") \
            if "null_rate" in d else 0.0
        self.snull = False  # can be missing before null_rate blanks cells (e.g. a division by zero)
        self.groups: _Groups | None = None
        if "by" in d and "params" not in d:
            raise w.error((*path, "by"), "'by' needs 'params: {value of the by column: {parameters}}'")
        if "params" in d and "by" not in d:
            raise w.error((*path, "params"), "'params' needs 'by: <category or boolean column>'")

    @property
    def nullable(self) -> bool:
        """The output can have missing values (decides Int64 over int64, boolean over bool)."""
        return self.snull or self.null_rate > 0

    def refs(self) -> list[tuple[str, tuple[Any, ...]]]:
        """Referenced column names, each with the field that refers to it."""
        out = []
        if "by" in self.d:
            by = self.d["by"]
            if not isinstance(by, str):
                raise self.w.error((*self.path, "by"), f"must be a column name, got {by!r}")
            out.append((by, (*self.path, "by")))
        return out

    def bind(self, cols: Mapping[str, _Col]) -> None:
        if "by" in self.d:
            self.groups = _Groups(self, cols)

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: RunState) -> _Vals:
        raise NotImplementedError

    def output(self, v: _Vals) -> Any:
        raise NotImplementedError

    def err(self, key: str | tuple[Any, ...], msg: str) -> SpecError:
        key = (key,) if isinstance(key, str) else key
        return self.w.error((*self.path, *key), msg)


class _Groups:
    """``by: parent`` + ``params: {parent value: {overrides}}``: per-row parameters, looked up by
    the parent's code (a missing parent takes the column-level defaults)."""

    def __init__(self, col: _Col, cols: Mapping[str, _Col]) -> None:
        self.col = col
        parent = cols[col.d["by"]]
        if parent.type not in ("category", "boolean"):  # the types with a fixed list of values
            raise col.err("by", f"column {parent.name!r} is {parent.type}; 'by' needs a category or boolean column")
        self.parent = parent
        self.levels: list[Any] = list(parent.values)  # type: ignore[attr-defined]
        params = col.d["params"]
        if not isinstance(params, dict) or not params:
            raise col.err("params", "must map values of "
                          f"{parent.name!r} to parameters, e.g. {{{self.levels[0]!r}: {{...}}}}")
        self.over: list[dict[str, Any] | None] = [None] * len(self.levels)
        self.paths: list[tuple[Any, ...] | None] = [None] * len(self.levels)
        for key, sub in params.items():
            p = (*col.path, "params", str(key))
            i = self._index(key, p)
            if self.over[i] is not None:
                raise col.w.error(p, f"{self.levels[i]!r} is given twice")
            self.over[i] = _check_keys(sub, col.groupable, p, col.w,
                                       f"a {col.type} column's per-value parameters")
            self.paths[i] = p

    def _index(self, key: Any, p: tuple[Any, ...]) -> int:
        for i, v in enumerate(self.levels):
            if type(v) is type(key) and v == key:
                return i
        for i, v in enumerate(self.levels):
            if str(v).lower() == str(key).lower():
                return i
        raise self.col.w.error(p, f"{key!r} is not a value of {self.parent.name!r} ({_suggest(key, self.levels)}"
                                  f"values: {_choices(self.levels)})")

    def codes(self, ctx: dict[str, _Vals]) -> np.ndarray:
        v = ctx[self.parent.name]
        if self.parent.type == "boolean":
            c = v.values.astype(np.int64)
            if v.mask is not None:
                c[v.mask] = -1
            return c
        return v.values

    def table(self, key: str, default: float | None, convert: Callable[[Any, tuple[Any, ...]], float]) -> Any:
        """Per-level values of ``key`` (index -1: the default, for a missing parent); NaN where not given."""
        if not any(o is not None and key in o for o in self.over):
            return None
        out = np.full(len(self.levels) + 1, np.nan if default is None else default, dtype=np.float64)
        for i, o in enumerate(self.over):
            if o is not None and key in o:
                out[i] = convert(o[key], (*self.paths[i], key))  # type: ignore[misc]
        return out


def _arrow_str(arr: Any, mask: np.ndarray | None) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if mask is not None:
        arr = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), arr)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    return pd.arrays.ArrowStringArray(arr).astype(pd.StringDtype("pyarrow", na_value=np.nan))

