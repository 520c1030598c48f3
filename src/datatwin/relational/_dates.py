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

__all__ = ["ANCHOR_SHARE", "anchor_of", "date_columns", "distance_plan", "in_window", "dates_from_days",
           "day_resolution", "days", "fit_window", "grid_start", "grid_step"]

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


def _half(grid: np.ndarray) -> float:
    """Half the smallest spacing of a grid: how far a time may fall short of a grid time and
    still be taken as it."""
    return float(np.min(np.diff(grid))) / 2.0


def grid_start(t: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each time moved to its grid time: the first one from half a spacing before it (past the
    grid's last time, left as is)."""
    t = np.asarray(t, float)
    i = np.searchsorted(grid, t - _half(grid), side="left")
    return np.where(i < len(grid), grid[np.minimum(i, len(grid) - 1)], t)


def grid_step(prev: np.ndarray, gap: np.ndarray, grid: np.ndarray, ties: bool) -> np.ndarray:
    """The time of a step drawn ``gap`` after ``prev``, on the grid: the first grid time after
    ``prev`` (or at it, where the real data has ``ties``) that is at least ``prev + gap`` less half
    the grid's smallest spacing; a drawn day after a Friday is the Monday. Past the grid's last
    time, ``prev + gap`` as drawn (the window is applied afterwards, see :func:`fit_window`)."""
    prev = np.asarray(prev, float)
    now = prev + gap
    i = np.maximum(np.searchsorted(grid, now - _half(grid), side="left"),
                   np.searchsorted(grid, prev, side="left" if ties else "right"))
    return np.where(i < len(grid), grid[np.minimum(i, len(grid) - 1)], now)


EXTEND_MAX = 1_000_000  # grid times added past the grid's end, at most


def _extended(grid: np.ndarray, upto: float, more: int, dated: bool) -> np.ndarray:
    """The grid continued past its last time far enough to cover ``upto`` and ``more`` times
    beyond, by its smallest spacing; a daily grid of dates on the weekdays it has (trading days
    continue Monday to Friday, not on weekends)."""
    last, s = float(grid[-1]), 2.0 * _half(grid)
    n = int(np.ceil(max(0.0, upto - last) / s)) + more + 1
    if dated and abs(s - 1.0) < 1e-9 and np.all(grid == np.round(grid)):
        week = set(((grid.astype(np.int64) + 3) % 7).tolist())  # 1970-01-01 was a Thursday: Monday = 0
        n_days = min(EXTEND_MAX, n + int(np.ceil((more + 1) * 7 / len(week))) + 7)
        cand = last + np.arange(1, n_days + 1, dtype=float)
        ext = cand[np.isin((cand.astype(np.int64) + 3) % 7, list(week))]
    else:
        ext = last + s * np.arange(1, min(EXTEND_MAX, n) + 1, dtype=float)
    return np.r_[grid, ext]


def _on_grid(t: np.ndarray, ent: np.ndarray, grid: np.ndarray, squeezed: np.ndarray, end: float,
             ties: bool, dated: bool) -> np.ndarray:
    """Each history's times (rows in step order per entity) put back on the grid: each on the
    first grid time from half a spacing before it and after the previous row's (at it, with
    ``ties``); a ``squeezed`` history is then kept from running past ``end`` where its rows fit
    between its first grid time and ``end``: a history squeezed onto fewer grid dates than it has
    steps keeps its order on consecutive grid dates. Past the grid's end, the grid continues
    (:func:`_extended`)."""
    order = np.argsort(ent, kind="stable")  # rows keep their order within a history
    e, x = ent[order], t[order]
    n_rows = len(x)
    first = np.r_[True, e[1:] != e[:-1]]
    start_at = np.maximum.accumulate(np.where(first, np.arange(n_rows), 0))
    k = np.arange(n_rows) - start_at
    n = pd.Series(k).groupby(e).transform("max").to_numpy() + 1
    ext = _extended(grid, float(np.nanmax(x)), int(n.max()), dated)
    half = _half(grid)
    idx = np.searchsorted(ext, x - half, side="left")
    # A history reaching past even the continued grid (a time far past the data) is left as is.
    free = pd.Series(idx >= len(ext)).groupby(e).transform("any").to_numpy()
    idx = np.where(free, 0, idx)
    if ties:
        fwd = pd.Series(idx).groupby(e).cummax().to_numpy()
    else:  # strictly increasing: idx_k = max(idx_k, idx_{k-1} + 1)
        fwd = pd.Series(idx - k).groupby(e).cummax().to_numpy() + k
    i_end = int(np.searchsorted(ext, end + 1e-9, side="right")) - 1
    lo = fwd[start_at]
    hi = np.maximum(i_end, lo if ties else lo + n - 1)
    cap = hi if ties else hi - (n - 1 - k)
    out_sorted = np.where(squeezed[order], np.minimum(fwd, cap), fwd)
    out_sorted = np.where(free | (out_sorted >= len(ext)), x, ext[np.minimum(out_sorted, len(ext) - 1)])
    out = np.empty(n_rows)
    out[order] = out_sorted
    return out


def fit_window(t: np.ndarray, ent: np.ndarray, start: np.ndarray, end: float, min_gap: float,
               whole: bool, grid: np.ndarray | None = None, dated: bool = False) -> np.ndarray:
    """Each history's times squeezed into the observed window when it runs past its end.

    ``t``: time of each row (days or index units), ``ent``: its entity, ``start``: its entity's
    start. A history whose last step falls after ``end`` is squeezed about its start so that its
    last step lands on ``end``: what each gap has beyond ``min_gap`` shrinks by one factor per
    history, so the order, the start, the length and the smallest gap stay (a history with more
    steps than the window has room for at ``min_gap`` keeps that gap and ends past it). One that
    starts after ``end`` cannot be squeezed and is left. ``whole``: the real times are whole units
    (dates without a time), so squeezed times are floored to them (which keeps whole gaps).

    ``grid``: the real entities' shared calendar (sorted times, see ``shared_grid``), where every
    time is then put back (:func:`_on_grid`; ``dated``: the times are days, so a daily grid goes
    on past its end on its weekdays); rows land on one grid time only where the real data has
    ties (``min_gap`` under half its spacing)."""
    t = np.asarray(t, float)
    if len(t) == 0 or not np.isfinite(end):
        return t
    last = pd.Series(t).groupby(ent).transform("max").to_numpy()
    over = (last > end) & (start < end)
    if grid is not None and len(grid) >= 2:
        grid = np.asarray(grid, float)
        out = _squeezed(t, ent, start, end, min_gap, False, last, over) if over.any() else t
        return _on_grid(out, ent, grid, over, end, min_gap < _half(grid), dated)
    if not over.any():
        return t
    return _squeezed(t, ent, start, end, min_gap, whole, last, over)


def _squeezed(t: np.ndarray, ent: np.ndarray, start: np.ndarray, end: float, min_gap: float, whole: bool,
              last: np.ndarray, over: np.ndarray) -> np.ndarray:
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
