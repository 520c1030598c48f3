"""Values of constrained columns: comparable keys, numeric views (dates as seconds), writing back."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import ConstraintError
from ..encoding import DT_UNITS, from_float, to_seconds
from ..metadata import Metadata, parse_datetime_text


def value_key(v: Any) -> Any:
    """A hashable key equal for the same value however it is typed (1 == 1.0, True == 'True')."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    return str(v)


def column_keys(s: pd.Series) -> list[Any]:
    """:func:`value_key` of every value, vectorised for the common dtypes."""
    missing = s.isna().to_numpy()
    if pd.api.types.is_bool_dtype(s.dtype) or s.dtype == object:
        return [value_key(v) for v in s.tolist()]
    if pd.api.types.is_numeric_dtype(s.dtype):
        out = s.to_numpy(dtype=np.float64, na_value=np.nan).astype(object)
    else:
        out = s.astype(str).to_numpy(dtype=object)
    out[missing] = None
    return list(out)


def _keys(df: pd.DataFrame, cols: list[str]) -> list[tuple[Any, ...]]:
    return list(zip(*(column_keys(df[c]) for c in cols), strict=True))


def _replace(df: pd.DataFrame, rows: np.ndarray, src: pd.DataFrame, src_rows: np.ndarray, cols: list[str]) -> None:
    """``df.loc[rows, cols] = src.loc[src_rows, cols]``, by position, keeping each column's dtype."""
    for c in cols:
        arr = df[c].array.copy()
        arr[rows] = src[c].array[src_rows]
        df[c] = arr



class Units:
    """Numeric views of ordered columns: numbers as floats, dates as seconds (NaN = missing)."""

    def __init__(self, meta: Metadata, units: dict[str, str | None]) -> None:
        self.meta = meta
        self.units = units

    def numbers(self, s: pd.Series) -> np.ndarray:
        return to_seconds(s, self.meta.columns[str(s.name)])

    def scalar(self, name: str, value: Any, what: str) -> float:
        col = self.meta.columns[name]
        try:
            if col.kind != "datetime":
                return float(value)
            ts = None
            if isinstance(value, str) and col.datetime_format:
                ts = parse_datetime_text(pd.Series([value]), col.datetime_format).iloc[0]
            ts = pd.Timestamp(value) if ts is None or pd.isna(ts) else ts
            if pd.isna(ts):
                raise ValueError(value)
            return float((ts.tz_localize(None) if ts.tzinfo else ts).value // 1_000_000_000)
        except (TypeError, ValueError):
            raise ConstraintError(f"{what}: {value!r} is not a {'date' if col.kind == 'datetime' else 'number'} "
                                  f"for column {name!r}") from None

    def step(self, name: str) -> float:
        """The smallest difference the column can show (1 for integers, a day for dates, ...)."""
        col = self.meta.columns[name]
        if col.kind == "datetime":
            return float(DT_UNITS[self.units.get(name) or "s"])
        if col.integer:
            return 1.0
        return 10.0 ** -col.decimals if col.decimals is not None else 0.0  # 0: any float

    def write(self, df: pd.DataFrame, name: str, rows: np.ndarray, v: np.ndarray, up: bool) -> None:
        """Set numbers (seconds for dates) at ``rows``, rounding towards ``up`` so an order stays."""
        col = self.meta.columns[name]
        step = self.step(name)
        x = v
        if step > 0:
            scaled = v / step
            x = (np.ceil(scaled - 1e-9) if up else np.floor(scaled + 1e-9)) * step
        if col.kind == "datetime":
            unit = self.units.get(name) or "s"
            new = from_float(x / DT_UNITS[unit], col, unit)
        else:
            new = from_float(x, col, None)
        src = pd.DataFrame({name: new})
        _replace(df, rows, src, np.arange(len(rows)), [name])
