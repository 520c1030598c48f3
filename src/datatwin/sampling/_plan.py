"""Sampling under control: conditions, rebalancing and seed rows, turned into engine inputs.

Conditions become *allowed codes* per sub-column (exact by construction: the model's
distribution restricted to the allowed codes, never a rejection loop); rebalancing and seed rows
become *fixed codes*. When more than one column is constrained, each row draws a few candidates
and keeps one with probability proportional to the mass its constraints kept (importance
resampling), so later constraints also shape the earlier columns as exact conditioning would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._exceptions import ConditionError
from ..constraints import column_keys, value_key
from ..encoding import DT_UNITS, CategoricalEncoder, NumericEncoder, is_missing, to_seconds
from ..metadata._dates import parse_datetime_text

if TYPE_CHECKING:
    from ._fitted import FittedModel

__all__ = ["Plan", "encode_numbers", "encode_seed_rows", "make_plan", "row_matches"]

CANDIDATES = 4


@dataclass
class Plan:
    allowed: dict[int, np.ndarray] = field(default_factory=dict)
    bounds: dict[str, Any] = field(default_factory=dict)
    fixed: dict[int, np.ndarray] = field(default_factory=dict)  # codes for all n rows
    n_constrained: int = 0

    @property
    def weighted(self) -> bool:
        return self.n_constrained >= 2

    def fixed_slice(self, start: int, stop: int) -> dict[int, np.ndarray]:
        return {j: codes[start:stop] for j, codes in self.fixed.items()}


def make_plan(model: FittedModel, n: int, conditions: dict[str, Any] | None,
              rebalance: dict[str, dict[Any, float]] | None, rng: np.random.Generator) -> Plan:
    plan = Plan()
    slices = model.encoder.slices
    for name, spec in (conditions or {}).items():
        i = model.encoder_index(name, "condition")
        masks, bounds = model.encoder.encoders[i].condition(spec)
        for k, mask in enumerate(masks):
            plan.allowed[slices[i].start + k] = mask
        if bounds is not None:
            plan.bounds[name] = bounds
        plan.n_constrained += 1
    for name, shares in (rebalance or {}).items():
        i = model.encoder_index(name, "rebalance")
        enc = model.encoder.encoders[i]
        discrete = isinstance(enc, CategoricalEncoder) or getattr(enc, "mode_", None) == "discrete"
        if not discrete or not isinstance(shares, dict):
            raise ConditionError(f"rebalance works on columns with few distinct values (categories, classes) "
                                 f"given a {{value: share}} mapping; {name!r} is a continuous "
                                 f"{model.metadata.columns[name].kind} column")
        p = _target_mix(enc, shares, name)
        if name in (conditions or {}):
            raise ConditionError(f"column {name!r} is both conditioned and rebalanced; choose one")
        plan.fixed[slices[i].start] = rng.choice(len(p), size=n, p=p).astype(np.int32)
        plan.n_constrained += 1
    return plan


def _target_mix(enc: Any, shares: dict[Any, float], name: str) -> np.ndarray:
    card = enc.cardinalities[0]
    p = np.zeros(card)
    given = {}
    for value, share in shares.items():
        if not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise ConditionError(f"rebalance {name!r}: share of {value!r} must be in [0, 1], got {share!r}")
        given[enc.code_of(value)] = float(share)
    total = sum(given.values())
    if total > 1 + 1e-9:
        raise ConditionError(f"rebalance {name!r}: shares add up to {total:g}, more than 1")
    # The rest of the mass keeps the training proportions among the levels not named.
    counts = np.zeros(card)
    counts[: len(enc.counts_)] = enc.counts_
    others = [j for j in range(len(enc.counts_)) if j not in given]
    rest = counts[others].sum()
    for j, share in given.items():
        p[j] = share
    if others and rest > 0:
        p[others] = counts[others] / rest * (1 - total)
    elif total < 1 - 1e-9:
        raise ConditionError(f"rebalance {name!r}: shares add up to {total:g} and no other value is left to "
                             f"take the remaining {1 - total:g}")
    return p / p.sum()


def encode_seed_rows(model: FittedModel, seed_rows: pd.DataFrame) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Codes of the given cells: sub-column -> (codes, known mask), for learned columns only."""
    unknown = [c for c in seed_rows.columns if c not in model.columns]
    if unknown:
        raise ConditionError(f"seed rows have column(s) {unknown} that the model does not have; "
                             f"columns: {model.columns}")
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    slices = model.encoder.slices
    for i, enc in enumerate(model.encoder.encoders):
        if enc.name not in seed_rows.columns:
            continue
        col = seed_rows[enc.name]
        known = col.notna().to_numpy()
        if isinstance(enc, CategoricalEncoder):
            codes = enc.encode(col)
            unseen = known & (codes == len(enc.levels_))
            if unseen.any() and not enc.has_rare_:
                raise ConditionError(f"seed rows: column {enc.name!r} has value(s) the model never saw, e.g. "
                                     f"{col[unseen].iloc[0]!r}")
            parts = [codes]  # unseen or rare values take the rare code, which the model knows
        else:
            assert isinstance(enc, NumericEncoder)
            parts = encode_numbers(enc, _numbers(enc, col, known), known)
        for k, codes in enumerate(parts):
            out[slices[i].start + k] = (codes, known)
    return out


def encode_numbers(enc: NumericEncoder, v: np.ndarray, known: np.ndarray) -> list[np.ndarray]:
    """Codes of given numbers ``v`` (in the encoder's units; only ``known`` ones matter)."""
    # (np.minimum / np.maximum: np.clip's values at a fraction of its call cost, which counts
    # when histories encode a dozen columns of a few hundred rows per step.)
    v = np.minimum(np.maximum(np.where(known, v, enc.clip_[0]), enc.clip_[0]), enc.clip_[1])
    if enc.mode_ == "discrete":
        idx = np.minimum(np.searchsorted(enc.values_, v), len(enc.values_) - 1)
        left = np.maximum(idx - 1, 0)
        idx = np.where(np.abs(enc.values_[left] - v) < np.abs(enc.values_[idx] - v), left, idx)
        return [idx.astype(np.int32)]
    coarse, fine = np.divmod(np.minimum(np.searchsorted(enc.hi_, v), len(enc.hi_) - 1), enc.n_fine_)
    return [coarse.astype(np.int32), fine.astype(np.int32)]


def _numbers(enc: NumericEncoder, col: pd.Series, known: np.ndarray) -> np.ndarray:
    """Given cells in the encoder's units, column at a time; a cell that is no number (or a date
    in a form not handled here) goes through :meth:`NumericEncoder.number`, which says what is wrong."""
    if enc.meta.kind != "datetime":
        v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isnan(v[known]).any():
            return v
    else:
        fmt = enc.meta.datetime_format
        ts = col if pd.api.types.is_datetime64_any_dtype(col) else \
            parse_datetime_text(col, fmt) if fmt and "%z" not in fmt else None
        if ts is not None and getattr(ts.dt, "tz", None) is None and not ts.isna().to_numpy()[known].any():
            secs = ts.to_numpy(dtype="datetime64[ns]").astype(np.int64) // 1_000_000_000
            # As number(): whole seconds, then a count of the encoder's unit.
            return np.where(known, secs.astype(np.float64) / DT_UNITS[enc.unit_ or "s"], np.nan)
    return np.array([enc.number(x) if ok else np.nan for x, ok in zip(col, known, strict=True)])


def row_matches(model: FittedModel, df: pd.DataFrame, where: dict[str, Any]) -> np.ndarray:
    """Whether each generated row satisfies every ``{column: value | [values] | (low, high)}``."""
    ok = np.ones(len(df), dtype=bool)
    for name, spec in where.items():
        enc = model.encoder.encoders[model.encoder_index(name, "boost")]
        if isinstance(enc, NumericEncoder):
            v = to_seconds(df[name], enc.meta) / enc.seconds_per_unit
            with np.errstate(invalid="ignore"):
                if isinstance(spec, tuple) and len(spec) == 2:
                    lo = -np.inf if is_missing(spec[0]) else enc.number(spec[0])
                    hi = np.inf if is_missing(spec[1]) else enc.number(spec[1])
                    hit = (v >= lo) & (v <= hi)
                else:
                    raw = list(spec) if isinstance(spec, (list, set, frozenset)) else [spec]
                    hit = np.isin(v, [enc.number(x) for x in raw if not is_missing(x)])
                    if any(is_missing(x) for x in raw):
                        hit |= np.isnan(v)
        else:
            raw = list(spec) if isinstance(spec, (list, set, frozenset, tuple)) else [spec]
            targets = {value_key(x) for x in raw}
            hit = np.array([k in targets for k in column_keys(df[name])], dtype=bool)
        ok &= hit
    return ok
