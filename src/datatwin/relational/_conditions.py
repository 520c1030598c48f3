"""Conditions and what-if on a parent table, flowing to its children.

A condition (``{"district": {"region": "Prague"}}``) or a what-if change
(``{"customer": {"income": lambda s: s * 1.1}}``) is applied where the table is generated
from nothing: a table with no context parent (a root). Its rows are sampled with the
single-table :meth:`~datatwin.Synthesizer.sample` conditions (or :meth:`~datatwin.Synthesizer.what_if`),
so they all match; its learned child counts (``__n.*``) are generated jointly with the
conditioned columns, so the number of children follows the condition (Prague districts have
more accounts). Children are then generated from these synthetic parents as always. Below a
conditioned table the child counts are taken as learned, not rescaled to the unconditional
total: that total is what the condition is meant to change.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .._exceptions import ConditionError, InputError

__all__ = ["check_conditions", "flowing_tables", "sample_root", "split_qualified"]


def _check_map(arg: Any, what: str, db: Any) -> dict[str, dict[str, Any]]:
    if arg is None:
        return {}
    if not isinstance(arg, dict) or not all(isinstance(v, dict) for v in arg.values()):
        raise InputError(f"{what} must be {{table: {{column: ...}}}}, e.g. {{'district': {{'region': 'Prague'}}}}")
    roots = [t for t in db.order_ if db.plans_[t]["context"] is None and not t.startswith("__")]
    for t, cols in arg.items():
        if t not in db.plans_ or t.startswith("__"):
            raise ConditionError(f"{what} name table {t!r}, which the model does not have; tables: "
                                 f"{', '.join(x for x in db.order_ if not x.startswith('__'))}")
        plan = db.plans_[t]
        if plan["context"] is not None:
            parent = db.schema_.foreign_keys[plan["context"]].parent_table
            if parent.startswith("__"):  # the virtual parent of a standalone sequence table
                raise ConditionError(f"{what} on {t!r}: a table of histories is generated step by step from "
                                     f"each entity's previous row, so its rows cannot be conditioned")
            raise ConditionError(f"{what} on {t!r}: its rows are generated from their parent {parent!r}; put the "
                                 f"condition on a table generated first ({', '.join(roots) or 'none'}), and it "
                                 f"flows to its children")
        syn = db.synthesizers_.get(t)
        learned = [c for c in (syn.columns_ if syn is not None else []) if not c.startswith("__")]
        for c in cols:
            if c not in learned:
                keys = [c for c in plan["columns"] if c not in learned]
                why = " (a key column: keys are numbered afresh, not learned)" if c in keys else ""
                raise ConditionError(f"{what} on {t}.{c}: no such learned column{why}; columns: "
                                     f"{', '.join(learned) or 'none'}")
        if not cols:
            raise InputError(f"{what} for table {t!r} is empty")
    return arg


def check_conditions(db: Any, conditions: Any, what_if: Any) -> tuple[dict[str, dict[str, Any]],
                                                                      dict[str, dict[str, Any]]]:
    """Validate ``{table: {column: condition}}`` and ``{table: {column: change}}`` against a fitted model."""
    conds = _check_map(conditions, "conditions", db)
    changes = _check_map(what_if, "what_if", db)
    both = sorted(set(conds) & set(changes))
    if both:
        raise InputError(f"table {both[0]!r} has both conditions and what-if changes; choose one per table")
    return conds, changes


def flowing_tables(db: Any, tables: set[str]) -> set[str]:
    """The conditioned tables and every table generated, directly or not, from their rows."""
    out = set(tables)
    for t in db.order_:
        ctx = db.plans_[t]["context"]
        if ctx is not None and db.schema_.foreign_keys[ctx].parent_table in out:
            out.add(t)
    return out


def sample_root(syn: Any, n: int, seed: int, conditions: dict[str, Any] | None,
                changes: dict[str, Any] | None) -> pd.DataFrame:
    """A root table's rows: plain, conditioned, or with a what-if change (same seed, same bytes)."""
    if changes:
        return syn.what_if(n, changes, seed=seed)
    if conditions:
        return syn.sample(n, seed=seed, conditions=conditions)
    return syn.sample(n, seed=seed)


def split_qualified(items: dict[str, Any] | None, tables: list[str], what: str) -> dict[str, dict[str, Any]] | None:
    """``{"district.region": spec}`` (``--where district.region=Prague``) -> ``{"district": {"region": spec}}``.

    The longest table name that prefixes the column name wins, so dotted table names work.
    """
    if not items:
        return None
    out: dict[str, dict[str, Any]] = {}
    for name, spec in items.items():
        match = max((t for t in tables if name.startswith(t + ".")), key=len, default=None)
        if match is None:
            raise InputError(f"{what} {name!r}: name the table and the column, e.g. {tables[0]}.<column>=value; "
                             f"tables: {', '.join(tables)}")
        out.setdefault(match, {})[name[len(match) + 1:]] = spec
    return out
