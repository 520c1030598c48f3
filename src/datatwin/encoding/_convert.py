"""Column values <-> float64 arrays (NaN = missing), and back to the column's input dtype.

Datetimes become counts of the coarsest unit that holds them exactly (days, minutes or
seconds, ``DT_UNITS``), so a date column's numbers stay small and its bins whole days.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError
from ..metadata import EPOCH_FORMATS, ColumnMeta, offset_seconds, parse_datetime_text

DT_UNITS = {"D": 86_400, "m": 60, "s": 1}


def to_float(s: pd.Series, meta: ColumnMeta) -> tuple[np.ndarray, str | None]:
    """Column values as float64 (NaN = missing); datetimes become counts of a unit."""
    if meta.kind != "datetime":
        if meta.kind == "boolean":
            raise AssertionError("booleans are categorical")
        v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = int(np.isnan(v).sum() - s.isna().sum())
        if bad > 0:
            raise InputError(
                f"column {s.name!r} is numeric but {bad} value(s) are not numbers; "
                f"fix them or declare the column 'categorical' in the metadata"
            )
        return v, None
    ts = _to_datetime(s, meta)
    ns = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    valid = ~ts.isna().to_numpy()
    secs = ns[valid] // 1_000_000_000
    unit = "s"
    if valid.any():
        if np.all(secs % 86_400 == 0):
            unit = "D"
        elif np.all(secs % 60 == 0):
            unit = "m"
    out = np.full(len(s), np.nan)
    out[valid] = (ns[valid] // 1_000_000_000 // DT_UNITS[unit]).astype(np.float64)
    return out, unit


def to_seconds(s: pd.Series, meta: ColumnMeta) -> np.ndarray:
    """Like :func:`to_float`, with dates as seconds whatever unit the values come in."""
    v, unit = to_float(s, meta)
    return v * DT_UNITS[unit] if unit else v


def rescale(value: float, unit_from: str | None, unit_to: str) -> float:
    """A count of ``unit_from`` converted into a count of ``unit_to``."""
    return float(value) * DT_UNITS[unit_from or "s"] / DT_UNITS[unit_to]


def _to_datetime(s: pd.Series, meta: ColumnMeta) -> pd.Series:
    """Parsed timestamps, naive UTC; a clear error for values that are not dates."""
    if meta.datetime_format in EPOCH_FORMATS:
        numbers = pd.to_numeric(s, errors="coerce")
        parsed = pd.to_datetime(numbers, unit="s" if meta.datetime_format == "epoch_s" else "ms", errors="coerce")
    elif meta.datetime_format:
        parsed = parse_datetime_text(s.astype("object").where(s.notna(), None), meta.datetime_format)
    else:
        parsed = pd.to_datetime(s, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = int(parsed.isna().sum() - s.isna().sum())
    if bad > 0:
        raise InputError(
            f"column {s.name!r}: {bad} value(s) do not match the date format "
            f"{meta.datetime_format or 'of a datetime'}; fix them or set 'datetime_format' in the metadata"
        )
    return parsed


def from_float(v: np.ndarray, meta: ColumnMeta, unit: str | None) -> Any:
    """Inverse of :func:`to_float`: an array or pandas array in the column's input dtype."""
    missing = np.isnan(v)
    if meta.kind == "datetime":
        secs = np.where(missing, 0, v).astype(np.int64) * DT_UNITS[unit or "s"]
        dt = secs.astype("datetime64[s]").astype("datetime64[ns]")
        dt[missing] = np.datetime64("NaT")
        if meta.datetime_format in EPOCH_FORMATS:
            count = np.where(missing, np.nan, secs * EPOCH_FORMATS[meta.datetime_format]).astype(np.float64)
            return from_float(count, ColumnMeta("numeric", dtype=meta.dtype, integer=True), None)
        if meta.datetime_format is None:
            out = pd.Series(dt)
            if not meta.dtype.startswith("datetime64"):
                return out
            if "," in meta.dtype:  # a time-zone-aware dtype: the instants are UTC
                return out.dt.tz_localize("UTC").astype(meta.dtype)
            return out.astype(meta.dtype)
        return _format_datetimes(dt, missing, meta)
    if meta.integer:
        v = np.round(v)
    elif meta.decimals is not None:
        v = np.round(v, meta.decimals)
    dtype = meta.dtype
    if dtype.startswith(("int", "uint")):
        if missing.any():
            arr = pd.array(np.where(missing, 0, v).astype(np.int64), dtype="Int64")
            arr[missing] = pd.NA
            return arr
        return v.astype(dtype)
    if dtype in ("Int64", "Int32", "Int16", "Int8", "UInt64", "UInt32", "UInt16", "UInt8"):
        arr = pd.array(np.where(missing, 0, v).astype(np.int64), dtype=dtype)
        arr[missing] = pd.NA
        return arr
    if dtype.startswith("float") or dtype.startswith("Float"):
        return pd.array(v, dtype=dtype) if dtype.startswith("Float") else v.astype(dtype)
    # Numbers that came as text: write them back as text.
    txt = _num_strings(v, meta).astype(object)
    txt[missing] = None
    return as_text_dtype(txt, dtype)


def _num_strings(v: np.ndarray, meta: ColumnMeta) -> np.ndarray:
    if meta.integer:
        return np.where(np.isnan(v), 0, v).astype(np.int64).astype(str)
    d = meta.decimals if meta.decimals is not None else 6
    return np.char.mod(f"%.{d}f", v)


def _format_datetimes(dt: np.ndarray, missing: np.ndarray, meta: ColumnMeta) -> Any:
    fmt = meta.datetime_format or "%Y-%m-%d %H:%M:%S"
    if "%z" in fmt:
        # Local time at the input's (most common) offset, followed by that offset as written.
        offset = meta.utc_offset or "+00:00"
        local = dt + np.timedelta64(offset_seconds(offset), "s")
        txt = pd.Series(local).dt.strftime(fmt.replace("%z", "")).to_numpy(dtype=object) + offset
        txt[missing] = None
        return as_text_dtype(txt, meta.dtype)
    if fmt == "%Y-%m-%d":
        txt = np.datetime_as_string(dt, unit="D").astype(object)
    elif fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        txt = np.datetime_as_string(dt, unit="s").astype(object)
        if fmt[8] != "T" and " " in fmt:
            txt = np.char.replace(txt.astype(str), "T", " ").astype(object)
    else:
        txt = pd.Series(dt).dt.strftime(fmt).to_numpy(dtype=object)
    txt[missing] = None
    return as_text_dtype(txt, meta.dtype)


def as_text_dtype(values: np.ndarray, dtype: str) -> Any:
    """Text values (``None`` = missing) in a text dtype; ``str`` where ``dtype`` cannot hold them."""
    if dtype in ("object", "O"):
        out = values.astype(object)
        out[pd.isna(out)] = np.nan
        return out
    try:
        return pd.array(values, dtype=dtype)
    except (TypeError, ValueError):
        return pd.array(values, dtype="str")


def is_missing(value: Any) -> bool:
    """Whether one user-given value means "missing" (``None``, NaN or ``pd.NA``)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def is_text_dtype(dtype: str) -> bool:
    """Whether a column of this dtype holds text (anything but numbers and booleans)."""
    try:
        d = pd.api.types.pandas_dtype(dtype)
    except TypeError:
        return True
    return not (pd.api.types.is_numeric_dtype(d) or pd.api.types.is_bool_dtype(d))

