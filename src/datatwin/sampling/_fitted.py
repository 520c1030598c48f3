"""The fitted parts that sampling reads: one immutable bundle, shared by every sampling run.

A :class:`FittedModel` is built once, at the end of ``fit`` or ``load``; everything derived from
it that sampling needs (constraint masks, forbidden codes) is computed then, so a run only reads
it and many threads, requests or workers can sample from one model at once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._exceptions import ConditionError
from ..constraints import ConstraintError, ConstraintSet, Units, value_key
from ..encoding import CategoricalEncoder, NumericEncoder, TableEncoder
from ..engines import Engine
from ..generators import ColumnGenerator, FakerGenerator, IdGenerator
from ..metadata import Metadata

__all__ = ["FittedModel", "check_constraints", "units_of", "usable"]

# Encoder index -> (allowed codes per sub-column, decode bounds, description) of a constraint range.
Masks = dict[int, tuple[list[np.ndarray], Any, str]]


@dataclass(frozen=True)
class FittedModel:
    """What ``fit`` learned, read-only: encoders, generated columns, engine, constraints."""

    encoder: TableEncoder
    generators: dict[str, ColumnGenerator]
    engine: Engine
    constraints: ConstraintSet
    metadata: Metadata
    columns: list[str]
    random_state: int
    privacy: dict[str, Any] | None = None  # what a DP fit spent (None: not private)
    units: Units = field(init=False)
    constraint_ranges: dict[str, tuple[float, float]] = field(init=False)
    constraint_masks: Masks = field(init=False)
    forbidden: list[np.ndarray] = field(init=False)
    kept_columns: list[str] = field(init=False)

    def __post_init__(self) -> None:
        units, ranges, masks, forbidden = check_constraints(self.encoder, self.constraints, self.metadata)
        set_ = object.__setattr__  # frozen: derived fields are set once, here
        set_(self, "units", units)
        set_(self, "constraint_ranges", ranges)
        set_(self, "constraint_masks", masks)
        set_(self, "forbidden", forbidden)
        # Columns a redraw never replaces: ids and unique fakes, which are unique by position.
        set_(self, "kept_columns", [n for n, g in self.generators.items() if isinstance(g, IdGenerator)
                                    or (isinstance(g, FakerGenerator) and g.unique_)])

    def encoder_index(self, name: str, what: str) -> int:
        """Index of the encoder of learned column ``name``; a clear error for other columns."""
        for i, enc in enumerate(self.encoder.encoders):
            if enc.name == name:
                return i
        if name in self.generators:
            kind = self.metadata.columns[name].kind
            raise ConditionError(f"{what} column {name!r} is a {kind} column, generated fresh rather than learned; "
                                 f"it cannot be conditioned on")
        raise ConditionError(f"{what} names column {name!r}, which the model does not have; "
                             f"columns: {self.columns}")

    def check_unique_pools(self, n: int) -> None:
        for name, g in self.generators.items():
            cap = g.capacity() if isinstance(g, IdGenerator) else None
            if cap is not None and n > cap:
                # Row i takes id i of a bijection: beyond the capacity, ids would repeat.
                raise ConstraintError(f"id column {name!r} has a format that holds {cap:,} distinct ids, fewer than "
                                      f"the {n:,} rows asked for; ask for at most {cap:,} rows, or fit on ids with "
                                      f"more characters")
            if isinstance(g, FakerGenerator) and g.unique_ and n > len(g.pool_):
                raise ConstraintError(f"column {name!r} must be unique, and the model holds {len(g.pool_):,} "
                                      f"distinct fakes for it (two per training row); ask for at most that many "
                                      f"rows, or fit on more rows")


def units_of(metadata: Metadata, encoder: TableEncoder) -> Units:
    return Units(metadata, {e.name: e.unit_ for e in encoder.encoders if isinstance(e, NumericEncoder)})


def check_constraints(encoder: TableEncoder, cset: ConstraintSet, metadata: Metadata
                      ) -> tuple[Units, dict[str, tuple[float, float]], Masks, list[np.ndarray]]:
    """The ranges the constraints impose on the learned domain, their code masks and the codes
    never drawn; raises :class:`ConstraintError` when a rule excludes everything learned."""
    units = units_of(metadata, encoder)
    domain = {e.name: (e.clip_[0] * e.seconds_per_unit, e.clip_[1] * e.seconds_per_unit)
              for e in encoder.encoders if isinstance(e, NumericEncoder)}
    ranges = cset.conditions(units, domain)
    return units, ranges, _constraint_masks(encoder, ranges), _forbidden(encoder, cset)


def _constraint_masks(encoder: TableEncoder, ranges: dict[str, tuple[float, float]]) -> Masks:
    out = {}
    names = [e.name for e in encoder.encoders]
    for name, (lo, hi) in ranges.items():
        i = names.index(name)
        enc = encoder.encoders[i]
        assert isinstance(enc, NumericEncoder)
        a, b = lo / enc.seconds_per_unit, hi / enc.seconds_per_unit
        what = f"{enc.show(a) + ' <= ' if math.isfinite(a) else ''}{name}" \
               f"{' <= ' + enc.show(b) if math.isfinite(b) else ''}"
        try:
            masks = enc.masks_for(("range", a, b), True, what)
        except ConditionError:
            masks = [np.zeros(1, dtype=bool)]
        # Only the value codes count, not missing or "same as" codes after them.
        n_values = encoder.subcolumns[encoder.slices[i].start].n_values
        if not masks[0][:n_values].any():
            lo_, hi_ = enc.clip_
            raise ConstraintError(f"constraint {what!r} excludes every value the model learned for {name!r} "
                                  f"({enc.show(lo_)} to {enc.show(hi_)}); widen it")
        out[i] = (masks, ("range", a, b), what)
    return out


def _forbidden(encoder: TableEncoder, cset: ConstraintSet) -> list[np.ndarray]:
    """Codes never drawn: rare levels, and levels that break a pattern constraint."""
    forbidden = encoder.forbidden()
    slices = encoder.slices
    for c in cset.constraints:
        if getattr(c, "type", "") != "regex":
            continue
        for i, e in enumerate(encoder.encoders):
            if e.name == c.columns[0] and isinstance(e, CategoricalEncoder):
                pattern = re.compile(c.pattern)  # type: ignore[attr-defined]
                bad = [k for k, level in enumerate(e.levels_) if not pattern.fullmatch(str(level))]
                if e.levels_ and len(bad) == len(e.levels_):
                    raise ConstraintError(f"constraint {c.describe()!r}: none of the values the model learned "
                                          f"for {e.name!r} matches (e.g. {e.levels_[0]!r}); fix the pattern")
                j = slices[i].start
                forbidden[j] = np.union1d(forbidden[j], np.asarray(bad, dtype=np.int64)).astype(np.int64)
    return forbidden


def usable(encoder: TableEncoder, name: str, value: Any) -> bool:
    """Whether the model can generate ``value`` in column ``name`` (rare levels cannot)."""
    for e in encoder.encoders:
        if e.name != name:
            continue
        if value_key(value) is None:
            return True
        if isinstance(e, CategoricalEncoder):
            return value_key(value) in {value_key(v) for v in e.levels_}
        try:
            v = float(value)
        except (TypeError, ValueError):
            return True
        assert isinstance(e, NumericEncoder)
        return bool(e.clip_[0] <= v <= e.clip_[1])
    return True
