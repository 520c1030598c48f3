"""Spec formulas: the shared formula language (:mod:`datatwin._formula`) widened with conditions,
category values, dates and ``where``, and its errors located in the spec."""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .._exceptions import SpecError
from .._formula import FUNCTIONS, Compiler, Fn, FormulaError, Node, any_mask, names, parse
from ._checks import _choices, _suggest
from ._dates import _parse_when
from ._source import _Where

if TYPE_CHECKING:
    from ._columns import _Col, _Vals

_FUNCS: dict[str, tuple[int, int | None]] = {**FUNCTIONS, "where": (3, 3)}
_CMP = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal,
        ast.Eq: np.equal, ast.NotEq: np.not_equal}
_HELP = ("formulas use numbers, column names, + - * / // % **, comparisons, and/or/not, 'a if c else b' "
         f"and the functions {', '.join(sorted(_FUNCS))}")
Arr = Any  # np.ndarray or a numpy scalar


def _source_text(text: Any, path: tuple[Any, ...], w: _Where) -> str:
    """A formula field's text (a bare number is a formula too)."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise w.error(path, f"must be a formula (text), got {text!r}")
    return str(text)


def _located(exc: FormulaError, text: str, path: tuple[Any, ...], w: _Where) -> SpecError:
    return w.error(path, f"in {text!r}: {exc.reason}" if exc.inside else exc.reason)


def _check_expr(text: Any, path: tuple[Any, ...], w: _Where) -> None:
    """Refuse a formula that does not parse (before columns are known)."""
    src = _source_text(text, path, w)
    try:
        parse(src)
    except FormulaError as exc:
        raise _located(exc, src, path, w) from None


def _expr_names(text: Any, path: tuple[Any, ...], w: _Where) -> list[str]:
    """Column names a formula refers to, once each."""
    src = _source_text(text, path, w)
    try:
        return names(parse(src))
    except FormulaError as exc:
        raise _located(exc, src, path, w) from None


class _Expr(Compiler):
    """A spec formula over the columns of a block (``ctx``: name -> :class:`_Vals`).

    Dates enter formulas as days since 1970-01-01 (datetimes with a fraction for the time of
    day). A missing operand, a division by zero or a non-finite result gives a missing value.
    """

    functions = _FUNCS
    help = _HELP
    operator_hint = " (use and/or/not for conditions)"

    def __init__(self, text: Any, path: tuple[Any, ...], w: _Where, cols: Mapping[str, _Col]) -> None:
        self.path, self.w, self.cols = path, w, cols
        src = _source_text(text, path, w)
        try:
            super().__init__(src)
            if self.root.kind in ("cat", "s", "text"):
                raise self.fail("a formula must give a number or a condition, not text")
        except FormulaError as exc:
            raise _located(exc, src, path, w) from None

    def suggest(self, word: str, options: Iterable[str]) -> str:
        return _suggest(word, options)

    # -------------------------------------------------------------- hooks of the shared compiler
    def constant(self, v: Any, node: ast.AST) -> Node:
        if isinstance(v, bool):
            c = np.bool_(v)
            return Node(lambda ctx, n: (c, None), "b", const=c)
        if isinstance(v, str):
            return Node(None, "s", const=v)
        return super().constant(v, node)

    def name(self, name: str) -> Node:
        col = self.cols.get(name)
        if col is None:  # references are checked before compiling; this is a safety net
            raise self.fail(f"unknown column {name!r}")
        if col.fkind == "text":
            raise self.fail(f"column {name!r} is {col.type} text and cannot be used in a formula")
        if col.fkind == "cat":
            return Node(None, "cat", col.snull, col=col)
        if getattr(col, "unit", None) == "datetime":
            def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
                v = ctx[name]
                return v.values / 86400.0, v.mask
            return Node(fn, "f", col.snull, col=col)

        def fn2(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            v = ctx[name]
            return v.values, v.mask
        return Node(fn2, col.fkind, col.snull, col=col)

    def numeric(self, a: Node, what: str) -> Node:
        if a.kind == "cat":
            raise self.fail(f"category column {a.col.name!r} can only be compared with a value "
                            f"(e.g. {a.col.name} == 'x') in {what}")
        if a.kind == "s":
            raise self.fail(f"text {a.const!r} can only be compared with a category or date column")
        return a

    def logical(self, node: ast.UnaryOp, a: Node) -> Node:
        if not isinstance(node.op, ast.Not):
            raise self.fail(f"operator '~' is not allowed (use 'not'); {_HELP}", node.op)
        a = self.numeric(a, "'not'")
        af = cast(Fn, a.fn)

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            x, m = af(ctx, n)
            return np.logical_not(x), m
        return Node(fn, "b", a.may_null)

    def extension(self, node: ast.AST) -> Node | None:
        if isinstance(node, ast.BoolOp):
            return self._boolop(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            return self._where([self.compile(node.test), self.compile(node.body), self.compile(node.orelse)])
        return None

    def function(self, name: str, args: list[Node]) -> Node:
        return self._where(args) if name == "where" else super().function(name, args)

    # -------------------------------------------------------------- conditions
    def _boolop(self, node: ast.BoolOp) -> Node:
        parts = [self.numeric(self.compile(v), "'and'/'or'") for v in node.values]
        fns = [cast(Fn, p.fn) for p in parts]
        is_and = isinstance(node.op, ast.And)

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            vals = [f(ctx, n) for f in fns]
            r = np.asarray(vals[0][0]).astype(bool)
            for v, _ in vals[1:]:
                r = (r & np.asarray(v).astype(bool)) if is_and else (r | np.asarray(v).astype(bool))
            return r, any_mask(*(m for _, m in vals))
        return Node(fn, "b", any(p.may_null for p in parts))

    def _compare(self, node: ast.Compare) -> Node:
        items = [node.left, *node.comparators]
        member = [False] + [isinstance(op, (ast.In, ast.NotIn)) for op in node.ops]
        nodes: list[Node | None] = [None if m else self.compile(x) for x, m in zip(items, member, strict=True)]
        pairs = []
        for i, op in enumerate(node.ops):
            a, b = nodes[i], nodes[i + 1]
            if a is None:
                raise self.fail("a list of values can only stand on the right of 'in'")
            if isinstance(op, (ast.In, ast.NotIn)):
                pairs.append(self._member(a, items[i + 1], isinstance(op, ast.NotIn)))
                continue
            assert b is not None
            if type(op) not in _CMP:
                raise self.fail(f"comparison {type(op).__name__!r} is not allowed; {_HELP}", op)
            if a.kind == "cat" or b.kind == "cat":
                pairs.append(self._cat_compare(a, b, op))
                continue
            a, b = self._date_const(a, b), self._date_const(b, a)
            a, b = self.numeric(a, "a comparison"), self.numeric(b, "a comparison")
            pairs.append(self._cmp_fn(a, b, _CMP[type(op)]))
        fns = [cast(Fn, p.fn) for p in pairs]

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            vals = [f(ctx, n) for f in fns]
            r = vals[0][0]
            for v, _ in vals[1:]:
                r = r & v
            return r, any_mask(*(m for _, m in vals))
        return Node(fn, "b", any(p.may_null for p in pairs))

    def _cmp_fn(self, a: Node, b: Node, ufunc: Any) -> Node:
        af, bf = cast(Fn, a.fn), cast(Fn, b.fn)

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            x, xm = af(ctx, n)
            y, ym = bf(ctx, n)
            return ufunc(x, y), any_mask(xm, ym)
        return Node(fn, "b", a.may_null or b.may_null)

    def _date_const(self, a: Node, other: Node) -> Node:
        """A text literal compared with a date column, as days since 1970."""
        unit = getattr(other.col, "unit", None) if other.col is not None else None
        if a.kind != "s" or unit is None:
            return a
        secs = _parse_when(a.const, getattr(other.col, "fmt", None), "datetime")
        if secs is None:
            raise self.fail(f"{a.const!r} is not a date (write it as YYYY-MM-DD)")
        c = np.float64(secs / 86400.0) if unit == "datetime" else np.float64(math.floor(secs / 86400.0))
        return Node(lambda ctx, n: (c, None), "f", const=c)

    def _code(self, col: Any, value: Any) -> int:
        for i, v in enumerate(col.values):
            if type(v) is type(value) and v == value:
                return i
        for i, v in enumerate(col.values):
            if str(v) == str(value):
                return i
        raise self.fail(f"{value!r} is not a value of {col.name!r} ({_suggest(value, col.values)}"
                        f"values: {_choices(col.values)})")

    def _cat_compare(self, a: Node, b: Node, op: ast.cmpop) -> Node:
        cat, other = (a, b) if a.kind == "cat" else (b, a)
        if other.const is None or other.kind == "cat":
            raise self.fail(f"category column {cat.col.name!r} can only be compared with a value "
                            f"(e.g. {cat.col.name} == 'x')")
        if not isinstance(op, (ast.Eq, ast.NotEq)):
            raise self.fail(f"category column {cat.col.name!r} can only be compared with == or !=")
        value = other.const.item() if isinstance(other.const, np.generic) else other.const
        code = self._code(cat.col, value)
        name, neq = cat.col.name, isinstance(op, ast.NotEq)

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            v = ctx[name]
            r = v.values == code
            return (~r if neq else r), v.mask
        return Node(fn, "b", cat.may_null)

    def _member(self, a: Node, right: ast.AST, negate: bool) -> Node:
        if a.kind != "cat":
            raise self.fail("'in' works on category columns only, e.g. region in ('north', 'south')")
        if not isinstance(right, (ast.Tuple, ast.List, ast.Set)) or not all(
                isinstance(e, ast.Constant) for e in right.elts):
            raise self.fail("'in' needs a list of values, e.g. region in ('north', 'south')")
        codes = np.array([self._code(a.col, cast(ast.Constant, e).value) for e in right.elts], dtype=np.int64)
        name = a.col.name

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            v = ctx[name]
            r = np.isin(v.values, codes)
            return (~r if negate else r), v.mask
        return Node(fn, "b", a.may_null)

    def _where(self, parts: list[Node]) -> Node:
        test, body, orelse = (self.numeric(p, "a conditional") for p in parts)
        kinds = {body.kind, orelse.kind}
        kind = "f" if "f" in kinds else ("i" if "i" in kinds else "b")
        dtype = {"f": np.float64, "i": np.int64, "b": np.bool_}[kind]
        tf, bf, of = cast(Fn, test.fn), cast(Fn, body.fn), cast(Fn, orelse.fn)

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            (c, cm), (x, xm), (y, ym) = tf(ctx, n), bf(ctx, n), of(ctx, n)
            r = np.where(np.asarray(c).astype(bool), x, y)
            return np.asarray(r).astype(dtype, copy=False), any_mask(cm, xm, ym)
        return Node(fn, kind, test.may_null or body.may_null or orelse.may_null)
