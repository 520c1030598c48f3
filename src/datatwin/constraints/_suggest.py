"""Constraints that hold in every row of a real table, offered as suggestions.

``datatwin inspect`` prints them and writes them into ``--json`` metadata, where the user keeps
or deletes them; ``fit`` never adds a rule by itself, because a rule that holds by chance in the
training rows (two unrelated dates that happen to be ordered) would be forced onto every row.
Only rules that are plausibly meant are suggested:

* ``a <= b`` between two date columns, or two numeric columns with overlapping ranges, that holds
  in every row where both are present (a strict ``<`` when no row is equal);
* fixed combinations of two categorical (or few-valued numeric) columns where each value of one
  always goes with the same value of the other (city -> country), seen in at least ``min_rows``
  rows;
* ``c = a * b`` (or ``a + b``) between numeric columns, to the column's rounding.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np
import pandas as pd

from ..encoding import to_seconds
from ..metadata import Metadata
from ._rules import Constraint, FixedCombinations, Formula, Inequality

__all__ = ["constraint_json", "exact_formulas", "kept_identities", "suggest_constraints"]

log = logging.getLogger("datatwin")

MAX_COLUMNS = 40  # pairs and triples grow fast; wider tables get the first 40 columns of each kind
EXACT_MIN_ROWS = 50  # complete rows an identity must hold in before fit keeps it unasked


def suggest_constraints(df: pd.DataFrame, metadata: Metadata | None = None, *, min_rows: int = 30
                        ) -> list[Constraint]:
    """Rules that hold in every row of ``df`` and look meant (see the module notes).

    Example:
        >>> import pandas as pd, datatwin
        >>> df = pd.DataFrame({"start": pd.date_range("2024-01-01", periods=40).astype(str),
        ...                    "end": pd.date_range("2024-01-05", periods=40).astype(str)})
        >>> [c.describe() for c in datatwin.suggest_constraints(df)]
        ['start < end']
    """
    meta = metadata or Metadata.infer(df)
    if len(df) < min_rows:
        return []
    out: list[Constraint] = []
    out += _inequalities(df, meta, min_rows)
    out += _formulas(df, meta)
    out += _combinations(df, meta, min_rows)
    return out


def exact_formulas(df: pd.DataFrame, metadata: Metadata, *, min_rows: int = EXACT_MIN_ROWS) -> list[Formula]:
    """``c = a * b`` / ``c = a + b`` identities that ``fit`` keeps without being asked.

    Unlike an order between two columns, an arithmetic identity between numbers with many values
    that holds in every one of ``min_rows`` or more rows is not chance (berka's loans: amount =
    duration * payments in all 682). Kept only where it loses nothing: ``c`` is missing exactly
    where ``a`` or ``b`` is, neither input is constant, and no formula feeds another (so none
    computes a column another one reads).

    Example:
        >>> import pandas as pd, datatwin
        >>> from datatwin.constraints import exact_formulas
        >>> df = pd.DataFrame({"price": [1.5, 2.0, 3.25] * 20, "qty": list(range(1, 61))})
        >>> df["total"] = df["price"] * df["qty"]
        >>> [f.describe() for f in exact_formulas(df, datatwin.Metadata.infer(df))]
        ['total = price * qty']
    """
    if len(df) < min_rows:
        return []
    vals = _numbers(df, metadata, "numeric")
    out: list[Formula] = []
    targets: set[str] = set()
    inputs: set[str] = set()
    for f in _formulas(df, metadata):
        a, b = f.inputs
        v = np.multiply(vals[a], vals[b]) if "*" in f.expression else np.add(vals[a], vals[b])
        complete = ~np.isnan(v)
        if (complete.sum() < min_rows or not np.array_equal(complete, ~np.isnan(vals[f.column]))
                or min(df[a].nunique(), df[b].nunique()) < 2):
            continue
        if f.column in inputs or targets & {a, b}:
            continue
        out.append(f)
        targets.add(f.column)
        inputs.update((a, b))
    return out


def kept_identities(df: pd.DataFrame, metadata: Metadata, declared: list[Any], where: str = "") -> list[Formula]:
    """The :func:`exact_formulas` of ``df`` that touch no column a ``declared`` rule names, logged
    (``where``: e.g. ``"table loan: "``) so that a user learns what fit keeps unasked."""
    named = {c for rule in declared for c in rule.columns}
    found = [f for f in exact_formulas(df, metadata) if not named & set(f.columns)]
    if found:
        log.info("%skeeping %s, which hold%s in every real row (infer_formulas=False learns %s instead)", where,
                 "; ".join(f.describe() for f in found), "s" if len(found) == 1 else "",
                 "it" if len(found) == 1 else "them")
    return found


def _numbers(df: pd.DataFrame, meta: Metadata, kind: str) -> dict[str, np.ndarray]:
    cols = [n for n, c in meta.columns.items() if c.kind == kind][:MAX_COLUMNS]
    return {n: to_seconds(df[n], meta.columns[n]) for n in cols}


def _inequalities(df: pd.DataFrame, meta: Metadata, min_rows: int) -> list[Constraint]:
    out: list[Constraint] = []
    for kind in ("datetime", "numeric"):
        vals = _numbers(df, meta, kind)
        if kind == "numeric":  # few-valued numbers are codes (sex = 1/2), not quantities to order
            vals = {n: v for n, v in vals.items() if len(np.unique(v[~np.isnan(v)])) > 10}
        for a, b in itertools.combinations(vals, 2):
            x, y = vals[a], vals[b]
            both = ~np.isnan(x) & ~np.isnan(y)
            if both.sum() < min_rows:
                continue
            x, y = x[both], y[both]
            # Numbers whose ranges barely overlap are ordered by accident of scale (age < income):
            # ask for a tenth of each column's values inside the other's range.
            if kind == "numeric" and min((x >= y.min()).mean(), (y <= x.max()).mean(),
                                         (y >= x.min()).mean(), (x <= y.max()).mean()) < 0.1:
                continue
            for lo, hi, xs, ys in ((a, b, x, y), (b, a, y, x)):
                if (xs <= ys).all() and not (xs == ys).all():
                    out.append(Inequality(lo, hi, strict=bool((xs < ys).all())))
                    break
    return out


def _formulas(df: pd.DataFrame, meta: Metadata) -> list[Constraint]:
    # Screen the triples on a few rows, then check the survivors on all of them.
    few = df.sample(min(len(df), 500), random_state=0) if len(df) > 500 else df
    found = _formula_candidates(few, meta)
    if len(df) > 500:
        found = [f for f in found if f in _formula_candidates(df, meta, only=found)]
    return list(found)


def _formula_candidates(df: pd.DataFrame, meta: Metadata, only: list[Formula] | None = None) -> list[Formula]:
    vals = _numbers(df, meta, "numeric")
    names = list(vals) if only is None else list(dict.fromkeys(n for f in only for n in f.columns))
    out: list[Formula] = []
    for c in names:
        tol = 0.5 * 10.0 ** -(meta.columns[c].decimals or 0) + 1e-9
        target = vals[c]
        ok_t = ~np.isnan(target)
        for a, b in itertools.combinations([n for n in names if n != c], 2):
            for op, f in (("*", np.multiply), ("+", np.add)):
                with np.errstate(all="ignore"):
                    v = f(vals[a], vals[b])
                ok = ok_t & ~np.isnan(v)
                if ok.sum() < 10 or np.all(target[ok] == 0):
                    continue
                if np.all(np.abs(v[ok] - target[ok]) <= tol + 1e-9 * np.abs(target[ok])):
                    out.append(Formula(c, f"{a} {op} {b}"))
                    break
            else:
                continue
            break
    return out


def _combinations(df: pd.DataFrame, meta: Metadata, min_rows: int) -> list[Constraint]:
    cats = [n for n, c in meta.columns.items() if c.kind in ("categorical", "boolean")
            or (c.kind == "numeric" and df[n].nunique() <= 50)][:MAX_COLUMNS]
    out: list[Constraint] = []
    for a, b in itertools.permutations(cats, 2):
        pair = df[[a, b]].dropna()
        if len(pair) < min_rows:
            continue
        na, nb = pair[a].nunique(), pair[b].nunique()
        # a determines b (city -> country, or one-to-one), b is not constant, a is not an id.
        if not 1 < nb <= na or na > len(pair) / 2:
            continue
        seen = any(isinstance(c, FixedCombinations) and set(c.columns) == {a, b} for c in out)
        if not seen and (pair.groupby(a, sort=False)[b].nunique() == 1).all():
            out.append(FixedCombinations([b, a]))
    return out


def constraint_json(c: Constraint) -> str | dict[str, object]:
    """The friendliest JSON form: text for inequalities and formulas, a dict otherwise."""
    return c.describe() if isinstance(c, (Inequality, Formula)) else c.to_dict()
