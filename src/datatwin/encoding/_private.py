"""Encoders fitted under differential privacy ("value protection").

Nothing an encoder keeps may come from the private rows outside the budget: ranges, bins and
category lists are either public (declared in the metadata: ``min``/``max``, ``categories``,
a boolean dtype) or measured with a Gaussian mechanism whose cost goes into the fit's ledger.

* Numbers: one noisy histogram over a fixed, data-independent grid (eight cells per octave of
  magnitude, both signs, an exact-zero cell; calendar quarters for dates). Cells below a noise
  threshold are dropped; the surviving cells give the range and the quantile bin edges, so
  an outlier never sets the range. A point mass at zero stays exact.
* Categories: a level is kept only if its count plus Gaussian noise clears a threshold that a
  level seen once passes with probability at most its δ share (Gaussian thresholding); the
  others share the rare code, which is never sampled.
* Missing values get a code wherever the column's dtype can hold one (not for ``int64`` or
  ``bool``); how often they occur is learned by the (private) engine.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from .._privacy import PrivacyLedger
from ._categorical import CategoricalEncoder
from ._column import ColumnEncoder
from ._convert import DT_UNITS, to_float
from ._numeric import NumericEncoder

__all__ = ["measured_steps", "private_fit_encode"]

N_COARSE, N_FINE = 8, 4  # 32 bins per binned number, as a coarse and a fine code
DISCRETE_SPAN = 128  # whole numbers spanning at most this many values are kept exactly (hours worked: 40)
FLAT_VALUES = 16  # more whole values than this get a coarse and a fine code
CELLS_PER_OCTAVE = 8
OCTAVES = (-20, 40)  # 2**-20 .. 2**40; smaller magnitudes are zero, larger ones the end cells
QUARTER_DAYS = 365.25 / 4
DATE_RANGE_DAYS = (-62_000.0, 84_000.0)  # about 1800 to 2200, in days since 1970


def measured_steps(encoders: list[ColumnEncoder]) -> tuple[int, int]:
    """(noisy histograms, of which category thresholdings) that fitting ``encoders`` will take."""
    hist = thr = 0
    for enc in encoders:
        if isinstance(enc, CategoricalEncoder):
            if _public_levels(enc) is None:
                hist, thr = hist + 1, thr + 1
        elif isinstance(enc, NumericEncoder) and not _public_discrete(enc):
            hist += 1
    return hist, thr


def private_fit_encode(encoders: list[ColumnEncoder], df: pd.DataFrame, ledger: PrivacyLedger, rho: float,
                       rng: np.random.Generator) -> list[np.ndarray]:
    """Fit ``encoders`` spending at most ``rho`` (zCDP) of the ledger; the sub-column codes."""
    hist, thr = measured_steps(encoders)
    sigma = math.sqrt(hist / (2.0 * rho)) if hist else math.inf
    delta_each = ledger.threshold_delta / thr if thr else 0.0
    parts: list[np.ndarray] = []
    for enc in encoders:
        s = df[enc.name]
        if isinstance(enc, CategoricalEncoder):
            parts.extend(_fit_categorical(enc, s, ledger, sigma, delta_each, rng))
        elif isinstance(enc, NumericEncoder):
            parts.extend(_fit_numeric(enc, s, ledger, sigma, rng))
        else:  # pragma: no cover - every modelled kind has an encoder above
            raise AssertionError(type(enc).__name__)
    return parts


# ---------------------------------------------------------------------------- categories
def _public_levels(enc: CategoricalEncoder) -> list[Any] | None:
    if enc.meta.categories is not None:
        return list(enc.meta.categories)
    if enc.meta.kind == "boolean" and enc.meta.dtype in ("bool", "boolean"):
        return [False, True]
    return None


def _fit_categorical(enc: CategoricalEncoder, s: pd.Series, ledger: PrivacyLedger, sigma: float,
                     delta: float, rng: np.random.Generator) -> list[np.ndarray]:
    public = _public_levels(enc)
    if public is not None:
        levels, counts = public, [1] * len(public)
    else:
        ledger.gaussian(f"values: categories of {enc.name}", sigma)
        ledger.threshold(f"values: categories of {enc.name}", delta)
        observed = enc._keys(s).value_counts(dropna=True, sort=False)
        noisy = observed.to_numpy(dtype=np.float64) + rng.normal(0.0, sigma, len(observed))
        # A level seen once clears this with probability delta: the δ part of the release.
        tau = 1.0 - sigma * float(ndtri(delta))  # ndtri(1 - d) = -ndtri(d), exact for tiny d
        order = sorted(((k, c) for k, c in zip(observed.index, noisy, strict=True) if c > tau),
                       key=lambda kv: (-kv[1], str(kv[0])))[: enc.max_levels]
        levels, counts = [k for k, _ in order], [max(1, round(c)) for _, c in order]
    enc.levels_, enc.counts_ = levels, counts
    # The code layout must not depend on the data: a rare and a missing code always exist.
    if not levels:
        # No value cleared the noise: the column can only be generated as missing (the non-private
        # encoder would write a literal "_RARE_" here, which under DP is common at small n or ε).
        enc.has_rare_, enc.has_na_, enc.all_rare_ = False, True, True
    else:
        enc.has_rare_, enc.has_na_, enc.all_rare_ = True, _nullable(enc.meta.dtype), False
    return [enc.encode(s)]


# ---------------------------------------------------------------------------- numbers
def _public_discrete(enc: NumericEncoder) -> bool:
    if not enc.meta.integer or enc.meta.kind != "numeric" or enc.meta.min is None or enc.meta.max is None:
        return False
    return float(enc.meta.max) - float(enc.meta.min) <= DISCRETE_SPAN


def _public_bounds(enc: NumericEncoder) -> tuple[float | None, float | None]:
    def num(v: Any) -> float | None:
        return None if v is None else enc.number(v)
    return num(enc.meta.min), num(enc.meta.max)


def _grid(enc: NumericEncoder, signal: float) -> np.ndarray:
    """Cell edges (ascending) in the encoder's units; they depend on the column's kind and on
    ``signal`` (rows per unit of noise; public) only. Less signal, coarser cells: a cell must
    hold enough rows to stand out of the noise."""
    per = CELLS_PER_OCTAVE if signal >= 400 else 4 if signal >= 100 else 2 if signal >= 25 else 1
    if enc.meta.kind == "datetime":
        step = QUARTER_DAYS * CELLS_PER_OCTAVE / per
        days = np.arange(DATE_RANGE_DAYS[0], DATE_RANGE_DAYS[1] + step, step)
        return days * 86_400 / DT_UNITS[enc.unit_ or "s"]
    k = np.arange(*OCTAVES)
    pos = (2.0 ** k[:, None] * (1 + np.arange(per)[None, :] / per)).ravel()
    pos = np.append(pos, 2.0 ** OCTAVES[1])
    return np.concatenate([-pos[::-1], pos])  # the cell between -2**-20 and 2**-20 is zero


def _fit_numeric(enc: NumericEncoder, s: pd.Series, ledger: PrivacyLedger, sigma: float,
                 rng: np.random.Generator) -> list[np.ndarray]:
    v, unit = to_float(s, enc.meta)
    if enc.meta.kind == "datetime":
        # The unit must not depend on the values (whether every date falls on midnight): days
        # when the format has no time of day, else seconds.
        enc.unit_ = "D" if _date_only(enc.meta.datetime_format) else "s"
        v = v * DT_UNITS[unit or "s"] / DT_UNITS[enc.unit_]
    else:
        enc.unit_ = unit
    missing = np.isnan(v)
    enc.has_na_, enc.flip_, enc.twin_ = _nullable(enc.meta.dtype), False, None
    lo_pub, hi_pub = _public_bounds(enc)
    if _public_discrete(enc):
        assert lo_pub is not None and hi_pub is not None
        values = np.arange(math.ceil(lo_pub), math.floor(hi_pub) + 1, dtype=np.float64)
        return _discrete(enc, v, missing, values, np.ones(len(values)))
    rows = ledger.rows if ledger.rows is not None else len(v)  # the noisy row count, not len(v)
    edges = _grid(enc, rows / sigma if sigma > 0 else math.inf)
    if lo_pub is not None or hi_pub is not None:
        a = edges[0] if lo_pub is None else lo_pub
        b = edges[-1] if hi_pub is None else hi_pub
        edges = np.unique(np.concatenate([[a], edges[(edges > a) & (edges < b)], [b]]))
        if len(edges) < 2:  # min == max: one public value, nothing to measure
            return _discrete(enc, v, missing, edges[:1].astype(np.float64), np.ones(1))
    x = np.clip(v[~missing], edges[0], edges[-1])
    cells = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    ledger.gaussian(f"values: histogram of {enc.name}", sigma)
    noisy = np.bincount(cells, minlength=len(edges) - 1) + rng.normal(0.0, sigma, len(edges) - 1)
    # Keep a cell only if it stands out of the noise: false cells would stretch the range.
    cut = -sigma * float(ndtri(0.05 / len(noisy)))
    mass = np.where(noisy > cut, noisy, 0.0)
    if not mass.any():
        mass = np.zeros_like(noisy)
        mass[int(np.argmax(noisy))] = 1.0
        if lo_pub is not None and hi_pub is not None:
            mass[:] = np.diff(edges)  # nothing stands out: spread evenly over the public range
    zero = (edges[:-1] < 0) & (edges[1:] > 0)  # the zero cell holds one value: 0
    first, last = np.flatnonzero(mass)[[0, -1]]
    lo = float(edges[first]) if not zero[first] else 0.0
    hi = float(edges[last + 1]) if not zero[last] else 0.0
    if enc.meta.integer:
        lo, hi = math.ceil(lo), max(math.ceil(lo), math.ceil(hi) - (0 if zero[last] else 1))
        if hi - lo <= DISCRETE_SPAN:
            values = np.arange(lo, hi + 1, dtype=np.float64)
            return _discrete(enc, v, missing, values, _mass_at(values, edges, mass, zero))
    cdf = np.concatenate([[0.0], np.cumsum(mass)]) / mass.sum()
    n_bins = N_COARSE * N_FINE
    q = np.interp(np.linspace(0, 1, n_bins + 1), cdf, edges)
    # Inside the zero cell every value is exactly 0 (a salary of 0 stays 0, not 1e-7).
    q = np.where((q > edges[np.argmax(zero)]) & (q < edges[np.argmax(zero) + 1]), 0.0, q) if zero.any() else q
    q[0], q[-1] = lo, hi
    q = np.maximum.accumulate(np.clip(q, lo, hi))
    enc.mode_, enc.n_coarse_, enc.n_fine_ = "binned", N_COARSE, N_FINE
    enc.lo_, enc.hi_ = q[:-1].copy(), q[1:].copy()
    if enc.meta.integer:
        enc.lo_ = np.ceil(enc.lo_)
        enc.hi_ = np.maximum(enc.lo_, np.where(q[1:] > q[:-1], np.ceil(q[1:]) - 1, np.ceil(q[1:])))
        enc.hi_[-1] = max(enc.lo_[-1], hi)
    enc.clip_ = (float(lo), float(hi))
    xs = np.clip(v[~missing], lo, hi)
    # A value belongs to any bin whose range holds it; ties (a point mass spanning several
    # bins) are spread evenly over those bins, as the non-private encoder does.
    first_bin = np.searchsorted(enc.hi_, xs, side="left")
    last_bin = np.searchsorted(enc.lo_, xs, side="right") - 1
    first_bin = np.minimum(first_bin, n_bins - 1)
    last_bin = np.clip(last_bin, first_bin, n_bins - 1)
    bins = first_bin + np.floor(rng.random(len(xs)) * (last_bin - first_bin + 1)).astype(np.int64)
    coarse, fine = (bins // N_FINE).astype(np.int32), (bins % N_FINE).astype(np.int32)
    return [enc._with_na(coarse, missing, N_COARSE), enc._with_na(fine, missing, None)]


def _date_only(fmt: str | None) -> bool:
    """Whether a date format (public schema) writes no time of day."""
    if fmt is None or fmt.startswith("epoch"):
        return False
    return not any(d in fmt for d in ("%H", "%I", "%M", "%S", "%f", "%p", "%T", "%R", "%X", "%c", "%s"))


def _nullable(dtype: str) -> bool:
    """Whether the column's dtype (schema, public) can hold a missing value at all."""
    return not (dtype.startswith(("int", "uint")) or dtype == "bool")


def _mass_at(values: np.ndarray, edges: np.ndarray, mass: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """Noisy mass per whole value, from the surviving cells (for rebalancing weights only)."""
    cell = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(mass) - 1)
    width = np.maximum(np.ceil(edges[1:]) - np.ceil(edges[:-1]), 1.0)
    per = np.where(zero, mass, mass / width)
    return np.maximum(per[cell], 1.0)


def _discrete(enc: NumericEncoder, v: np.ndarray, missing: np.ndarray, values: np.ndarray,
              counts: np.ndarray) -> list[np.ndarray]:
    if len(values) > FLAT_VALUES:
        # Many whole values (ages): one bin per value, grouped as a coarse code (a decade of
        # ages) and a fine one (the year within it), so a relation can be measured on the
        # coarse code alone, in a table small enough to stand out of the noise.
        n_coarse = math.ceil(math.sqrt(len(values)))
        n_fine = math.ceil(len(values) / n_coarse)
        padded = np.concatenate([values, np.full(n_coarse * n_fine - len(values), values[-1])])
        enc.mode_, enc.n_coarse_, enc.n_fine_ = "binned", n_coarse, n_fine
        enc.lo_, enc.hi_ = padded.copy(), padded.copy()
        enc.clip_ = (float(values[0]), float(values[-1]))
        x = np.clip(np.round(v[~missing]), values[0], values[-1])
        bins = np.searchsorted(values, x)
        return [enc._with_na((bins // n_fine).astype(np.int32), missing, n_coarse),
                enc._with_na((bins % n_fine).astype(np.int32), missing, None)]
    enc.mode_, enc.values_ = "discrete", values
    enc.counts_ = [int(round(c)) for c in counts]
    enc.clip_ = (float(values[0]), float(values[-1]))
    x = np.clip(np.round(v[~missing]), values[0], values[-1])
    codes = np.searchsorted(values, x).astype(np.int32)
    return [enc._with_na(codes, missing, len(values))]
