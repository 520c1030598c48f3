"""Dates across tables: a child's date learned as its distance from a parent's date, and a
sequence kept inside the time window the real data was observed in.

Why: a single-table model sees a parent's date as one more number. It learns that a loan
follows its account roughly, but not that it *always* follows it by 3 to 23 months, nor that a
sequence's first step falls on the day the account was opened; a classifier that sees the
child next to its parent spots every loan dated before its account. Learned as a distance
(days after the parent's date), the bounds and shape of that distance are the model's own
column bounds and shape, so they hold by construction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metadata import Metadata

__all__ = ["ANCHOR_SHARE", "anchor_of", "date_columns",
          "distance_plan", "in_window", "dates_from_days", "day_resolution", "days", "fit_window"]

# A date is learned relative to another date when their distance varies at most this share as
# much (standard deviation) as the date itself: then the other date explains most of it. Two
# unrelated dates differ *more* than either varies (the variances add), so they never pass.
ANCHOR_SHARE = 0.75
DAY = 86400.0


def days(s: pd.Series | np.ndarray) -> np.ndarray:
    """Dates (text or datetime) as float days since 1970-01-01; missing or unreadable: NaN."""
    v = pd.to_datetime(pd.Series(s), errors="coerce", format="mixed")
    if getattr(v.dt, "tz", None) is not None:
        v = v.dt.tz_convert(None)
    return (v - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(float) / DAY


def date_columns(df: pd.DataFrame) -> dict[str, str | None]:
    """The date columns of ``df`` with their text format (None: stored as datetimes)."""
    if df.shape[1] == 0 or len(df) == 0:
        return {}
    meta = Metadata.infer(df)
    return {str(c): m.datetime_format for c, m in meta.columns.items() if m.kind == "datetime"}


def anchor_of(target: np.ndarray, candidates: dict[str, np.ndarray]) -> str | None:
    """The candidate date that ``target`` (days) is best learned from: the one whose distance
    to it varies least, if that is at most :data:`ANCHOR_SHARE` of the target's own spread."""
    ok_t = ~np.isnan(target)
    if ok_t.sum() < 2:
        return None
    spread = float(np.std(target[ok_t]))
    best, best_sd = None, ANCHOR_SHARE * spread
    for name, v in candidates.items():
        ok = ok_t & ~np.isnan(v)
        # The distance must be known wherever the date is, or the rows without it would lose it.
        if ok.sum() < 2 or ok.sum() < ok_t.sum():
            continue
        sd = float(np.std(target[ok] - v[ok]))
        if sd < best_sd or (sd == 0.0 and spread == 0.0 and best is None):
            best, best_sd = name, sd
    return best


def dates_from_days(x: np.ndarray, fmt: str | None) -> pd.Series:
    """Days since 1970 back to dates: text in ``fmt``, or datetimes where the real ones were."""
    s = pd.Series(pd.to_datetime(np.round(np.asarray(x, float) * DAY), unit="s"))
    if fmt:
        return s.dt.strftime(fmt).where(s.notna(), None)
    return s


def fit_window(t: np.ndarray, ent: np.ndarray, start: np.ndarray, end: float, min_gap: float,
               whole: bool) -> np.ndarray:
    """Each history's times squeezed into the observed window when it runs past its end.

    ``t``: time of each row (days or index units), ``ent``: its entity, ``start``: its entity's
    start. A history whose last step falls after ``end`` is squeezed about its start so that its
    last step lands on ``end``: what each gap has beyond ``min_gap`` shrinks by one factor per
    history, so the order, the start, the length and the smallest gap stay (a history with more
    steps than the window has room for at ``min_gap`` keeps that gap and ends past it). One that
    starts after ``end`` cannot be squeezed and is left. ``whole``: the real times are whole units
    (dates without a time), so squeezed times are floored to them (which keeps whole gaps)."""
    t = np.asarray(t, float)
    if len(t) == 0 or not np.isfinite(end):
        return t
    last = pd.Series(t).groupby(ent).transform("max").to_numpy()
    over = (last > end) & (start < end)
    if not over.any():
        return t
    order = np.lexsort((t, ent))
    e = ent[order]
    first = np.r_[True, e[1:] != e[:-1]]
    step_sorted = np.arange(len(t)) - np.maximum.accumulate(np.where(first, np.arange(len(t)), 0))
    step = np.empty(len(t))
    step[order] = step_sorted
    n_gaps = pd.Series(step).groupby(ent).transform("max").to_numpy()
    g = max(0.0, float(min_gap))
    s, o = start[over], step[over] * g  # the tightest history: every gap at min_gap
    with np.errstate(invalid="ignore", divide="ignore"):
        f = (end - s - n_gaps[over] * g) / (last[over] - s - n_gaps[over] * g)
    f = np.clip(np.nan_to_num(f, nan=0.0), 0.0, 1.0)
    out = t.copy()
    out[over] = s + o + np.maximum(t[over] - s - o, 0.0) * f
    if whole:
        out[over] = np.floor(out[over] + 1e-9)
    return out


def day_resolution(t: np.ndarray) -> bool:
    """Whether every (finite) time is a whole number of units (dates without a time of day)."""
    v = t[np.isfinite(t)]
    return bool(len(v)) and bool(np.all(np.abs(v - np.round(v)) < 1e-6))



QUANTILES = 101  # a learned distance's real distribution, kept for redrawing out-of-window dates


def distance_plan(date: np.ndarray, distance: np.ndarray) -> dict[str, object]:
    """What :func:`in_window` needs (plain JSON): the real date's range and the real distances'
    quantiles, and whether they are whole days."""
    d, x = date[~np.isnan(date)], distance[~np.isnan(distance)]
    return {"lo": float(d.min()), "hi": float(d.max()),
            "q": [float(v) for v in np.quantile(x, np.linspace(0, 1, QUANTILES))],
            "whole": day_resolution(x)}


def in_window(base: np.ndarray, after: np.ndarray, plan: dict[str, object], rng: np.random.Generator
              ) -> np.ndarray:
    """``base + after`` (days), with the dates that fall outside the real date's range redrawn.

    A parent's date plus a learned distance can land where the real data has no dates at all
    (an account opened late in 1997 with a loan 20 months later, while berka's loans stop in
    December 1998): such a distance is redrawn from the real distances that keep the date inside
    the range (inverse CDF over their quantiles), or, when none does, the date is put on the range's
    nearer end."""
    lo, hi = float(plan["lo"]), float(plan["hi"])
    q = np.asarray(plan["q"], float)
    x = base + after
    out = ~np.isnan(x) & ((x < lo) | (x > hi))
    if not out.any():
        return x
    grid = np.linspace(0.0, 1.0, len(q))
    a, b = lo - base[out], hi - base[out]
    fa, fb = np.interp(a, q, grid), np.interp(b, q, grid)
    d = np.interp(fa + rng.random(int(out.sum())) * (fb - fa), grid, q)
    if plan.get("whole"):
        d = np.clip(np.round(d), np.ceil(a), np.floor(b))
    redrawn = np.where(fb > fa, base[out] + d, np.clip(x[out], lo, hi))
    x = x.copy()
    x[out] = np.clip(redrawn, lo, hi)
    return x
