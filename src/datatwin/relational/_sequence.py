"""Ordered histories per entity: the step model's training frame, and generation step by step.

A sequence table (entity key + order column) is learned as one conditional model of a step
given the step before it. Each training row holds, as given columns (context):

- ``ctx.*``: the entity's parent row (for a standalone sequence table, just its length and start);
- ``seq.step``: the position in the history (0, 1, ...), so trends along the history are learned;
- ``seq.prev_time``: when the previous step happened (the entity's start at step 0);
- ``lag.<column>``: every modelled column's value at the previous step (missing at step 0);

and, as generated columns, ``seq.gap`` (time since the previous step, 0 at step 0) and the
row's values. A number is generated as its change since the previous step (``d.<column>``)
wherever that previous value exists, and as a level (``<column>``) otherwise: prices that move
like random walks and balances that accumulate keep their persistence exactly, while the
change is still conditioned on the previous level (so mean reversion is learned too). The
order column is rebuilt as ``prev_time + gap``, so it always increases.

Generation runs all entities in parallel, one step at a time: step ``t`` completes the given
columns of every entity still active at ``t`` with one conditional sampling call.

Kinds of steps (a bank account's pension, rent, fee and cash, told by its categorical columns):
categoricals that come in a few fixed combinations are drawn as one column of them
(``plan["fused"]``); a number or day of the month that comes back with the same kind of step
is drawn with a repeat flag (``k.<column>``) after the kind, and repeats the entity's last value
of that kind (``plan["recur"]``). Histories that nearly all run to the end of the observed
window are generated until they pass it (``plan["until"]``: their length is the time's, not a
drawn count); where most do, they see the time left per step left (``seq.pace``).
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._exceptions import InputError
from ..encoding import MODELLED_KINDS, CategoricalEncoder, NumericEncoder
from ..engines import block_worker, keep_torch_threads
from ..metadata import Metadata
from ..sampling import block_threads, complete_codes, complete_rows, draw_codes, encode_numbers, encode_seed_rows
from ._dates import grid_start, grid_step

__all__ = ["Completer", "format_index", "generate_histories", "history_blocks", "index_times", "sequence_frame",
           "sequence_plan"]

DAY = 86400.0


def _to_time(s: pd.Series, kind: str) -> np.ndarray:
    """Index values as float (days for datetimes, the unit itself for numbers)."""
    if kind == "datetime":
        v = pd.to_datetime(s, errors="coerce", format="mixed")
        out = (v - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(float) / DAY
        return out
    return pd.to_numeric(s, errors="coerce").to_numpy(float)


def _from_time(x: np.ndarray, kind: str) -> pd.Series:
    if kind == "datetime":
        return pd.Series(pd.to_datetime(np.round(x * DAY), unit="s"))
    return pd.Series(x)


def sequence_plan(df: pd.DataFrame, table: str, key: str, index: str, exclude: set[str]) -> dict[str, Any]:
    """What the step model needs to know about a sequence table (plain JSON)."""
    if index not in df.columns:
        raise InputError(f"sequence index {index!r} is not a column of {table!r}")
    s = df[index]
    if pd.api.types.is_numeric_dtype(s):
        kind, fmt = "numeric", None
    else:
        parsed = pd.to_datetime(s, errors="coerce", format="mixed")
        if parsed.notna().sum() < max(1, 0.99 * s.notna().sum()) or s.notna().sum() == 0:
            raise InputError(f"sequence index {table}.{index} cannot be ordered: it is neither a number nor a date "
                             f"(e.g. {s.dropna().astype(str).iloc[0]!r})" if s.notna().any() else
                             f"sequence index {table}.{index} is entirely missing")
        kind = "datetime"
        fmt = Metadata.infer(df[[index]]).columns[index].datetime_format if s.dtype == object or \
            pd.api.types.is_string_dtype(s) else None
    if s.isna().any():
        raise InputError(f"sequence index {table}.{index} has {int(s.isna().sum()):,} missing value(s); "
                         f"every step needs its place in the order")
    lengths = df.groupby(key, dropna=True).size()
    if len(lengths) and lengths.max() <= 1:
        raise InputError(f"sequence key {table}.{key} has one row per entity, so there is no history to learn; "
                         f"drop --sequence-key or pick the entity column")
    meta = Metadata.infer(df.drop(columns=[c for c in exclude | {index, key} if c in df.columns]))
    raw = df
    numeric, categorical = [], []
    bounds: dict[str, list[float]] = {}
    integer: list[str] = []
    for c, cm in meta.columns.items():
        if cm.kind == "numeric":
            numeric.append(c)
            v = pd.to_numeric(df[c], errors="coerce")
            bounds[c] = [float(v.min()), float(v.max())]
            if cm.integer:
                integer.append(c)
        elif cm.kind in MODELLED_KINDS and cm.kind != "datetime":
            categorical.append(c)
    fused = _fused_groups(df, categorical)
    if fused:
        categorical = _fused_categorical(categorical, fused)
        df = raw = fuse({"fused": fused}, df)
    # Positive numbers spanning orders of magnitude (prices) move by ratios: they are modelled
    # as logs, so one set of change bins serves a $15 and a $700 stock alike.
    log = {c: (0 if c in integer else _typical_decimals(df[c], meta.columns[c].decimals))
           for c in numeric if _spans_magnitudes(df[c])}
    # A few zeros among them (3 days without trades in 124k) are kept by modelling log(x + 1).
    shift = {c: 1.0 for c in log if bounds[c][0] == 0}
    if log:
        df = to_model_units({"log": log, "log_shift": shift}, df)
        for c in log:
            bounds[c] = [float(np.log(b + shift.get(c, 0.0))) for b in bounds[c]]
        integer = [c for c in integer if c not in log]
    grid = shared_grid(df, key, index, kind)
    units: dict[str, Any] = {"index": index, "index_kind": kind,
                             "common": _common_paths(df, key, index, kind, [c for c in numeric if c not in integer],
                                                     set(log), grid)}
    if units["common"]:
        df = to_model_units(units, df)
        for c, path in units["common"].items():
            path["bounds"] = bounds[c]  # the column's own range, applied once the path is added back
            v = pd.to_numeric(df[c], errors="coerce")
            bounds[c] = [float(v.min()), float(v.max())]
    spread = _spread_pairs(df, numeric)
    plain = [c for c in numeric if c not in units["common"] and c not in spread]
    ledger = _ledgers(raw, key, index, kind, [c for c in plain if c not in log], plain, categorical)
    revert = [c for c in _reverting(df, key, index, kind, numeric) if c not in ledger]
    # (A ledger's source may be one: its value, not its move, is what the ledger adds.)
    month_end = kind == "datetime" and _month_ends(df, key, index)
    plan: dict[str, Any] = {
        "key": key, "index": index, "index_kind": kind, "index_format": fmt, "numeric": numeric,
        "categorical": categorical, "bounds": bounds, "integer": integer,
        "other": [c for c in meta.columns if c not in numeric and c not in categorical
                  and not any(c in g["columns"] for g in fused)],
        "spread": spread, "calendar": kind == "datetime", "month": month_end,
        "dlag": True, "revert": True,
        "reverting": revert, "log": log, "log_shift": shift, "common": units["common"], "ledger": ledger,
        "month_end": month_end}
    recur = _recurring(raw, key, index, kind, [c for c in plain if c not in ledger], categorical)
    for c, rule in recur.items():  # fixed values in the step model's units (logs)
        for table in (rule.get("fixed") or {}).values():
            for k, v in table.items():
                table[k] = float(np.log(v + shift.get(c, 0.0))) if c in log else v
    # The keys below are absent where they do not apply: the model files of tables without
    # them (walmart, stocks) are unchanged.
    if recur:
        plan["recur"] = recur
        # Numbers that recur by kind and sit on shared exact values are drawn as values given
        # the kind (drawn first), not as distances from the history's mean: berka's amounts as
        # distances left a pile on the real maximum (2-4 % of rows on 76,500, held by one real
        # row) and lost every round amount. This costs the amounts' alternation (lag-1
        # autocorrelation -0.094 real, -0.013 generated, against -0.097 as distances).
        plan["level"] = [c for c in recur if c in revert and c not in integer and _point_masses(raw[c])]
    if fused:
        plan["fused"] = fused
    seen = [c for c in revert if c not in plan.get("level", ()) and raw[c].isna().any()]
    if seen:
        plan["seen"] = seen
    window = _window_end(raw, key, index, kind) if grid is None else None
    if window is not None and window[1] >= UNTIL_SHARE:
        # Nearly every history runs to the end of the observed window (berka: every account's
        # last transaction is the interest on its last day), so a history's length is the time
        # it has left at its own pace: it is generated until it passes the end, not for a drawn
        # count of steps. A drawn count squeezed into the window moved 70 % of the rows off their
        # days of the month (pensions on the 5th-14th, three times as common as other days).
        plan["until"] = {"end": window[0], "cap": int(np.ceil(UNTIL_CAP * float(lengths.max()))) + 1}
    elif window is not None and window[1] >= PACE_SHARE:
        plan["pace"] = window[0]
    if grid is not None:
        plan["grid"] = grid.tolist()
    if any(raw[c].isna().any() for c in numeric):  # (likewise)
        plan["lone_gaps"] = _lone_gaps(raw, key, index, kind, numeric)
    envelope = _envelopes(raw, spread)
    if envelope:  # (likewise)
        plan["envelope"] = envelope
    cross = _cross_bases(df, key, index, kind, [c for c in numeric if c not in spread and c not in ledger
                                                 and c not in revert], numeric)
    if cross:  # (likewise)
        plan["cross_base"] = cross
    center = _centers(df, key, index, kind, [c for c in units["common"] if c not in ledger and c not in revert
                                             and c not in (plan.get("envelope") or {})], cross, spread)
    if center:  # (likewise)
        plan["center"] = center
    shared = _shared_series(raw, key, index, kind, [c for c in numeric if c not in ledger], grid)
    if shared:  # (likewise)
        plan["shared"] = shared
    return plan


def _point_masses(s: pd.Series) -> bool:
    """Whether ``POINT_SHARE`` or more of a number's values are exact values that many rows share
    (each at least ``POINT_MIN_SHARE`` of them): a fee of 14.60 on 10 % of berka's transactions,
    whole hundreds. Such a number, when it swings around its entity's level anyway, is generated
    as a value (the encoder's point masses come back exact), not as a distance from its
    history's mean (a sum that lands on 14.60 by chance only: 0.1 % of synthetic amounts)."""
    v = pd.to_numeric(s, errors="coerce").dropna()
    if len(v) < 20:
        return False
    counts = v.value_counts()
    return bool(counts[counts >= max(2.0, POINT_MIN_SHARE * len(v))].sum() >= POINT_SHARE * len(v))


POINT_SHARE = 0.2
POINT_MIN_SHARE = 0.002


def _window_end(df: pd.DataFrame, key: str, index: str, kind: str) -> tuple[float, float] | None:
    """The end of the observed window and the share of histories that run up to it (their last
    step within a typical gap of the table's last time); None without two dated histories.
    Where most do (``PACE_SHARE``) they are paced by the time left per step left (``seq.pace``);
    where nearly all do (``UNTIL_SHARE``), they are generated until they pass it."""
    t = _to_time(df[index], kind)
    ent = pd.factorize(df[key])[0]
    ok = ~np.isnan(t) & (ent >= 0)
    if ok.sum() < 2:
        return None
    order = np.lexsort((t[ok], ent[ok]))
    e, x = ent[ok][order], t[ok][order]
    gaps = np.diff(x)[e[1:] == e[:-1]]
    gap = float(np.median(gaps[gaps > 0])) if (gaps > 0).any() else 0.0
    end = float(x.max())
    last = pd.Series(x).groupby(e).max().to_numpy()
    return (end, float(np.mean(last >= end - gap))) if len(last) >= 2 else None


PACE_SHARE = 0.5
UNTIL_SHARE = 0.8
UNTIL_CAP = 1.5  # a history generated until the window's end stops after this many times the longest real one


def _fused_groups(df: pd.DataFrame, categorical: list[str]) -> list[dict[str, Any]]:
    """Categorical columns whose values come in a few fixed combinations, each group to be
    generated as one column of those combinations: ``[{"name", "columns", "combos"}]``.

    berka's transactions have a type (3 levels), an operation (6) and a symbol (8) in 14
    combinations. Drawn one after the other by the step model, 2-6 % of synthetic rows had a
    combination that never occurs (a credit paid out as a withdrawal), each one a giveaway.
    Columns join a group while the group's combinations stay at most ``FUSE_RATIO`` times its
    largest column's levels and at most ``FUSE_MAX_LEVELS``: columns that vary independently
    multiply their combinations and stay apart."""
    levels = {c: int(df[c].nunique(dropna=False)) for c in categorical}
    cand = [c for c in categorical if 2 <= levels[c] <= FUSE_MAX_LEVELS]
    groups: list[dict[str, Any]] = []
    used: set[str] = set()
    for c in cand:
        if c in used:
            continue
        group = [c]
        for d in cand:
            if d in used or d in group:
                continue
            n = len(df[group + [d]].drop_duplicates())
            if n <= FUSE_MAX_LEVELS and n <= FUSE_RATIO * max(levels[x] for x in group + [d]):
                group.append(d)
        if len(group) > 1:
            used.update(group)
            combos = df[group].drop_duplicates()
            rows = [[None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in r]
                    for r in combos.itertuples(index=False, name=None)]
            name = "+".join(group)
            while name in df.columns:
                name += "_"
            groups.append({"name": name, "columns": group, "combos": rows})
    return groups


FUSE_MAX_LEVELS = 64  # most combinations (and levels of a column) in a fused group
FUSE_RATIO = 2.0  # most combinations per level of the group's largest column


def _fused_categorical(categorical: list[str], fused: list[dict[str, Any]]) -> list[str]:
    """The categorical columns with each fused group in its first column's place."""
    first = {g["columns"][0]: g["name"] for g in fused}
    parts = {c for g in fused for c in g["columns"]}
    return [first.get(c, c) for c in categorical if c in first or c not in parts]


def _combo_label(values: tuple[Any, ...]) -> str:
    """One combination as text; 1 and 1.0 alike (a column with missing values reads as floats)."""
    def part(v: Any) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return FUSE_NA
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)
    return FUSE_SEP.join(part(v) for v in values)


FUSE_SEP, FUSE_NA = "\x1f", "\x1e"  # unit separator between parts; record separator: missing


def fuse(plan: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each fused group's columns replaced by one column of their combinations."""
    if not plan.get("fused"):
        return df
    df = df.copy()
    for g in plan["fused"]:
        cols = [c for c in g["columns"] if c in df.columns]
        if len(cols) != len(g["columns"]):
            continue
        parts = [df[c].astype(object).where(df[c].notna(), None).to_numpy() for c in cols]
        df[g["name"]] = [_combo_label(v) for v in zip(*parts, strict=True)]
        df = df.drop(columns=cols)
    return df


def unfuse(plan: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each fused column split back into its columns (their original values)."""
    for g in plan.get("fused") or ():
        if g["name"] not in df.columns:
            continue
        table = {_combo_label(tuple(r)): r for r in g["combos"]}
        blank = [None] * len(g["columns"])
        # Each distinct label looked up once (a few dozen), then every column taken by code.
        codes, labels = pd.factorize(df[g["name"]])  # (missing: -1, the last row of ``parts``)
        parts = np.empty((len(labels) + 1, len(g["columns"])), dtype=object)
        for k, v in enumerate(labels):
            parts[k] = table.get(v, blank) if isinstance(v, str) else blank
        parts[-1] = blank
        at = list(df.columns).index(g["name"])
        df = df.drop(columns=[g["name"]])
        for k, c in enumerate(g["columns"]):
            df.insert(at + k, c, pd.Series(parts[codes, k], dtype=object, index=df.index))
    return df


def _in_order(df: pd.DataFrame, key: str, index: str, kind: str, t: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of ``df`` by entity, then time: the order, each ordered row's entity number, and
    whether it has a previous step of the same entity (``t``: the times, where already read)."""
    t = _to_time(df[index], kind) if t is None else t
    ent = pd.factorize(df[key])[0]
    order = np.lexsort((t, ent))
    ent = ent[order]
    return order, ent, np.r_[False, ent[1:] == ent[:-1]]


def _last_of_kind(x: np.ndarray, ent: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Per row (ordered by entity, then time), the entity's previous value of ``x`` at a step of
    the same kind (NaN: none)."""
    return pd.Series(x).groupby([ent, kinds]).shift(1).to_numpy(dtype=np.float64, na_value=np.nan)


def _kinds(df: pd.DataFrame, by: list[str]) -> np.ndarray:
    """Per row, a number naming its combination of ``by`` values (missing is a value)."""
    return df.groupby(by, dropna=False, sort=False).ngroup().to_numpy()


def _recurring(df: pd.DataFrame, key: str, index: str, kind: str, numeric: list[str], categorical: list[str]
               ) -> dict[str, dict[str, Any]]:
    """Numbers that come back exactly with the same kind of step: ``{column: {"by": [...]}}``.

    An account's pension, rent and insurance are the same amount every month, its fee the same
    at every statement (berka: 81-87 % of such steps repeat the entity's last amount of the same
    type, operation and symbol; 28 % of all rows), while other steps of the same history come in
    between. A change or a distance from the mean lands on the old amount by chance only
    (0.6 % of synthetic rows), so the step model also draws whether the number repeats (``k.``)
    and generation then takes the entity's last value of that kind. The kind is the step's
    values of the table's categorical columns with few levels; a number is kept when at least
    ``RECUR_SHARE`` of its steps whose kind came before, not at the step just before, repeat."""
    by = [c for c in categorical if 2 <= df[c].nunique(dropna=False) <= RECUR_MAX_LEVELS]
    if not by:
        return {}
    t = _to_time(df[index], kind)
    order, ent, same_ent = _in_order(df, key, index, kind, t)
    d = df.iloc[order].reset_index(drop=True)
    kinds = _kinds(d, by)
    adjacent = same_ent & np.r_[False, kinds[1:] == kinds[:-1]]
    out: dict[str, dict[str, Any]] = {}
    for c in numeric:
        x = pd.to_numeric(d[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        before = _last_of_kind(x, ent, kinds)
        far = ~np.isnan(before) & ~np.isnan(x) & ~adjacent
        if far.sum() >= 50 and (x[far] == before[far]).mean() >= RECUR_SHARE:
            out[c] = {"by": by}
            fixed = _fixed_by_kind(d, x, by)
            if fixed:
                out[c]["fixed"] = fixed
    if kind == "datetime":
        # Standing orders also come on the same day of the month (berka: every pension, rent
        # and insurance payment; 1 in 30 by chance): the step's date is snapped to that day.
        day = _day_of_month(t[order])
        before = _last_of_kind(day, ent, kinds)
        far = ~np.isnan(before) & ~adjacent
        if far.sum() >= 50 and (day[far] == before[far]).mean() >= RECUR_SHARE:
            out[index] = {"by": by, "day": True}
    return out


def _fixed_by_kind(d: pd.DataFrame, x: np.ndarray, by: list[str]) -> dict[str, dict[str, float]]:
    """``{column: {level: value}}``: levels of a ``by`` column (in ``RECUR_MIN_ROWS`` rows or
    more) whose number is one value in ``FIXED_SHARE`` of them (berka's statement fee, 14.60).
    A move from the history's mean lands on it by chance only, so generation sets it."""
    out: dict[str, dict[str, float]] = {}
    for b in by:
        # A missing number counts as a value of its own: where most of a level's rows lack it,
        # the few present ones must not fix the rest (berka's cash rows: counterparty 0 or none).
        ok = d[b].notna().to_numpy()
        if not ok.any():
            continue
        counts = pd.DataFrame({"k": d[b].to_numpy()[ok].astype(str), "x": np.where(np.isnan(x[ok]), np.inf, x[ok])}
                              ).value_counts()
        top = counts.groupby(level=0).agg(["max", "sum", "idxmax"])
        top = top[(top["sum"] >= RECUR_MIN_ROWS) & (top["max"] >= FIXED_SHARE * top["sum"])]
        fixed = {str(k): float(v[1]) for k, v in top["idxmax"].items() if np.isfinite(v[1])}
        if fixed:
            out[b] = fixed
    return out


FIXED_SHARE = 0.9
RECUR_MIN_ROWS = 50


class _MonthTable:
    """Per day (days since 1970) from 1800 to 2200: its month's first day and length, for the
    steps' day-of-the-month arithmetic (a lookup instead of a dozen datetime64 conversions per
    step; the same integers, outside the range the datetime64 way)."""

    LO, HI = -62_091, 84_006  # 1800-01-01, 2200-01-01
    _made: ClassVar[list[tuple[np.ndarray, np.ndarray]]] = []

    @classmethod
    def month_of(cls, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each whole day's month (``d``: int64 days since 1970): its first day and its length."""
        if len(d) == 0 or (np.minimum.reduce(d) >= cls.LO and np.maximum.reduce(d) < cls.HI):
            if not cls._made:
                cls._made.append(cls._datetime64(np.arange(cls.LO, cls.HI + 62, dtype=np.int64)))
            start, length = cls._made[0]
            return start[d - cls.LO], length[d - cls.LO]
        return cls._datetime64(d)

    @staticmethod
    def _datetime64(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = d.astype("datetime64[D]").astype("datetime64[M]")
        first = m.astype("datetime64[D]").astype(np.int64)
        return first, (m + 1).astype("datetime64[D]").astype(np.int64) - first


def _day_of_month(days: np.ndarray) -> np.ndarray:
    """Day of the month (1-31) of times in days since 1970; NaN stays NaN."""
    ok = ~np.isnan(days)
    di = np.floor(np.where(ok, days, 0)).astype("int64")
    first, _ = _MonthTable.month_of(di)
    return np.where(ok, (di - first + 1).astype(np.float64), np.nan)


def _to_day_of_month(prev: np.ndarray, now: np.ndarray, dom: np.ndarray) -> np.ndarray:
    """The first date on day ``dom`` of a month (the month's last day where it is shorter) that
    is not before ``prev``'s day; NaN ``dom``: ``now`` kept. The drawn time is not used: it was
    drawn without knowing the day, and its nearest such date a month off the previous step's
    (a rent on the 8th drawn on the 11th, after a step on the 10th, went to February 8)."""
    ok = ~np.isnan(dom) & ~np.isnan(prev)
    floor_prev = np.floor(np.where(ok, prev, 0))
    want = np.where(ok, dom, 1).astype(np.int64)
    best = np.full(len(now), np.inf)
    first, days = _MonthTable.month_of(floor_prev.astype("int64"))
    after = first + days
    # This month's, where it is not before the previous step, else the next month's.
    for m, last in ((after, _MonthTable.month_of(after)[1]), (first, days)):
        cand = (m + (np.minimum(want, last) - 1)).astype(np.float64)
        best = np.where(cand >= floor_prev, cand, best)
    return np.where(ok, best, now)


RECUR_SHARE = 0.3  # share of a number's non-adjacent same-kind steps that repeat its last value
RECUR_MAX_LEVELS = 64  # categorical columns with more levels do not name a kind of step
RECUR_DENSE_MAX = 4_000_000  # entities x kinds kept as one array (32 MB) during generation


def recur_flags(plan: dict[str, Any], df: pd.DataFrame, entity: np.ndarray) -> dict[str, np.ndarray]:
    """Per recurring number, whether each row of ``df`` (ordered by entity, then index) repeats
    the entity's last value of the same kind (``_recurring``)."""
    out = {}
    for c, rule in (plan.get("recur") or {}).items():
        if rule.get("day"):
            x = _day_of_month(_to_time(df[c], plan["index_kind"]))
        else:
            x = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        out[c] = (x == _last_of_kind(x, entity, _kinds(df, rule["by"]))).astype(np.float64)
    return out


class Recurrences:
    """Each entity's last value of each recurring number per kind, kept during generation."""

    def __init__(self, plan: dict[str, Any], n_ent: int = 0, sizes: dict[str, int] | None = None) -> None:
        self.rules = plan.get("recur") or {}
        self.last: dict[str, dict[Any, float]] = {c: {} for c in self.rules}
        # Kinds numbered 0..K-1 (the code path): one array per entity and kind where it is small
        # (berka: 4,500 accounts x 256 kinds), a dict otherwise (and for the frame path's tuples).
        self.dense = {c: np.full((n_ent, k), np.nan) for c, k in (sizes or {}).items()
                      if c in self.rules and n_ent * k <= RECUR_DENSE_MAX}

    def repeats(self, c: str, act: np.ndarray, kinds: Any, flag: np.ndarray) -> np.ndarray:
        """The values that the rows flagged to repeat take (NaN: not flagged, or no earlier value)."""
        if c in self.dense:
            return np.where(flag > 0.5, self.dense[c][act, kinds], np.nan)
        last = self.last[c]
        out = np.full(len(act), np.nan)
        for i in np.flatnonzero(flag > 0.5):
            out[i] = last.get((int(act[i]), kinds[i]), np.nan)
        return out

    def with_fixed(self, c: str, values: np.ndarray, fixed_of: Any) -> np.ndarray:
        """``values`` (a repeat or NaN) where the step's kind fixes none, else the fixed value;
        ``fixed_of(column, table)`` gives each row's value in ``table`` of its level of a ``by``
        column (NaN: none there; None: the column is not known), see :func:`fixed_by_text`."""
        for b, table in (self.rules[c].get("fixed") or {}).items():
            fixed = fixed_of(b, table)
            if fixed is not None:
                values = np.where(np.isnan(fixed), values, fixed)
        return values

    def add(self, c: str, act: np.ndarray, kinds: Any, x: np.ndarray) -> None:
        ok = ~np.isnan(x)
        if c in self.dense:
            self.dense[c][act[ok], np.asarray(kinds)[ok]] = x[ok]
            return
        last = self.last[c]
        for i in np.flatnonzero(ok):
            last[(int(act[i]), kinds[i])] = float(x[i])

    def keep(self, act: np.ndarray, kinds: dict[str, Any], x: dict[str, np.ndarray], now: np.ndarray) -> None:
        """Remember one step's values (a recurring day: its date's day of the month)."""
        for c in self.rules:
            self.add(c, act, kinds[c], x[c] if c in x else _day_of_month(now))

    def on_day(self, plan: dict[str, Any], reps: dict[str, np.ndarray], prev: np.ndarray, now: np.ndarray
               ) -> np.ndarray:
        """Step times ``now``, those flagged to repeat their kind's day of the month moved to it."""
        day = reps.get(plan["index"])
        return now if day is None else _to_day_of_month(prev, now, day)


def fixed_by_text(levels: list[str] | None, table: dict[str, float]) -> np.ndarray | None:
    """Each row's value in ``table`` of its level as text (NaN: none), for
    :meth:`Recurrences.with_fixed`."""
    if levels is None:
        return None
    return np.array([table.get(v, np.nan) for v in levels], dtype=np.float64)


def _cross_bases(df: pd.DataFrame, key: str, index: str, kind: str, targets: list[str], numeric: list[str]
                 ) -> dict[str, str]:
    """Numbers whose value is closer to another number's previous value than to their own
    (``{target: base}``; ``df`` in the step model's units): a day's open starts where the
    previous day closed. Such a number is generated as its change since the base's previous
    value.

    Stocks' open moves from the previous open by the whole day (log change std 0.017) but from
    the previous close by the night alone (0.0095): drawn from its own lag, the open left the
    previous close by the day's move too, and the overnight gap was 1.7 times the real one. A
    base is kept when the typical distance from it (median over entities of the mean absolute
    difference) is at most ``CROSS_BASE_RATIO`` of the distance from the number's own lag."""
    if len(df) < 2 or not targets:
        return {}
    order, ent, step = _in_order(df, key, index, kind)
    vals = {c: pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)[order]
            for c in numeric}
    lags = {c: np.where(step, np.r_[np.nan, v[:-1]], np.nan) for c, v in vals.items()}
    out: dict[str, str] = {}
    for c in targets:
        best, best_size = None, np.inf
        for b in [c] + [b for b in numeric if b != c]:
            d = np.abs(vals[c] - lags[b])
            ok = np.isfinite(d)
            if ok.sum() < 20:
                if b == c:
                    break  # no own moves to compare with
                continue
            size = float(pd.Series(d[ok]).groupby(ent[ok]).mean().median())
            if b == c:
                best_size = CROSS_BASE_RATIO * size
            elif size < best_size:
                best, best_size = b, size
        if best is not None:
            out[c] = best
    return out


def _centers(df: pd.DataFrame, key: str, index: str, kind: str, columns: list[str], cross: dict[str, str],
             spread: dict[str, str]) -> dict[str, float]:
    """Per number with a common path (its moves in ``df``, the step model's units, have the mean
    move of all entities at each date taken away), the mean of its moves from its base (a spread
    column: of its spread from its anchor): at every date the entities' moves average to about
    that (to 0 from the own lag, by construction). Generation moves each step's drawn moves of
    the entities together to that mean (:func:`_centered`).

    A step model's small bias in a move adds up over a history: stocks' generated residual moves
    averaged -0.0005 a day, so prices ended 40 % below the real ones after five years. Numbers
    whose moves are mostly exactly 0 (``CENTER_MAX_ZEROS``: an unemployment rate that changes
    quarterly) keep theirs: shifted, the zeros would all move."""
    if not columns or len(df) < 2:
        return {}
    order, ent, step = _in_order(df, key, index, kind)
    out = {}
    for c in columns:
        x = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)[order]
        b = pd.to_numeric(df[spread.get(c, cross.get(c, c))], errors="coerce").to_numpy(dtype=np.float64,
                                                                                        na_value=np.nan)[order]
        d = x - (b if c in spread else np.where(step, np.r_[np.nan, b[:-1]], np.nan))
        d = d[np.isfinite(d)]
        if len(d) >= 20 and (d == 0).mean() < CENTER_MAX_ZEROS:
            out[c] = float(d.mean())
    return out


CENTER_MAX_ZEROS = 0.1  # share of exactly-zero moves above which a number's moves are not centred


def _centered(plan: dict[str, Any], delta: dict[str, np.ndarray], spread: set[str], spreads: bool
              ) -> dict[str, np.ndarray]:
    """One step's drawn moves (``spreads``: spreads) with those of ``plan["center"]`` shifted
    together so that their mean over the entities is the real one (only where
    ``COMMON_MIN_ENTITIES`` or more move: fewer entities' mean is mostly their own noise)."""
    out = dict(delta)
    for c, mu in plan["center"].items():
        if (c in spread) != spreads or c not in delta:
            continue
        d = delta[c]
        ok = ~np.isnan(d)
        if ok.sum() >= COMMON_MIN_ENTITIES:
            out[c] = d - (d[ok].mean() - mu)
    return out


CROSS_BASE_RATIO = 0.8  # distance from another number's lag / from the own lag, for a cross base


SHARED_MIN_ENTITIES = 2  # real entities behind every stored shared series
SHARED_MIN_SHARE = 0.5  # share of entities on a kept series for a column to be generated from them


def _shared_series(df: pd.DataFrame, key: str, index: str, kind: str, numeric: list[str],
                   grid: np.ndarray | None) -> dict[str, Any]:
    """The numbers whose whole history several entities share exactly (a region's fuel price
    and CPI, shared by the stores of that region), as ``{"columns": [...], "paths": {column:
    [series on the grid dates, None where absent]}, "combos": [[series per column, -1: none]],
    "weights": [entities]}``; empty when there are none.

    Walmart's 45 stores have 10 fuel-price and 15 CPI histories between them: at a date the real
    values are a handful of exact atoms, and a classifier that saw the date and the value (or its
    change since the previous week: AUC 0.78 on that alone) told the generated stores, each with
    its own path, from the real ones. Such a column is then not drawn: each generated entity takes
    the series of one real entity's combination (``combos``, drawn by ``weights``, so that the
    fuel price and the CPI of a region stay together), and the step model is given them as lags.

    Only tables on a shared calendar (``grid``) have one, and a column qualifies when at least
    ``SHARED_MIN_SHARE`` of the entities are on a series that ``SHARED_MIN_ENTITIES`` or more
    entities share exactly, on the same dates: only such series are stored, never one entity's
    own values."""
    if grid is None or not len(df):
        return {}
    t = _to_time(df[index], kind)
    pos = np.searchsorted(grid, t)
    ent, names = pd.factorize(df[key])
    n_ent = len(names)
    if n_ent < SHARED_MIN_ENTITIES:
        return {}
    paths: dict[str, list[list[float | None]]] = {}
    ids: dict[str, np.ndarray] = {}
    for c in numeric:
        x = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        table = np.full((n_ent, len(grid)), np.nan)
        table[ent, pos] = x
        seen = np.zeros((n_ent, len(grid)), dtype=bool)
        seen[ent, pos] = True
        # One entity's series: where it has steps and its values there (NaN compares as a value).
        rows = [(seen[e].tobytes(), np.where(seen[e], table[e], 0.0).tobytes(), np.isnan(table[e]).tobytes())
                for e in range(n_ent)]
        code, uniq = pd.factorize(pd.Series(rows, dtype=object))
        count = np.bincount(code, minlength=len(uniq))
        kept = np.flatnonzero(count >= SHARED_MIN_ENTITIES)
        if (count[code] >= SHARED_MIN_ENTITIES).mean() < SHARED_MIN_SHARE:
            continue
        first = [int(np.flatnonzero(code == k)[0]) for k in kept]
        paths[c] = [[None if not seen[e, j] or np.isnan(table[e, j]) else float(table[e, j])
                     for j in range(len(grid))] for e in first]
        renum = np.full(len(uniq), -1)
        renum[kept] = np.arange(len(kept))
        ids[c] = renum[code]
    if not paths:
        return {}
    cols = list(paths)
    combo, counts = np.unique(np.stack([ids[c] for c in cols], axis=1), axis=0, return_counts=True)
    return {"columns": cols, "paths": paths, "combos": combo.tolist(), "weights": counts.tolist()}


class SharedSeries:
    """Generation's side of :func:`_shared_series`: each entity's drawn combination, and the
    values of its series at given times (NaN where it has none: the step model's value stays)."""

    def __init__(self, plan: dict[str, Any], n_ent: int, seed: int) -> None:
        shared = plan.get("shared") or {}
        self.plan = plan
        self.columns: list[str] = list(shared.get("columns", ()))
        self.grid = _grid_of(plan)
        self.series: dict[str, np.ndarray] = {}
        if not self.columns or self.grid is None:
            self.columns = []
            return
        w = np.asarray(shared["weights"], dtype=np.float64)
        # (Its own stream: the draws of the step model are those of a table without shared series.)
        pick = np.random.default_rng(np.random.SeedSequence([seed, 5])).choice(len(w), size=n_ent, p=w / w.sum())
        combos = np.asarray(shared["combos"], dtype=np.int64)[pick]
        for k, c in enumerate(self.columns):
            table = np.asarray([[np.nan if v is None else v for v in s] for s in shared["paths"][c]],
                               dtype=np.float64).reshape(-1, len(self.grid))
            table = np.vstack([table, np.full((1, len(self.grid)), np.nan)])  # row -1: no series
            self.series[c] = table[combos[:, k]]

    def values(self, c: str, act: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Column ``c``'s shared values of entities ``act`` at times ``t`` (days), in the table's units."""
        assert self.grid is not None
        j = np.clip(np.searchsorted(self.grid, t), 0, len(self.grid) - 1)
        on = self.grid[j] == t
        return np.where(on, self.series[c][act, j], np.nan)

    def put(self, x: dict[str, np.ndarray], act: np.ndarray, t: np.ndarray) -> None:
        """One step's numbers ``x`` (model units) with the shared values at times ``t`` put in."""
        for c in self.columns:
            v = self.values(c, act, t)
            if np.isfinite(v).any():
                x[c] = np.where(np.isfinite(v), _model_value(self.plan, c, v, t), x[c])

    def exact(self, c: str, ent: np.ndarray, t: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Column ``c`` of rows (entity ``ent``, time ``t``) in the table's units with the shared
        values exactly as stored (the model units' round trip would leave float error)."""
        if c not in self.series:
            return x
        v = self.values(c, ent, t)
        return np.where(np.isfinite(v), v, x)


def _model_value(plan: dict[str, Any], c: str, v: np.ndarray, t: np.ndarray | None) -> np.ndarray:
    """Values ``v`` of column ``c`` at times ``t`` (days; needed where it has a common path) in the
    step model's units: its log, less its date's common path."""
    if c in (plan.get("log") or {}):
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.log(v + (plan.get("log_shift") or {}).get(c, 0.0))
    path = (plan.get("common") or {}).get(c)
    return v if path is None else _with_path(path, v, t, -1.0)


def _lone_gaps(df: pd.DataFrame, key: str, index: str, kind: str, numeric: list[str]) -> list[str]:
    """The numbers that are never missing two steps in a row in any real history.

    A missing previous value is rare there (stocks: 5 missing opens in 124k days), so the step
    model barely learns what follows one, and a drawn gap went on for hundreds of steps (4,860
    synthetic opens missing in 10 runs, each taking its spreads along). Generation gives such a
    number, missing again right after a missing step, its last known value instead."""
    order, _, same = _in_order(df, key, index, kind)
    out = []
    for c in numeric:
        miss = df[c].isna().to_numpy()[order]
        if not (miss[1:] & miss[:-1] & same[1:]).any():
            out.append(c)
    return out


def _fill_lone_gaps(plan: dict[str, Any], x: dict[str, np.ndarray], before: dict[str, np.ndarray],
                    last: dict[str, np.ndarray], act: np.ndarray) -> None:
    """``x`` (one step's numbers) with a lone-gap number missing again after a missing step set
    to its last known value (see ``_lone_gaps``); ``last`` is kept up to date."""
    for c in plan.get("lone_gaps", ()):
        keep = last[c][act]
        x[c] = np.where(np.isnan(x[c]) & np.isnan(before[c]), keep, x[c])
        last[c][act] = np.where(np.isnan(x[c]), keep, x[c])


def _month_ends(df: pd.DataFrame, key: str, index: str) -> bool:
    """Whether the steps after each entity's first land on a month's last day far more often than
    by chance (``MONTH_END_SHARE``; by chance 1 in 30, 1 in 21 for trading days), on whole days.

    Interest and fees (31 % of berka's transactions) come on the last day: a gap that reaches it
    must equal the days left in the month exactly, which the step model, told those days, still
    hit on 5 % of steps. Such a table's step model then also draws whether the step is a month's
    last day (``seq.end``), and a step that is has its generated date moved to the nearest month
    end."""
    t = _to_time(df[index], "datetime")
    if not len(t) or not np.all(np.isfinite(t)) or not np.all(t == np.floor(t)):
        return False
    order, _, later = _in_order(df, key, index, "datetime", t)
    return bool(later.sum() >= 20 and _is_month_end(t[order][later]).mean() >= MONTH_END_SHARE)


MONTH_END_SHARE = 0.1


def _is_month_end(days: np.ndarray) -> np.ndarray:
    d = np.floor(days).astype("int64").astype("datetime64[D]")
    return (d + 1).astype("datetime64[M]") != d.astype("datetime64[M]")


def _month_ends_around(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The last day of the month before and of the month of each time (days since 1970)."""
    first, length = _MonthTable.month_of(np.floor(days).astype("int64"))
    return (first - 1).astype(float), (first + length - 1).astype(float)


def _to_month_end(prev: np.ndarray, now: np.ndarray) -> np.ndarray:
    """The month's last day nearest to ``now`` that is not before ``prev`` (times in days)."""
    last_end, this_end = _month_ends_around(now)
    pick = np.where((last_end >= np.floor(prev)) & (now - last_end < this_end - now), last_end, this_end)
    return pick


def keep_month_ends(before: np.ndarray, after: np.ndarray, ent: np.ndarray, end: float) -> np.ndarray:
    """Times of histories squeezed into their window (``before`` -> ``after``, rows in entity and
    step order) with each step that was on a month's last day moved to the nearest one not past
    ``end``, kept non-decreasing per entity. Squeezing scales gaps and so slid 4 in 5 of berka's
    month-end steps off the last day (month ends 8 % of squeezed rows, 31 % real)."""
    moved = _is_month_end(before) & (after != before) & np.isfinite(after)
    if not moved.any():
        return after
    x = np.where(moved, after, 0.0)
    last_end, this_end = _month_ends_around(x)
    pick = np.where((x - last_end < this_end - x) | (this_end > end), last_end, this_end)
    out = np.where(moved, pick, after)
    return pd.Series(out).groupby(ent).cummax().to_numpy()


# max / min of a positive number from which it is modelled as its log: stocks' prices (285x)
# gained (rows+previous-row detection 0.96 -> 0.78); walmart's weekly sales (18x, reverting)
# lost shape as logs (quality 0.929 -> 0.893), so one order of magnitude is not enough.
LOG_SPAN = 100.0
LOG_MAX_ZEROS = 0.01  # share of zeros up to which a non-negative number can still be a log


def _typical_decimals(s: pd.Series, most: int | None) -> int | None:
    """The decimals that ``DECIMALS_SHARE`` of the values have at most (``most``: all of them).

    86 % of stocks' prices have 2 decimals and 2 % have 3 or 4 (split-adjusted ones): rounded to 4,
    generated prices never repeat the previous day's (0.8 % of real days do, on the cent grid)."""
    if most is None:
        return None
    v = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype=np.float64)
    for d in range(most):
        if len(v) and (np.abs(v - np.round(v, d)) <= 1e-9 * np.maximum(1.0, np.abs(v))).mean() >= DECIMALS_SHARE:
            return d
    return most


DECIMALS_SHARE = 0.97  # share of a logged number's values that its generated values' decimals cover


def _spans_magnitudes(s: pd.Series) -> bool:
    """Non-negative, its positive values spanning ``LOG_SPAN`` or more, and zero at most rarely
    (a column with many zeros is a mixture of none and some, which a log tears apart)."""
    v = pd.to_numeric(s, errors="coerce").dropna()
    if v.empty or v.min() < 0:
        return False
    pos = v[v > 0]
    return bool(len(pos) and (len(v) - len(pos)) <= LOG_MAX_ZEROS * len(v) and pos.max() >= LOG_SPAN * pos.min())


def to_model_units(plan: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
    """A sequence table's numbers as the step model sees them: logs where ``plan["log"]``, then
    the common path of their date taken away where ``plan["common"]``."""
    columns = list(dict.fromkeys([*(plan.get("log") or {}), *(plan.get("common") or {})]))
    if not columns:
        return df
    df = df.copy()
    t = _to_time(df[plan["index"]], plan["index_kind"]) if plan.get("common") else None
    for c in columns:
        df[c] = _model_value(plan, c, pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64,
                                                                                      na_value=np.nan), t)
    return df


def from_model_units(plan: dict[str, Any], c: str, x: np.ndarray, t: np.ndarray | None = None) -> np.ndarray:
    """Generated numbers of column ``c`` back in the table's units, rounded as the real ones;
    ``t``: each number's time (days), where its date's common path is added back."""
    path = (plan.get("common") or {}).get(c)
    if path is not None and t is not None:
        x = np.clip(_with_path(path, x, t, 1.0), *path["bounds"])
    log = plan.get("log") or {}
    if c not in log:
        return x
    v = np.exp(x) - (plan.get("log_shift") or {}).get(c, 0.0)
    return v if log[c] is None else np.round(v, log[c])


def _with_path(path: dict[str, Any], x: np.ndarray, t: np.ndarray, sign: float) -> np.ndarray:
    """``x`` plus (``sign`` 1) or minus (-1) the common path at times ``t``; a ratio for a positive
    number (a path in logs), flat before the first and after the last learned date."""
    at = np.interp(t, np.asarray(path["t"], dtype=float), np.asarray(path["v"], dtype=float))
    return x * np.exp(sign * at) if path["ratio"] else x + sign * at


def shared_grid(df: pd.DataFrame, key: str, index: str, kind: str) -> np.ndarray | None:
    """The calendar the entities step through together, as sorted times (days for dates), or
    None: every real time, when at least ``COMMON_ON_GRID`` of the steps go from one of them to the
    next, there are at most ``COMMON_MAX_DATES`` of them, and on average at least
    ``GRID_MIN_ENTITIES`` entities share each (one entity's own dates are not a calendar).

    Stocks trade on the same days Monday to Friday minus holidays, stores report every Friday:
    the generated dates are put on this grid, since a drawn gap of one day after a Friday is a
    Saturday no real ticker ever traded on."""
    t = _to_time(df[index], kind)
    grid, pos = np.unique(t, return_inverse=True)
    if len(grid) < 3 or len(grid) > COMMON_MAX_DATES or len(df) < GRID_MIN_ENTITIES * len(grid) \
            or not np.isfinite(grid).all():
        return None
    ent = pd.factorize(df[key])[0]
    order = np.lexsort((t, ent))
    pos, ent = pos[order], ent[order]
    step = np.r_[False, ent[1:] == ent[:-1]]
    on_grid = step & (np.r_[-1, pos[:-1]] == pos - 1)
    if on_grid.sum() < COMMON_ON_GRID * max(1, step.sum()):
        return None
    return grid


GRID_MIN_ENTITIES = 2  # mean entities per date of a shared grid


def _common_paths(df: pd.DataFrame, key: str, index: str, kind: str, numeric: list[str], logged: set[str],
                  grid: np.ndarray | None) -> dict[str, dict[str, Any]]:
    """Per number, the path its entities share over the dates they share: ``{column: {"t": dates,
    "v": path, "ratio": bool}}``, for numbers whose moves are mostly common to all entities at a
    date (``COMMON_SHARE`` of their variance).

    Walmart's fuel price, CPI and temperature move together for every store in a week; generated
    per store, each store's path wandered off on its own, and a classifier that sees the date
    beside the value told the rows apart (AUC 0.83 on date and fuel price). A number is then
    generated as its distance from the path (a ratio to it for a positive number) and the path of
    the generated date is added back. The path is the running sum of the mean move of all
    entities between consecutive dates of a shared grid: an aggregate of at least
    ``COMMON_MIN_ENTITIES`` entities at every date it moves, never one entity's values. Only
    tables whose entities step through the same dates get one (weekly stores, trading days);
    transactions at their own times do not (``grid``: :func:`shared_grid`)."""
    if grid is None or len(df) < COMMON_MIN_ENTITIES * len(grid) / 2:
        return {}
    t = _to_time(df[index], kind)
    pos = np.searchsorted(grid, t)
    ent = pd.factorize(df[key])[0]
    order = np.lexsort((t, ent))
    pos, ent = pos[order], ent[order]
    step = np.r_[False, ent[1:] == ent[:-1]]
    on_grid = step & (np.r_[-1, pos[:-1]] == pos - 1)
    out: dict[str, dict[str, Any]] = {}
    for c in numeric:
        x = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)[order]
        ratio = c not in logged and bool(np.nanmin(x) > 0) if np.isfinite(x).any() else False
        if ratio:
            x = np.log(x)
        d = np.where(on_grid, x - np.r_[np.nan, x[:-1]], np.nan)
        ok = np.isfinite(d)
        if ok.sum() < 20:
            continue
        by = pd.DataFrame({"d": d[ok], "p": pos[ok]}).groupby("p")["d"].agg(["mean", "count"])
        by = by[by["count"] >= COMMON_MIN_ENTITIES]
        move = np.zeros(len(grid))
        move[by.index.to_numpy()] = by["mean"].to_numpy()
        rest = d[ok] - move[pos[ok]]
        total = np.sum((d[ok] - d[ok].mean()) ** 2)
        if total <= 0 or 1.0 - np.sum(rest ** 2) / total < COMMON_SHARE:
            continue
        out[c] = {"t": grid.tolist(), "v": np.cumsum(move).tolist(), "ratio": ratio}
    return out


COMMON_SHARE = 0.2  # share of a number's step-to-step variance that its date's mean move explains
COMMON_MIN_ENTITIES = 10  # entities behind every mean move of a common path
COMMON_ON_GRID = 0.9  # share of steps from one grid date to the next for a table to have a grid
COMMON_MAX_DATES = 10_000  # a longer grid is not stored in the model file


def _reverting(df: pd.DataFrame, key: str, index: str, kind: str, numeric: list[str]) -> list[str]:
    """Numbers generated as their distance from the mean of the entity's history so far rather
    than as their change since the previous step: those whose distance is not much larger than
    their change (per entity, typical ratio of mean sizes below ``REVERT_RATIO``).

    A price is a random walk: its change is small and its distance from its past mean grows
    (ratio 15 on stocks). A store's weekly sales swing around the store's own level (ratio 1.0,
    lag-1 autocorrelation 0.41): summed changes wander off like a random walk (0.93 generated),
    while a distance from the history's mean stays anchored. For an AR(1) the ratio passes
    ``REVERT_RATIO`` near phi = 0.75; above that, changes are the finer target."""
    t = _to_time(df[index], kind)
    ent = pd.factorize(df[key])[0]
    order = np.lexsort((t, ent))
    ent = ent[order]
    first = np.r_[True, ent[1:] != ent[:-1]] if len(ent) else np.zeros(0, dtype=bool)
    out = []
    for c in numeric:
        x = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)[order]
        lag = np.where(first, np.nan, np.r_[np.nan, x[:-1]])
        mean = _history_means({c: lag}, first)[c]
        d, r = np.abs(x - lag), np.abs(x - mean)
        ok = ~np.isnan(d) & ~np.isnan(r)
        if ok.sum() < 20:
            continue
        size = pd.DataFrame({"d": d[ok], "r": r[ok]}).groupby(ent[ok]).mean()
        size = size[(size["d"] > 0) & (size["r"] > 0)]
        if len(size) and np.median(size["r"] / size["d"]) < REVERT_RATIO:
            out.append(c)
    return out


REVERT_RATIO = 1.4  # distance from the history's mean / change, typical per entity (see _reverting)


def _spread_pairs(df: pd.DataFrame, numeric: list[str]) -> dict[str, str]:
    """Numbers that move together with an earlier one (a stock's high, low and close with its
    open): ``{column: anchor}``. Such a column is generated as its spread from the anchor's
    new value, not as its own change: two random walks summed from their own changes drift
    apart (the high falls below the low after a few hundred days), a spread does not."""
    out: dict[str, str] = {}
    anchors: list[str] = []
    values = {c: pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan) for c in numeric}
    for c in numeric:
        v = values[c]
        for a in anchors:
            w = values[a]
            ok = ~np.isnan(v) & ~np.isnan(w)
            if ok.sum() < 20 or np.std(v[ok]) == 0 or np.std(w[ok]) == 0:
                continue
            ratio = np.std(v[ok]) / np.std(w[ok])
            if 0.5 < ratio < 2 and np.corrcoef(v[ok], w[ok])[0, 1] > SPREAD_CORR:
                out[c] = a
                break
        else:
            anchors.append(c)
    return out


SPREAD_CORR = 0.98  # level correlation above which a column is generated as a spread from its anchor


def _envelopes(df: pd.DataFrame, spread: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Spread columns that stay above (``over``) or below (``under``) every other column of their
    group (their anchor and the columns spread from it) in all but ``1 - ENVELOPE_SHARE`` of the
    real rows (a day's high over its open, low and close; its low under them): ``{column:
    {"side": "over" | "under", "of": [columns]}}``, ``of`` the group's columns that are no
    envelope themselves. Such a column's spread is measured from the highest (lowest) of them
    rather than from its anchor alone.

    Drawn as spreads from the open, 22 % of stocks' generated highs fell below the close (and
    lows above it), none of the real ones: a classifier that sees a row's high and close tells
    them apart. The bounds are never envelope columns themselves (the high is over the low too),
    so they are all generated before the column. ``df``: the table's own units."""
    vals = {c: pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            for c in {*spread, *spread.values()}}
    found: dict[str, str] = {}
    for c, a in spread.items():
        group = [a, *(b for b, a2 in spread.items() if a2 == a and b != c)]
        for side, holds in (("over", np.greater_equal), ("under", np.less_equal)):
            ok = [~np.isnan(vals[c]) & ~np.isnan(vals[b]) for b in group]
            if all(k.sum() >= 20 and holds(vals[c][k], vals[b][k]).mean() >= ENVELOPE_SHARE
                   and (vals[c][k] != vals[b][k]).any() for b, k in zip(group, ok, strict=True)):
                found[c] = side
                break
    out = {}
    for c, side in found.items():
        of = [b for b in [spread[c], *(b for b, a in spread.items() if a == spread[c] and b != c)] if b not in found]
        if of:
            out[c] = {"side": side, "of": of}
    return out


ENVELOPE_SHARE = 0.999  # share of real rows in which a spread column is over (under) its bounds


def keep_envelopes(plan: dict[str, Any], values: dict[str, Any]) -> None:
    """Generated envelope columns (the table's units, ``values`` changed in place) put back over
    (under) their bounds where a drawn spread crossed them: the spread is learned in the step
    model's units, where each column's common path is taken away, so about one row in seven still
    came out with a high below its close."""
    for c, env in (plan.get("envelope") or {}).items():
        x = np.asarray(values[c], dtype=np.float64)
        ref = spread_ref(plan, c, {b: np.asarray(values[b], dtype=np.float64) for b in env["of"]})
        fix = np.isfinite(x) & np.isfinite(ref)
        fix &= (x < ref) if env["side"] == "over" else (x > ref)
        if fix.any():
            values[c] = np.where(fix, ref, x)


def spread_ref(plan: dict[str, Any], c: str, values: dict[str, np.ndarray]) -> np.ndarray:
    """What spread column ``c`` is measured from: the highest (lowest) of its envelope's bounds
    where the plan has one (missing ones skipped), else its anchor's value."""
    env = (plan.get("envelope") or {}).get(c)
    if env is None:
        return values[plan["spread"][c]]
    stack = np.stack([values[b] for b in env["of"]])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (all bounds missing: NaN, as an anchor's would be)
        return np.nanmax(stack, axis=0) if env["side"] == "over" else np.nanmin(stack, axis=0)


def _ledgers(df: pd.DataFrame, key: str, index: str, kind: str, targets: list[str], sources: list[str],
             categorical: list[str]) -> dict[str, dict[str, Any]]:
    """Numbers that move by exactly another number of the same step, plus or minus (an account's
    balance moves by the transaction's amount, credited or debited): ``{target: rule}``, the rule
    naming the ``source`` and where its sign comes from: a categorical column (``by``, one sign
    per level in ``signs``, ``na`` for a missing value, 0 for a level that never moved it) or the
    source's own sign (``by`` None, ``sign`` +1 or -1).

    Drawn as two independent moves, the target's change and the source disagree at every step
    and a classifier that sees both (a row and its change since the previous row) tells real
    from synthetic almost at once (berka's trans: AUC 0.93 on amount and the balance's change
    alone). The target is then generated as its previous value + signed source + a residual,
    learned like any move: a residual that is mostly exactly 0 comes back exactly 0 (a point
    mass of the encoder), so the rule holds as often as in the data, not always.

    A rule is kept when it holds exactly (up to float error) in ``LEDGER_MIN_SHARE`` of the
    steps where both numbers exist, the source non-zero; the first source that explains the most
    steps wins. Sources are never targets: a target is generated after every source."""
    if not targets or len(df) < 2:
        return {}
    order, ent, step = _in_order(df, key, index, kind)
    vals = {c: pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)[order]
            for c in dict.fromkeys(targets + sources)}
    cats = {g: df[g].to_numpy(dtype=object)[order] for g in categorical}
    out: dict[str, dict[str, Any]] = {}
    for c in targets:
        x = vals[c]
        lag = np.where(step, np.r_[np.nan, x[:-1]], np.nan)
        d = x - lag
        best: dict[str, Any] | None = None
        for a in sources:
            if a == c or a in out:
                continue
            v = vals[a]
            ok = np.isfinite(d) & np.isfinite(v)
            n = int(ok.sum())
            if n < LEDGER_MIN_STEPS:
                continue
            tol = 1e-9 * (1.0 + np.abs(x) + np.abs(lag))
            same = ok & (v != 0) & (np.abs(np.abs(d) - np.abs(v)) <= tol)
            if same.sum() < LEDGER_MIN_SHARE * n or (best is not None and same.sum() <= best["share"] * n):
                continue
            up = same & (np.sign(d) == np.sign(v))  # the change is +source
            rule = {"source": a, "by": None, "sign": 1 if up.sum() >= (same & ~up).sum() else -1}
            hits = max(int(up.sum()), int((same & ~up).sum()))
            for g, levels in cats.items():
                key_of = pd.Series(levels[same]).astype(str).where(pd.notna(levels[same]), None)
                by = pd.DataFrame({"k": key_of.fillna("\0na"), "up": up[same]}).groupby("k")["up"].agg(["sum", "count"])
                got = int(np.maximum(by["sum"], by["count"] - by["sum"]).sum())
                if got > hits:
                    signs = {k: (1 if r["sum"] >= r["count"] - r["sum"] else -1) for k, r in by.iterrows()}
                    hits, rule = got, {"source": a, "by": g, "na": signs.pop("\0na", 0), "signs": signs}
            if hits >= LEDGER_MIN_SHARE * n and (best is None or hits > best["share"] * n):
                best = {**rule, "share": hits / n}
        if best is not None:
            out[c] = best
    return out


LEDGER_MIN_SHARE = 0.5  # share of steps in which a number moves by exactly another for a ledger rule
LEDGER_MIN_STEPS = 20


def ledger_signs(rule: dict[str, Any], by: Any, n: int) -> np.ndarray:
    """Per row, the sign the rule gives its source: from the values ``by`` of its categorical
    column (a level it never saw moving the target: 0), or the rule's one sign."""
    if rule.get("by") is None:
        return np.full(n, float(rule.get("sign", 1)))
    levels = np.asarray(by, dtype=object)
    missing = pd.isna(levels)
    signs = rule.get("signs", {})
    out = np.array([signs.get(str(v), 0) for v in levels], dtype=np.float64) if n else np.zeros(0)
    return np.where(missing, float(rule.get("na", 0)), out)


def _calendar(days: np.ndarray, month: bool = False) -> dict[str, np.ndarray]:
    """Day of year and of week of times given in days since 1970 (NaN stays NaN); with ``month``,
    the days left to the end of the month too (0 on its last day)."""
    ok = ~np.isnan(days)
    d = np.floor(np.where(ok, days, 0)).astype("int64").astype("datetime64[D]")
    year_start = d.astype("datetime64[Y]").astype("datetime64[D]")
    doy = (d - year_start).astype(np.int64).astype(float)
    dow = ((d.astype(np.int64) + 3) % 7).astype(float)  # 1970-01-01 was a Thursday: Monday = 0
    out = {"seq.doy": np.where(ok, doy, np.nan), "seq.dow": np.where(ok, dow, np.nan)}
    if month:
        # Interest, fees and salaries land on a month's last day (31 % of berka's transactions):
        # the gap that reaches it is the days left, which neither day of year nor week gives.
        # Only for tables with such events (plan["month_end"]): weekly walmart lost 0.007 of
        # quality and 0.012 of previous-row detection to a feature it does not need.
        month_end = (d.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1
        out["seq.left"] = np.where(ok, (month_end - d).astype(np.int64).astype(float), np.nan)
    return out


def step_features(plan: dict[str, Any], prev_time: np.ndarray, prev: dict[str, np.ndarray],
                  prev2: dict[str, np.ndarray], mean: dict[str, np.ndarray] | None = None,
                  left: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Given columns of a step beyond its position, previous time and lags, the same in training
    and generation: the calendar of the previous time (weekly sales peak in late November; trading
    stops at weekends), each number's previous change (momentum or mean reversion of changes),
    each number's distance from the mean of its history so far (``mean``: where it reverts to),
    and each spread column's previous spread from its anchor, on its own fine scale."""
    out: dict[str, np.ndarray] = {}
    if plan.get("calendar"):
        out.update(_calendar(prev_time, bool(plan.get("month"))))
    if plan.get("pace") is not None and left is not None:
        # Histories that run to the end of the observed window (berka: 91 % of accounts end on
        # its last day) are paced by the time left per step left; without it 42 % of synthetic
        # histories ended early and the rest overran and were squeezed into the window, where
        # whole-day gaps collapsed to same-day steps (40 % of their gaps against 18 % real).
        with np.errstate(invalid="ignore", divide="ignore"):
            out["seq.pace"] = np.maximum(plan["pace"] - prev_time, 0.0) / np.maximum(left, 1)
    if plan.get("dlag"):
        for c in plan["numeric"]:
            out[f"dlag.{c}"] = prev[c] - prev2[c]
    if plan.get("revert") and mean is not None:
        # A store's sales swing around its own level, which no context column gives: without
        # it each change is learned around the mean of all stores, and the generated sales
        # wander like a random walk (lag-1 autocorrelation 0.93 against the real 0.41).
        for c in plan["numeric"]:
            out[f"dev.{c}"] = prev[c] - mean[c]
        for c in plan.get("seen", ()):
            # Whether the history has had a value yet: without one the number is drawn as a value,
            # with one as a distance from their mean. Neither the lag nor the distance tells it
            # where steps between lack the number (berka's counterparty account, missing on cash
            # steps).
            out[f"seen.{c}"] = (~np.isnan(mean[c])).astype(np.float64)
    for c in plan.get("spread", {}):
        out[f"spread.{c}"] = prev[c] - spread_ref(plan, c, prev)
    return out


def sequence_frame(df: pd.DataFrame, plan: dict[str, Any], entity: np.ndarray, ctx: pd.DataFrame
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training frames of the first-step model and of the step model: ``df`` rows ordered by
    (entity, index), with ``ctx`` (one row per ``df`` row) in front.

    The first step has its own model: it has no previous step, and a conditional sampler cannot
    be told that a lag is *known to be missing* (a missing given cell means "generate it")."""
    ledger = plan.get("ledger") or {}
    raw = {r["source"]: df[r["source"]] for r in ledger.values()}  # a ledger moves by the table's own units
    df = fuse(plan, to_model_units(plan, df))
    t = _to_time(df[plan["index"]], plan["index_kind"])
    order = np.lexsort((t, entity))
    df, t, entity = df.iloc[order].reset_index(drop=True), t[order], entity[order]
    ctx = ctx.iloc[order].reset_index(drop=True)
    first = np.r_[True, entity[1:] != entity[:-1]]
    step = np.arange(len(df)) - np.maximum.accumulate(np.where(first, np.arange(len(df)), 0))
    prev_t = np.where(first, t, np.r_[t[:1], t[:-1]])
    head = {c: ctx[c].to_numpy()[first] for c in ctx.columns}
    for c in plan["numeric"] + plan["categorical"] + plan["other"]:
        head[c] = df[c].to_numpy()[first]
    rest = ~first
    out = {c: ctx[c].to_numpy()[rest] for c in ctx.columns}
    out["seq.step"] = step[rest]
    out["seq.prev_time"] = _from_time(prev_t[rest], plan["index_kind"]).to_numpy()
    lagged = {}
    for c in plan["numeric"] + plan["categorical"]:
        lag = df[c].shift(1)
        lagged[c] = lag
        out[f"lag.{c}"] = lag.to_numpy()[rest]
    x_all = {c: pd.to_numeric(df[c], errors="coerce").to_numpy(float) for c in plan["numeric"]}
    lag1 = {c: pd.to_numeric(lagged[c], errors="coerce").to_numpy(float) for c in plan["numeric"]}
    # Two steps back, within the entity (steps 0 and 1 have none).
    lag2 = {c: np.where(step >= 2, np.r_[np.nan, v[:-1]], np.nan) for c, v in lag1.items()}
    means = _history_means(lag1, first)
    length = np.bincount(np.cumsum(first) - 1)[np.cumsum(first) - 1]
    for k, v in step_features(plan, np.where(first, np.nan, prev_t), lag1, lag2, means, length - step).items():
        out[k] = v[rest]
    out["seq.gap"] = (t - prev_t)[rest]
    if plan.get("month_end"):
        out["seq.end"] = _is_month_end(t[rest]).astype(np.float64)
    spread = plan.get("spread", {})
    reverting = set(plan.get("reverting", []))
    seen = set(plan.get("seen", ()))
    if plan.get("recur"):
        # The kind of step first, then whether its number repeats, then the numbers: a fee, a
        # pension or rent is told by its kind, and the repeat flag needs the kind drawn.
        for c in plan["categorical"]:
            out[c] = df[c].to_numpy()[rest]
    for c, flag in recur_flags(plan, df, entity).items():
        out[f"k.{c}"] = flag[rest]
    level = set(plan.get("level", []))
    cross = plan.get("cross_base") or {}
    for c in plan["numeric"]:
        x, lag = x_all[c], lag1[c]
        if c in spread:
            continue
        if c in level:  # its value at every step, given its lags (see _point_masses)
            out[c] = x[rest]
            continue
        base = means[c] if c in reverting else lag1[cross[c]] if c in cross else lag
        use_delta = ~np.isnan(x) & ~np.isnan(base)
        # A number seen missing between values (plan["seen"]) keeps its value beside the move:
        # whether the value is there is then learned from every row, not only from the few with
        # no earlier value (46 in the test's ledger of wires and cash: 27 % of the synthetic
        # wires drew a distance from no mean and had no counterparty; berka's transfers 46 %).
        out[c] = (x if c in seen else np.where(use_delta, np.nan, x))[rest]
        if c in ledger:
            rule = ledger[c]
            src = pd.to_numeric(raw[rule["source"]], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            base = base + ledger_move(rule, src[order], df[rule["by"]].to_numpy() if rule.get("by") else None)
        out[_change(plan, c)] = np.where(use_delta, x - base, np.nan)[rest]
    for c in spread:  # after their anchors' changes: generated from the anchor's new value
        sv = x_all[c] - spread_ref(plan, c, x_all)
        out[c] = np.where(np.isnan(sv), x_all[c], np.nan)[rest]
        out[f"s.{c}"] = sv[rest]
    for c in plan["categorical"] + plan["other"]:
        out[c] = df[c].to_numpy()[rest]
    return pd.DataFrame(head), pd.DataFrame(out)


def _history_means(lag: dict[str, np.ndarray], first: np.ndarray) -> dict[str, np.ndarray]:
    """Per row, the mean of the entity's earlier values (missing ones skipped), from the lags of
    rows ordered by entity then step; ``first`` marks each entity's first row."""
    ent = np.cumsum(first)
    out = {}
    for c, v in lag.items():
        ok = ~np.isnan(v) & ~first  # a first row's lag is the previous entity's last value
        tot = pd.Series(np.where(ok, v, 0.0)).groupby(ent).cumsum().to_numpy()
        cnt = pd.Series(ok.astype(np.int64)).groupby(ent).cumsum().to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            out[c] = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
    return out


class RunningMean:
    """Each entity's mean of its values so far, kept step by step during generation."""

    def __init__(self, columns: list[str], n: int) -> None:
        self.tot = {c: np.zeros(n) for c in columns}
        self.cnt = {c: np.zeros(n) for c in columns}

    def add(self, c: str, act: np.ndarray, x: np.ndarray) -> None:
        ok = ~np.isnan(x)
        self.tot[c][act] += np.where(ok, x, 0.0)
        self.cnt[c][act] += ok

    def of(self, act: np.ndarray) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            return {c: np.where(self.cnt[c][act] > 0, self.tot[c][act] / np.maximum(self.cnt[c][act], 1), np.nan)
                    for c in self.tot}


def known_only(model: Any, seeds: pd.DataFrame) -> pd.DataFrame:
    from ..encoding import CategoricalEncoder

    for enc in model.encoder.encoders:
        if isinstance(enc, CategoricalEncoder) and enc.name in seeds.columns and not enc.has_rare_:
            col = seeds[enc.name]
            unseen = col.notna().to_numpy() & (enc.encode(col) == len(enc.levels_))
            if unseen.any():
                seeds[enc.name] = col.astype(object).where(~unseen, None)
    return seeds


class Until:
    """Which entities take step ``t``: those whose history is that long and, for histories
    generated until the end of the window (``plan["until"]``), that have not passed it. The step
    that passes the end is drawn (its time is not known before) and dropped: :meth:`rows`."""

    def __init__(self, plan: dict[str, Any], lengths: np.ndarray) -> None:
        self.end = (plan.get("until") or {}).get("end")
        self.lengths = lengths
        self.alive = np.ones(len(lengths), dtype=bool)
        self.acts: list[np.ndarray] = []  # the entities of every step taken
        self.gone: list[np.ndarray] = []

    def active(self, t: int) -> np.ndarray:
        """The entities of step ``t`` (recorded: the caller takes the step with them)."""
        act = np.flatnonzero((self.lengths > t) & self.alive)
        if len(act):
            self.acts.append(act)
        return act

    def passed(self, act: np.ndarray, now: np.ndarray) -> None:
        gone = now > self.end if self.end is not None else np.zeros(len(act), dtype=bool)
        self.alive[act[gone]] = False
        self.gone.append(gone)

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Of the rows of every step in turn: those to keep, and their entities and steps."""
        kept = ~np.concatenate(self.gone)
        ent = np.concatenate(self.acts)[kept]
        step = np.concatenate([np.full(len(a), t) for t, a in enumerate(self.acts)])[kept]
        return kept, ent, step


HISTORY_BLOCK_ROWS = 100_000  # rows per seeded block of entities (a data-fixed split, never a caller's knob)


def history_blocks(lengths: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive entity ranges ``[a, b)`` of at most ``HISTORY_BLOCK_ROWS`` rows (an entity
    longer than that is a block alone). Each block is generated with its own seed, so the rows
    depend on the lengths and the seed only: never on how many blocks are generated at once."""
    ends = np.cumsum(np.asarray(lengths, dtype=np.int64))
    out, a = [], 0
    while a < len(ends):
        base = int(ends[a - 1]) if a else 0
        b = max(a + 1, int(np.searchsorted(ends, base + HISTORY_BLOCK_ROWS, side="right")))
        out.append((a, b))
        a = b
    return out


class Completer:
    """Conditional completion of rows of one model around a fixed frame of context rows.

    The context (a parent's synthetic rows) is encoded once; each call gives the context row of
    every output row (``-1``: none, generated too) and the per-call given columns, and gets back
    the decoded columns. Without constraints on the model the given cells never go through a
    frame: this is what makes a step of a thousand histories cost about one engine call.
    """

    def __init__(self, model: Any, ctx: pd.DataFrame) -> None:
        self.model = model
        self.columns = set(model.columns)
        cols = [c for c in ctx.columns if c in self.columns]
        self.fast = not (model.constraints.checked or model.constraints.formulas)
        self.ctx = known_only(model, ctx[cols].reset_index(drop=True).copy())
        self.ctx_known = encode_seed_rows(model, self.ctx) if self.fast else {}

    def __call__(self, rows: np.ndarray, given: dict[str, Any], seed: int) -> dict[str, Any]:
        given = {k: v for k, v in given.items() if k in self.columns}
        if not self.fast:
            df = self.ctx.iloc[np.maximum(rows, 0)].reset_index(drop=True)
            if (rows < 0).any():
                df.loc[rows < 0, :] = None
            for k, v in given.items():
                df[k] = v
            out = complete_rows(self.model, known_only(self.model, df), seed)
            return {c: out[c] for c in out.columns}
        has = rows >= 0
        known = {j: (codes[rows], mask[rows] & has) for j, (codes, mask) in self.ctx_known.items()}
        if given:
            known.update(encode_seed_rows(self.model, known_only(self.model, pd.DataFrame(given))))
        return complete_codes(self.model, known, len(rows), seed)


def _floats(values: dict[str, Any], c: str, n: int) -> np.ndarray:
    if c not in values:
        return np.full(n, np.nan)
    return pd.to_numeric(pd.Series(values[c]), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def generate_histories(first_model: Any, model: Any, plan: dict[str, Any], ctx: pd.DataFrame, lengths: np.ndarray,
                       starts: np.ndarray, seed: int, min_gap: float, raw_index: bool = False,
                       sizes: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Histories for every entity (row of ``ctx``) with ``lengths[i]`` steps from ``starts[i]``.

    Returns the generated rows (entity-major, steps in order, with the order column rebuilt)
    and the entity index of each row. Entities are generated in seeded blocks
    (:func:`history_blocks`), all entities of a block in lock-step: one conditional call per step.
    ``raw_index``: the order column as times (days or index units), for a caller that moves them
    before formatting them with :func:`format_index` (formatting is most of a sample's pandas time).
    ``sizes``: the rows expected of each entity where ``lengths`` are caps (``plan["until"]``):
    blocks are cut by them, so that a block is not a few hundred entities run for as many steps.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    blocks = history_blocks(lengths if sizes is None else sizes)

    def block(k: int) -> tuple[pd.DataFrame, np.ndarray]:
        a, b = blocks[k]
        df, ent = _history_block(first_model, model, plan, ctx.iloc[a:b].reset_index(drop=True), lengths[a:b],
                                 np.asarray(starts[a:b], dtype=float),
                                 int(np.random.SeedSequence([seed, 1, k]).generate_state(1)[0]), min_gap)
        if len(df) and not raw_index:
            df[plan["index"]] = format_index(df[plan["index"]].to_numpy(float), plan)
        return df, ent

    # A block depends on its index alone, so blocks are drawn side by side, one torch thread each.
    workers = block_threads(model if model is not None else first_model, len(blocks))
    if workers > 1:
        def in_worker(k: int) -> tuple[pd.DataFrame, np.ndarray]:
            with block_worker():
                return block(k)

        with keep_torch_threads(), ThreadPoolExecutor(workers, thread_name_prefix="datatwin-history") as pool:
            parts = list(pool.map(in_worker, range(len(blocks))))
    else:
        parts = [block(k) for k in range(len(blocks))]
    if not parts:
        return unfuse(plan, pd.DataFrame(columns=[plan["index"], *plan["numeric"], *plan["categorical"],
                                                  *plan["other"]])), np.zeros(0, int)
    offsets = np.cumsum([0] + [b - a for a, b in blocks])
    df = pd.concat([p[0] for p in parts], ignore_index=True) if len(parts) > 1 else parts[0][0]
    ent = np.concatenate([p[1] + offsets[k] for k, p in enumerate(parts)])
    return unfuse(plan, df), ent


class StepCodes:
    """The step model driven at code level: the state between steps is the drawn codes and the
    numbers, never a frame.

    Per step, the given cells are encoded straight from arrays (a categorical lag is the
    previous step's code mapped through a table; a number goes through its bins), one engine
    call draws every active entity's row, and only the numbers the next step needs are decoded.
    Categorical and other columns are decoded once per block at the end. Used when the model
    has no constraints and no generated columns other than constants (the relational models);
    otherwise :class:`Completer` does the same through frames.
    """

    def __init__(self, model: Any, plan: dict[str, Any], ctx: pd.DataFrame) -> None:
        self.model = model
        self.plan = plan
        encs = model.encoder.encoders
        self.index = {e.name: i for i, e in enumerate(encs)}
        self.slices = model.encoder.slices
        cols = [c for c in ctx.columns if c in set(model.columns)]
        self.ctx_known = encode_seed_rows(model, known_only(model, ctx[cols].reset_index(drop=True).copy()))
        for name in cols:  # a parent's missing number is given as missing (NA code), as lags are
            enc = self.encoder(name)
            if isinstance(enc, NumericEncoder) and enc.has_na_:
                j = self.slices[self.index[name]].start
                codes, mask = self.ctx_known[j]
                na = len(enc.values_) if enc.mode_ == "discrete" else enc.n_coarse_
                self.ctx_known[j] = (np.where(mask, codes, na).astype(np.int32), np.ones(len(mask), dtype=bool))
                if enc.mode_ != "discrete":
                    fine, _ = self.ctx_known[j + 1]
                    self.ctx_known[j + 1] = (np.where(mask, fine, 0).astype(np.int32), np.ones(len(mask), dtype=bool))
        self.ctx_at: tuple[int, dict[int, tuple[np.ndarray, np.ndarray]]] = (-1, {})  # known() of the last act
        self.binned: dict[tuple[str, ...], _BinnedGiven | None] = {}
        self.decoding: dict[tuple[str, ...], _StackedDecode | None] = {}
        self.fixed_tables: dict[tuple[str, int], tuple[dict[str, float], np.ndarray]] = {}
        self.kind_sizes: dict[str, int] = {}
        self.any_binned = bool(model.encoder._binned())
        self.lag_map: dict[str, np.ndarray] = {}
        for c in plan["categorical"]:
            g, lag = self.encoder(c), self.encoder(f"lag.{c}")
            if isinstance(g, CategoricalEncoder) and isinstance(lag, CategoricalEncoder):
                codes = lag.encode(pd.Series(list(g.levels_), dtype=object)).astype(np.int64)
                if not lag.has_rare_:  # a value the lag never saw cannot be given: it is generated
                    codes[codes >= len(lag.levels_)] = -1
                rare = [len(lag.levels_) if lag.has_rare_ else -1] if g.has_rare_ else []
                # A missing previous value is given as the lag's NA code where it has one.
                na = [len(lag.levels_) + int(lag.has_rare_) if lag.has_na_ else -1] if g.has_na_ else []
                # (The last entry catches any code past the column's own: nothing given.)
                self.lag_map[c] = np.array([*codes, *rare, *na, -1], dtype=np.int64)

        # Per ledger target with a categorical sign: the sign of each of that column's codes.
        self.sign_tables: dict[str, np.ndarray] = {}
        for c, rule in (plan.get("ledger") or {}).items():
            enc = self.encoder(rule["by"]) if rule.get("by") else None
            if isinstance(enc, CategoricalEncoder):
                signs = rule.get("signs", {})
                self.sign_tables[c] = np.array([*(signs.get(str(v), 0) for v in enc.levels_),
                                                *([0] if enc.has_rare_ else []),
                                                *([rule.get("na", 0)] if enc.has_na_ else []), 0], dtype=np.float64)

    def ledger_signs(self, codes: np.ndarray, seed: int, t: int) -> dict[str, np.ndarray]:
        """Per ledger target, the sign of its source in each drawn row of step ``t``."""
        m = len(codes)
        out = {}
        for c, rule in (self.plan.get("ledger") or {}).items():
            by = rule.get("by")
            part = self.column_codes(codes, by) if by else None
            if by is None:
                out[c] = ledger_signs(rule, None, m)
            elif c in self.sign_tables and part is not None and part.shape[1]:
                table = self.sign_tables[c]
                out[c] = table[np.minimum(part[:, 0], len(table) - 1)]
            else:  # not coded as a category by the step model: its decoded values
                rng = np.random.default_rng(np.random.SeedSequence([seed, t, 3]))
                out[c] = ledger_signs(rule, self.decode(by, part, m, rng), m)
        return out

    def kind_codes(self, rules: dict[str, dict[str, Any]]) -> Any:
        """A function of (recurring number, codes of a ``by`` column by name) giving each row's
        kind as one integer (the mixed-radix number of its ``by`` codes)."""
        radix = {}
        self.kind_sizes = {}
        for c, rule in rules.items():
            sizes = [self.encoder(b).cardinalities[0] + 1 if self.encoder(b) is not None else 1 for b in rule["by"]]
            radix[c] = np.cumprod([1, *sizes[:-1]]).astype(np.int64)
            self.kind_sizes[c] = int(np.prod(sizes))

        def kinds(c: str, m: int, codes_of: Any) -> np.ndarray:
            k = np.zeros(m, dtype=np.int64)
            for b, r in zip(rules[c]["by"], radix[c], strict=True):
                part = codes_of(b)
                if part is not None and part.shape[1]:
                    k += part[:, 0].astype(np.int64) * r
            return k
        return kinds

    def fixed(self, codes: np.ndarray, name: str, table: dict[str, float]) -> np.ndarray | None:
        """Each drawn row's value in ``table`` of its level of categorical column ``name`` as
        text (NaN: none there, or rare or missing), looked up once per code (as
        :func:`fixed_by_text` of the levels' text)."""
        enc, part = self.encoder(name), self.column_codes(codes, name)
        if not isinstance(enc, CategoricalEncoder) or part is None or not part.shape[1]:
            return None
        key = (name, id(table))
        if key not in self.fixed_tables:  # (the plan's tables live as long as the model)
            text = [str(v) for v in enc.levels_] + [None] * 3
            self.fixed_tables[key] = (table, np.array([table.get(v, np.nan) for v in text], dtype=np.float64))
        by_code = self.fixed_tables[key][1]
        return by_code[np.minimum(part[:, 0], len(by_code) - 1)]

    @staticmethod
    def usable(model: Any, plan: dict[str, Any]) -> bool:
        if model.constraints.checked or model.constraints.formulas:
            return False
        if any(type(g).__name__ != "ConstantGenerator" for g in model.generators.values()):
            return False
        encs = {e.name: e for e in model.encoder.encoders}
        return all(isinstance(encs.get(c), CategoricalEncoder) == isinstance(encs.get(f"lag.{c}"), CategoricalEncoder)
                   for c in plan["categorical"] if c in encs or f"lag.{c}" in encs)

    def encoder(self, name: str) -> Any:
        i = self.index.get(name)
        return None if i is None else self.model.encoder.encoders[i]

    def known(self, act: np.ndarray, numbers: dict[str, np.ndarray], cat_codes: dict[str, np.ndarray]
              ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Given codes of the active entities: context, then step columns from arrays.
        ``numbers`` are in the encoder's units already; ``cat_codes`` are the previous step's codes."""
        if self.ctx_at[0] != len(act):  # the active entities only shrink: same count, same rows
            self.ctx_at = (len(act), {j: (codes[act], mask[act]) for j, (codes, mask) in self.ctx_known.items()})
        known = dict(self.ctx_at[1])
        binned = self._binned_plan(tuple(numbers))
        if binned is not None:
            self._encode_binned(binned, numbers, len(act), known)
        for name, v in numbers.items():
            enc = self.encoder(name)
            if enc is None or (binned is not None and name in binned.names):
                continue
            ok = ~np.isnan(v)
            parts = encode_numbers(enc, v, ok)
            if enc.has_na_:
                # "The previous value was missing" is itself given (the NA code), not left to the
                # model: every row then knows the same cells, so a step is one engine call.
                na = len(enc.values_) if enc.mode_ == "discrete" else enc.n_coarse_
                parts = [np.where(ok, p, na if k == 0 else 0).astype(np.int32) for k, p in enumerate(parts)]
                ok = np.ones(len(v), dtype=bool)
            for k, part in enumerate(parts):
                known[self.slices[self.index[name]].start + k] = (part, ok)
        for c, codes in cat_codes.items():
            name = f"lag.{c}"
            if c not in self.lag_map or name not in self.index:
                continue
            table = self.lag_map[c]
            lag = table[np.minimum(codes, len(table) - 1)]
            known[self.slices[self.index[name]].start] = (np.maximum(lag, 0).astype(np.int32), lag >= 0)
        return known

    def _binned_plan(self, names: tuple[str, ...]) -> _BinnedGiven | None:
        """The binned numbers among ``names``, set up once per set of names."""
        if names not in self.binned:
            encs = [(n, self.encoder(n)) for n in names]
            use = [(n, e) for n, e in encs if isinstance(e, NumericEncoder) and e.mode_ != "discrete"]
            self.binned[names] = _BinnedGiven(use, self.slices, self.index) if len(use) > 1 else None
        return self.binned[names]

    @staticmethod
    def _encode_binned(p: _BinnedGiven, numbers: dict[str, np.ndarray], m: int,
                       known: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
        """:func:`encode_numbers` of every binned given number at once (a step gives a dozen, and
        at a few hundred rows the per-call cost of numpy, not the arithmetic, is what counts);
        codes where the encoder has an NA code and the value is missing, as in :meth:`known`."""
        v = np.stack([numbers[n] for n in p.names])
        x = np.minimum(np.maximum(v, p.lo), p.hi)  # (a missing value's codes are replaced or not given)
        idx = np.empty(v.shape, dtype=np.int64)
        for r, edges in enumerate(p.edges):
            idx[r] = np.searchsorted(edges, x[r])
        idx = np.minimum(idx, p.last)
        if p.shift is not None:  # (powers of two: a shift and a mask, a tenth of int64 divmod's time)
            coarse, fine = idx >> p.shift, idx & (p.n_fine - 1)
        else:
            coarse, fine = np.divmod(idx, p.n_fine)
        nan = np.isnan(v)
        ok = None
        if nan.any():
            na = nan & p.has_na
            coarse, fine = np.where(na, p.na, coarse), np.where(na, 0, fine)
            ok = ~nan | p.has_na
        coarse, fine = coarse.astype(np.int32), fine.astype(np.int32)
        every = np.ones(m, dtype=bool)
        for r, start in enumerate(p.starts):
            mask = every if ok is None else ok[r]
            known[start] = (coarse[r], mask)
            known[start + 1] = (fine[r], mask)

    def numbers(self, codes: np.ndarray, names: list[str], rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Decoded numbers of ``names`` (NaN where missing or not modelled), rounded as a frame would be."""
        m = len(codes)
        u = rng.random(m) if self.any_binned else None
        out: dict[str, np.ndarray] = {}

        def one(name: str) -> np.ndarray:
            if name in out:
                return out[name]
            enc = self.encoder(name)
            if isinstance(enc, NumericEncoder):
                twin = one(enc.twin_) if enc.twin_ else None
                sl = self.slices[self.index[name]]
                v = enc.decode_numbers([codes[:, j] for j in range(sl.start, sl.stop)], rng, None, u=u, twin=twin)
                if enc.meta.integer:
                    v = np.round(v)
                elif enc.meta.decimals is not None:
                    v = np.round(v, enc.meta.decimals)
            else:
                gen = self.model.generators.get(name)
                value = getattr(getattr(gen, "meta", None), "value", None)
                try:
                    v = np.full(m, np.nan if value is None else float(value))
                except (TypeError, ValueError):
                    v = np.full(m, np.nan)
            out[name] = v
            return v

        if u is not None:  # (without u, a binned decode draws its own uniforms, in order)
            key = tuple(names)
            if key not in self.decoding:
                self.decoding[key] = _StackedDecode.make(self.model, names, self.slices, self.index)
            if self.decoding[key] is not None:
                self.decoding[key].decode(codes, u, out, one)
        for name in names:
            one(name)
        return out

    def column_codes(self, codes: np.ndarray, name: str) -> np.ndarray | None:
        i = self.index.get(name)
        return None if i is None else codes[:, self.slices[i]]

    def decode(self, name: str, parts: np.ndarray | None, n: int, rng: np.random.Generator) -> Any:
        """A categorical or other column's values from its codes (or its constant)."""
        enc = self.encoder(name)
        if enc is not None and parts is not None:
            return enc.decode([parts[:, k] for k in range(parts.shape[1])], rng)
        gen = self.model.generators.get(name)
        if gen is not None:
            return gen.generate(n, 0, rng)
        return np.full(n, np.nan)


class _BinnedGiven:
    """Binned given numbers of one step, stacked: per row of the stack its encoder's clip range,
    bin edges, fine bins, NA code and first sub-column."""

    def __init__(self, use: list[tuple[str, NumericEncoder]], slices: list[slice], index: dict[str, int]) -> None:
        self.names = [n for n, _ in use]
        col = np.asarray
        self.lo = col([e.clip_[0] for _, e in use], dtype=np.float64)[:, None]
        self.hi = col([e.clip_[1] for _, e in use], dtype=np.float64)[:, None]
        self.edges = [e.hi_ for _, e in use]
        self.last = col([len(e.hi_) - 1 for _, e in use], dtype=np.int64)[:, None]
        self.n_fine = col([e.n_fine_ for _, e in use], dtype=np.int64)[:, None]
        pow2 = bool(((self.n_fine > 0) & ((self.n_fine & (self.n_fine - 1)) == 0)).all())
        self.shift = np.log2(self.n_fine).round().astype(np.int64) if pow2 else None
        self.na = col([e.n_coarse_ for _, e in use], dtype=np.int64)[:, None]
        self.has_na = col([e.has_na_ for _, e in use], dtype=bool)[:, None]
        self.starts = [slices[index[n]].start for n in self.names]


class _StackedDecode:
    """:meth:`StepCodes.numbers` of the plain numbers among a step's read names (and their twins)
    at once: each row of the stack is one column's
    :meth:`~datatwin.encoding.NumericEncoder.decode_numbers` with the shared uniforms, then its
    rounding: the same operations on the same values. A step reads a dozen numbers of a few
    hundred rows, where numpy's per-call cost, not the arithmetic, is the time. Left to the
    column-by-column path: discrete columns with a twin, binned ones with bins other than
    float64 and those whose twin has a twin itself."""

    def __init__(self, discrete: list[tuple[str, NumericEncoder]], binned: list[tuple[str, NumericEncoder]],
                 slices: list[slice], index: dict[str, int]) -> None:
        col = np.asarray
        self.names = [n for n, _ in discrete] + [n for n, _ in binned]
        self.n_discrete = len(discrete)
        self.d_start = col([slices[index[n]].start for n, _ in discrete], dtype=np.int64)
        self.d_size = col([len(e.values_) for _, e in discrete], dtype=np.int64)[:, None]
        self.d_base = col(np.cumsum([0, *(len(e.values_) for _, e in discrete)])[:-1], dtype=np.int64)[:, None]
        self.values = np.concatenate([e.values_.astype(np.float64) for _, e in discrete]) if discrete else None
        self.b_start = col([slices[index[n]].start for n, _ in binned], dtype=np.int64)
        self.b_coarse = col([e.n_coarse_ for _, e in binned], dtype=np.int64)[:, None]
        self.b_fine = col([e.n_fine_ for _, e in binned], dtype=np.int64)[:, None]
        self.b_last = col([len(e.lo_) - 1 for _, e in binned], dtype=np.int64)[:, None]
        self.b_base = col(np.cumsum([0, *(len(e.lo_) for _, e in binned)])[:-1], dtype=np.int64)[:, None]
        self.lo = np.concatenate([e.lo_ for _, e in binned]) if binned else None
        self.hi = np.concatenate([e.hi_ for _, e in binned]) if binned else None
        self.flip = col([bool(e.flip_) for _, e in binned], dtype=bool)[:, None]
        self.whole = col([bool(e.meta.integer or e.meta.kind == "datetime") for _, e in binned], dtype=bool)[:, None]
        # Twins: the "same as" code (-1: none), and per binned row with a twin: (row, twin, clip range).
        self.b_same = col([e.n_coarse_ + int(e.has_na_) if e.twin_ else -1 for _, e in binned], dtype=np.int64)[:, None]
        self.b_mid = col([e.n_coarse_ // 2 for _, e in binned], dtype=np.int64)[:, None]
        self.twins = [(r, e.twin_, float(e.clip_[0]), float(e.clip_[1])) for r, (_, e) in enumerate(binned) if e.twin_]
        encs = [e for _, e in discrete] + [e for _, e in binned]
        self.at = {n: r for r, n in enumerate(self.names)}
        # Rounding as numbers() does it, rows grouped by how (None: integer, np.round; an int:
        # decimals): first the rows without a twin, then those with one (their twin final first).
        with_twin = {self.n_discrete + r for r, *_ in self.twins}
        self.rounding = [self._rounding(encs, [r for r in range(len(encs)) if r not in with_twin]),
                         self._rounding(encs, sorted(with_twin))]

    @staticmethod
    def _rounding(encs: list[NumericEncoder], rows: list[int]) -> list[tuple[int | None, np.ndarray]]:
        groups: dict[Any, list[int]] = {}
        for r in rows:
            key = "int" if encs[r].meta.integer else encs[r].meta.decimals
            if key is not None:
                groups.setdefault(key, []).append(r)
        return [(None if k == "int" else int(k), np.asarray(g, dtype=np.int64)) for k, g in groups.items()]

    @classmethod
    def make(cls, model: Any, names: list[str], slices: list[slice], index: dict[str, int]) -> _StackedDecode | None:
        encs = {e.name: e for e in model.encoder.encoders}
        wanted = list(dict.fromkeys(names))
        wanted += [t for n in wanted if isinstance(encs.get(n), NumericEncoder) and (t := encs[n].twin_)
                   and t not in wanted]

        def plain(n: str) -> bool:
            e = encs.get(n)
            if not isinstance(e, NumericEncoder):
                return False
            if e.mode_ == "discrete":
                return not e.twin_
            return e.lo_.dtype == e.hi_.dtype == np.float64
        def chained(n: str) -> bool:  # a twin that has a twin itself
            twin = encs.get(encs[n].twin_) if encs[n].twin_ else None
            return bool(getattr(twin, "twin_", None))
        ok = [n for n in wanted if plain(n) and not chained(n)]
        discrete = [(n, encs[n]) for n in ok if encs[n].mode_ == "discrete"]
        binned = [(n, encs[n]) for n in ok if encs[n].mode_ != "discrete"]
        if len(discrete) + len(binned) < 2:
            return None
        return cls(discrete, binned, slices, index)

    def decode(self, codes: np.ndarray, u: np.ndarray, out: dict[str, np.ndarray], one: Any) -> None:
        """Put each stacked column's rounded numbers into ``out``; ``one(name)``: a twin's
        numbers where the twin is not stacked."""
        m = len(codes)
        v = np.empty((len(self.names), m))
        nd = self.n_discrete
        if nd:
            first = codes[:, self.d_start].T.astype(np.int64)
            v[:nd] = self.values[np.minimum(first, self.d_size - 1) + self.d_base]
            v[:nd][first >= self.d_size] = np.nan
        if len(self.names) > nd:
            first = codes[:, self.b_start].T.astype(np.int64)
            same = first == self.b_same
            if self.twins:
                first = np.where(same, self.b_mid, first)
            t = np.minimum(np.minimum(first, self.b_coarse - 1) * self.b_fine + codes[:, self.b_start + 1].T,
                           self.b_last) + self.b_base
            lo, hi = self.lo[t], self.hi[t]
            uu = np.where(self.flip, 1.0 - u, u)
            x = np.where(self.whole, np.minimum(np.floor(lo + uu * (hi - lo + 1)), hi), lo + uu * (hi - lo))
            v[nd:] = np.where(first >= self.b_coarse, np.nan, x)
        for decimals, rows in self.rounding[0]:
            v[rows] = np.round(v[rows]) if decimals is None else np.round(v[rows], decimals)
        for r, name, lo_clip, hi_clip in self.twins:  # the twin's number where "same as" was drawn (and it has one)
            twin = v[self.at[name]] if name in self.at else one(name)
            # (np.clip's bounds as floats: minimum of maximum, its definition, without its overhead)
            v[nd + r] = np.where(same[r] & ~np.isnan(twin), np.minimum(np.maximum(twin, lo_clip), hi_clip), v[nd + r])
        for decimals, rows in self.rounding[1]:
            v[rows] = np.round(v[rows]) if decimals is None else np.round(v[rows], decimals)
        for r, name in enumerate(self.names):
            out[name] = v[r]


def _history_block(first_model: Any, model: Any, plan: dict[str, Any], ctx: pd.DataFrame, lengths: np.ndarray,
                   starts: np.ndarray, seed: int, min_gap: float) -> tuple[pd.DataFrame, np.ndarray]:
    if model is not None and StepCodes.usable(model, plan):
        return _history_block_codes(first_model, model, plan, ctx, lengths, starts, seed, min_gap)
    return _history_block_frames(first_model, model, plan, ctx, lengths, starts, seed, min_gap)


def _first_steps(first_model: Any, ctx: pd.DataFrame, n: int, seed: int) -> dict[str, Any]:
    first = Completer(first_model, ctx)
    if first.ctx.shape[1]:
        return first(np.arange(n), {}, seed)
    df = _unconditional(first_model, n, seed)
    return {c: df[c] for c in df.columns}


def _change(plan: dict[str, Any], c: str) -> str:
    """The generated column holding number ``c``'s move: from its history's mean, from its lag
    plus its ledger source (``l.``: the residual), or from its lag; a level number's own column."""
    if c in plan.get("level", ()):  # none: the value itself is generated
        return c
    if c in (plan.get("ledger") or {}):
        return f"l.{c}"
    return f"r.{c}" if c in plan.get("reverting", ()) else f"d.{c}"


def ledger_move(rule: dict[str, Any], source: np.ndarray, by: Any, signs: np.ndarray | None = None) -> np.ndarray:
    """The part of a ledger target's change that its rule gives: the signed source (0 where the
    source is missing); ``signs`` where already known, else read from ``by``."""
    if signs is None:
        signs = ledger_signs(rule, by, len(source))
    return np.where(np.isnan(source), 0.0, signs * source)


def _bases(plan: dict[str, Any], lag: dict[str, np.ndarray], mean: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What each number's move is added to: its history's mean (reverting numbers), another
    number's lag (``plan["cross_base"]``) or its own lag."""
    reverting = set(plan.get("reverting", ()))
    cross = plan.get("cross_base") or {}
    return {c: mean[c] if c in reverting else lag[cross[c]] if c in cross else v for c, v in lag.items()}


def _next_values(plan: dict[str, Any], t: int, gap: np.ndarray, level: dict[str, np.ndarray],
                 delta: dict[str, np.ndarray], lag: dict[str, np.ndarray], min_gap: float,
                 spread_v: dict[str, np.ndarray] | None = None,
                 signs: dict[str, np.ndarray] | None = None, recur: dict[str, np.ndarray] | None = None
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The gap and each number of one step: base (the previous value, or the history's mean for a
    reverting number) + move where both exist (a ledger target: + its signed source's new value,
    ``signs`` per target; a spread column: its anchor's new value + spread), else the level (a
    level number: always)."""
    spread_v = spread_v or {c: np.full(len(gap), np.nan) for c in plan.get("spread", {})}
    if t > 0 and plan.get("center"):
        delta = _centered(plan, delta, set(plan.get("spread", {})), False)
        spread_v = _centered(plan, spread_v, set(plan.get("spread", {})), True)
    gap = np.where(np.isnan(gap), min_gap, np.maximum(gap, min_gap)) if t > 0 else np.zeros(len(gap))
    out: dict[str, np.ndarray] = {}
    spread = plan.get("spread", {})
    ledger = plan.get("ledger") or {}
    levels = set(plan.get("level", ()))
    seen = set(plan.get("seen", ()))
    plain = [c for c in plan["numeric"] if c not in spread and c not in ledger]
    envelope = plan.get("envelope") or {}
    spread_order = [c for c in spread if c not in envelope] + [c for c in spread if c in envelope]
    for c in plain + [c for c in plan["numeric"] if c in ledger] + spread_order:
        if c in spread:  # the anchor's new value plus the spread
            sv, a = spread_v[c], spread_ref(plan, c, out)
            x = np.where(~np.isnan(sv) & ~np.isnan(a), a + sv, level[c])
        elif c in levels:
            x = level[c]
        elif c in ledger and t > 0:  # the previous value + the signed source + the residual
            rule = ledger[c]
            source = ledger_move(rule, from_model_units(plan, rule["source"], out[rule["source"]]), None,
                                 signs[c] if signs and c in signs else ledger_signs(rule, None, len(gap)))
            lo, hi = plan["bounds"][c]
            # A step the rule would take out of the real range (a debit larger than any real
            # balance allows) moves by its residual alone: clipped, such steps piled on the
            # real minimum (2.7 % of berka's synthetic balances on -5,446.6, one real).
            ruled = lag[c] + delta[c] + source
            inside = (ruled >= lo) & (ruled <= hi)
            x = np.where(~np.isnan(delta[c]) & ~np.isnan(lag[c]), np.where(inside, ruled, lag[c] + delta[c]), level[c])
        else:
            x = np.where(~np.isnan(delta[c]) & ~np.isnan(lag[c]), lag[c] + delta[c], level[c])
            if c in seen:  # its drawn value says whether it is there (see sequence_frame)
                x = np.where(np.isnan(level[c]), np.nan, x)
        if recur and c in recur:  # the entity's last value of this kind (see _recurring)
            x = np.where(np.isnan(recur[c]), x, recur[c])
        lo, hi = plan["bounds"][c]
        # (np.clip's definition, minimum of maximum, without its per-call cost: a dozen a step)
        x = np.minimum(np.maximum(x, lo), hi) if lo is not None and hi is not None else np.clip(x, lo, hi)
        out[c] = np.round(x) if c in plan["integer"] else x
    return gap, out


def _grid_of(plan: dict[str, Any]) -> np.ndarray | None:
    """The plan's calendar grid (:func:`shared_grid`) as an array, or None."""
    grid = plan.get("grid")
    return np.asarray(grid, dtype=np.float64) if grid is not None and len(grid) >= 2 else None


def _step_time(grid: np.ndarray | None, prev: np.ndarray, now: np.ndarray, t: int, min_gap: float) -> np.ndarray:
    """A step's time drawn as ``now`` after ``prev``, on the grid where the plan has one (step 0:
    the start's grid time), so that the next step's previous time and calendar are real dates too."""
    if grid is None:
        return now
    if t == 0:
        return grid_start(now, grid)
    return grid_step(prev, now - prev, grid, ties=min_gap < float(np.min(np.diff(grid))) / 2.0)


def _history_block_codes(first_model: Any, model: Any, plan: dict[str, Any], ctx: pd.DataFrame,
                         lengths: np.ndarray, starts: np.ndarray, seed: int, min_gap: float
                         ) -> tuple[pd.DataFrame, np.ndarray]:
    numeric, categorical, other = plan["numeric"], plan["categorical"], plan["other"]
    n_ent = len(lengths)
    grid = _grid_of(plan)
    sc = StepCodes(model, plan, ctx)
    shared = SharedSeries(plan, n_ent, seed)
    prev_time = starts.astype(float).copy()
    prev = {c: np.full(n_ent, np.nan) for c in numeric}
    prev2 = {c: np.full(n_ent, np.nan) for c in numeric}
    means = RunningMean(numeric, n_ent)
    last = {c: np.full(n_ent, np.nan) for c in plan.get("lone_gaps", ())}
    max_len = int(lengths.max()) if n_ent else 0
    stop = Until(plan, lengths)
    # Per step: times, numbers, and the codes of categorical / other columns (decoded at the end).
    times: list[np.ndarray] = []
    nums: dict[str, list[np.ndarray]] = {c: [] for c in numeric}
    first_vals: dict[str, Any] = {}
    held: dict[str, list[np.ndarray]] = {c: [] for c in categorical + other}
    prev_codes = {c: np.zeros(n_ent, dtype=np.int64) for c in categorical}
    time_enc = sc.encoder("seq.prev_time")
    per_unit = (DAY / time_enc.seconds_per_unit) if time_enc is not None and plan["index_kind"] == "datetime" \
        else 1.0
    spread = list(plan.get("spread", {}))
    kind_of = sc.kind_codes(plan.get("recur") or {})
    rec = Recurrences(plan, n_ent, sc.kind_sizes)
    read = ["seq.gap", *(["seq.end"] if plan.get("month_end") else []), *[_change(plan, c) for c in numeric],
            *numeric, *[f"s.{c}" for c in spread], *[f"k.{c}" for c in rec.rules]]
    first_out: dict[str, Any] = {}
    for t in range(max_len):
        act = stop.active(t)
        m = len(act)
        if not m:
            break
        step_seed = int(np.random.SeedSequence([seed, t]).generate_state(1)[0])
        if t == 0:
            first_out = _first_steps(first_model, ctx, m, step_seed)
            level = {c: _floats(first_out, c, m) for c in numeric}
            gap, x = _next_values(plan, 0, np.zeros(m), level, {c: np.full(m, np.nan) for c in numeric},
                                  {c: np.full(m, np.nan) for c in numeric}, min_gap)
            for c in categorical:
                first_vals[c] = first_out[c]
            for c in other:
                first_vals[c] = first_out[c]
            for c in categorical:  # the first step's categories as the step model's codes, for its lags
                enc = sc.encoder(c)
                if isinstance(enc, CategoricalEncoder):
                    prev_codes[c][act] = enc.encode(pd.Series(first_out[c]))
            step0 = {b: prev_codes[b][act][:, None] for b in prev_codes}
            kinds = {c: kind_of(c, m, step0.get) for c in rec.rules}
        else:
            given = {"seq.step": np.full(m, float(t)), "seq.prev_time": np.round(prev_time[act] * DAY) / DAY * per_unit
                     if plan["index_kind"] == "datetime" else prev_time[act].copy()}
            before = {c: prev[c][act] for c in numeric}
            for c in numeric:
                given[f"lag.{c}"] = before[c]
            mean = means.of(act)
            given.update(step_features(plan, prev_time[act], before, {c: prev2[c][act] for c in numeric}, mean,
                                       lengths[act] - t))
            known = sc.known(act, given, {c: prev_codes[c][act] for c in categorical})
            codes = draw_codes(model, known, m, step_seed)
            # A lag is read back only where a previous value is missing (the model imagined it);
            # decoding reads no random numbers of its own, so skipping one changes no other.
            gaps = {c: np.isnan(before[c]) for c in numeric}
            gaps = {c: g for c, g in gaps.items() if g.any()}
            got = sc.numbers(codes, read + [f"lag.{c}" for c in gaps],
                             np.random.default_rng(np.random.SeedSequence([seed, t, 1])))
            lag = {c: np.where(gaps[c], got[f"lag.{c}"], v) if c in gaps else v for c, v in before.items()}
            kinds = {c: kind_of(c, m, lambda b, codes=codes: sc.column_codes(codes, b)) for c in rec.rules}
            gap, x = _next_values(plan, t, got["seq.gap"], {c: got[c] for c in numeric},
                                  {c: got[_change(plan, c)] for c in numeric}, _bases(plan, lag, mean),
                                  min_gap,
                                  {c: got[f"s.{c}"] for c in spread}, sc.ledger_signs(codes, seed, t),
                                  reps := {c: rec.with_fixed(c, rec.repeats(c, act, kinds[c], got[f"k.{c}"]),
                                                             lambda b, table, codes=codes: sc.fixed(codes, b, table))
                                           for c in rec.rules})
            for c in categorical + other:
                part = sc.column_codes(codes, c)
                held[c].append(part if part is not None else np.zeros((m, 0), dtype=np.int32))
                if c in prev_codes and part is not None and part.shape[1]:
                    prev_codes[c][act] = part[:, 0]
        now = prev_time[act] + gap
        if t > 0 and plan.get("month_end"):
            now = np.where(got["seq.end"] > 0.5, _to_month_end(prev_time[act], now), now)
        if t > 0:
            now = rec.on_day(plan, reps, prev_time[act], now)
        now = _step_time(grid, prev_time[act], now, t, min_gap)
        stop.passed(act, now)
        shared.put(x, act, now)
        times.append(now)
        _fill_lone_gaps(plan, x, {c: prev[c][act] for c in numeric}, last, act)
        rec.keep(act, kinds, x, now)
        for c in numeric:
            nums[c].append(x[c])
            prev2[c][act] = prev[c][act]
            prev[c][act] = x[c]
            means.add(c, act, x[c])
        prev_time[act] = now
    if not times:
        return pd.DataFrame(columns=[plan["index"], *numeric, *categorical, *other]), np.zeros(0, int)
    kept, ent, step = stop.rows()
    order = np.lexsort((step, ent))
    n0 = len(stop.acts[0])
    first_kept = kept[:n0]
    data: dict[str, Any] = {plan["index"]: np.concatenate(times)[kept][order]}
    for c in numeric:
        data[c] = shared.exact(c, ent[order], data[plan["index"]],
                               from_model_units(plan, c, np.concatenate(nums[c])[kept][order], data[plan["index"]]))
    keep_envelopes(plan, data)
    rng = np.random.default_rng(np.random.SeedSequence([seed, max_len, 2]))
    rest_kept = kept[n0:]
    for c in categorical + other:
        rest_n = int(rest_kept.sum())
        rest = sc.decode(c, np.concatenate(held[c])[rest_kept] if held[c] and held[c][0].shape[1] else None,
                         rest_n, rng) if rest_n else pd.Series([], dtype=object)
        col = pd.concat([pd.Series(first_vals[c])[first_kept].reset_index(drop=True), pd.Series(rest)],
                        ignore_index=True)
        data[c] = col.iloc[order].reset_index(drop=True)
    return pd.DataFrame(data), ent[order]  # (the order column as times: generate_histories formats it)


def _history_block_frames(first_model: Any, model: Any, plan: dict[str, Any], ctx: pd.DataFrame, lengths: np.ndarray,
                   starts: np.ndarray, seed: int, min_gap: float) -> tuple[pd.DataFrame, np.ndarray]:
    numeric, categorical = plan["numeric"], plan["categorical"]
    n_ent = len(lengths)
    grid = _grid_of(plan)
    prev_time = starts.astype(float).copy()
    prev: dict[str, np.ndarray] = {c: np.full(n_ent, np.nan) for c in numeric}
    prev2: dict[str, np.ndarray] = {c: np.full(n_ent, np.nan) for c in numeric}
    means = RunningMean(numeric, n_ent)
    last = {c: np.full(n_ent, np.nan) for c in plan.get("lone_gaps", ())}
    prev_cat: dict[str, np.ndarray] = {c: np.full(n_ent, None, dtype=object) for c in categorical}
    first = Completer(first_model, ctx)
    step = Completer(model, ctx) if model is not None else None
    rec = Recurrences(plan)
    shared = SharedSeries(plan, n_ent, seed)
    cols: dict[str, list[Any]] = {c: [] for c in [plan["index"], *numeric, *categorical, *plan["other"]]}
    max_len = int(lengths.max()) if n_ent else 0
    stop = Until(plan, lengths)
    for t in range(max_len):
        act = stop.active(t)
        if not len(act):
            break
        step_seed = int(np.random.SeedSequence([seed, t]).generate_state(1)[0])
        mean = means.of(act)
        if t == 0:
            out = first(act, {}, step_seed) if first.ctx.shape[1] else _unconditional(first_model, len(act),
                                                                                        step_seed)
        else:
            assert step is not None
            given: dict[str, Any] = {"seq.step": np.full(len(act), t),
                                     "seq.prev_time": _from_time(prev_time[act], plan["index_kind"]).to_numpy()}
            for c in numeric:
                given[f"lag.{c}"] = prev[c][act]
            for c in categorical:
                given[f"lag.{c}"] = prev_cat[c][act]
            given.update(step_features(plan, prev_time[act], {c: prev[c][act] for c in numeric},
                                       {c: prev2[c][act] for c in numeric}, mean, lengths[act] - t))
            out = step(act, given, step_seed)
        m = len(act)
        lag = {c: prev[c][act] for c in numeric}
        if t > 0:  # a missing previous value was imagined by the model
            lag = {c: np.where(np.isnan(v), _floats(out, f"lag.{c}", m), v) for c, v in lag.items()}
        kinds = {c: list(zip(*[pd.Series(out[b]).astype(str).tolist() if b in out else [""] * m
                               for b in r["by"]], strict=True)) for c, r in rec.rules.items()}
        gap, x = _next_values(plan, t, _floats(out, "seq.gap", m) if "seq.gap" in out else np.full(m, min_gap),
                              {c: _floats(out, c, m) for c in numeric},
                              {c: _floats(out, _change(plan, c), m) for c in numeric},
                              _bases(plan, lag, mean), min_gap,
                              {c: _floats(out, f"s.{c}", m) for c in plan.get("spread", {})},
                              {c: ledger_signs(r, out.get(r["by"], np.full(m, None)), m) if r.get("by") else
                               ledger_signs(r, None, m) for c, r in (plan.get("ledger") or {}).items()},
                              reps := {c: rec.with_fixed(c, rec.repeats(c, act, kinds[c], _floats(out, f"k.{c}", m)),
                                                         lambda b, table, out=out: fixed_by_text(
                                                             pd.Series(out[b]).astype(str).tolist()
                                                             if b in out else None, table))
                                       for c in rec.rules})
        now = prev_time[act] + gap
        if t > 0 and plan.get("month_end"):
            now = np.where(_floats(out, "seq.end", m) > 0.5, _to_month_end(prev_time[act], now), now)
        if t > 0:
            now = rec.on_day(plan, reps, prev_time[act], now)
        now = _step_time(grid, prev_time[act], now, t, min_gap)
        stop.passed(act, now)
        shared.put(x, act, now)
        cols[plan["index"]].append(now)
        _fill_lone_gaps(plan, x, {c: prev[c][act] for c in numeric}, last, act)
        rec.keep(act, kinds, x, now)
        for c in numeric:
            cols[c].append(x[c])
            prev2[c][act] = prev[c][act]
            prev[c][act] = x[c]
            means.add(c, act, x[c])
        for c in categorical:
            v = pd.Series(out[c]).to_numpy(dtype=object)
            cols[c].append(pd.Series(out[c]))
            prev_cat[c][act] = np.where(pd.isna(v), None, v)
        for c in plan["other"]:
            cols[c].append(pd.Series(out[c]))
        prev_time[act] = now
    if not stop.acts:
        return pd.DataFrame(columns=list(cols)), np.zeros(0, int)
    kept, ent, step = stop.rows()
    order = np.lexsort((step, ent))
    when = np.concatenate(cols[plan["index"]])[kept][order] if cols[plan["index"]] else np.zeros(0)
    df = pd.DataFrame({c: (shared.exact(c, ent[order], when,
                                        from_model_units(plan, c, np.concatenate(v)[kept][order], when))
                           if c == plan["index"] or c in numeric else
                           pd.concat(v, ignore_index=True)[kept].iloc[order].reset_index(drop=True))
                       for c, v in cols.items()})
    if plan.get("envelope"):
        fixed = {c: df[c].to_numpy(dtype=np.float64) for c in plan["numeric"]}
        keep_envelopes(plan, fixed)
        for c in plan["envelope"]:
            df[c] = fixed[c]
    return df, ent[order]  # (the order column as times: generate_histories formats it)


def _unconditional(model: Any, n: int, seed: int) -> pd.DataFrame:
    from ..sampling import iter_rows

    return pd.concat(list(iter_rows(model, n, seed, chunk_size=max(1, n))), ignore_index=True)


def format_index(x: np.ndarray, plan: dict[str, Any]) -> pd.Series:
    """The order column from times (days for dates), as the real table had it."""
    s = _from_time(x, plan["index_kind"])
    if plan["index_kind"] == "datetime" and plan.get("index_format"):
        return s.dt.strftime(plan["index_format"])
    return s


def index_times(x: np.ndarray, plan: dict[str, Any]) -> np.ndarray:
    """The times that the order column :func:`format_index` makes of times ``x`` reads back as
    (``_to_time`` of it), without the text: dates as plain days are floored to their day."""
    x = np.asarray(x, dtype=float)
    if plan["index_kind"] != "datetime":
        return x.copy()
    if plan.get("index_format") == "%Y-%m-%d":
        # The date of the whole second that format_index rounds to (floor: days before 1970 too).
        return np.floor(np.round(x * DAY) / DAY)
    return _to_time(format_index(x, plan), plan["index_kind"])
