"""The constraints of one fitted model: static checks, fit-time learning, and enforcement.

Range and formula rules hold by construction (allowed codes, computed columns); the others are
checked on each chunk, broken rows redrawn from the model and the few left repaired.
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import ConstraintError
from .._graph import CycleError, topological
from .._json import plain
from ..encoding import from_float
from ..metadata import Metadata
from ._rules import (
    Constraint,
    FixedCombinations,
    Formula,
    Inequality,
    Range,
    Regex,
    Unique,
    _compiled,
    parse_constraints,
)
from ._units import Units, _keys, _replace, column_keys, value_key

log = logging.getLogger("datatwin")

ORDERED_KINDS = ("numeric", "datetime")


def _broken_order(c: Inequality, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows where ``a``/``b`` (the rule's low/high numbers) break ``c``; missing values never do."""
    with np.errstate(invalid="ignore"):
        bad = (a >= b) if c.strict else (a > b)
    return bad & ~np.isnan(a) & ~np.isnan(b)


def _out_of(v: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (v < bounds[0]) | (v > bounds[1])


def _formula_values(f: Formula, df: pd.DataFrame, units: Units) -> np.ndarray:
    """The formula evaluated on the rows of ``df`` (float64, one per row; NaN where undefined)."""
    return _compiled(f).floats({n: units.numbers(df[n]) for n in f.inputs}, len(df))


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every bit of ``h`` (uint64) spreads over the result."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


_TEXT_SALT = np.uint64(0x9E3779B97F4A7C15)  # text never hashes like the number it spells


def _column_hashes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A uint64 per value, equal for values with equal :func:`value_key`, and the missing mask."""
    missing = s.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan) + 0.0  # -0.0 == 0.0: one hash
        return _mix(np.where(missing, 0.0, v).view(np.uint64)), missing
    keys = np.asarray(column_keys(s) if s.dtype == object or pd.api.types.is_bool_dtype(s.dtype)
                      else s.astype(str).to_numpy(dtype=object), dtype=object)
    keys[missing] = None
    number = np.fromiter((isinstance(k, float) for k in keys), dtype=bool, count=len(keys))
    out = np.zeros(len(keys), dtype=np.uint64)
    if number.any():
        out[number] = _mix((keys[number].astype(np.float64) + 0.0).view(np.uint64))
    text = ~number & ~missing
    if text.any():
        # pandas' hash of text: SipHash under a fixed key, the same in every process.
        out[text] = pd.util.hash_array(keys[text].astype(str).astype(object), categorize=True) ^ _TEXT_SALT
    return out, missing


def key_share(df: pd.DataFrame, columns: list[str], parts: int) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``parts`` shares of the key space of ``columns`` each row's key falls in, and
    which rows have a missing cell in the key (those never clash, and belong to no share).

    The share comes from a stable hash (the same in every process and on every machine), equal
    for keys that compare equal as :func:`value_key` compares them (1 and 1.0, -0.0 and 0.0).

    Example:
        >>> df = pd.DataFrame({"x": [1.0, 1.0, -0.0, 0.0], "y": ["a", "a", "b", "b"]})
        >>> share, missing = key_share(df, ["x", "y"], 5)
        >>> bool(share[0] == share[1] and share[2] == share[3]), missing.tolist()
        (True, [False, False, False, False])
    """
    h = np.zeros(len(df), dtype=np.uint64)
    missing = np.zeros(len(df), dtype=bool)
    with np.errstate(over="ignore"):
        for name in columns:
            col, miss = _column_hashes(df[name])
            h = _mix(h * np.uint64(0x100000001B3) + col)
            missing |= miss
    return (h % np.uint64(max(parts, 1))).astype(np.int64), missing


class ConstraintSet:
    """The constraints of one fitted model: static checks, fit-time learning, and enforcement."""

    ROUNDS = 6
    MAX_CANDIDATES = 200_000  # rows drawn per redraw round, whatever the chunk size

    def __init__(self, constraints: list[Constraint]) -> None:
        self.constraints = constraints
        self.combos_: dict[int, tuple[list[str], list[list[Any]], list[int]]] = {}
        # Counts since the model was loaded or fitted: rows checked, rows broken on the first
        # draw, candidate rows redrawn, rows repaired (for benchmarks and debugging).
        # Lookup tables derived from combos_, built on first use; threads sampling one model share
        # them, so the lock keeps the dict consistent (every thread would build the same tables).
        self._combo_cache: dict[int, tuple[list[pd.Index], np.ndarray, np.ndarray]] = {}
        self._combo_lock = threading.Lock()

    # -------------------------------------------------------------- static checks
    def bind(self, meta: Metadata, generated: set[str]) -> None:
        """Check names and kinds, and refuse sets that cannot hold together."""
        cols = meta.columns
        # Ids are unique by construction, so a uniqueness rule that includes one always holds.
        self.ids_ = {n for n in generated if cols[n].kind == "id"}
        self.range_bounds_: dict[int, tuple[float, float]] = {}
        for c in self.constraints:
            for name in c.columns:
                if name not in cols:
                    raise ConstraintError(f"constraint {c.describe()!r} names column {name!r}, which the table "
                                          f"does not have; columns: {list(cols)}")
            if isinstance(c, (Inequality, Range)):
                kinds = {cols[n].kind for n in c.columns}
                if not kinds <= set(ORDERED_KINDS) or len(kinds) > 1:
                    raise ConstraintError(f"constraint {c.describe()!r} needs numeric or date columns of one kind; "
                                          f"got {', '.join(f'{n} ({cols[n].kind})' for n in c.columns)}")
            if isinstance(c, Inequality) and c.low == c.high:
                raise ConstraintError(f"constraint {c.describe()!r} compares a column with itself")
            if isinstance(c, Formula):
                bad = [n for n in c.columns if cols[n].kind != "numeric"]
                if bad:
                    raise ConstraintError(f"formula {c.describe()!r} works on numeric columns; "
                                          f"{bad[0]!r} is {cols[bad[0]].kind}")
                if c.column in c.inputs:
                    raise ConstraintError(f"formula {c.describe()!r} uses its own column")
            if isinstance(c, FixedCombinations):
                if len(c.columns) < 2:
                    raise ConstraintError(f"{c.describe()} needs at least two columns")
                bad = [n for n in c.columns if n in generated]
                if bad:
                    raise ConstraintError(f"{c.describe()}: {bad[0]!r} is a {cols[bad[0]].kind} column, generated "
                                          f"fresh; fixed combinations work on learned columns")
            if isinstance(c, Regex):
                if cols[c.column].kind in ORDERED_KINDS + ("boolean",):
                    raise ConstraintError(f"constraint {c.describe()!r}: {c.column!r} is {cols[c.column].kind}; "
                                          f"patterns apply to text, category, id and PII columns (use a range "
                                          f"for numbers and dates)")
                try:
                    re.compile(c.pattern)
                except re.error as exc:
                    raise ConstraintError(f"constraint {c.describe()!r}: not a valid pattern ({exc})") from None
        self._check_formulas()
        self._check_order(meta)

    def _check_formulas(self) -> None:
        formulas = self.formulas
        targets: dict[str, Formula] = {}
        for f in formulas:
            if f.column in targets:
                raise ConstraintError(f"column {f.column!r} has two formulas: {targets[f.column].describe()!r} and "
                                      f"{f.describe()!r}; keep one")
            targets[f.column] = f
        for c in self.constraints:
            if isinstance(c, (FixedCombinations, Regex)) and set(c.columns) & set(targets):
                name = sorted(set(c.columns) & set(targets))[0]
                raise ConstraintError(f"constraints {targets[name].describe()!r} and {c.describe()!r} conflict: "
                                      f"a computed column cannot also be fixed by another rule")
        self.formula_order_ = _topological([(f.column, f.inputs) for f in formulas], "formulas")

    def _check_order(self, meta: Metadata) -> None:
        _topological([(c.high, [c.low]) for c in self.inequalities], "inequalities")
        self._ranges = [c for c in self.constraints if isinstance(c, Range)]

    def check_ranges(self, units: Units) -> dict[str, tuple[float, float]]:
        """Each ordered column's declared interval, tightened along the inequalities; refuse empty ones."""
        lo: dict[str, float] = {}
        hi: dict[str, float] = {}
        why: dict[str, list[str]] = {}
        for r in self._ranges:
            a = -math.inf if r.low is None else units.scalar(r.column, r.low, f"range {r.describe()!r}")
            b = math.inf if r.high is None else units.scalar(r.column, r.high, f"range {r.describe()!r}")
            if a > b:
                raise ConstraintError(f"range {r.describe()!r} is empty: its low end is above its high end")
            lo[r.column] = max(lo.get(r.column, -math.inf), a)
            hi[r.column] = min(hi.get(r.column, math.inf), b)
            why.setdefault(r.column, []).append(r.describe())
        for _ in range(len(self.inequalities) + 1):
            changed = False
            for c in self.inequalities:
                gap = units.step(c.high) if c.strict else 0.0  # (a float's gap is "any", ~0)
                if lo.get(c.low, -math.inf) + gap > lo.get(c.high, -math.inf):
                    lo[c.high] = lo[c.low] + gap
                    why.setdefault(c.high, []).extend([*why.get(c.low, []), c.describe()])
                    changed = True
                if hi.get(c.high, math.inf) - gap < hi.get(c.low, math.inf):
                    hi[c.low] = hi[c.high] - gap
                    why.setdefault(c.low, []).extend([*why.get(c.high, []), c.describe()])
                    changed = True
            if not changed:
                break
        for name in lo.keys() & hi.keys():
            if lo[name] > hi[name]:
                rules = list(dict.fromkeys(why.get(name, [])))
                raise ConstraintError(f"constraints {', '.join(repr(r) for r in rules)} conflict: no value of "
                                      f"{name!r} satisfies them all")
        return {n: (lo.get(n, -math.inf), hi.get(n, math.inf)) for n in set(lo) | set(hi)}

    # -------------------------------------------------------------- convenience views
    @property
    def formulas(self) -> list[Formula]:
        return [c for c in self.constraints if isinstance(c, Formula)]

    @property
    def inequalities(self) -> list[Inequality]:
        return [c for c in self.constraints if isinstance(c, Inequality)]

    @property
    def checked(self) -> list[Constraint]:
        """Constraints verified on every chunk (formulas hold by construction)."""
        return [c for c in self.constraints if not isinstance(c, Formula)]

    # -------------------------------------------------------------- fit time
    def learn(self, df: pd.DataFrame, units: Units, usable: Callable[[str, Any], bool]) -> None:
        """Learn fixed combinations and report how many training rows break each rule.

        ``usable(column, value)`` says whether the model can generate a value (rare levels cannot).
        """
        ok: dict[tuple[str, Any], bool] = {}  # one check per distinct value, not per combination

        def can(col: str, x: Any) -> bool:
            if (col, value_key(x)) not in ok:
                ok[(col, value_key(x))] = usable(col, x)
            return ok[(col, value_key(x))]

        for i, c in enumerate(self.constraints):
            if isinstance(c, FixedCombinations):
                cols = c.columns
                if c.combinations is not None:
                    combos = [list(t) for t in c.combinations]
                    if any(len(t) != len(cols) for t in combos):
                        raise ConstraintError(f"{c.describe()}: every combination needs {len(cols)} values")
                    counts = [1] * len(combos)
                else:
                    grouped = df[cols].astype(object).where(df[cols].notna(), None).value_counts(dropna=False,
                                                                                                  sort=False)
                    pairs = sorted(((list(k), int(v)) for k, v in grouped.items()),
                                   key=lambda kv: (-kv[1], [str(x) for x in kv[0]]))
                    kept = [(k, v) for k, v in pairs if all(can(col, x) for col, x in zip(cols, k, strict=True))]
                    combos = [[plain(x, dates=str) for x in k] for k, _ in kept]
                    counts = [v for _, v in kept]
                if not combos:
                    raise ConstraintError(f"{c.describe()}: no combination is left to generate (every one "
                                          f"involves a value too rare to reproduce)")
                self.combos_[i] = (cols, combos, counts)
                self._combo_cache.pop(i, None)
        for f in self.formulas:
            v, target = _formula_values(f, df, units), units.numbers(df[f.column])
            with np.errstate(invalid="ignore"):
                off = np.abs(v - target) > max(units.step(f.column) / 2, 1e-9) + 1e-9 * np.abs(target)
            off &= np.isfinite(v) & np.isfinite(target)
            if off.any():
                log.warning("%d of %d training rows break %r; generated rows compute %s from it",
                            int(off.sum()), len(df), f.describe(), f.column)
        bad = self.violations(df, units, check_unique=True)
        for c, mask in zip(self.checked, bad, strict=True):
            if mask.any():
                log.warning("%d of %d training rows break %r; generated rows will satisfy it",
                            int(mask.sum()), len(df), c.describe())

    def get_state(self) -> dict[str, Any]:
        return {"constraints": [c.to_dict() for c in self.constraints],
                "combos": {str(i): {"columns": v[0], "values": v[1], "counts": v[2]} for i, v in self.combos_.items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any], meta: Metadata, generated: set[str]) -> ConstraintSet:
        cs = cls(parse_constraints(state["constraints"]))
        cs.bind(meta, generated)
        cs.combos_ = {int(i): (list(v["columns"]), [list(x) for x in v["values"]], [int(n) for n in v["counts"]])
                      for i, v in state.get("combos", {}).items()}
        return cs

    # -------------------------------------------------------------- sample time
    def apply_formulas(self, df: pd.DataFrame, units: Units, rows: np.ndarray | None = None) -> None:
        """Compute every formula column from its inputs (in dependency order)."""
        by_target = {f.column: f for f in self.formulas}
        for name in self.formula_order_:
            f = by_target.get(name)
            if f is None:
                continue
            v = _formula_values(f, df, units)
            col = units.meta.columns[name]
            if rows is None:
                df[name] = from_float(v, col, None)
            else:
                _replace(df, rows, pd.DataFrame({name: from_float(v[rows], col, None)}), np.arange(len(rows)),
                         [name])

    def violations(self, df: pd.DataFrame, units: Units, *, seen: dict[int, set[Any]] | None = None,
                   check_unique: bool = True, share: tuple[int, int] | None = None) -> list[np.ndarray]:
        """One bool mask per checked constraint: True where a row breaks it.

        ``share`` ``(i, parts)``: the rows may only hold keys of share ``i`` of the key space of
        each ``Unique`` rule on learned columns (see :func:`key_share`); a key of another share
        breaks the rule, whether or not ``check_unique`` asks for the duplicates.
        """
        out: list[np.ndarray] = []
        for i, c in enumerate(self.constraints):
            if isinstance(c, Formula):
                continue
            if isinstance(c, Inequality):
                out.append(_broken_order(c, units.numbers(df[c.low]), units.numbers(df[c.high])))
            elif isinstance(c, Range):
                out.append(_out_of(units.numbers(df[c.column]), self.range_bounds_.get(i, (-math.inf, math.inf))))
            elif isinstance(c, FixedCombinations):
                out.append(~self._combo_allowed(df, i))
            elif isinstance(c, Unique):
                partitioned = share is not None and share[1] > 1
                if (not check_unique and not partitioned) or set(c.columns) & self.ids_:
                    out.append(np.zeros(len(df), dtype=bool))
                    continue
                dup = np.zeros(len(df), dtype=bool)
                if check_unique:
                    keys = _keys(df, c.columns)
                    dup |= pd.Series(keys, dtype=object).duplicated().to_numpy()
                    prior = (seen or {}).get(i)
                    if prior:
                        dup |= np.array([k in prior for k in keys], dtype=bool)
                    # As in SQL, missing values never clash.
                    dup &= np.array([any(x is not None for x in k) for k in keys], dtype=bool)
                if partitioned:
                    assert share is not None
                    part, missing = key_share(df, c.columns, share[1])
                    dup |= (part != share[0]) & ~missing  # a key with a missing cell belongs to no share
                out.append(dup)
            elif isinstance(c, Regex):
                s = df[c.column]
                ok = s.isna() | s.astype(str).str.fullmatch(c.pattern)
                out.append(~ok.to_numpy(dtype=bool))
        return out

    def remember(self, df: pd.DataFrame, seen: dict[int, set[Any]]) -> None:
        """Add a finished chunk's keys to the unique constraints' memory."""
        for i, c in enumerate(self.constraints):
            if isinstance(c, Unique) and not set(c.columns) & self.ids_:
                seen.setdefault(i, set()).update(_keys(df, c.columns))

    def enforce(self, df: pd.DataFrame, units: Units, redraw: Callable[[np.ndarray, int, int], pd.DataFrame],
                keep: list[str], seen: dict[int, set[Any]], rng: np.random.Generator,
                restore: Callable[[pd.DataFrame], None] | None = None,
                stats: dict[str, int] | None = None, share: tuple[int, int] | None = None) -> pd.DataFrame:
        """Redraw rows that break a constraint, repair the rest, and check that all hold.

        ``redraw(rows, k, round)`` gives ``k`` fresh candidates for each of ``rows`` (row r's
        candidates at ``r*k .. r*k+k-1``) under the same conditions; columns in ``keep`` (ids)
        stay as they are. ``stats`` (the caller's, one per sampling run) counts rows checked,
        broken on the first draw, redrawn and repaired. ``share`` ``(i, parts)``: the keys of
        ``Unique`` rules on learned columns must fall in share ``i`` of their key space
        (:meth:`rounds` rounds then, and ``parts`` times the candidates: see :func:`key_share`).
        """
        if not self.checked:
            return df
        parts = 1 if share is None else share[1]
        replace_cols = [c for c in df.columns if c not in keep]
        # Redrawing never changes kept columns (ids), so rules on those alone go straight to repair.
        fixable = np.array([not set(c.columns) <= set(keep) for c in self.checked])
        stats = {} if stats is None else stats
        budget = self.MAX_CANDIDATES * min(parts, 4)
        for rnd in range(self.rounds(parts)):
            bad = _any([m for m, f in zip(self.violations(df, units, seen=seen, share=share), fixable, strict=True)
                        if f], len(df))
            rows = np.flatnonzero(bad)
            if not len(rows):
                break
            stats["redrawn"] = stats.get("redrawn", 0) + len(rows)
            if rnd == 0:
                stats["broken_first"] = stats.get("broken_first", 0) + len(rows)
            # A row's key lands in its block's share once in `parts` draws: that many candidates each.
            k = int(min(max(2 ** (rnd + 1), 2 * parts if parts > 1 else 0), max(1, budget // len(rows))))
            cand = redraw(rows, k, rnd)
            ok = ~_any(self.violations(cand, units, check_unique=False, share=share), len(cand))
            ok2 = ok.reshape(len(rows), k)
            has = ok2.any(axis=1)
            pick = np.argmax(ok2, axis=1) + np.arange(len(rows)) * k
            _replace(df, rows[has], cand, pick[has], replace_cols)
        stats["rows"] = stats.get("rows", 0) + len(df)
        rows = np.flatnonzero(_any(self.violations(df, units, seen=seen, share=share), len(df)))
        if len(rows):
            stats["repaired"] = stats.get("repaired", 0) + len(rows)
            self._repair(df, units, rng)
            if restore is not None:  # given cells (seed rows) are never changed by a repair
                restore(df)
        left = self.violations(df, units, seen=seen, share=share)
        broken = [(c, int(m.sum())) for c, m in zip(self.checked, left, strict=True) if m.any()]
        for c, _ in broken:
            if isinstance(c, Unique):
                keys = _keys(df, c.columns)
                if parts > 1:
                    assert share is not None
                    mine = key_share(df, c.columns, parts)[0] == share[0]
                    keys = [k for k, m in zip(keys, mine, strict=True) if m]
                    where = f"in {len(df)} rows drawing from 1/{parts} of the key space (one share per block)"
                else:
                    where = f"in {len(df)} rows"
                raise ConstraintError(f"could not make {c.describe()!r} hold: only {len(set(keys))} distinct values "
                                      f"came out {where}, and the model cannot produce enough others; ask "
                                      f"for fewer rows, or declare the column an 'id' so values are generated "
                                      f"fresh")
        if broken:
            text = "; ".join(f"{c.describe()!r} in {n} row(s)" for c, n in broken)
            raise ConstraintError(f"could not generate rows that satisfy {text} (the model rarely produces such "
                                  f"rows and they cannot be repaired); relax the constraint or the conditions, "
                                  f"or ask for fewer rows")
        return df

    def rounds(self, parts: int) -> int:
        """Redraw rounds for keys drawn into one of ``parts`` shares: more, the more shares."""
        return self.ROUNDS if parts <= 1 else self.ROUNDS + 2 * max(1, math.ceil(math.log2(parts)))

    def _repair(self, df: pd.DataFrame, units: Units, rng: np.random.Generator) -> None:
        for i, c in enumerate(self.constraints):
            if isinstance(c, FixedCombinations):
                self._repair_combos(df, i, c, rng)
            elif isinstance(c, Regex):
                self._repair_regex(df, c, rng)
        # Inequalities last: swaps along the order, as in one pass of a sort, until all hold.
        for _ in range(len(self.inequalities) + 1):
            changed = False
            for c in self.inequalities:
                a, b = units.numbers(df[c.low]), units.numbers(df[c.high])
                bad = np.flatnonzero(_broken_order(c, a, b))
                if not len(bad):
                    continue
                changed = True
                lo, hi = np.minimum(a[bad], b[bad]), np.maximum(a[bad], b[bad])
                if c.strict:
                    step = units.step(c.high)
                    hi = np.maximum(hi, lo + step if step > 0 else np.nextafter(lo, np.inf))
                units.write(df, c.low, bad, lo, up=False)
                units.write(df, c.high, bad, hi, up=True)
            if not changed:
                break
        for i, c in enumerate(self.constraints):
            if isinstance(c, Range):
                lo, hi = self.range_bounds_.get(i, (-math.inf, math.inf))
                v = units.numbers(df[c.column])
                bad = np.flatnonzero(_out_of(v, (lo, hi)))
                if len(bad):
                    clipped = np.clip(v[bad], lo, hi)
                    units.write(df, c.column, bad, clipped, up=bool(np.all(clipped == lo)))

    def _combo_allowed(self, df: pd.DataFrame, i: int) -> np.ndarray:
        """Whether each row's values of a fixed-combinations rule form an allowed combination.

        Vectorised: each column's values become their position among the values the rule
        allows (-1 if none), the positions one mixed-radix number, looked up in the allowed set.
        """
        cols, combos, _ = self.combos_[i]
        with self._combo_lock:
            cache = self._combo_cache
            if i not in cache:
                levels = [pd.Index(list(dict.fromkeys(value_key(t[n]) for t in combos)), dtype=object)
                          for n in range(len(cols))]
                radix = np.cumprod([1] + [len(lv) for lv in levels[:-1]]).astype(np.int64)
                allowed = np.unique([sum(int(lv.get_loc(value_key(t[n]))) * int(radix[n])
                                         for n, lv in enumerate(levels)) for t in combos])
                cache[i] = (levels, radix, allowed)
            levels, radix, allowed = cache[i]
        code = np.zeros(len(df), dtype=np.int64)
        known = np.ones(len(df), dtype=bool)
        for col, lv, r in zip(cols, levels, radix, strict=True):
            pos = lv.get_indexer(pd.Index(column_keys(df[col]), dtype=object))
            known &= pos >= 0
            code += np.maximum(pos, 0).astype(np.int64) * r
        return known & np.isin(code, allowed)

    def _repair_combos(self, df: pd.DataFrame, i: int, c: FixedCombinations, rng: np.random.Generator) -> None:
        cols, combos, counts = self.combos_[i]
        keys = _keys(df, cols)
        bad = ~self._combo_allowed(df, i)
        if not bad.any():
            return
        # Keep the first column's value and complete it with a combination that has it.
        by_first: dict[Any, list[int]] = {}
        for j, t in enumerate(combos):
            by_first.setdefault(value_key(t[0]), []).append(j)
        w = np.asarray(counts, dtype=np.float64)
        picks = []
        for r in np.flatnonzero(bad):
            options = by_first.get(keys[r][0]) or list(range(len(combos)))
            p = w[options] / w[options].sum()
            picks.append(options[int(rng.choice(len(options), p=p))])
        rows = np.flatnonzero(bad)
        src = pd.DataFrame({col: pd.Series([combos[j][n] for j in picks], dtype=object)
                            for n, col in enumerate(cols)})
        for col in cols:
            src[col] = _like(src[col], df[col])
        _replace(df, rows, src, np.arange(len(rows)), cols)

    def _repair_regex(self, df: pd.DataFrame, c: Regex, rng: np.random.Generator) -> None:
        import rstr

        s = df[c.column]
        bad = np.flatnonzero(~(s.isna() | s.astype(str).str.fullmatch(c.pattern)).to_numpy(dtype=bool))
        if not len(bad):
            return
        gen = rstr.Rstr(random.Random(int(rng.integers(2**63))))
        new = [gen.xeger(c.pattern) for _ in bad]
        if c.column in self.ids_:
            # Ids stay unique: draw again where a new value repeats one already there.
            taken = set(s.dropna().astype(str).to_numpy()[np.setdiff1d(np.arange(len(s)), bad)]) \
                if s.notna().any() else set()
            for k in range(len(new)):
                tries = 0
                while new[k] in taken and tries < 50:
                    new[k] = gen.xeger(c.pattern)
                    tries += 1
                taken.add(new[k])
        src = pd.DataFrame({c.column: _like(pd.Series(new, dtype=object), s)})
        _replace(df, bad, src, np.arange(len(bad)), [c.column])

    # -------------------------------------------------------------- conditions
    def conditions(self, units: Units, domain: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """Ranges (declared, or implied through inequalities) that cut into the learned domain."""
        bounds = self.check_ranges(units)
        self.range_bounds_ = {}
        for i, c in enumerate(self.constraints):
            if isinstance(c, Range):
                self.range_bounds_[i] = bounds[c.column]
        out = {}
        for name, (lo, hi) in bounds.items():
            dlo, dhi = domain.get(name, (-math.inf, math.inf))
            if lo > dlo or hi < dhi:
                out[name] = (lo, hi)
        return out


def _like(values: pd.Series, like: pd.Series) -> pd.Series:
    """``values`` in the dtype of ``like`` (so a repaired cell looks like the rest of its column)."""
    try:
        if pd.api.types.is_bool_dtype(like.dtype):
            return values.map(lambda v: str(v) == "True").astype(like.dtype)
        return values.astype(like.dtype)
    except (TypeError, ValueError):
        return values


def _any(masks: list[np.ndarray], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for m in masks:
        out |= m
    return out


def _topological(edges: list[tuple[str, list[str]]], what: str) -> list[str]:
    """Order nodes so each comes after the ones it depends on; a cycle is a conflict."""
    try:
        return topological(edges)
    except CycleError as exc:
        raise ConstraintError(f"{what} form a cycle ({' -> '.join(map(str, exc.cycle))}); remove one of "
                              "them") from None
