"""Numeric and datetime columns (dates as a number of days/minutes/seconds).

* few distinct values, most of them common: one sub-column over the exact values;
* otherwise two sub-columns, a coarse and a fine rank bin (up to 1024 bins of about equal
  count); decoding draws uniformly between the smallest and largest real value in the bin, so
  point masses (a salary of 0) come back exact and smooth ranges show no staircase.

Extremes are first clipped to protected quantiles (the k-th smallest and largest value).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import ConditionError
from ..metadata import ColumnMeta, parse_datetime_text
from ._column import ColumnEncoder
from ._convert import DT_UNITS, from_float, is_missing, rescale, to_float

DISCRETE_MAX_LEVELS = 128
# Exact values only while few rows hold a rare one: each rare row is moved to the nearest common
# value, which is harmless for a few (adult's capital gains) but reshapes a column whose values
# are mostly rare (ages in a 200-row survey: framing's detection 0.575 -> 0.523, DCR share
# 0.585 -> 0.528, 3 seeds); those are binned like any other number.
DISCRETE_MAX_RARE_SHARE = 0.1
MAX_BINS = 1024
MIN_ROWS_PER_BIN = 10


class NumericEncoder(ColumnEncoder):
    """Numbers and datetimes: exact values when few, else coarse + fine rank bins."""

    kind = "numeric"

    def __init__(self, name: str, meta: ColumnMeta, rare_threshold: int = 5) -> None:
        super().__init__(name, meta)
        self.rare_threshold = rare_threshold
        # Binned columns only, set by TableEncoder.fit_encode: whether the in-bin position is
        # mirrored (TableEncoder._orient), and an earlier numeric column this one often equals
        # exactly, whose rows take one more coarse code, "same as the twin" (TableEncoder._find_twins).
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
        v, self.unit_ = to_float(s, self.meta)
        missing = np.isnan(v)
        self.has_na_ = bool(missing.any())
        x = v[~missing]
        if self.meta.min is not None or self.meta.max is not None:  # declared bounds
            x = np.clip(x, -np.inf if self.meta.min is None else self.number(self.meta.min),
                        np.inf if self.meta.max is None else self.number(self.meta.max))
        raw = x  # before clipping: whether a value is rare is decided on the real rows
        xs = np.sort(x)
        m = len(xs)
        k = min(self.rare_threshold, (m - 1) // 2)
        self.clip_ = (float(xs[k]), float(xs[m - 1 - k])) if m else (0.0, 0.0)
        x = np.clip(x, *self.clip_)
        uniq = np.unique(x)
        kept = _common_values(raw, uniq, self.rare_threshold) if len(uniq) <= DISCRETE_MAX_LEVELS else None
        if kept is not None and np.isin(x, kept).mean() >= 1.0 - DISCRETE_MAX_RARE_SHARE:
            self.mode_ = "discrete"
            # Exact values are protected like categories: a value seen in fewer than
            # rare_threshold rows is never emitted; its rows take the nearest common value.
            x = _nearest(kept, x)
            self.values_ = kept
            codes = np.searchsorted(kept, x).astype(np.int32)
            self.counts_ = [int(c) for c in np.bincount(codes, minlength=len(kept))]
            return [self._with_na(codes, missing, len(kept))]
        self.mode_ = "binned"
        self.flip_, self.twin_ = False, None
        # A bin spans at least rare_threshold rows where it can, so that on a tiny column a bin
        # (whose edges are real values) is never one person's value.
        n_bins = int(max(1, min(MAX_BINS, max(4, m // MIN_ROWS_PER_BIN), m // max(1, self.rare_threshold))))
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

    def encode(self, s: pd.Series) -> tuple[list[np.ndarray], np.ndarray]:
        """Codes of new rows under the fitted bins or values (a streamed batch), and the values.

        A value outside the fitted range takes the nearest end; a missing value in a column
        whose fitted rows had none takes the lowest code (rare in a seeded sample of a big table).
        """
        v, unit = to_float(s, self.meta)
        if unit and self.unit_:
            v = v * DT_UNITS[unit] / DT_UNITS[self.unit_]
        missing = np.isnan(v)
        x = np.clip(np.where(missing, self.clip_[0], v), *self.clip_)
        if self.mode_ == "discrete":
            codes = _nearest(self.values_, x)
            idx = np.searchsorted(self.values_, codes).astype(np.int32)
            if self.has_na_:
                idx[missing] = len(self.values_)
            return [idx], v
        t = np.clip(np.searchsorted(self.hi_, x), 0, len(self.hi_) - 1)
        coarse, fine = (t // self.n_fine_).astype(np.int32), (t % self.n_fine_).astype(np.int32)
        if self.has_na_:
            coarse[missing], fine[missing] = self.n_coarse_, 0
        return [coarse, fine], v

    @staticmethod
    def _with_na(codes: np.ndarray, missing: np.ndarray, na_code: int | None) -> np.ndarray:
        out = np.zeros(len(missing), dtype=np.int32)
        out[~missing] = codes
        if na_code is not None:
            out[missing] = na_code
        return out

    def number(self, value: Any) -> float:
        """A condition's value in the encoder's own units (a count of ``unit_`` for dates)."""
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
            return rescale(secs, "s", self.unit_ or "s")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConditionError(f"column {self.name!r} is numeric; {value!r} is not a number") from None

    def condition(self, spec: Any) -> tuple[list[np.ndarray], Any]:
        want_na = False
        if isinstance(spec, tuple) and len(spec) == 2:
            a = -np.inf if is_missing(spec[0]) else self.number(spec[0])
            b = np.inf if is_missing(spec[1]) else self.number(spec[1])
            if a > b:
                raise ConditionError(f"column {self.name!r}: range ({spec[0]!r}, {spec[1]!r}) is empty")
            bounds: Any = ("range", a, b)
        else:
            raw = list(spec) if isinstance(spec, (list, set, frozenset, tuple)) else [spec]
            want_na = any(is_missing(v) for v in raw)
            vals = np.array(sorted(self.number(v) for v in raw if not is_missing(v)))
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
                                 f"between {self.show(lo)} and {self.show(hi)}")
        return masks

    def code_of(self, value: Any) -> int:
        """The code of one exact value of a column with few distinct values."""
        masks, _ = self.condition([value])
        hits = np.flatnonzero(masks[0])
        if self.mode_ != "discrete" or len(hits) != 1:
            raise ConditionError(f"column {self.name!r} has no single generated value {value!r}")
        return int(hits[0])

    def show(self, v: float) -> str:
        """A number in the encoder's units, readable (a date for dates), for messages."""
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
        # The state may come from an untrusted model file: every field is checked (ValueError)
        # so that decoding never indexes past an array or emits values the file did not declare.
        enc = cls(name, meta, _int_field(state, "rare_threshold", name, 0, 10**9))
        enc.mode_, enc.unit_, enc.has_na_ = state["mode"], state["unit"], state["has_na"]
        if enc.mode_ not in ("discrete", "binned") or not isinstance(enc.has_na_, bool) or not (
                enc.unit_ is None or (isinstance(enc.unit_, str) and enc.unit_ in DT_UNITS)):
            raise ValueError(f"numeric encoder {name!r}: mode, unit or has_na is malformed")
        clip = state["clip"]
        if not (isinstance(clip, list) and len(clip) == 2 and all(
                isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in clip)
                and clip[0] <= clip[1]):
            raise ValueError(f"numeric encoder {name!r}: clip must be two finite numbers, low <= high")
        enc.clip_ = (float(clip[0]), float(clip[1]))
        if enc.mode_ == "discrete":
            enc.values_ = _vector(arrays, "values", name).astype(np.float64)
            if not len(enc.values_) or (np.diff(enc.values_) <= 0).any():
                raise ValueError(f"numeric encoder {name!r}: values must be a non-empty increasing list")
            # Files written before counts were stored: rebalancing then treats values as equal.
            counts = arrays.get("counts", np.ones(len(enc.values_), dtype=np.int64))
            if counts.shape != enc.values_.shape or (counts < 0).any():
                raise ValueError(f"numeric encoder {name!r}: counts must be one count >= 0 per value")
            enc.counts_ = [int(c) for c in counts]
        else:
            enc.n_coarse_ = _int_field(state, "n_coarse", name, 1, MAX_BINS)
            enc.n_fine_ = _int_field(state, "n_fine", name, 1, MAX_BINS)
            enc.flip_ = state.get("flip", False)
            enc.twin_ = state.get("twin")
            if not isinstance(enc.flip_, bool) or not (enc.twin_ is None or isinstance(enc.twin_, str)):
                raise ValueError(f"numeric encoder {name!r}: flip or twin is malformed")
            enc.lo_, enc.hi_ = _vector(arrays, "lo", name), _vector(arrays, "hi", name)
            if (enc.lo_.shape != enc.hi_.shape or not 1 <= len(enc.lo_) <= enc.n_coarse_ * enc.n_fine_
                    or (enc.lo_ > enc.hi_).any()):
                raise ValueError(f"numeric encoder {name!r}: bin edges lo/hi must be at most n_coarse x n_fine "
                                 f"pairs with lo <= hi")
        return enc


def _common_values(raw: np.ndarray, uniq: np.ndarray, rare_threshold: int) -> np.ndarray | None:
    """The values of ``uniq`` (the clipped column's values) seen in at least ``rare_threshold``
    real rows ``raw`` (before clipping: a clip bound is often one person's value, shared by the
    clipped rows only); None when there is none (the column is then binned)."""
    if not len(uniq):
        return uniq
    pos = np.searchsorted(uniq, raw)
    hit = (pos < len(uniq)) & (uniq[np.minimum(pos, len(uniq) - 1)] == raw)
    counts = np.bincount(pos[hit], minlength=len(uniq))
    kept = uniq[counts >= rare_threshold]
    return kept if len(kept) else None


def _nearest(kept: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Each value of ``x`` replaced by the nearest value of the sorted ``kept`` (the lower on a tie)."""
    if not len(kept):
        return x
    pos = np.searchsorted(kept, x)
    lower, upper = kept[np.clip(pos - 1, 0, len(kept) - 1)], kept[np.clip(pos, 0, len(kept) - 1)]
    return np.where(np.abs(x - lower) <= np.abs(upper - x), lower, upper)


def _int_field(state: dict[str, Any], key: str, name: str, low: int, high: int) -> int:
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"encoder {name!r}: {key} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _vector(arrays: dict[str, np.ndarray], key: str, name: str) -> np.ndarray:
    a = arrays[key]
    if a.ndim != 1 or a.dtype.kind not in "iuf":
        raise ValueError(f"numeric encoder {name!r}: {key} must be a 1-d array of numbers")
    return a.astype(np.float64)

