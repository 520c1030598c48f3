"""The constraint kinds, their text and dict forms, and their formulas (in the shared language).

How each kind is met (see ``docs/constraints.md``):

* :class:`Range` and :class:`Formula` hold **by construction**: a range becomes allowed codes
  for the model (the same mechanism as conditional sampling), a formula's column is computed
  from its inputs after sampling.
* :class:`Inequality`, :class:`FixedCombinations`, :class:`Unique` and :class:`Regex` are checked
  on each chunk; rows that break one are **redrawn** from the model (a bounded number of rounds,
  a few candidates per row), and the few left are **repaired** (an inequality's values are
  swapped, a combination is completed from the allowed ones, a text is generated from its
  pattern). A row that still breaks a rule raises :class:`ConstraintError`: output is never
  silently wrong.

Sets that cannot hold together (an empty range, ``a <= b`` with ranges that exclude it, a
cycle) are refused when the model is fitted, with a message that names the conflict.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .._exceptions import ConstraintError
from .._formula import FUNCTIONS, Compiler, FormulaError, numeric

__all__ = [
    "Constraint",
    "ConstraintError",
    "FixedCombinations",
    "Formula",
    "Inequality",
    "Range",
    "Regex",
    "Unique",
    "parse_constraints",
]


def _fmt(v: Any) -> str:
    return repr(v) if isinstance(v, str) else f"{v}"


@dataclass(frozen=True)
class Constraint:
    """Base class; ``to_dict`` gives the JSON form used in metadata files."""

    type: ClassVar[str] = ""

    @property
    def columns(self) -> list[str]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class Inequality(Constraint):
    """``low <= high`` (``low < high`` with ``strict``) between two numeric or date columns.

    Rows where either value is missing satisfy it.

    Example:
        >>> import datatwin
        >>> datatwin.Inequality("start_date", "end_date").describe()
        'start_date <= end_date'
    """

    low: str
    high: str
    strict: bool = False
    type: ClassVar[str] = "inequality"

    @property
    def columns(self) -> list[str]:
        return [self.low, self.high]

    def describe(self) -> str:
        return f"{self.low} {'<' if self.strict else '<='} {self.high}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "low": self.low, "high": self.high, "strict": self.strict}


@dataclass(frozen=True)
class Range(Constraint):
    """``low <= column <= high`` (either end may be None); dates as text in the column's format.

    Example:
        >>> import datatwin
        >>> datatwin.Range("age", 18, 90).describe()
        '18 <= age <= 90'
    """

    column: str
    low: Any = None
    high: Any = None
    type: ClassVar[str] = "range"

    @property
    def columns(self) -> list[str]:
        return [self.column]

    def describe(self) -> str:
        lo = "" if self.low is None else f"{_fmt(self.low)} <= "
        hi = "" if self.high is None else f" <= {_fmt(self.high)}"
        return f"{lo}{self.column}{hi}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "column": self.column, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class FixedCombinations(Constraint):
    """The values of ``columns`` only appear together as in the real data (city belongs to country).

    ``combinations`` lists the allowed tuples explicitly; by default they are learned from the
    training rows (combinations of values the model can generate, i.e. not rare ones).

    Example:
        >>> import datatwin
        >>> datatwin.FixedCombinations(["city", "country"]).describe()
        'fixed combinations of (city, country)'
    """

    columns_: tuple[str, ...] = field(default=())
    combinations: tuple[tuple[Any, ...], ...] | None = None
    type: ClassVar[str] = "fixed_combinations"

    def __init__(self, columns: list[str] | tuple[str, ...],
                 combinations: list[list[Any]] | tuple[tuple[Any, ...], ...] | None = None) -> None:
        object.__setattr__(self, "columns_", tuple(columns))
        object.__setattr__(self, "combinations",
                           None if combinations is None else tuple(tuple(c) for c in combinations))

    @property
    def columns(self) -> list[str]:
        return list(self.columns_)

    def describe(self) -> str:
        return f"fixed combinations of ({', '.join(self.columns_)})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "columns": list(self.columns_)}
        if self.combinations is not None:
            out["combinations"] = [list(c) for c in self.combinations]
        return out


@dataclass(frozen=True)
class Formula(Constraint):
    """``column = expression``: the column is computed from others, e.g. ``price * quantity``.

    The expression uses column names, numbers, ``+ - * / // % **`` and the functions
    ``abs round min max floor ceil sqrt log exp``. The result is rounded to the column's format.

    Example:
        >>> import datatwin
        >>> datatwin.Formula("total", "price * quantity").describe()
        'total = price * quantity'
    """

    column: str
    expression: str
    type: ClassVar[str] = "formula"

    @property
    def columns(self) -> list[str]:
        return [self.column, *_compiled(self).names]

    @property
    def inputs(self) -> list[str]:
        return list(_compiled(self).names)

    def describe(self) -> str:
        return f"{self.column} = {self.expression}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "column": self.column, "expression": self.expression}


@dataclass(frozen=True)
class Unique(Constraint):
    """No two generated rows share the values of ``columns`` (across all chunks of one sample).

    Example:
        >>> import datatwin
        >>> datatwin.Unique(["email"]).describe()
        'unique (email)'
    """

    columns_: tuple[str, ...] = field(default=())
    type: ClassVar[str] = "unique"

    def __init__(self, columns: list[str] | tuple[str, ...] | str) -> None:
        object.__setattr__(self, "columns_", (columns,) if isinstance(columns, str) else tuple(columns))

    @property
    def columns(self) -> list[str]:
        return list(self.columns_)

    def describe(self) -> str:
        return f"unique ({', '.join(self.columns_)})"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "columns": list(self.columns_)}


@dataclass(frozen=True)
class Regex(Constraint):
    """Every non-missing value of a text column fully matches ``pattern``.

    Example:
        >>> import datatwin
        >>> datatwin.Regex("zip", r"[0-9]{5}").describe()
        "zip matches '[0-9]{5}'"
    """

    column: str
    pattern: str
    type: ClassVar[str] = "regex"

    @property
    def columns(self) -> list[str]:
        return [self.column]

    def describe(self) -> str:
        return f"{self.column} matches {self.pattern!r}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "column": self.column, "pattern": self.pattern}


KINDS: dict[str, type[Constraint]] = {c.type: c for c in (Inequality, Range, FixedCombinations, Formula,
                                                          Unique, Regex)}
_FIELDS = {"inequality": ({"low", "high"}, {"strict"}), "range": ({"column"}, {"low", "high"}),
           "fixed_combinations": ({"columns"}, {"combinations"}), "formula": ({"column", "expression"}, set()),
           "unique": ({"columns"}, set()), "regex": ({"column", "pattern"}, set())}
_INEQ = re.compile(r"^\s*([^<>=!]+?)\s*(<=|<|>=|>)\s*([^<>=!]+?)\s*$")
_FORMULA = re.compile(r"^\s*([A-Za-z_][\w ]*?)\s*=(?!=)\s*(.+)$")


def parse_constraints(items: Any) -> list[Constraint]:
    """Constraints from objects, their dict form, or text (``"a <= b"``, ``"total = price * qty"``).

    Example:
        >>> [c.describe() for c in parse_constraints(["start <= end", {"type": "unique", "columns": ["id"]}])]
        ['start <= end', 'unique (id)']
    """
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        raise ConstraintError("constraints must be a list (of constraint objects, dicts or text such as "
                              "'start_date <= end_date')")
    out: list[Constraint] = []
    for i, item in enumerate(items):
        if isinstance(item, Constraint):
            out.append(item)
        elif isinstance(item, str):
            out.append(_from_text(item))
        elif isinstance(item, dict):
            out.append(_from_dict(item, i))
        else:
            raise ConstraintError(f"constraint #{i + 1} is a {type(item).__name__}; give a dict such as "
                                  f"{{'type': 'inequality', 'low': 'a', 'high': 'b'}} or text such as 'a <= b'")
    return out


def _from_text(text: str) -> Constraint:
    m = _INEQ.match(text)
    if m:
        a, op, b = m.groups()
        if op in (">", ">="):
            a, b = b, a
        return Inequality(a.strip(), b.strip(), strict=op in ("<", ">"))
    m = _FORMULA.match(text)
    if m:
        f = Formula(m.group(1).strip(), m.group(2).strip())
        _compiled(f)  # fail now on a malformed expression
        return f
    raise ConstraintError(f"cannot read constraint {text!r}; write 'a <= b', 'a < b' or 'total = price * quantity', "
                          f"or use the dict form for ranges, fixed combinations, uniqueness and patterns")


def _from_dict(d: dict[str, Any], i: int) -> Constraint:
    kind = d.get("type")
    if kind not in KINDS:
        raise ConstraintError(f"constraint #{i + 1}: 'type' must be one of {sorted(KINDS)}, got {kind!r}")
    required, optional = _FIELDS[kind]
    keys = set(d) - {"type"}
    missing, unknown = required - keys, keys - required - optional
    if missing or unknown:
        what = f"lacks {sorted(missing)}" if missing else f"has unknown field(s) {sorted(unknown)}"
        raise ConstraintError(f"constraint #{i + 1} ({kind}) {what}; it takes {sorted(required | optional)}")
    args = {k: v for k, v in d.items() if k != "type"}
    for name in ("columns",):
        if name in args and (not isinstance(args[name], (list, tuple)) or not args[name]):
            raise ConstraintError(f"constraint #{i + 1} ({kind}): 'columns' must be a non-empty list of names")
    if kind == "regex":
        try:
            re.compile(str(args["pattern"]))
        except re.error as exc:
            raise ConstraintError(f"constraint #{i + 1}: pattern {args['pattern']!r} is not a valid "
                                  f"regular expression ({exc})") from None
    c = KINDS[kind](**args)
    if isinstance(c, Formula):
        _compiled(c)
    return c


def _compiled(f: Formula) -> Compiler:
    """The formula's expression compiled for float columns (cached by its text)."""
    try:
        return numeric(f.expression)
    except FormulaError as exc:
        desc = f.describe()
        if exc.syntax is not None:
            msg = f"{exc.syntax} in the expression"
        elif exc.node is not None:
            msg = (f"{ast.unparse(exc.node)!r} is not allowed; use column names, numbers, + - * / // % ** and "
                   f"{', '.join(sorted(FUNCTIONS))}")
        else:
            msg = exc.reason
        raise ConstraintError(f"formula {desc!r}: {msg}") from None

