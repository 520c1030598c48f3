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
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError
from ..encoding import MODELLED_KINDS
from ..metadata import Metadata
from ..sampling import complete_rows

__all__ = ["generate_histories", "sequence_frame", "sequence_plan"]

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
    meta = Metadata.infer(df.drop(columns=[c for c in exclude | {index} if c in df.columns]))
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
    return {"key": key, "index": index, "index_kind": kind, "index_format": fmt, "numeric": numeric,
            "categorical": categorical, "bounds": bounds, "integer": integer,
            "other": [c for c in meta.columns if c not in numeric and c not in categorical]}


def sequence_frame(df: pd.DataFrame, plan: dict[str, Any], entity: np.ndarray, ctx: pd.DataFrame
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training frames of the first-step model and of the step model: ``df`` rows ordered by
    (entity, index), with ``ctx`` (one row per ``df`` row) in front.

    The first step has its own model: it has no previous step, and a conditional sampler cannot
    be told that a lag is *known to be missing* (a missing given cell means "generate it")."""
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
    out["seq.gap"] = (t - prev_t)[rest]
    for c in plan["numeric"]:
        x = pd.to_numeric(df[c], errors="coerce").to_numpy(float)
        lag = pd.to_numeric(lagged[c], errors="coerce").to_numpy(float)
        use_delta = ~np.isnan(x) & ~np.isnan(lag)
        out[c] = np.where(use_delta, np.nan, x)[rest]
        out[f"d.{c}"] = np.where(use_delta, x - lag, np.nan)[rest]
    for c in plan["categorical"] + plan["other"]:
        out[c] = df[c].to_numpy()[rest]
    return pd.DataFrame(head), pd.DataFrame(out)


def known_only(model: Any, seeds: pd.DataFrame) -> pd.DataFrame:
    from ..encoding import CategoricalEncoder

    for enc in model.encoder.encoders:
        if isinstance(enc, CategoricalEncoder) and enc.name in seeds.columns and not enc.has_rare_:
            col = seeds[enc.name]
            unseen = col.notna().to_numpy() & (enc.encode(col) == len(enc.levels_))
            if unseen.any():
                seeds[enc.name] = col.astype(object).where(~unseen, None)
    return seeds


def generate_histories(first_model: Any, model: Any, plan: dict[str, Any], ctx: pd.DataFrame, lengths: np.ndarray,
                       starts: np.ndarray, seed: int, min_gap: float) -> tuple[pd.DataFrame, np.ndarray]:
    """Histories for every entity (row of ``ctx``) with ``lengths[i]`` steps from ``starts[i]``.

    Returns the generated rows (entity-major, steps in order, with the order column rebuilt)
    and the entity index of each row.
    """
    numeric, categorical = plan["numeric"], plan["categorical"]
    n_ent = len(lengths)
    prev_time = starts.astype(float).copy()
    prev: dict[str, np.ndarray] = {c: np.full(n_ent, np.nan) for c in numeric}
    prev_cat: dict[str, np.ndarray] = {c: np.full(n_ent, None, dtype=object) for c in categorical}
    parts: list[pd.DataFrame] = []
    ents: list[np.ndarray] = []
    steps: list[np.ndarray] = []
    columns = set(model.columns) if model is not None else set()
    first_columns = set(first_model.columns)
    max_len = int(lengths.max()) if n_ent else 0
    for t in range(max_len):
        act = np.flatnonzero(lengths > t)
        given: dict[str, Any] = {c: ctx[c].to_numpy()[act] for c in ctx.columns}
        given["seq.step"] = np.full(len(act), t)
        given["seq.prev_time"] = _from_time(prev_time[act], plan["index_kind"]).to_numpy()
        if t > 0:
            for c in numeric:
                given[f"lag.{c}"] = prev[c][act]
            for c in categorical:
                given[f"lag.{c}"] = prev_cat[c][act]
        step_seed = int(np.random.SeedSequence([seed, t]).generate_state(1)[0])
        if t == 0:
            first_given = {k: v for k, v in given.items() if k in first_columns}
            out = complete_rows(first_model, known_only(first_model, pd.DataFrame(first_given)), step_seed) \
                if first_given else \
                _unconditional(first_model, len(act), step_seed)
        else:
            seed_rows = known_only(model, pd.DataFrame({k: v for k, v in given.items() if k in columns}))
            out = complete_rows(model, seed_rows, step_seed)
        gap = pd.to_numeric(out["seq.gap"], errors="coerce").to_numpy(float) if "seq.gap" in out else \
            np.full(len(act), min_gap)
        gap = np.where(np.isnan(gap), min_gap, np.maximum(gap, min_gap)) if t > 0 else np.zeros(len(act))
        now = prev_time[act] + gap
        row: dict[str, Any] = {plan["index"]: now}
        for c in numeric:
            level = pd.to_numeric(out[c], errors="coerce").to_numpy(float) if c in out else np.full(len(act), np.nan)
            dcol = f"d.{c}"
            delta = pd.to_numeric(out[dcol], errors="coerce").to_numpy(float) if dcol in out else \
                np.full(len(act), np.nan)
            lag = prev[c][act]
            if t > 0 and f"lag.{c}" in out:  # a missing previous value was imagined by the model
                lag = np.where(np.isnan(lag), pd.to_numeric(out[f"lag.{c}"], errors="coerce").to_numpy(float), lag)
            x = np.where(~np.isnan(delta) & ~np.isnan(lag), lag + delta, level)
            lo, hi = plan["bounds"][c]
            x = np.clip(x, lo, hi)
            if c in plan["integer"]:
                x = np.round(x)
            row[c] = x
            prev[c][act] = x
        for c in categorical:
            v = out[c].to_numpy(dtype=object)
            row[c] = v
            prev_cat[c][act] = np.where(pd.isna(v), None, v)
        for c in plan["other"]:
            row[c] = out[c].to_numpy()
        prev_time[act] = now
        parts.append(pd.DataFrame(row))
        ents.append(act)
        steps.append(np.full(len(act), t))
    if not parts:
        return pd.DataFrame(columns=[plan["index"], *numeric, *categorical, *plan["other"]]), np.zeros(0, int)
    df = pd.concat(parts, ignore_index=True)
    ent = np.concatenate(ents)
    order = np.lexsort((np.concatenate(steps), ent))
    df = df.iloc[order].reset_index(drop=True)
    df[plan["index"]] = _format_index(df[plan["index"]].to_numpy(float), plan)
    return df, ent[order]


def _unconditional(model: Any, n: int, seed: int) -> pd.DataFrame:
    from ..sampling import iter_rows

    return pd.concat(list(iter_rows(model, n, seed, chunk_size=max(1, n))), ignore_index=True)


def _format_index(x: np.ndarray, plan: dict[str, Any]) -> pd.Series:
    s = _from_time(x, plan["index_kind"])
    if plan["index_kind"] == "datetime" and plan.get("index_format"):
        return s.dt.strftime(plan["index_format"])
    return s
