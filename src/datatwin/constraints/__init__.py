"""Rules every generated row satisfies: declaring, checking, learning, enforcing, suggesting."""

from ._constraints import (
    ConstraintError,
    ConstraintSet,
    FixedCombinations,
    Formula,
    Inequality,
    Range,
    Regex,
    Unique,
    Units,
    column_keys,
    parse_constraints,
    value_key,
)
from ._suggest import constraint_json, suggest_constraints

__all__ = [
    "ConstraintError",
    "ConstraintSet",
    "FixedCombinations",
    "Formula",
    "Inequality",
    "Range",
    "Regex",
    "Unique",
    "Units",
    "column_keys",
    "constraint_json",
    "parse_constraints",
    "suggest_constraints",
    "value_key",
]
