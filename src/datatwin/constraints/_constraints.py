"""Constraints: rules that every generated row satisfies.

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
import graphlib
import logging
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._exceptions import ConstraintError
from ..encoding import DT_UNITS, from_float, to_seconds
from ..metadata import Metadata, parse_datetime_text

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

log = logging.getLogger("datatwin")

ORDERED_KINDS = ("numeric", "datetime")


def _fmt(v: Any) -> str:
    return repr(v) if isinstance(v, str) else f"{v}"


# ---------------------------------------------------------------------- the constraint kinds
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
        return [self.column, *_expr_names(self.expression, self)]

    @property
    def inputs(self) -> list[str]:
        return _expr_names(self.expression, self)

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
        _expr_names(f.expression, f)  # fail now on a malformed expression
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
        _expr_names(c.expression, c)
    return c


# ---------------------------------------------------------------------- formulas
_FUNCS: dict[str, Callable[..., Any]] = {
    "abs": np.abs, "round": np.round, "min": np.minimum, "max": np.maximum, "floor": np.floor,
    "ceil": np.ceil, "sqrt": np.sqrt, "log": np.log, "exp": np.exp,
}
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide, ast.Mod: np.mod, ast.Pow: np.power,
}


def _parse(expression: str, owner: Constraint) -> ast.Expression:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise ConstraintError(f"formula {owner.describe()!r}: {exc.msg} in the expression") from None
    for node in ast.walk(tree):
        ok = isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.USub, ast.UAdd,
                               ast.Call, *_BINOPS)) or (isinstance(node, ast.Constant)
                                                        and isinstance(node.value, (int, float))
                                                        and not isinstance(node.value, bool))
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS
                                               and not node.keywords):
            ok = False
        if not ok:
            raise ConstraintError(f"formula {owner.describe()!r}: {ast.unparse(node)!r} is not allowed; use column "
                                  f"names, numbers, + - * / // % ** and {', '.join(sorted(_FUNCS))}")
    return tree


def _expr_names(expression: str, owner: Constraint) -> list[str]:
    tree = _parse(expression, owner)
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    names: list[str] = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and id(n) not in calls and n.id not in names:
            names.append(n.id)
    return names


def _evaluate(node: ast.AST, values: dict[str, np.ndarray]) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, values)
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, (int, float))  # checked by _parse
        return float(node.value)
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.UnaryOp):
        v = _evaluate(node.operand, values)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    args = [_evaluate(a, values) for a in node.args]
    if node.func.id == "round" and len(args) == 2:
        return np.round(args[0], int(np.asarray(args[1]).flat[0]))
    return _FUNCS[node.func.id](*args)


# ---------------------------------------------------------------------- value helpers
def value_key(v: Any) -> Any:
    """A hashable key equal for the same value however it is typed (1 == 1.0, True == 'True')."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    return str(v)


def column_keys(s: pd.Series) -> list[Any]:
    """:func:`value_key` of every value, vectorised for the common dtypes."""
    missing = s.isna().to_numpy()
    if pd.api.types.is_bool_dtype(s.dtype) or s.dtype == object:
        return [value_key(v) for v in s.tolist()]
    if pd.api.types.is_numeric_dtype(s.dtype):
        out = s.to_numpy(dtype=np.float64, na_value=np.nan).astype(object)
    else:
        out = s.astype(str).to_numpy(dtype=object)
    out[missing] = None
    return list(out)


def _keys(df: pd.DataFrame, cols: list[str]) -> list[tuple[Any, ...]]:
    return list(zip(*(column_keys(df[c]) for c in cols), strict=True))


def _replace(df: pd.DataFrame, rows: np.ndarray, src: pd.DataFrame, src_rows: np.ndarray, cols: list[str]) -> None:
    """``df.loc[rows, cols] = src.loc[src_rows, cols]``, by position, keeping each column's dtype."""
    for c in cols:
        arr = df[c].array.copy()
        arr[rows] = src[c].array[src_rows]
        df[c] = arr


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
    with np.errstate(all="ignore"):
        v = np.asarray(_evaluate(_parse(f.expression, f), {n: units.numbers(df[n]) for n in f.inputs}),
                       dtype=np.float64)
    v = np.broadcast_to(v, (len(df),)).astype(np.float64)
    v[~np.isfinite(v)] = np.nan
    return v


class Units:
    """Numeric views of ordered columns: numbers as floats, dates as seconds (NaN = missing)."""

    def __init__(self, meta: Metadata, units: dict[str, str | None]) -> None:
        self.meta = meta
        self.units = units

    def numbers(self, s: pd.Series) -> np.ndarray:
        return to_seconds(s, self.meta.columns[str(s.name)])

    def scalar(self, name: str, value: Any, what: str) -> float:
        col = self.meta.columns[name]
        try:
            if col.kind != "datetime":
                return float(value)
            ts = None
            if isinstance(value, str) and col.datetime_format:
                ts = parse_datetime_text(pd.Series([value]), col.datetime_format).iloc[0]
            ts = pd.Timestamp(value) if ts is None or pd.isna(ts) else ts
            if pd.isna(ts):
                raise ValueError(value)
            return float((ts.tz_localize(None) if ts.tzinfo else ts).value // 1_000_000_000)
        except (TypeError, ValueError):
            raise ConstraintError(f"{what}: {value!r} is not a {'date' if col.kind == 'datetime' else 'number'} "
                                  f"for column {name!r}") from None

    def step(self, name: str) -> float:
        """The smallest difference the column can show (1 for integers, a day for dates, ...)."""
        col = self.meta.columns[name]
        if col.kind == "datetime":
            return float(DT_UNITS[self.units.get(name) or "s"])
        if col.integer:
            return 1.0
        return 10.0 ** -col.decimals if col.decimals is not None else 0.0  # 0: any float

    def write(self, df: pd.DataFrame, name: str, rows: np.ndarray, v: np.ndarray, up: bool) -> None:
        """Set numbers (seconds for dates) at ``rows``, rounding towards ``up`` so an order stays."""
        col = self.meta.columns[name]
        step = self.step(name)
        x = v
        if step > 0:
            scaled = v / step
            x = (np.ceil(scaled - 1e-9) if up else np.floor(scaled + 1e-9)) * step
        if col.kind == "datetime":
            unit = self.units.get(name) or "s"
            new = from_float(x / DT_UNITS[unit], col, unit)
        else:
            new = from_float(x, col, None)
        src = pd.DataFrame({name: new})
        _replace(df, rows, src, np.arange(len(rows)), [name])


# ---------------------------------------------------------------------- the compiled set
class ConstraintSet:
    """The constraints of one fitted model: static checks, fit-time learning, and enforcement."""

    ROUNDS = 6
    MAX_CANDIDATES = 200_000  # rows drawn per redraw round, whatever the chunk size

    def __init__(self, constraints: list[Constraint]) -> None:
        self.constraints = constraints
        self.combos_: dict[int, tuple[list[str], list[list[Any]], list[int]]] = {}
        # Counts since the model was loaded or fitted: rows checked, rows broken on the first
        # draw, candidate rows redrawn, rows repaired (for benchmarks and debugging).
        self.stats_: dict[str, int] = {}
        self._combo_cache: dict[int, tuple[list[pd.Index], np.ndarray, np.ndarray]] = {}  # from combos_

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
                    combos = [[_plain(x) for x in k] for k, _ in kept]
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
                   check_unique: bool = True) -> list[np.ndarray]:
        """One bool mask per checked constraint: True where a row breaks it."""
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
                if not check_unique or set(c.columns) & self.ids_:
                    out.append(np.zeros(len(df), dtype=bool))
                    continue
                keys = _keys(df, c.columns)
                dup = pd.Series(keys, dtype=object).duplicated().to_numpy().copy()
                prior = (seen or {}).get(i)
                if prior:
                    dup |= np.array([k in prior for k in keys], dtype=bool)
                # As in SQL, missing values never clash.
                dup &= np.array([any(x is not None for x in k) for k in keys], dtype=bool)
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
                restore: Callable[[pd.DataFrame], None] | None = None) -> pd.DataFrame:
        """Redraw rows that break a constraint, repair the rest, and check that all hold.

        ``redraw(rows, k, round)`` gives ``k`` fresh candidates for each of ``rows`` (row r's
        candidates at ``r*k .. r*k+k-1``) under the same conditions; columns in ``keep`` (ids)
        stay as they are.
        """
        if not self.checked:
            return df
        replace_cols = [c for c in df.columns if c not in keep]
        # Redrawing never changes kept columns (ids), so rules on those alone go straight to repair.
        fixable = np.array([not set(c.columns) <= set(keep) for c in self.checked])
        stats = self.stats_
        for rnd in range(self.ROUNDS):
            bad = _any([m for m, f in zip(self.violations(df, units, seen=seen), fixable, strict=True) if f], len(df))
            rows = np.flatnonzero(bad)
            if not len(rows):
                break
            stats["redrawn"] = stats.get("redrawn", 0) + len(rows)
            if rnd == 0:
                stats["broken_first"] = stats.get("broken_first", 0) + len(rows)
            k = int(min(2 ** (rnd + 1), max(1, self.MAX_CANDIDATES // len(rows))))
            cand = redraw(rows, k, rnd)
            ok = ~_any(self.violations(cand, units, check_unique=False), len(cand))
            ok2 = ok.reshape(len(rows), k)
            has = ok2.any(axis=1)
            pick = np.argmax(ok2, axis=1) + np.arange(len(rows)) * k
            _replace(df, rows[has], cand, pick[has], replace_cols)
        stats["rows"] = stats.get("rows", 0) + len(df)
        rows = np.flatnonzero(_any(self.violations(df, units, seen=seen), len(df)))
        if len(rows):
            stats["repaired"] = stats.get("repaired", 0) + len(rows)
            self._repair(df, units, rng)
            if restore is not None:  # given cells (seed rows) are never changed by a repair
                restore(df)
        left = self.violations(df, units, seen=seen)
        broken = [(c, int(m.sum())) for c, m in zip(self.checked, left, strict=True) if m.any()]
        for c, _ in broken:
            if isinstance(c, Unique):
                distinct = len(set(_keys(df, c.columns)))
                raise ConstraintError(f"could not make {c.describe()!r} hold: only {distinct} distinct values came "
                                      f"out in {len(df)} rows, and the model cannot produce enough others; ask "
                                      f"for fewer rows, or declare the column an 'id' so values are generated "
                                      f"fresh")
        if broken:
            text = "; ".join(f"{c.describe()!r} in {n} row(s)" for c, n in broken)
            raise ConstraintError(f"could not generate rows that satisfy {text} (the model rarely produces such "
                                  f"rows and they cannot be repaired); relax the constraint or the conditions, "
                                  f"or ask for fewer rows")
        return df

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
        cache = self._combo_cache
        if i not in cache:
            levels = [pd.Index(list(dict.fromkeys(value_key(t[n]) for t in combos)), dtype=object)
                      for n in range(len(cols))]
            radix = np.cumprod([1] + [len(lv) for lv in levels[:-1]]).astype(np.int64)
            allowed = np.unique([sum(int(lv.get_loc(value_key(t[n]))) * int(radix[n]) for n, lv in enumerate(levels))
                                 for t in combos])
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


def _plain(v: Any) -> Any:
    """A JSON-friendly scalar."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return str(v)
    return v


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
    graph: dict[str, set[str]] = {}
    for node, before in edges:
        graph.setdefault(node, set()).update(before)
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        raise ConstraintError(f"{what} form a cycle ({' -> '.join(cycle)}); remove one of them") from None
