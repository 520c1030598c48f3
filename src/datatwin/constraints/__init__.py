"""Rules every generated row satisfies: declaring, checking, learning, enforcing, suggesting.

Modules: ``_rules`` (the constraint kinds, their text/dict forms, formulas in the shared
language of ``datatwin._formula``), ``_units`` (value keys and numeric views of columns),
``_set`` (:class:`ConstraintSet`: checks, learning, enforcement and repair), ``_suggest``.
"""

from .._exceptions import ConstraintError
from ._rules import FixedCombinations, Formula, Inequality, Range, Regex, Unique, parse_constraints
from ._set import ConstraintSet
from ._suggest import constraint_json, exact_formulas, kept_identities, suggest_constraints
from ._units import Units, column_keys, value_key

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
    "exact_formulas",
    "kept_identities",
    "parse_constraints",
    "suggest_constraints",
    "value_key",
]
