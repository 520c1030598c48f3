"""Encoders: each modelled column becomes one or more small-integer *sub-columns*.

* categorical / boolean: one sub-column of level codes; levels seen in fewer than
  ``rare_threshold`` rows share one rare code that is never sampled, so a rare real value is
  never reproduced; missing is a code of its own.
* numeric and datetime (as a number of days/minutes/seconds):
  - few distinct values: one sub-column over the exact values;
  - otherwise two sub-columns, a coarse and a fine rank bin (up to 1024 bins of about equal
    count); decoding draws uniformly between the smallest and largest real value in the bin, so
    point masses (a salary of 0) come back exact and smooth ranges show no staircase.
  Extremes are first clipped to protected quantiles (the k-th smallest and largest value).

Everything is vectorised numpy; the encoded table is an ``int32`` matrix, so thousands of levels
or millions of rows cost no one-hot memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import ConditionError, InputError
from ..metadata import ColumnMeta, parse_datetime_text

__all__ = ["ColumnEncoder", "SubColumn", "TableEncoder", "make_encoder"]

DISCRETE_MAX_LEVELS = 128
MAX_BINS = 1024
MIN_ROWS_PER_BIN = 10
DT_UNITS = {"D": 86_400, "m": 60, "s": 1}


@dataclass(frozen=True)
class SubColumn:
    """One categorical sub-column of the encoded table."""

    column: int  # index of the modelled column it belongs to
    name: str
    cardinality: int
    # Codes are ordered values (numbers, dates, bins): the engine may add the code's rank as a
    # feature, so that neighbouring values share what they learn. After the ordered codes come
    # ``n_special`` codes that are not values (missing, "same as another column").
    ordinal: bool = False
    has_na: bool = False
    n_special: int = -1  # -1: int(has_na), for callers that predate special codes

    @property
    def n_values(self) -> int:
        return self.cardinality - (int(self.has_na) if self.n_special < 0 else self.n_special)


# ---------------------------------------------------------------------- value conversion
def _to_float(s: pd.Series, meta: ColumnMeta) -> tuple[np.ndarray, str | None]:
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
    """Like :func:`_to_float`, with dates as seconds whatever unit the values come in."""
    v, unit = _to_float(s, meta)
    return v * DT_UNITS[unit] if unit else v


def _rescale(value: float, unit_from: str | None, unit_to: str) -> float:
    """A count of ``unit_from`` converted into a count of ``unit_to``."""
    return float(value) * DT_UNITS[unit_from or "s"] / DT_UNITS[unit_to]


def _to_datetime(s: pd.Series, meta: ColumnMeta) -> pd.Series:
    if meta.datetime_format:
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
    """Inverse of :func:`_to_float`: an array or pandas array in the column's input dtype."""
    missing = np.isnan(v)
    if meta.kind == "datetime":
        secs = np.where(missing, 0, v).astype(np.int64) * DT_UNITS[unit or "s"]
        dt = secs.astype("datetime64[s]").astype("datetime64[ns]")
        dt[missing] = np.datetime64("NaT")
        if meta.datetime_format is None:
            out = pd.Series(dt)
            return out.astype(meta.dtype) if meta.dtype.startswith("datetime64") else out
        return _format_datetimes(dt, missing, meta)
    if meta.integer:
        v = np.round(v)
    elif meta.decimals is not None:
        v = np.round(v, meta.decimals)
    dtype = meta.dtype
    if dtype.startswith(("int", "uint")):
        if missing.any():
            return pd.array(np.where(missing, 0, v).astype(np.int64), dtype="Int64").astype("Int64").where(
                ~missing, pd.NA
            )
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
    if dtype in ("object", "O"):
        out = values.astype(object)
        out[pd.isna(out)] = np.nan
        return out
    try:
        return pd.array(values, dtype=dtype)
    except (TypeError, ValueError):
        return pd.array(values, dtype="str")


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _is_text_dtype(dtype: str) -> bool:
    try:
        d = pd.api.types.pandas_dtype(dtype)
    except TypeError:
        return True
    return not (pd.api.types.is_numeric_dtype(d) or pd.api.types.is_bool_dtype(d))


# ---------------------------------------------------------------------- encoders
class ColumnEncoder:
    """Base class: fit on a column, encode to sub-column codes, decode codes to values."""

    kind = "base"

    def __init__(self, name: str, meta: ColumnMeta) -> None:
        self.name = name
        self.meta = meta

    @property
    def cardinalities(self) -> list[int]:
        raise NotImplementedError

    def fit_encode(self, s: pd.Series, rng: np.random.Generator) -> list[np.ndarray]:
        raise NotImplementedError

    def decode(self, codes: list[np.ndarray], rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def forbidden(self) -> list[np.ndarray]:
        """Codes that must never be sampled, per sub-column (the rare bucket)."""
        return [np.zeros(0, dtype=np.int64) for _ in self.cardinalities]

    def condition(self, spec: Any) -> tuple[list[np.ndarray], Any]:
        """Allowed codes per sub-column for a condition, and bounds for decoding.

        ``spec`` is a value, a list/set of values, or (for numbers and dates) a ``(low, high)``
        tuple, inclusive, with ``None`` for an open end.
        """
        raise NotImplementedError

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    @classmethod
    def from_state(cls, name: str, meta: ColumnMeta, state: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> ColumnEncoder:
        raise NotImplementedError


class CategoricalEncoder(ColumnEncoder):
    """Levels by frequency; a rare bucket for levels seen in fewer than ``rare_threshold`` rows."""

    kind = "categorical"

    def __init__(self, name: str, meta: ColumnMeta, rare_threshold: int = 5, max_levels: int = 1000) -> None:
        super().__init__(name, meta)
        self.rare_threshold = rare_threshold
        self.max_levels = max_levels

    @property
    def cardinalities(self) -> list[int]:
        return [len(self.levels_) + int(self.has_rare_) + int(self.has_na_)]

    def _keys(self, s: pd.Series) -> pd.Series:
        if self.meta.kind == "boolean" and not pd.api.types.is_bool_dtype(s):
            return s.astype("object").where(s.isna(), s.astype(str))
        return s.astype("object") if not pd.api.types.is_bool_dtype(s) else s.astype(object)

    def fit_encode(self, s: pd.Series, rng: np.random.Generator) -> list[np.ndarray]:
        keys = self._keys(s)
        counts = keys.value_counts(dropna=True, sort=False)
        # Sort by count (desc) then by text, so the level order never depends on row order.
        order = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        kept = [k for k, c in order if c >= self.rare_threshold][: self.max_levels]
        self.levels_ = kept
        self.counts_ = [int(counts[k]) for k in kept]
        self.has_rare_ = len(kept) < len(order)
        self.has_na_ = bool(s.isna().any())
        self.all_rare_ = len(kept) == 0
        return [self.encode(s)]

    def encode(self, s: pd.Series) -> np.ndarray:
        keys = self._keys(s)
        index = {k: i for i, k in enumerate(self.levels_)}
        rare = len(self.levels_)
        na = rare + int(self.has_rare_)
        codes = keys.map(index).to_numpy(dtype=np.float64, na_value=np.nan)
        out = np.where(np.isnan(codes), rare, codes).astype(np.int32)
        out[s.isna().to_numpy()] = na
        return out

    def forbidden(self) -> list[np.ndarray]:
        if self.has_rare_ and not self.all_rare_:
            return [np.array([len(self.levels_)], dtype=np.int64)]
        return [np.zeros(0, dtype=np.int64)]

    def decode(self, codes: list[np.ndarray], rng: np.random.Generator) -> Any:
        c = codes[0].astype(np.int64)
        n = len(self.levels_)
        rare = (c == n) & self.has_rare_
        missing = c >= n + int(self.has_rare_)
        dtype = self.meta.dtype
        if not _is_text_dtype(dtype):
            vals = np.array([*self.levels_, None], dtype=object)[np.where(c >= n, n, c)]
            if dtype in ("bool", "boolean"):
                if dtype == "bool" and not (missing | rare).any():
                    return vals.astype(bool)
                return pd.array(vals, dtype="boolean")
            v = np.array([np.nan if x is None else float(x) for x in [*self.levels_, None]])[np.where(c >= n, n, c)]
            integer = all(float(x).is_integer() for x in self.levels_)
            return from_float(v, ColumnMeta("numeric", dtype=dtype, integer=integer), None)
        import pyarrow as pa

        # Arrow's dictionary decode builds a million strings in milliseconds.
        dictionary = pa.array([*self.levels_, "_RARE_"], type=pa.large_string())
        idx = np.where(c >= n, n, c).astype(np.int32)
        arr = pa.DictionaryArray.from_arrays(pa.array(idx, mask=missing), dictionary).cast(pa.large_string())
        if dtype in ("object", "O"):
            out = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)
            out[missing] = np.nan
            return out
        try:
            return pd.array(arr, dtype=dtype)
        except (TypeError, ValueError):
            return pd.array(arr, dtype="str")

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        levels: list[Any] = [bool(x) if isinstance(x, (bool, np.bool_)) else x for x in self.levels_]
        state = {"levels": levels, "has_rare": self.has_rare_, "has_na": self.has_na_,
                 "all_rare": self.all_rare_, "rare_threshold": self.rare_threshold}
        return state, {"counts": np.asarray(self.counts_, dtype=np.int64)}

    @classmethod
    def from_state(cls, name: str, meta: ColumnMeta, state: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> CategoricalEncoder:
        enc = cls(name, meta, state["rare_threshold"])
        enc.levels_ = list(state["levels"])
        enc.counts_ = [int(c) for c in arrays["counts"]]
        enc.has_rare_, enc.has_na_, enc.all_rare_ = state["has_rare"], state["has_na"], state["all_rare"]
        return enc

    def code_of(self, value: Any) -> int:
        """The code of one value (missing included); a clear error for unseen or rare values."""
        if is_missing(value):
            if not self.has_na_:
                raise ConditionError(f"column {self.name!r} has no missing values to condition on")
            return len(self.levels_) + int(self.has_rare_)
        for i, level in enumerate(self.levels_):
            if level == value or str(level) == str(value):
                return i
        shown = ", ".join(repr(v) for v in self.levels_[:12]) + (" ..." if len(self.levels_) > 12 else "")
        raise ConditionError(f"column {self.name!r} has no value {value!r} that can be generated (unseen, or seen "
                             f"in fewer than {self.rare_threshold} rows); known values: {shown}")

    def condition(self, spec: Any) -> tuple[list[np.ndarray], Any]:
        values = list(spec) if isinstance(spec, (list, set, frozenset, tuple)) else [spec]
        mask = np.zeros(self.cardinalities[0], dtype=bool)
        for v in values:
            mask[self.code_of(v)] = True
        return [mask], None


class NumericEncoder(ColumnEncoder):
    """Numbers and datetimes: exact values when few, else coarse + fine rank bins."""

    kind = "numeric"

    def __init__(self, name: str, meta: ColumnMeta, rare_threshold: int = 5) -> None:
        super().__init__(name, meta)
        self.rare_threshold = rare_threshold
        # Binned columns only, set by TableEncoder.fit_encode: whether the in-bin position is
        # mirrored (_orient), and an earlier numeric column this one often equals exactly, whose
        # rows take one more coarse code, "same as the twin" (_find_twins).
        self.flip_ = False
        self.twin_: str | None = None

    @property
    def seconds_per_unit(self) -> int:
        """Seconds in one unit of the encoded numbers (1 for plain numbers)."""
        return DT_UNITS[self.unit_] if self.unit_ else 1

    @property
    def cardinalities(self) -> list[int]:
        na = int(self.has_na_)
        if self.mode_ == "discrete":
            return [len(self.values_) + na]
        return [self.n_coarse_ + na + int(self.twin_ is not None), self.n_fine_]

    def fit_encode(self, s: pd.Series, rng: np.random.Generator) -> list[np.ndarray]:
        v, self.unit_ = _to_float(s, self.meta)
        missing = np.isnan(v)
        self.has_na_ = bool(missing.any())
        x = v[~missing]
        xs = np.sort(x)
        m = len(xs)
        k = min(self.rare_threshold, (m - 1) // 2)
        self.clip_ = (float(xs[k]), float(xs[m - 1 - k])) if m else (0.0, 0.0)
        x = np.clip(x, *self.clip_)
        uniq = np.unique(x)
        if len(uniq) <= DISCRETE_MAX_LEVELS:
            self.mode_ = "discrete"
            self.values_ = uniq
            codes = np.searchsorted(uniq, x).astype(np.int32)
            self.counts_ = [int(c) for c in np.bincount(codes, minlength=len(uniq))]
            return [self._with_na(codes, missing, len(uniq))]
        self.mode_ = "binned"
        self.flip_, self.twin_ = False, None
        n_bins = int(min(MAX_BINS, max(4, m // MIN_ROWS_PER_BIN), m))
        self.n_coarse_ = math.ceil(math.sqrt(n_bins))
        self.n_fine_ = math.ceil(n_bins / self.n_coarse_)
        n_bins = self.n_coarse_ * self.n_fine_
        # Rank with a random tie-break, so a point mass spreads evenly over the bins it spans.
        order = np.lexsort((rng.random(m), x))
        ranks = np.empty(m, dtype=np.int64)
        ranks[order] = np.arange(m)
        bins = ranks * n_bins // m
        starts = np.searchsorted(bins[order], np.arange(n_bins))
        xs = x[order]
        self.lo_ = np.minimum.reduceat(xs, starts)
        self.hi_ = np.maximum.reduceat(xs, starts)
        coarse = (bins // self.n_fine_).astype(np.int32)
        fine = (bins % self.n_fine_).astype(np.int32)
        return [self._with_na(coarse, missing, self.n_coarse_), self._with_na(fine, missing, None)]

    @staticmethod
    def _with_na(codes: np.ndarray, missing: np.ndarray, na_code: int | None) -> np.ndarray:
        out = np.zeros(len(missing), dtype=np.int32)
        out[~missing] = codes
        if na_code is not None:
            out[missing] = na_code
        return out

    def _number(self, value: Any) -> float:
        if self.meta.kind == "datetime":
            ts = None
            if isinstance(value, str) and self.meta.datetime_format:
                ts = parse_datetime_text(pd.Series([value]), self.meta.datetime_format).iloc[0]
            try:
                ts = pd.Timestamp(value) if ts is None or pd.isna(ts) else ts
            except (TypeError, ValueError):
                ts = None
            if ts is None or pd.isna(ts):
                raise ConditionError(f"column {self.name!r} holds dates; {value!r} is not a date")
            secs = (ts.tz_localize(None) if ts.tzinfo else ts).value // 1_000_000_000
            return _rescale(secs, "s", self.unit_ or "s")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConditionError(f"column {self.name!r} is numeric; {value!r} is not a number") from None

    def condition(self, spec: Any) -> tuple[list[np.ndarray], Any]:
        want_na = False
        if isinstance(spec, tuple) and len(spec) == 2:
            a = -np.inf if is_missing(spec[0]) else self._number(spec[0])
            b = np.inf if is_missing(spec[1]) else self._number(spec[1])
            if a > b:
                raise ConditionError(f"column {self.name!r}: range ({spec[0]!r}, {spec[1]!r}) is empty")
            bounds: Any = ("range", a, b)
        else:
            raw = list(spec) if isinstance(spec, (list, set, frozenset, tuple)) else [spec]
            want_na = any(is_missing(v) for v in raw)
            vals = np.array(sorted(self._number(v) for v in raw if not is_missing(v)))
            bounds = ("values", vals)
        return self.masks_for(bounds, want_na, spec), bounds

    def masks_for(self, bounds: Any, want_na: bool, spec: Any) -> list[np.ndarray]:
        """Allowed codes per sub-column for ``("range", low, high)`` or ``("values", array)``
        in the encoder's own units (a count of ``unit_`` for dates)."""
        if self.mode_ == "discrete":
            if bounds[0] == "range":
                ok = (self.values_ >= bounds[1]) & (self.values_ <= bounds[2])
            else:
                ok = np.isin(self.values_, bounds[1])
            masks = [np.append(ok, want_na) if self.has_na_ else ok]
        else:
            if bounds[0] == "range":
                ok_bins = (self.hi_ >= bounds[1]) & (self.lo_ <= bounds[2])
            else:
                v = bounds[1]
                ok_bins = ((self.lo_[:, None] <= v[None, :]) & (self.hi_[:, None] >= v[None, :])).any(axis=1)
            table = np.zeros((self.n_coarse_ + int(self.has_na_), self.n_fine_), dtype=bool)
            table[: self.n_coarse_].reshape(-1)[: len(ok_bins)] = ok_bins
            coarse = table[: self.n_coarse_].any(axis=1)
            if self.has_na_:
                coarse = np.append(coarse, want_na)
                table[-1, 0] = want_na
            if self.twin_ is not None:
                # "Same as the twin" could leave the condition: never drawn under one.
                coarse = np.append(coarse, False)
                table = np.vstack([table, np.zeros((1, self.n_fine_), dtype=bool)])
            masks = [coarse, table]
        if not any(m.any() for m in masks[:1]):
            lo, hi = self.clip_
            raise ConditionError(f"column {self.name!r}: no value satisfies {spec!r}; values are generated "
                                 f"between {self._show(lo)} and {self._show(hi)}")
        return masks

    def code_of(self, value: Any) -> int:
        """The code of one exact value of a column with few distinct values."""
        masks, _ = self.condition([value])
        hits = np.flatnonzero(masks[0])
        if self.mode_ != "discrete" or len(hits) != 1:
            raise ConditionError(f"column {self.name!r} has no single generated value {value!r}")
        return int(hits[0])

    def _show(self, v: float) -> str:
        if self.meta.kind == "datetime":
            return str(np.datetime64(int(v) * DT_UNITS[self.unit_ or "s"], "s"))
        return f"{v:g}"

    def decode(self, codes: list[np.ndarray], rng: np.random.Generator, bounds: Any = None,
               u: np.ndarray | None = None) -> Any:
        """Values for the codes; a binned value is drawn inside its bin at position ``u`` (shared
        by the table's binned columns, see :meth:`TableEncoder.decode`) or a fresh uniform."""
        return from_float(self.decode_numbers(codes, rng, bounds, u), self.meta, self.unit_)

    def decode_numbers(self, codes: list[np.ndarray], rng: np.random.Generator, bounds: Any = None,
                       u: np.ndarray | None = None, twin: np.ndarray | None = None) -> np.ndarray:
        """Decoded numbers (NaN = missing; dates as counts of ``unit_``). ``twin``: the twin
        column's decoded numbers, copied where the "same as" code was drawn."""
        first = codes[0].astype(np.int64)
        same = first == self.n_coarse_ + int(self.has_na_) if self.twin_ else None
        if same is not None:
            # A "same as" row whose twin is missing takes a value from the middle bin instead.
            first = np.where(same, (self.n_coarse_ // 2), first)
        if self.mode_ == "discrete":
            missing = first >= len(self.values_)
            v = self.values_[np.minimum(first, len(self.values_) - 1)].astype(np.float64)
        else:
            missing = first >= self.n_coarse_
            t = np.minimum(np.minimum(first, self.n_coarse_ - 1) * self.n_fine_ + codes[1], len(self.lo_) - 1)
            lo, hi = self.lo_[t], self.hi_[t]
            if bounds is not None and bounds[0] == "range":
                lo, hi = np.maximum(lo, bounds[1]), np.minimum(hi, bounds[2])
                if self.meta.integer or self.meta.kind == "datetime":
                    lo, hi = np.ceil(lo), np.floor(hi)
            elif bounds is not None and len(bounds[1]):
                vals = bounds[1]
                pick = vals[np.minimum(np.searchsorted(vals, lo), len(vals) - 1)]
                lo = hi = pick
            if u is None:
                u = rng.random(len(t))
            elif self.flip_:
                u = 1.0 - u
            if self.meta.integer or self.meta.kind == "datetime":
                v = np.minimum(np.floor(lo + u * (hi - lo + 1)), hi)
            else:
                v = lo + u * (hi - lo)
        v = np.where(missing, np.nan, v)
        if same is not None and twin is not None:
            # Clipped to this column's range, so no extreme leaks through the twin.
            copy = same & ~np.isnan(twin)
            v = np.where(copy, np.clip(twin, *self.clip_), v)
        return v

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        state: dict[str, Any] = {"mode": self.mode_, "unit": self.unit_, "has_na": self.has_na_,
                                 "clip": list(self.clip_), "rare_threshold": self.rare_threshold}
        if self.mode_ == "discrete":
            return state, {"values": self.values_, "counts": np.asarray(self.counts_, dtype=np.int64)}
        state.update(n_coarse=self.n_coarse_, n_fine=self.n_fine_, flip=self.flip_, twin=self.twin_)
        return state, {"lo": self.lo_, "hi": self.hi_}

    @classmethod
    def from_state(cls, name: str, meta: ColumnMeta, state: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> NumericEncoder:
        enc = cls(name, meta, state["rare_threshold"])
        enc.mode_, enc.unit_, enc.has_na_ = state["mode"], state["unit"], state["has_na"]
        enc.clip_ = tuple(state["clip"])
        if enc.mode_ == "discrete":
            enc.values_ = arrays["values"].astype(np.float64)
            # Files written before counts were stored: rebalancing then treats values as equal.
            enc.counts_ = [int(c) for c in arrays.get("counts", np.ones(len(enc.values_), dtype=np.int64))]
        else:
            enc.n_coarse_, enc.n_fine_ = state["n_coarse"], state["n_fine"]
            enc.flip_ = bool(state.get("flip", False))
            enc.twin_ = state.get("twin")
            enc.lo_, enc.hi_ = arrays["lo"].astype(np.float64), arrays["hi"].astype(np.float64)
        return enc


ENCODERS: dict[str, type[ColumnEncoder]] = {"categorical": CategoricalEncoder, "numeric": NumericEncoder}
MODELLED_KINDS = ("numeric", "categorical", "boolean", "datetime")


def make_encoder(name: str, meta: ColumnMeta, rare_threshold: int, max_levels: int) -> ColumnEncoder:
    if meta.kind in ("categorical", "boolean"):
        return CategoricalEncoder(name, meta, rare_threshold, max_levels)
    if meta.kind in ("numeric", "datetime"):
        return NumericEncoder(name, meta, rare_threshold)
    raise AssertionError(f"kind {meta.kind!r} is not modelled")


class TableEncoder:
    """All modelled columns of a table, as one integer matrix of sub-columns."""

    def __init__(self, encoders: list[ColumnEncoder], twins: bool = True) -> None:
        self.encoders = encoders
        # "Same as" codes need a model that learns when to use them (ARGN); a Gaussian copula
        # would emit them without regard to the rest of the row.
        self.twins = twins

    @property
    def subcolumns(self) -> list[SubColumn]:
        subs = []
        for i, enc in enumerate(self.encoders):
            ordinal = isinstance(enc, NumericEncoder)
            for j, card in enumerate(enc.cardinalities):
                has_na = bool(ordinal and j == 0 and getattr(enc, "has_na_", False))
                special = int(has_na) + int(isinstance(enc, NumericEncoder) and j == 0 and enc.twin_ is not None)
                subs.append(SubColumn(i, f"{enc.name}#{j}", int(card), ordinal, has_na, special))
        return subs

    @property
    def slices(self) -> list[slice]:
        out, start = [], 0
        for enc in self.encoders:
            k = len(enc.cardinalities)
            out.append(slice(start, start + k))
            start += k
        return out

    def fit_encode(self, df: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        parts: list[np.ndarray] = []
        for enc in self.encoders:
            parts.extend(enc.fit_encode(df[enc.name], rng))
        self._orient(df)
        if self.twins:
            self._find_twins(df, parts)
        if not parts:
            return np.zeros((len(df), 0), dtype=np.int32)
        return np.stack(parts, axis=1).astype(np.int32)

    def _binned(self) -> list[NumericEncoder]:
        return [e for e in self.encoders if isinstance(e, NumericEncoder) and e.mode_ == "binned"]

    def _find_twins(self, df: pd.DataFrame, parts: list[np.ndarray], min_share: float = 0.03,
                    min_rows: int = 50) -> None:
        """Give a binned column a "same as" code for the earlier numeric column it most often
        equals exactly (a bill paid in full: ``pay_amt1 == bill_amt2`` in 22 % of credit rows),
        and re-code those rows with it (``parts`` are the sub-columns' codes, changed in place).

        Independent in-bin draws almost never reproduce such equalities, and a classifier sees
        that at once; as a code, the model learns when the columns are equal like any other level.
        """
        nums = [e for e in self.encoders if isinstance(e, NumericEncoder)]
        first_part = {e.name: sl.start for e, sl in zip(self.encoders, self.slices, strict=True)}
        values = {e.name: _to_float(df[e.name], e.meta)[0] for e in nums}
        for idx, b in enumerate(nums):
            if b.mode_ != "binned":
                continue
            best, best_eq = None, None
            for a in nums[:idx]:
                if a.meta.kind != b.meta.kind:
                    continue
                equal = (values[a.name] == values[b.name]) & ~np.isnan(values[b.name])
                if equal.mean() >= min_share and equal.sum() >= min_rows and (
                        best_eq is None or equal.sum() > best_eq.sum()):
                    best, best_eq = a.name, equal
            if best is not None and best_eq is not None:
                b.twin_ = best
                j = first_part[b.name]
                parts[j] = np.where(best_eq, b.n_coarse_ + int(b.has_na_), parts[j]).astype(np.int32)
                parts[j + 1] = np.where(best_eq, 0, parts[j + 1]).astype(np.int32)

    def _orient(self, df: pd.DataFrame) -> None:
        """Which binned columns draw their in-bin position as ``1 - u`` rather than ``u``.

        Strongly related numbers (a diamond's x, y and z) move together inside their bins too;
        independent in-bin draws blur that fine structure, a shared position keeps it. The
        orientation follows the sign of each column's loading on the first principal
        component of the rank correlations, so negatively related columns mirror each other.
        """
        binned = self._binned()
        if len(binned) < 2:
            return
        ranks = []
        for e in binned:
            r = pd.Series(_to_float(df[e.name], e.meta)[0]).rank().to_numpy()
            ranks.append(np.where(np.isnan(r), np.nanmean(r) if np.isfinite(r).any() else 0.0, r))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.nan_to_num(np.corrcoef(np.column_stack(ranks), rowvar=False))
        lead = np.linalg.eigh(corr)[1][:, -1]
        lead = lead * (1.0 if lead[0] >= 0 else -1.0)
        for e, x in zip(binned, lead, strict=True):
            e.flip_ = bool(x < 0)

    def decode(self, codes: np.ndarray, rng: np.random.Generator,
               bounds: dict[str, Any] | None = None) -> dict[str, Any]:
        out = {}
        numbers: dict[str, np.ndarray] = {}
        # One in-bin position per row for all binned columns (see _orient).
        u = rng.random(len(codes)) if self._binned() else None
        for enc, sl in zip(self.encoders, self.slices, strict=True):
            parts = [codes[:, i] for i in range(sl.start, sl.stop)]
            if isinstance(enc, NumericEncoder):
                twin = numbers.get(enc.twin_) if enc.twin_ else None
                v = enc.decode_numbers(parts, rng, (bounds or {}).get(enc.name), u=u, twin=twin)
                numbers[enc.name] = v
                out[enc.name] = from_float(v, enc.meta, enc.unit_)
            else:
                out[enc.name] = enc.decode(parts, rng)
        return out

    def forbidden(self) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for enc in self.encoders:
            out.extend(enc.forbidden())
        return out
