"""Rule-based generation: a YAML or JSON spec of columns, generated without any real data.

A spec names each column's type and distribution, Faker providers, dependencies between
columns (parameters per value of a category column, bounds and formulas over other columns)
and row constraints. ``generate(spec, n, seed)`` gives the same rows for the same seed,
whatever the chunking, at millions of rows per second (vectorised numpy; Faker only through a
seeded pool of values drawn by index).

Reproducibility contract: rows are generated in blocks of :data:`BLOCK` rows; block ``b`` draws
from ``SeedSequence(seed).spawn(n_blocks)[b]``, and inside a block every column has its own
stream keyed by the column's name, so adding a column never changes the others. The output
chunk size only regroups whole rows. See ``docs/spec.md`` for the format.
"""

from __future__ import annotations

import ast
import copy
import datetime as dt
import difflib
import functools
import json
import math
import os
import re
import string
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from .._exceptions import InputError
from .._progress import ProgressCallback, report
from ..pii import FAKER_METHODS

__all__ = ["BLOCK", "Spec", "SpecError", "generate", "generate_to_file", "iter_generate"]

#: Rows per generation block (part of the reproducibility contract: changing it changes rows).
BLOCK = 100_000
SPEC_FORMAT_VERSION = 1
DEFAULT_POOL = 5_000
_MAX_CANDIDATES = 1_000_000  # rows drawn per repair round, at most
_MAX_REPAIR_ROWS = 20_000_000  # candidate rows per block before giving up on the constraints
_MAX_EXPR_CHARS = 2_000
_MAX_NODES = 200_000
_EPOCH = dt.datetime(1970, 1, 1)
_UNARY = {"abs": np.abs, "sqrt": np.sqrt, "log": np.log, "exp": np.exp, "floor": np.floor, "ceil": np.ceil}

#: Metadata PII types (``Metadata.infer``) and the Faker methods that replace them.
PII_FAKER = FAKER_METHODS


# ====================================================================== errors
class SpecError(InputError):
    """A spec that cannot be used; the message names the file, line and field, in one line.

    Attributes:
        field: the dotted path of the offending field, e.g. ``columns.age.distribution``.
        line: 1-based line in the spec file (YAML or JSON), when known.
        source: the spec file's name, when the spec came from a file.
        reason: the message without the location.
    """

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None,
                 source: str | None = None) -> None:
        self.field, self.line, self.source, self.reason = field, line, source, message
        super().__init__(_locate(source, line, field) + message)


def _locate(source: str | None, line: int | None, field: str | None) -> str:
    where = source or ("spec" if field or line else "")
    if line is not None:
        where += f" line {line}"
    if field:
        where += f", {field}" if source or line is not None else f" {field}"
    return f"{where}: " if where else ""


def _field(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class _Where:
    """Where a spec came from: turns a field path into a located :class:`SpecError`."""

    def __init__(self, source: str | None = None, lines: dict[tuple[Any, ...], int] | None = None) -> None:
        self.source, self.lines = source, lines or {}

    def line(self, path: tuple[Any, ...]) -> int | None:
        p = tuple(path)
        while True:
            if p in self.lines:
                return self.lines[p]
            if not p:
                return None
            p = p[:-1]

    def error(self, path: tuple[Any, ...], message: str) -> SpecError:
        return SpecError(message, field=_field(path) or None, line=self.line(path), source=self.source)


_SYNONYMS = {"gauss": "normal", "gaussian": "normal", "gausian": "normal", "norm": "normal", "lognorm": "lognormal",
             "exp": "exponential", "expon": "exponential", "int": "integer", "number": "float", "double": "float",
             "categorical": "category", "choice": "category", "enum": "category", "bool": "boolean",
             "timestamp": "datetime", "id": "sequence", "counter": "sequence", "fake": "faker",
             "expression": "formula", "std": "sd", "stdev": "sd", "sigma": "sd", "lambda": "mean", "lam": "mean",
             "rate": "mean", "low": "min", "high": "max", "probability": "p"}


def _suggest(word: Any, options: Any) -> str:
    opts = [str(o) for o in options]
    alias = _SYNONYMS.get(str(word).lower())
    if alias in opts:
        return f"did you mean {alias!r}? "
    close = difflib.get_close_matches(str(word), opts, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _choices(options: Any, limit: int = 12) -> str:
    opts = [str(o) for o in options]
    return ", ".join(opts[:limit]) + (", ..." if len(opts) > limit else "")


# ====================================================================== reading files
def _read_spec_file(path: Path) -> tuple[Any, _Where]:
    source = path.name
    if not path.exists():
        raise SpecError(f"spec file {str(path)!r} does not exist")
    if path.is_dir():
        raise SpecError(f"spec {str(path)!r} is a folder, not a file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"is not UTF-8 text (byte {exc.start}); save it as UTF-8", source=source) from None
    except OSError as exc:
        raise SpecError(f"cannot be read: {exc.strerror or exc}", source=source) from None
    if not text.strip():
        raise SpecError("is empty; a spec needs a 'columns' mapping", source=source)
    if path.suffix.lower() == ".json":
        return _parse_json(text, source)
    return _parse_yaml(text, source)


def _parse_json(text: str, source: str) -> tuple[Any, _Where]:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise SpecError(f"duplicate key {k!r}", source=source)
            out[k] = v
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise SpecError(f"is not valid JSON: {exc.msg}", line=exc.lineno, source=source) from None
    try:  # JSON is (nearly) YAML: the YAML parser gives the line of every field
        lines = _yaml_lines(text, source)[1]
    except Exception:
        lines = {}
    return data, _Where(source, lines)


def _parse_yaml(text: str, source: str) -> tuple[Any, _Where]:
    data, lines = _yaml_lines(text, source)
    return data, _Where(source, lines)


def _yaml_lines(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    import yaml

    def yaml_error(exc: yaml.YAMLError) -> SpecError:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return SpecError(f"is not valid YAML: {problem}", line=mark.line + 1 if mark else None, source=source)

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise yaml_error(exc) from None
    if node is None:
        raise SpecError("is empty; a spec needs a 'columns' mapping", source=source)
    loader = yaml.SafeLoader("")
    lines: dict[tuple[Any, ...], int] = {(): node.start_mark.line + 1}
    budget = [_MAX_NODES]

    def walk(n: Any, path: tuple[Any, ...], stack: frozenset[int]) -> None:
        budget[0] -= 1
        if budget[0] < 0 or id(n) in stack:
            raise SpecError("is too large or refers to itself (YAML aliases)", source=source)
        stack = stack | {id(n)}
        if isinstance(n, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k, v in n.value:
                if not isinstance(k, yaml.ScalarNode):
                    raise SpecError(f"keys must be plain names (line {k.start_mark.line + 1})", source=source,
                                    line=k.start_mark.line + 1, field=_field(path) or None)
                key = str(loader.construct_object(k))
                if key in seen:
                    raise SpecError(f"duplicate key {key!r} (first on line {seen[key]})",
                                    line=k.start_mark.line + 1, field=_field(path) or None, source=source)
                seen[key] = k.start_mark.line + 1
                lines[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key), stack)
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                lines[(*path, i)] = v.start_mark.line + 1
                walk(v, (*path, i), stack)
        elif isinstance(n, yaml.ScalarNode):
            try:
                loader.construct_object(n)
            except yaml.YAMLError as exc:
                raise yaml_error(exc) from None
            except (ValueError, TypeError, OverflowError) as exc:  # e.g. the date 2020-13-45
                raise SpecError(f"{n.value!r} is not a valid value ({exc})", line=n.start_mark.line + 1,
                                field=_field(path) or None, source=source) from None

    walk(node, (), frozenset())
    try:
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise yaml_error(exc) from None
    return data, lines


# ====================================================================== value checks
def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _number(v: Any, path: tuple[Any, ...], w: _Where, *, lo: float | None = None, hi: float | None = None,
            lo_open: bool = False, integer: bool = False, what: str = "a number") -> float:
    if not _is_num(v) or not math.isfinite(float(v)):
        raise w.error(path, f"must be {what}, got {v!r}")
    x = float(v)
    if integer and not float(v).is_integer():
        raise w.error(path, f"must be a whole number, got {v!r}")
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise w.error(path, f"must be {'above' if lo_open else 'at least'} {lo:g}, got {v!r}")
    if hi is not None and x > hi:
        raise w.error(path, f"must be at most {hi:g}, got {v!r}")
    return x


def _text(v: Any, path: tuple[Any, ...], w: _Where, what: str = "text") -> str:
    if not isinstance(v, str) or not v.strip():
        raise w.error(path, f"must be {what}, got {v!r}")
    return v


def _check_keys(d: Any, allowed: set[str], path: tuple[Any, ...], w: _Where, what: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise w.error(path, f"must be a mapping of fields, got {type(d).__name__} {d!r}")
    for k in d:
        if str(k) not in allowed:
            raise w.error((*path, str(k)), f"unknown field {str(k)!r} in {what} ({_suggest(k, allowed)}"
                                           f"fields: {_choices(sorted(allowed), 30)})")
    return {str(k): v for k, v in d.items()}


def _parse_when(v: Any, fmt: str | None, unit: str) -> float | None:
    """A date/datetime literal as days (unit 'date') or seconds since 1970 (unit 'datetime')."""
    if isinstance(v, dt.datetime):
        t = v.replace(tzinfo=None) if v.tzinfo is None else v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    elif isinstance(v, dt.date):
        t = dt.datetime(v.year, v.month, v.day)
    elif isinstance(v, str):
        t = None
        for parse in (dt.datetime.fromisoformat, lambda s: dt.datetime.strptime(s, fmt or "%Y-%m-%d")):
            try:
                t = parse(v.strip())
                break
            except (ValueError, TypeError):
                continue
        if t is None:
            return None
        if t.tzinfo is not None:
            t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    else:
        return None
    assert t is not None
    secs = (t - _EPOCH) // dt.timedelta(seconds=1)
    return float(secs // 86400) if unit == "date" else float(secs)


def _when_text(x: float, unit: str) -> str:
    t = _EPOCH + dt.timedelta(seconds=float(x) * (86400 if unit == "date" else 1))
    return t.strftime("%Y-%m-%d") if unit == "date" else t.isoformat(sep=" ")


# ====================================================================== formulas
_FUNCS: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1), "ceil": (1, 1), "exp": (1, 1), "floor": (1, 1), "log": (1, 1), "max": (2, None),
    "min": (2, None), "round": (1, 2), "sqrt": (1, 1), "where": (3, 3),
}
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}
_CMP = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal,
        ast.Eq: np.equal, ast.NotEq: np.not_equal}
_HELP = ("formulas use numbers, column names, + - * / // % **, comparisons, and/or/not, 'a if c else b' "
         f"and the functions {', '.join(sorted(_FUNCS))}")
_DT = {"i": np.int64, "f": np.float64, "b": np.bool_}

Arr = Any  # np.ndarray or a numpy scalar
Mask = "np.ndarray | None"
Fn = Callable[[dict[str, "_Vals"], int], tuple[Arr, Any]]


def _or(*masks: Any) -> Any:
    out = None
    for m in masks:
        if m is None:
            continue
        out = m if out is None else (out | m)
    return out


def _parse_expr(text: Any, path: tuple[Any, ...], w: _Where) -> ast.Expression:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise w.error(path, f"must be a formula (text), got {text!r}")
    text = str(text)
    if len(text) > _MAX_EXPR_CHARS:
        raise w.error(path, f"formula is longer than {_MAX_EXPR_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise w.error(path, f"formula {text!r} is not valid: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise w.error(path, f"formula {text!r} is too deeply nested") from None
    return tree


def _expr_names(text: Any, path: tuple[Any, ...], w: _Where) -> list[str]:
    tree = _parse_expr(text, path, w)
    funcs = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in funcs]


class _N:
    """A compiled formula node: ``fn(ctx, n) -> (values, mask)`` plus its static type."""

    __slots__ = ("fn", "kind", "may_null", "col", "const")

    def __init__(self, fn: Fn | None, kind: str, may_null: bool = False, col: Any = None, const: Any = None):
        self.fn, self.kind, self.may_null, self.col, self.const = fn, kind, may_null, col, const


class _Expr:
    """A safe formula: parsed with :mod:`ast`, only arithmetic, comparisons, column names and a few
    numeric functions allowed; evaluated by walking the tree over numpy arrays (never ``eval``).

    Dates enter formulas as days since 1970-01-01 (datetimes with a fraction for the time of
    day). A missing operand, a division by zero or a non-finite result gives a missing value.
    """

    def __init__(self, text: Any, path: tuple[Any, ...], w: _Where, cols: Mapping[str, _Col]) -> None:
        self.text, self.path, self.w, self.cols = str(text), path, w, cols
        tree = _parse_expr(text, path, w)
        try:
            self.root = self._c(tree.body)
        except RecursionError:
            raise w.error(path, f"formula {self.text!r} is too deeply nested") from None
        if self.root.kind in ("cat", "s", "text"):
            raise self._err("a formula must give a number or a condition, not text")
        self.kind, self.may_null = self.root.kind, self.root.may_null

    def _err(self, msg: str) -> SpecError:
        return self.w.error(self.path, f"in {self.text!r}: {msg}")

    # -------------------------------------------------------------- compile
    def _c(self, node: ast.AST) -> _N:
        if isinstance(node, ast.Constant):
            return self._const(node.value)
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BoolOp):
            return self._boolop(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            return self._where([self._c(node.test), self._c(node.body), self._c(node.orelse)])
        if isinstance(node, ast.Call):
            return self._call(node)
        what = {ast.Attribute: "attribute access ('.')", ast.Subscript: "indexing ('[...]')",
                ast.Lambda: "lambda", ast.NamedExpr: "assignment (':=')"}.get(type(node), type(node).__name__)
        raise self._err(f"{what} is not allowed; {_HELP}")

    def _const(self, v: Any) -> _N:
        if isinstance(v, bool):
            c: Any = np.bool_(v)
            kind = "b"
        elif isinstance(v, int):
            if abs(v) >= 2**63:
                raise self._err(f"the number {v} is too large")
            c, kind = np.int64(v), "i"
        elif isinstance(v, float):
            c, kind = np.float64(v), "f"
        elif isinstance(v, str):
            return _N(None, "s", const=v)
        else:
            raise self._err(f"the constant {v!r} is not allowed; {_HELP}")
        return _N(lambda ctx, n: (c, None), kind, const=c)

    def _name(self, name: str) -> _N:
        col = self.cols.get(name)
        if col is None:  # references are checked before compiling; this is a safety net
            raise self._err(f"unknown column {name!r}")
        if col.fkind == "text":
            raise self._err(f"column {name!r} is {col.type} text and cannot be used in a formula")
        if col.fkind == "cat":
            return _N(None, "cat", col.snull, col=col)
        unit = getattr(col, "unit", None)
        if unit == "datetime":
            def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
                v = ctx[name]
                return v.values / 86400.0, v.mask
            return _N(fn, "f", col.snull, col=col)

        def fn2(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            v = ctx[name]
            return v.values, v.mask
        return _N(fn2, col.fkind, col.snull, col=col)

    def _num(self, a: _N, what: str) -> _N:
        if a.kind == "cat":
            raise self._err(f"category column {a.col.name!r} can only be compared with a value "
                            f"(e.g. {a.col.name} == 'x') in {what}")
        if a.kind == "s":
            raise self._err(f"text {a.const!r} can only be compared with a category or date column")
        return a

    def _binop(self, node: ast.BinOp) -> _N:
        if type(node.op) not in _OPS:
            sym = {ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>",
                   ast.MatMult: "@"}.get(type(node.op), type(node.op).__name__)
            raise self._err(f"operator {sym!r} is not allowed (use and/or/not for conditions); {_HELP}")
        a, b = self._num(self._c(node.left), "arithmetic"), self._num(self._c(node.right), "arithmetic")
        op = _OPS[type(node.op)]
        kind = "f" if op in ("/", "**") or "f" in (a.kind, b.kind) else "i"
        dtype = _DT[kind]
        af, bf = a.fn, b.fn
        assert af is not None and bf is not None
        may_null = a.may_null or b.may_null or op in ("/", "//", "%", "**")

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            x, xm = af(ctx, n)
            y, ym = bf(ctx, n)
            x, y = np.asarray(x).astype(dtype, copy=False), np.asarray(y).astype(dtype, copy=False)
            extra = None
            with np.errstate(all="ignore"):
                if op == "+":
                    r = x + y
                elif op == "-":
                    r = x - y
                elif op == "*":
                    r = x * y
                elif op == "**":
                    r = np.power(x, y)
                else:
                    zero = y == 0
                    if np.any(zero):
                        extra = np.broadcast_to(zero, (n,)).copy() if np.ndim(zero) == 0 else zero
                        y = np.where(zero, 1, y).astype(dtype, copy=False)
                    r = x / y if op == "/" else (x // y if op == "//" else x % y)
            return np.asarray(r).astype(dtype, copy=False), _or(xm, ym, extra)
        return _N(fn, kind, may_null)

    def _unary(self, node: ast.UnaryOp) -> _N:
        a = self._c(node.operand)
        af = a.fn
        if isinstance(node.op, ast.Not):
            a = self._num(a, "'not'")
            assert af is not None

            def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
                x, m = af(ctx, n)
                return np.logical_not(x), m
            return _N(fn, "b", a.may_null)
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            a = self._num(a, "arithmetic")
            assert af is not None
            kind = "i" if a.kind == "b" else a.kind
            neg = isinstance(node.op, ast.USub)
            if a.const is not None:  # fold -3 so it stays a constant (useful in comparisons)
                c = _DT[kind](-a.const if neg else a.const)
                return _N(lambda ctx, n: (c, None), kind, const=c)

            def fn2(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
                x, m = af(ctx, n)
                x = np.asarray(x).astype(_DT[kind], copy=False)
                return (-x if neg else x), m
            return _N(fn2, kind, a.may_null)
        raise self._err(f"operator '~' is not allowed (use 'not'); {_HELP}")

    def _boolop(self, node: ast.BoolOp) -> _N:
        parts = [self._num(self._c(v), "'and'/'or'") for v in node.values]
        fns = [cast(Fn, p.fn) for p in parts]
        is_and = isinstance(node.op, ast.And)

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            vals = [f(ctx, n) for f in fns]
            r = np.asarray(vals[0][0]).astype(bool)
            for v, _ in vals[1:]:
                r = (r & np.asarray(v).astype(bool)) if is_and else (r | np.asarray(v).astype(bool))
            return r, _or(*(m for _, m in vals))
        return _N(fn, "b", any(p.may_null for p in parts))

    def _compare(self, node: ast.Compare) -> _N:
        items = [node.left, *node.comparators]
        member = [False] + [isinstance(op, (ast.In, ast.NotIn)) for op in node.ops]
        nodes: list[_N | None] = [None if m else self._c(x) for x, m in zip(items, member, strict=True)]
        pairs = []
        for i, op in enumerate(node.ops):
            a, b = nodes[i], nodes[i + 1]
            if a is None:
                raise self._err("a list of values can only stand on the right of 'in'")
            if isinstance(op, (ast.In, ast.NotIn)):
                pairs.append(self._member(a, items[i + 1], isinstance(op, ast.NotIn)))
                continue
            assert b is not None
            if type(op) not in _CMP:
                raise self._err(f"comparison {type(op).__name__!r} is not allowed; {_HELP}")
            if a.kind == "cat" or b.kind == "cat":
                pairs.append(self._cat_compare(a, b, op))
                continue
            a, b = self._date_const(a, b), self._date_const(b, a)
            a, b = self._num(a, "a comparison"), self._num(b, "a comparison")
            pairs.append(self._cmp_fn(a, b, _CMP[type(op)]))
        fns = [cast(Fn, p.fn) for p in pairs]

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            vals = [f(ctx, n) for f in fns]
            r = vals[0][0]
            for v, _ in vals[1:]:
                r = r & v
            return r, _or(*(m for _, m in vals))
        return _N(fn, "b", any(p.may_null for p in pairs))

    def _cmp_fn(self, a: _N, b: _N, ufunc: Any) -> _N:
        af, bf = a.fn, b.fn
        assert af is not None and bf is not None

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            x, xm = af(ctx, n)
            y, ym = bf(ctx, n)
            return ufunc(x, y), _or(xm, ym)
        return _N(fn, "b", a.may_null or b.may_null)

    def _date_const(self, a: _N, other: _N) -> _N:
        unit = getattr(other.col, "unit", None) if other.col is not None else None
        if a.kind != "s" or unit is None:
            return a
        secs = _parse_when(a.const, getattr(other.col, "fmt", None), "datetime")
        if secs is None:
            raise self._err(f"{a.const!r} is not a date (write it as YYYY-MM-DD)")
        c = np.float64(secs / 86400.0) if unit == "datetime" else np.float64(math.floor(secs / 86400.0))
        return _N(lambda ctx, n: (c, None), "f", const=c)

    def _code(self, col: _CategoryCol, value: Any) -> int:
        for i, v in enumerate(col.values):
            if type(v) is type(value) and v == value:
                return i
        for i, v in enumerate(col.values):
            if str(v) == str(value):
                return i
        raise self._err(f"{value!r} is not a value of {col.name!r} ({_suggest(value, col.values)}"
                        f"values: {_choices(col.values)})")

    def _cat_compare(self, a: _N, b: _N, op: ast.cmpop) -> _N:
        cat, other = (a, b) if a.kind == "cat" else (b, a)
        if other.const is None or other.kind == "cat":
            raise self._err(f"category column {cat.col.name!r} can only be compared with a value "
                            f"(e.g. {cat.col.name} == 'x')")
        if not isinstance(op, (ast.Eq, ast.NotEq)):
            raise self._err(f"category column {cat.col.name!r} can only be compared with == or !=")
        value = other.const.item() if isinstance(other.const, np.generic) else other.const
        code = self._code(cat.col, value)
        name, neq = cat.col.name, isinstance(op, ast.NotEq)

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            v = ctx[name]
            r = v.values == code
            return (~r if neq else r), v.mask
        return _N(fn, "b", cat.may_null)

    def _member(self, a: _N, right: ast.AST, negate: bool) -> _N:
        if a.kind != "cat":
            raise self._err("'in' works on category columns only, e.g. region in ('north', 'south')")
        if not isinstance(right, (ast.Tuple, ast.List, ast.Set)) or not all(
                isinstance(e, ast.Constant) for e in right.elts):
            raise self._err("'in' needs a list of values, e.g. region in ('north', 'south')")
        codes = np.array([self._code(a.col, cast(ast.Constant, e).value) for e in right.elts], dtype=np.int64)
        name = a.col.name

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            v = ctx[name]
            r = np.isin(v.values, codes)
            return (~r if negate else r), v.mask
        return _N(fn, "b", a.may_null)

    def _where(self, parts: list[_N]) -> _N:
        test, body, orelse = (self._num(p, "a conditional") for p in parts)
        kinds = {body.kind, orelse.kind}
        kind = "f" if "f" in kinds else ("i" if "i" in kinds else "b")
        tf, bf, of = test.fn, body.fn, orelse.fn
        assert tf is not None and bf is not None and of is not None

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            (c, cm), (x, xm), (y, ym) = tf(ctx, n), bf(ctx, n), of(ctx, n)
            r = np.where(np.asarray(c).astype(bool), x, y)
            return np.asarray(r).astype(_DT[kind], copy=False), _or(cm, xm, ym)
        return _N(fn, kind, test.may_null or body.may_null or orelse.may_null)

    def _call(self, node: ast.Call) -> _N:
        if not isinstance(node.func, ast.Name):
            raise self._err(f"only the functions {', '.join(sorted(_FUNCS))} may be called")
        name = node.func.id
        if name not in _FUNCS:
            raise self._err(f"function {name!r} is not allowed ({_suggest(name, _FUNCS)}"
                            f"allowed: {', '.join(sorted(_FUNCS))})")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self._err(f"{name}() takes plain arguments only")
        lo, hi = _FUNCS[name]
        if len(node.args) < lo or (hi is not None and len(node.args) > hi):
            want = f"{lo}" if lo == hi else (f"{lo} or more" if hi is None else f"{lo} to {hi}")
            raise self._err(f"{name}() takes {want} arguments, got {len(node.args)}")
        args = [self._num(self._c(a), f"{name}()") for a in node.args]
        if name == "where":
            return self._where(args)
        fns = [cast(Fn, a.fn) for a in args]
        may_null = any(a.may_null for a in args) or name in ("sqrt", "log", "exp")
        if name in ("min", "max"):
            kinds = {a.kind for a in args}
            kind = "f" if "f" in kinds else "i"
        elif name == "abs":
            kind = "i" if args[0].kind == "b" else args[0].kind
        elif name in ("floor", "ceil") or (name == "round" and len(args) == 1):
            kind, may_null = "i", True
        else:
            kind = "f"
        if name == "round" and len(args) == 2 and args[1].const is None:
            raise self._err("round(x, decimals) needs a whole number of decimals")
        dtype = _DT[kind]

        def fn(ctx: dict[str, _Vals], n: int) -> tuple[Arr, Any]:
            vals = [f(ctx, n) for f in fns]
            xs: list[np.ndarray] = [
                np.asarray(v).astype(np.float64 if kind == "f" or name in ("floor", "ceil", "round") else dtype,
                                     copy=False) for v, _ in vals]
            mask = _or(*(m for _, m in vals))
            with np.errstate(all="ignore"):
                if name == "min":
                    r = functools.reduce(np.minimum, xs)
                elif name == "max":
                    r = functools.reduce(np.maximum, xs)
                elif name in _UNARY:
                    r = _UNARY[name](xs[0])
                else:
                    r = np.round(xs[0], int(vals[1][0]) if len(vals) > 1 else 0)
                r = np.asarray(r)
                if kind == "i" and r.dtype.kind == "f":
                    bad = ~np.isfinite(r) | (np.abs(r) > 2.0**62)
                    if np.any(bad):
                        bad = np.broadcast_to(bad, (n,)).copy() if np.ndim(bad) == 0 else bad
                        mask = _or(mask, bad)
                        r = np.where(bad, 0, r)
                return r.astype(dtype, copy=False), mask
        return _N(fn, kind, may_null)

    # -------------------------------------------------------------- evaluate
    def eval(self, ctx: dict[str, _Vals], n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Values (int64, float64 or bool, length ``n``) and the missing mask (or None)."""
        assert self.root.fn is not None
        v, m = self.root.fn(ctx, n)
        v = np.asarray(v)
        if v.ndim == 0:
            v = np.full(n, v.item(), dtype=v.dtype)
        if v.dtype.kind == "f":
            bad = ~np.isfinite(v)
            if bad.any():
                m = _or(m, bad)
                v = np.where(bad, 0.0, v)
        if m is not None:
            m = np.broadcast_to(m, (n,)) if np.ndim(m) == 0 else m
            if not m.any():
                m = None
        return v, m


# ====================================================================== columns
class _Vals:
    """One column of a block while it is generated: values in internal units and a missing mask."""

    __slots__ = ("bad", "mask", "values")

    def __init__(self, values: np.ndarray, mask: np.ndarray | None = None, bad: np.ndarray | None = None) -> None:
        self.values, self.mask, self.bad = values, mask, bad


class _Run:
    """Per-call state shared by every block: the row count and the Faker pools."""

    def __init__(self, spec: Spec, n: int, seed: int) -> None:
        self.n, self.seed = n, seed
        self.pools: dict[str, Any] = {}
        for name, col in spec._cols.items():
            if isinstance(col, _FakerCol):
                self.pools[name] = col.build_pool(n, seed, spec.locale)


_TYPES = ("integer", "float", "category", "boolean", "date", "datetime", "sequence", "faker", "formula")
_COMMON = {"type", "null_rate", "description"}


class _Col:
    """Base of the compiled column types."""

    type = ""
    fkind = "f"  # how formulas see the column: i, f, b, cat (codes), text (not usable)
    groupable: set[str] = set()

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        self.name, self.d, self.path, self.w = name, d, path, w
        self.null_rate = _number(d["null_rate"], (*path, "null_rate"), w, lo=0, hi=1, what="a share in [0, 1]") \
            if "null_rate" in d else 0.0
        self.snull = False  # can be missing before null_rate blanks cells (e.g. a division by zero)
        self.groups: _Groups | None = None
        if "by" in d and "params" not in d:
            raise w.error((*path, "by"), "'by' needs 'params: {value of the by column: {parameters}}'")
        if "params" in d and "by" not in d:
            raise w.error((*path, "params"), "'params' needs 'by: <category or boolean column>'")

    @property
    def nullable(self) -> bool:
        """The output can have missing values (decides Int64 over int64, boolean over bool)."""
        return self.snull or self.null_rate > 0

    def refs(self) -> list[tuple[str, tuple[Any, ...]]]:
        """Referenced column names, each with the field that refers to it."""
        out = []
        if "by" in self.d:
            by = self.d["by"]
            if not isinstance(by, str):
                raise self.w.error((*self.path, "by"), f"must be a column name, got {by!r}")
            out.append((by, (*self.path, "by")))
        return out

    def bind(self, cols: Mapping[str, _Col]) -> None:
        if "by" in self.d:
            self.groups = _Groups(self, cols)

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: _Run) -> _Vals:
        raise NotImplementedError

    def output(self, v: _Vals) -> Any:
        raise NotImplementedError

    def err(self, key: str | tuple[Any, ...], msg: str) -> SpecError:
        key = (key,) if isinstance(key, str) else key
        return self.w.error((*self.path, *key), msg)


class _Groups:
    """``by: parent`` + ``params: {parent value: {overrides}}``: per-row parameters, looked up by
    the parent's code (a missing parent takes the column-level defaults)."""

    def __init__(self, col: _Col, cols: Mapping[str, _Col]) -> None:
        self.col = col
        parent = cols[col.d["by"]]
        if not isinstance(parent, (_CategoryCol, _BoolCol)):
            raise col.err("by", f"column {parent.name!r} is {parent.type}; 'by' needs a category or boolean column")
        self.parent = parent
        self.levels: list[Any] = list(parent.values)
        params = col.d["params"]
        if not isinstance(params, dict) or not params:
            raise col.err("params", "must map values of "
                          f"{parent.name!r} to parameters, e.g. {{{self.levels[0]!r}: {{...}}}}")
        self.over: list[dict[str, Any] | None] = [None] * len(self.levels)
        self.paths: list[tuple[Any, ...] | None] = [None] * len(self.levels)
        for key, sub in params.items():
            p = (*col.path, "params", str(key))
            i = self._index(key, p)
            if self.over[i] is not None:
                raise col.w.error(p, f"{self.levels[i]!r} is given twice")
            self.over[i] = _check_keys(sub, col.groupable, p, col.w,
                                       f"a {col.type} column's per-value parameters")
            self.paths[i] = p

    def _index(self, key: Any, p: tuple[Any, ...]) -> int:
        for i, v in enumerate(self.levels):
            if type(v) is type(key) and v == key:
                return i
        for i, v in enumerate(self.levels):
            if str(v).lower() == str(key).lower():
                return i
        raise self.col.w.error(p, f"{key!r} is not a value of {self.parent.name!r} ({_suggest(key, self.levels)}"
                                  f"values: {_choices(self.levels)})")

    def codes(self, ctx: dict[str, _Vals]) -> np.ndarray:
        v = ctx[self.parent.name]
        if isinstance(self.parent, _BoolCol):
            c = v.values.astype(np.int64)
            if v.mask is not None:
                c[v.mask] = -1
            return c
        return v.values

    def table(self, key: str, default: float | None, convert: Callable[[Any, tuple[Any, ...]], float]) -> Any:
        """Per-level values of ``key`` (index -1: the default, for a missing parent); NaN where not given."""
        if not any(o is not None and key in o for o in self.over):
            return None
        out = np.full(len(self.levels) + 1, np.nan if default is None else default, dtype=np.float64)
        for i, o in enumerate(self.over):
            if o is not None and key in o:
                out[i] = convert(o[key], (*self.paths[i], key))  # type: ignore[misc]
        return out


# ---------------------------------------------------------------------- numbers
_DISTS: dict[str, list[tuple[str, ...]]] = {
    "uniform": [()], "normal": [("mean", "sd")], "lognormal": [("mu", "sigma"), ("mean", "sd")],
    "poisson": [("mean",)], "exponential": [("mean",)],
}
_PARAM_RULES = {  # (lower bound, open?)
    "mean": (None, False), "sd": (0.0, False), "mu": (None, False), "sigma": (0.0, False),
}


class _Bound:
    """A min or max: a literal, a formula over other columns, and/or per-group values."""

    def __init__(self, const: float | None = None, expr_text: Any = None,
                 path: tuple[Any, ...] = ()) -> None:
        self.const, self.expr_text, self.path = const, expr_text, path
        self.expr: _Expr | None = None
        self.levels: np.ndarray | None = None

    def values(self, ctx: dict[str, _Vals], pc: np.ndarray | None, n: int, scale: float) -> tuple[Any, Any]:
        v: Any = self.const
        mask = None
        if self.expr is not None:
            e, mask = self.expr.eval(ctx, n)
            v = e.astype(np.float64) * scale
        if self.levels is not None and pc is not None:
            g = self.levels[pc]
            v = g if v is None else np.where(np.isnan(g), v, g)
        return v, mask


class _NumberCol(_Col):
    """integer / float: a distribution, clipped to min/max, rounded to decimals."""

    unit: str | None = None
    scale = 1.0  # formula units (days) -> internal units

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        super().__init__(name, d, path, w)
        self.integer = self.type in ("integer", "date", "datetime")
        self.fkind = "i" if self.integer else "f"
        dist = d.get("distribution", "uniform")
        if dist not in _DISTS:
            raise self.err("distribution", f"unknown distribution {dist!r} ({_suggest(dist, _DISTS)}"
                                           f"choose {', '.join(_DISTS)})")
        self.dist = dist
        used = [k for k in ("mean", "sd", "mu", "sigma") if k in d or any(
            isinstance(o, dict) and k in o for o in (d.get("params") or {}).values())]
        forms = _DISTS[dist]
        form = next((f for f in forms if set(used) <= set(f)), None)
        if form is None:
            extra = sorted(set(used) - set(forms[0])) if len(forms) == 1 else sorted(used)
            takes = " or ".join("+".join(f) for f in forms if f) or "only min and max"
            key = extra[0] if extra else "distribution"
            raise self.err(key, f"{dist} takes {takes}; remove {', '.join(extra) or 'the others'}")
        self.form = form
        self.decimals: int | None = None
        if "decimals" in d:
            self.decimals = int(_number(d["decimals"], (*path, "decimals"), w, lo=0, hi=12, integer=True,
                                        what="a whole number of decimals in [0, 12]"))
        self.lo = self._bound("min")
        self.hi = self._bound("max")
        self.defaults: dict[str, float | None] = {}
        for k in form:
            self.defaults[k] = self._param(d[k], (*path, k), k) if k in d else None

    @property
    def groupable(self) -> set[str]:  # type: ignore[override]
        return set(self.form) | {"min", "max"}

    def _param(self, v: Any, p: tuple[Any, ...], key: str) -> float:
        lo, _ = _PARAM_RULES.get(key, (None, False))
        if key == "mean" and self.dist in ("poisson", "exponential", "lognormal"):
            return _number(v, p, self.w, lo=0, lo_open=self.dist != "poisson")
        return _number(v, p, self.w, lo=lo)

    def _literal(self, v: Any, p: tuple[Any, ...]) -> float | None:
        return float(v) if _is_num(v) and math.isfinite(float(v)) else None

    def _bound(self, key: str) -> _Bound | None:
        if key not in self.d:
            return None
        v, p = self.d[key], (*self.path, key)
        lit = self._literal(v, p)
        if lit is not None:
            return _Bound(const=lit, path=p)
        if isinstance(v, str) and v.strip():
            return _Bound(expr_text=v, path=p)
        raise self.w.error(p, f"must be {self._bound_what()} or a formula over other columns, got {v!r}")

    def _bound_what(self) -> str:
        return "a number"

    def refs(self) -> list[tuple[str, tuple[Any, ...]]]:
        out = super().refs()
        for b in (self.lo, self.hi):
            if b is not None and b.expr_text is not None:
                out += [(nm, b.path) for nm in _expr_names(b.expr_text, b.path, self.w)]
        return out

    def bind(self, cols: Mapping[str, _Col]) -> None:
        super().bind(cols)
        for b in (self.lo, self.hi):
            if b is not None and b.expr_text is not None:
                b.expr = _Expr(b.expr_text, b.path, self.w, cols)
                if b.expr.kind == "b":
                    raise self.w.error(b.path, f"{b.expr_text!r} is a condition, not a {self._bound_what()}")
                self.snull |= b.expr.may_null
        self.tables: dict[str, Any] = {}
        g = self.groups
        missing_default = False
        for k in self.form:
            if g is not None:
                self.tables[k] = g.table(k, self.defaults[k], functools.partial(self._param, key=k))
            for i in range(len(g.levels) if g else 1):
                given = self.defaults[k] is not None or (g is not None and g.over[i] is not None
                                                         and k in g.over[i])  # type: ignore[operator]
                if not given:
                    where = f" for {g.parent.name} = {g.levels[i]!r}" if g else ""
                    raise self.err(k if g is None else "params",
                                   f"{self.dist} needs {k}{where}; give it " + (
                                       "at the column level or under params" if g else "here"))
            missing_default |= self.defaults[k] is None
        for key, b in (("min", self.lo), ("max", self.hi)):
            if g is not None:
                tab = g.table(key, None, lambda v, p: self._group_bound(v, p))
                if tab is not None:
                    if b is None:
                        b = _Bound(path=(*self.path, key))
                        setattr(self, "lo" if key == "min" else "hi", b)
                    b.levels = tab
            if self.dist == "uniform":
                complete = b is not None and (b.const is not None or b.expr is not None or (
                    b.levels is not None and not np.isnan(b.levels[:-1]).any()))
                if not complete:
                    raise self.err(key, f"a uniform {self.type} needs {key}")
                if b is not None and b.const is None and b.expr is None:
                    missing_default = True
        if g is not None and missing_default and g.parent.snull:
            self.snull = True
        self._check_literal_range()

    def _group_bound(self, v: Any, p: tuple[Any, ...]) -> float:
        lit = self._literal(v, p)
        if lit is None:
            raise self.w.error(p, f"must be {self._bound_what()} (formulas go at the column level)")
        return lit

    def _check_literal_range(self) -> None:
        lo = self.lo.const if self.lo is not None else None
        hi = self.hi.const if self.hi is not None else None
        if lo is None or hi is None:
            return
        glo, ghi = self._grid(lo, hi)
        if glo > ghi:
            grid = "whole number" if self.integer else f"value with {self.decimals} decimals"
            raise self.err("max", f"no {grid} lies between min {self._show(lo)} and max {self._show(hi)}"
                           if lo <= hi else f"max {self._show(hi)} is below min {self._show(lo)}")

    def _show(self, x: float) -> str:
        return f"{x:g}"

    def _grid(self, lo: Any, hi: Any) -> tuple[Any, Any]:
        if self.integer:
            return np.ceil(np.asarray(lo) - 1e-9), np.floor(np.asarray(hi) + 1e-9)
        if self.decimals is not None:
            f = 10.0**self.decimals
            return np.ceil(np.asarray(lo) * f - 1e-9) / f, np.floor(np.asarray(hi) * f + 1e-9) / f
        return lo, hi

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: _Run) -> _Vals:
        n = len(rows)
        pc = self.groups.codes(ctx) if self.groups is not None else None
        mask = None
        params: dict[str, Any] = {}
        for k in self.form:
            tab = self.tables.get(k)
            v = self.defaults[k] if tab is None else tab[pc]
            if isinstance(v, np.ndarray):
                nan = np.isnan(v)
                if nan.any():
                    mask = _or(mask, nan)
                    v = np.where(nan, 1.0, v)
            params[k] = v
        lo, lom = self.lo.values(ctx, pc, n, self.scale) if self.lo is not None else (None, None)
        hi, him = self.hi.values(ctx, pc, n, self.scale) if self.hi is not None else (None, None)
        mask = _or(mask, lom, him)
        bad = None
        if lo is not None or hi is not None:
            glo, ghi = self._grid(-np.inf if lo is None else lo, np.inf if hi is None else hi)
            infeasible = np.asarray(glo > ghi)
            if infeasible.any():
                bad = np.broadcast_to(infeasible, (n,)).copy() if infeasible.ndim == 0 else infeasible
                if mask is not None:
                    bad &= ~mask
                ghi = np.where(infeasible, glo, ghi)
        x: np.ndarray
        if self.dist == "uniform":
            if isinstance(glo, np.ndarray) or isinstance(ghi, np.ndarray):
                nan = np.isnan(glo) | np.isnan(ghi)
                if nan.any():
                    mask = _or(mask, nan)
                    glo, ghi = np.where(nan, 0.0, glo), np.where(nan, 0.0, ghi)
            if self.integer:
                x = rng.integers(_ints(glo), _ints(ghi), size=n, endpoint=True)
            else:
                x = rng.uniform(glo, ghi, size=n)
        else:
            if self.dist == "normal":
                x = rng.normal(params["mean"], params["sd"], size=n)
            elif self.dist == "lognormal":
                if "mu" in params:
                    mu, sigma = params["mu"], params["sigma"]
                else:
                    mean, sd = params["mean"], params["sd"]
                    s2 = np.log1p((np.asarray(sd) / np.asarray(mean)) ** 2)
                    mu, sigma = np.log(mean) - s2 / 2, np.sqrt(s2)
                with np.errstate(over="ignore"):
                    x = rng.lognormal(mu, sigma, size=n)
            elif self.dist == "poisson":
                x = rng.poisson(params["mean"], size=n).astype(np.float64)
            else:
                x = rng.exponential(params["mean"], size=n)
            if self.integer or self.decimals is not None:
                x = np.round(x, 0 if self.integer else cast(int, self.decimals))
            if lo is not None:
                x = np.fmax(x, glo)
            if hi is not None:
                x = np.fmin(x, ghi)
        if self.integer:
            x = np.clip(x, -(2.0**62), 2.0**62).astype(np.int64) if x.dtype.kind == "f" else x
        elif self.decimals is not None and self.dist == "uniform":
            x = np.round(x, self.decimals)
            x = np.fmin(np.fmax(x, glo), ghi)
        return _Vals(x, mask, bad)

    def output(self, v: _Vals) -> Any:
        if self.integer:
            if self.nullable:
                m = v.mask if v.mask is not None else np.zeros(len(v.values), dtype=bool)
                return pd.arrays.IntegerArray(v.values, m)
            return v.values
        if v.mask is not None:
            return np.where(v.mask, np.nan, v.values)
        return v.values


def _ints(x: Any) -> Any:
    return int(x) if np.ndim(x) == 0 else np.asarray(x).astype(np.int64)


class _IntegerCol(_NumberCol):
    type = "integer"


class _FloatCol(_NumberCol):
    type = "float"


class _DateCol(_NumberCol):
    """date / datetime: a uniform draw of whole days / seconds between min and max (bounds may be
    formulas such as ``start_date + 1``, in days), written with ``format`` or as datetime64."""

    type = "date"
    unit = "date"

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        self.fmt = d.get("format")
        if self.fmt is not None:
            _check_strftime(self.fmt, (*path, "format"), w)
        if "distribution" in d and d["distribution"] != "uniform":
            raise w.error((*path, "distribution"), f"{self.type} columns are uniform between min and max")
        super().__init__(name, d, path, w)
        self.fkind = "i" if self.unit == "date" else "f"
        self.scale = 1.0 if self.unit == "date" else 86400.0
        self.formatter = _DateFormatter(self.fmt, self.unit) if self.fmt else None

    @property
    def groupable(self) -> set[str]:  # type: ignore[override]
        return {"min", "max"}

    def _literal(self, v: Any, p: tuple[Any, ...]) -> float | None:
        if _is_num(v):
            raise self.w.error(p, f"must be a {self.unit} such as 2024-01-31 or a formula, got {v!r}")
        x = _parse_when(v, self.fmt, self.unit)
        if x is None and isinstance(v, str) and re.match(r"\s*\d{1,4}[-/.]\d", v):
            raise self.w.error(p, f"{v!r} is not a valid {self.unit} (write it as YYYY-MM-DD"
                                  f"{' HH:MM:SS' if self.unit == 'datetime' else ''})")
        return x

    def _bound_what(self) -> str:
        return f"a {self.unit} (YYYY-MM-DD{' HH:MM:SS' if self.unit == 'datetime' else ''})"

    def _show(self, x: float) -> str:
        return _when_text(x, self.unit)  # type: ignore[arg-type]

    def output(self, v: _Vals) -> Any:
        return _when_output(v, self.unit, self.formatter)  # type: ignore[arg-type]


class _DatetimeCol(_DateCol):
    type = "datetime"
    unit = "datetime"


def _when_output(v: _Vals, unit: str, formatter: _DateFormatter | None) -> Any:
    secs = v.values.astype(np.int64) * (86400 if unit == "date" else 1)
    if formatter is not None:
        return formatter.format(secs, v.mask)
    out = secs.view("M8[s]")
    if v.mask is not None:
        out = out.copy()
        out[v.mask] = np.datetime64("NaT")
    return out


# ---------------------------------------------------------------------- category / boolean
def _category_values(v: Any, p: tuple[Any, ...], w: _Where) -> tuple[list[Any], list[float] | None]:
    """``values`` as a list, or a mapping value -> weight."""
    if isinstance(v, dict):
        vals, weights = list(v.keys()), list(v.values())
    elif isinstance(v, list):
        vals, weights = v, None
    else:
        raise w.error(p, f"must be a list of values or a mapping value: weight, got {v!r}")
    if not vals:
        raise w.error(p, "needs at least one value")
    for i, x in enumerate(vals):
        if isinstance(x, (dt.date, dt.datetime)):
            x = vals[i] = x.isoformat()
        if not isinstance(x, (str, int, float, bool)) or (isinstance(x, float) and not math.isfinite(x)):
            raise w.error(p, f"value {x!r} must be text, a number or true/false")
    groups = {_vtype(x) for x in vals}
    if len(groups) > 1:
        raise w.error(p, "mixes text, numbers and true/false; quote the values to make them all text")
    seen: set[Any] = set()
    for x in vals:
        if x in seen:
            raise w.error(p, f"value {x!r} is listed twice")
        seen.add(x)
    if weights is not None:
        weights = [_number(x, (*p, str(k)), w, lo=0) for k, x in zip(vals, weights, strict=True)]
    return vals, weights


def _vtype(x: Any) -> str:
    return "b" if isinstance(x, bool) else ("n" if _is_num(x) else "s")


def _weights(v: Any, n: int, p: tuple[Any, ...], w: _Where) -> list[float]:
    if not isinstance(v, list) or len(v) != n:
        raise w.error(p, f"must be a list of {n} weights (one per value), got {v!r}")
    return [_number(x, (*p, i), w, lo=0) for i, x in enumerate(v)]


class _CategoryCol(_Col):
    type = "category"
    fkind = "cat"
    groupable = {"values", "weights"}

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        super().__init__(name, d, path, w)
        if "values" not in d:
            raise self.err((), "a category needs values (a list, or a mapping value: weight)")
        self.values, weights = _category_values(d["values"], (*path, "values"), w)
        if "weights" in d:
            if weights is not None:
                raise self.err("weights", "give weights either in values (value: weight) or here, not both")
            weights = _weights(d["weights"], len(self.values), (*path, "weights"), w)
        self.weights = weights if weights is not None else [1.0] * len(self.values)
        if sum(self.weights) <= 0:
            raise self.err("weights", "must not all be zero")

    def bind(self, cols: Mapping[str, _Col]) -> None:
        super().bind(cols)
        g = self.groups
        rows = [self.weights]
        if g is not None:
            index = {(type(v), v): i for i, v in enumerate(self.values)}
            per: list[tuple[list[Any], list[float]] | None] = []
            for o, p in zip(g.over, g.paths, strict=True):
                if o is None:
                    per.append(None)
                    continue
                if "values" in o:
                    vals, ws = _category_values(o["values"], (*p, "values"), self.w)  # type: ignore[misc]
                    if "weights" in o:
                        if ws is not None:
                            raise self.w.error((*p, "weights"), "give weights either in values or here")  # type: ignore[misc]
                        ws = _weights(o["weights"], len(vals), (*p, "weights"), self.w)  # type: ignore[misc]
                    ws = ws if ws is not None else [1.0] * len(vals)
                else:
                    vals = list(self.values)
                    ws = _weights(o.get("weights"), len(vals), (*p, "weights"), self.w)  # type: ignore[misc]
                if sum(ws) <= 0:
                    raise self.w.error((*p, "weights"), "must not all be zero")  # type: ignore[misc]
                for x in vals:
                    if (type(x), x) not in index:
                        if _vtype(x) != _vtype(self.values[0]):
                            raise self.w.error((*p, "values"), "mixes value types with the column's values")  # type: ignore[misc]
                        index[(type(x), x)] = len(self.values)
                        self.values.append(x)
                per.append((vals, ws))
            k = len(self.values)
            rows = []
            for item in [*per, None]:
                r = np.zeros(k)
                if item is None:
                    r[: len(self.weights)] = self.weights
                else:
                    for x, wt in zip(*item, strict=True):
                        r[index[(type(x), x)]] = wt
                rows.append(list(r))
        k = len(self.values)
        cum = np.cumsum(np.asarray(rows, dtype=np.float64), axis=1)
        cum /= cum[:, -1:]
        cum[:, -1] = 1.0
        self.cum = cum
        last = np.asarray(rows) > 0
        self.last = (k - 1 - np.argmax(last[:, ::-1], axis=1)).astype(np.int64)
        self.code_dtype = np.int8 if k < 127 else (np.int16 if k < 32_000 else np.int32)
        self.dtype = pd.CategoricalDtype(self.values)

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: _Run) -> _Vals:
        n = len(rows)
        u = rng.random(n)
        if self.groups is None:
            codes = np.searchsorted(self.cum[0], u, side="right")
            codes = np.minimum(codes, self.last[0])
        else:
            pc = self.groups.codes(ctx)
            slot = np.where(pc < 0, len(self.cum) - 1, pc)
            codes = np.empty(n, dtype=np.int64)
            order = np.argsort(slot, kind="stable")
            bounds = np.searchsorted(slot[order], np.arange(len(self.cum) + 1))
            for s in range(len(self.cum)):
                idx = order[bounds[s]:bounds[s + 1]]
                if len(idx):
                    codes[idx] = np.minimum(np.searchsorted(self.cum[s], u[idx], side="right"), self.last[s])
        return _Vals(codes.astype(self.code_dtype), None)

    def output(self, v: _Vals) -> Any:
        return pd.Categorical.from_codes(v.values, dtype=self.dtype)


class _BoolCol(_Col):
    type = "boolean"
    fkind = "b"
    groupable = {"p"}

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        super().__init__(name, d, path, w)
        self.p = _number(d["p"], (*path, "p"), w, lo=0, hi=1, what="a probability in [0, 1]") if "p" in d else 0.5
        self.values = [False, True]

    def bind(self, cols: Mapping[str, _Col]) -> None:
        super().bind(cols)
        self.table = None
        if self.groups is not None:
            self.table = self.groups.table("p", self.p, lambda v, p: _number(
                v, p, self.w, lo=0, hi=1, what="a probability in [0, 1]"))

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: _Run) -> _Vals:
        p = self.p if self.table is None else self.table[self.groups.codes(ctx)]  # type: ignore[union-attr]
        return _Vals(rng.random(len(rows)) < p, None)

    def output(self, v: _Vals) -> Any:
        if self.nullable:
            m = v.mask if v.mask is not None else np.zeros(len(v.values), dtype=bool)
            return pd.arrays.BooleanArray(v.values, m)
        return v.values


# ---------------------------------------------------------------------- sequence
class _SequenceCol(_Col):
    """``start + step * row``, optionally formatted (``CUST-{:06d}``): unique, chunk-independent."""

    type = "sequence"
    fkind = "i"

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        super().__init__(name, d, path, w)
        self.start = int(_number(d.get("start", 1), (*path, "start"), w, integer=True, lo=-(2.0**62), hi=2.0**62))
        self.step = int(_number(d.get("step", 1), (*path, "step"), w, integer=True, lo=-(2.0**40), hi=2.0**40))
        if self.step == 0:
            raise self.err("step", "must not be 0 (ids must be unique)")
        self.fmt = _IdFormat(d["format"], (*path, "format"), w) if "format" in d else None
        self.fkind = "text" if self.fmt is not None else "i"

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: _Run) -> _Vals:
        return _Vals(self.start + self.step * rows.astype(np.int64), None)

    def output(self, v: _Vals) -> Any:
        if self.fmt is not None:
            return _arrow_str(self.fmt.format(v.values), v.mask)
        if self.nullable:
            m = v.mask if v.mask is not None else np.zeros(len(v.values), dtype=bool)
            return pd.arrays.IntegerArray(v.values, m)
        return v.values


class _IdFormat:
    """A ``str.format`` pattern with one integer field; common patterns run in pyarrow."""

    def __init__(self, fmt: Any, path: tuple[Any, ...], w: _Where) -> None:
        if not isinstance(fmt, str):
            raise w.error(path, f"must be a pattern such as 'CUST-{{:06d}}', got {fmt!r}")
        try:
            parts = list(string.Formatter().parse(fmt))
            fields = [p for p in parts if p[1] is not None]
            if len(fields) != 1 or fields[0][1] not in ("", "0"):
                raise ValueError("needs exactly one {} field")
            fmt.format(12345)
        except (ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:
            raise w.error(path, f"{fmt!r} is not a pattern with one number field such as "
                                f"'CUST-{{:06d}}' ({exc})") from None
        self.fmt = fmt
        self.fast = None
        at = next(i for i, p in enumerate(parts) if p[1] is not None)
        prefix = "".join(p[0] for p in parts[: at + 1])
        suffix = "".join(p[0] for p in parts[at + 1:])
        _, _, spec, conv = parts[at]
        m = re.fullmatch(r"(0?)(\d*)d?", spec or "")
        if conv is None and m is not None:
            self.fast = (prefix, suffix, m.group(1) == "0", int(m.group(2) or 0))

    def format(self, x: np.ndarray) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.fast is not None and (len(x) == 0 or x.min() >= 0):
            prefix, suffix, zero, width = self.fast
            s = pc.cast(pa.array(x), pa.string())
            if width:
                s = pc.utf8_lpad(s, width, "0" if zero else " ")
            if prefix or suffix:
                s = pc.binary_join_element_wise(prefix, s, suffix, "")
            return s
        return pa.array([self.fmt.format(int(i)) for i in x], type=pa.string())


def _arrow_str(arr: Any, mask: np.ndarray | None) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if mask is not None:
        arr = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), arr)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    return pd.arrays.ArrowStringArray(arr).astype(pd.StringDtype("pyarrow", na_value=np.nan))


# ---------------------------------------------------------------------- faker
_FAKER_PLUMBING = {"add_provider", "del_arguments", "format", "generator", "get_arguments", "get_formatter",
                   "get_providers", "parse", "provider", "seed", "seed_instance", "seed_locale", "set_arguments",
                   "set_formatter"}


@functools.lru_cache(maxsize=8)
def _faker(locale: str) -> Any:
    from faker import Faker

    return Faker(locale)


@functools.lru_cache(maxsize=8)
def _faker_methods(locale: str) -> frozenset[str]:
    fake = _faker(locale)
    names = set()
    for prov in fake.providers:
        for attr in dir(prov):
            if attr.startswith("_") or attr in _FAKER_PLUMBING or attr.isupper():
                continue
            if callable(getattr(prov, attr, None)):
                names.add(attr)
    return frozenset(names)


def _check_locale(locale: Any, w: _Where) -> str:
    if not isinstance(locale, str) or not re.fullmatch(r"[A-Za-z]{2,3}(_[A-Za-z]{2,4})?", locale):
        raise w.error(("locale",), f"must be a Faker locale such as en_US or de_DE, got {locale!r}")
    try:
        _faker(locale)
    except AttributeError:
        raise w.error(("locale",), f"Faker has no locale {locale!r} (e.g. en_US, en_GB, de_DE, fr_FR)") from None
    return locale


class _FakerCol(_Col):
    """Values from a Faker provider, through a seeded pool: Faker runs ``pool`` times per call,
    and rows draw from the pool by index (row ``i`` takes value ``i`` when ``n <= pool``)."""

    type = "faker"
    fkind = "text"

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        super().__init__(name, d, path, w)
        if "provider" not in d:
            raise self.err((), "a faker column needs provider (a Faker method such as name, email, city)")
        self.provider = _text(d["provider"], (*path, "provider"), w, "a Faker provider name")
        self.args = d.get("args", {})
        if not isinstance(self.args, dict) or not all(isinstance(k, str) for k in self.args):
            raise self.err("args", f"must be a mapping of the provider's arguments, got {self.args!r}")
        self.pool = int(_number(d.get("pool", DEFAULT_POOL), (*path, "pool"), w, lo=1, hi=1_000_000,
                                integer=True, what="a whole number of pooled values"))

    def check(self, locale: str) -> None:
        methods = _faker_methods(locale)
        if self.provider not in methods:
            raise self.err("provider", f"unknown Faker provider {self.provider!r} "
                           f"({_suggest(self.provider, methods)}e.g. name, email, phone_number, address, city, "
                           "company, date_of_birth, sentence; see faker.readthedocs.io)")
        fake = _faker(locale)
        try:
            fake.seed_instance(0)
            getattr(fake, self.provider)(**self.args)
        except Exception as exc:
            raise self.err("args" if self.args else "provider",
                           f"Faker provider {self.provider!r} failed with args {self.args}: "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None

    def build_pool(self, n: int, seed: int, locale: str) -> Any:
        import pyarrow as pa

        fake = _faker(locale)
        ss = np.random.SeedSequence([seed, 0xFA4E], spawn_key=(zlib.crc32(self.name.encode()),))
        fake.seed_instance(int(ss.generate_state(1)[0]))
        method = getattr(fake, self.provider)
        size = min(n, self.pool)
        values = [str(method(**self.args)).replace("\n", ", ") for _ in range(size)]
        return pa.array(values, type=pa.string())

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: _Run) -> _Vals:
        size = min(run.n, self.pool)
        idx = rows.astype(np.int64) if run.n <= self.pool else rng.integers(0, size, len(rows))
        return _Vals(idx, None)

    def output(self, v: _Vals) -> Any:
        raise AssertionError("faker columns are output by the run (they need the pool)")


# ---------------------------------------------------------------------- formula
_AS = ("integer", "float", "boolean", "date", "datetime")


class _FormulaCol(_Col):
    """``expr`` over other columns, optionally converted (``as: integer|float|boolean|date|datetime``)."""

    type = "formula"

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        super().__init__(name, d, path, w)
        if "expr" not in d:
            raise self.err((), "a formula column needs expr, e.g. expr: price * quantity")
        self.as_ = d.get("as")
        if self.as_ is not None and self.as_ not in _AS:
            raise self.err("as", f"unknown result type {self.as_!r} ({_suggest(self.as_, _AS)}choose "
                                 f"{', '.join(_AS)})")
        self.decimals = None
        if "decimals" in d:
            self.decimals = int(_number(d["decimals"], (*path, "decimals"), w, lo=0, hi=12, integer=True,
                                        what="a whole number of decimals in [0, 12]"))
        self.fmt = d.get("format")
        if self.fmt is not None:
            if self.as_ not in ("date", "datetime"):
                raise self.err("format", "format applies to as: date or as: datetime")
            _check_strftime(self.fmt, (*path, "format"), w)
        self.unit = self.as_ if self.as_ in ("date", "datetime") else None
        self.formatter = _DateFormatter(self.fmt, self.unit) if self.fmt and self.unit else None
        _parse_expr(d["expr"], (*path, "expr"), w)
        self.fkind = {"integer": "i", "float": "f", "boolean": "b", "date": "i", "datetime": "f"}.get(
            self.as_, "f")  # type: ignore[arg-type]

    def refs(self) -> list[tuple[str, tuple[Any, ...]]]:
        p = (*self.path, "expr")
        return [(nm, p) for nm in _expr_names(self.d["expr"], p, self.w)]

    def bind(self, cols: Mapping[str, _Col]) -> None:
        self.expr = _Expr(self.d["expr"], (*self.path, "expr"), self.w, cols)
        if self.as_ is None:
            self.fkind = self.expr.kind
        if self.decimals is not None and (self.fkind != "f" or self.unit):
            raise self.err("decimals", "decimals applies to formulas with a fractional (float) result")
        self.snull = self.expr.may_null

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: _Run) -> _Vals:
        n = len(rows)
        x, mask = self.expr.eval(ctx, n)
        if self.as_ == "boolean":
            x = x != 0
        elif self.as_ in ("integer", "date"):
            x = np.floor(x) if self.as_ == "date" else np.round(x)
            x = np.clip(x, -(2.0**62), 2.0**62).astype(np.int64)
        elif self.as_ == "datetime":
            x = np.round(np.clip(x.astype(np.float64) * 86400.0, -(2.0**62), 2.0**62)).astype(np.int64)
        elif self.as_ == "float" or self.fkind == "f":
            x = x.astype(np.float64)
            if self.decimals is not None:
                x = np.round(x, self.decimals)
        return _Vals(x, mask)

    def output(self, v: _Vals) -> Any:
        if self.unit is not None:
            return _when_output(v, self.unit, self.formatter)
        if self.fkind == "i":
            if self.nullable:
                m = v.mask if v.mask is not None else np.zeros(len(v.values), dtype=bool)
                return pd.arrays.IntegerArray(v.values.astype(np.int64), m)
            return v.values.astype(np.int64)
        if self.fkind == "b":
            if self.nullable:
                m = v.mask if v.mask is not None else np.zeros(len(v.values), dtype=bool)
                return pd.arrays.BooleanArray(v.values.astype(bool), m)
            return v.values.astype(bool)
        x = v.values.astype(np.float64)
        return np.where(v.mask, np.nan, x) if v.mask is not None else x

    def to_formula_units(self, v: _Vals) -> _Vals:
        return v


_CLASSES: dict[str, type[_Col]] = {
    "integer": _IntegerCol, "float": _FloatCol, "category": _CategoryCol, "boolean": _BoolCol,
    "date": _DateCol, "datetime": _DatetimeCol, "sequence": _SequenceCol, "faker": _FakerCol,
    "formula": _FormulaCol,
}
_KEYS: dict[str, set[str]] = {
    "integer": _COMMON | {"distribution", "min", "max", "by", "params", "mean", "sd", "mu", "sigma"},
    "float": _COMMON | {"distribution", "min", "max", "by", "params", "mean", "sd", "mu", "sigma", "decimals"},
    "category": _COMMON | {"values", "weights", "by", "params"},
    "boolean": _COMMON | {"p", "by", "params"},
    "date": _COMMON | {"min", "max", "format", "by", "params", "distribution"},
    "datetime": _COMMON | {"min", "max", "format", "by", "params", "distribution"},
    "sequence": _COMMON | {"start", "step", "format"},
    "faker": _COMMON | {"provider", "args", "pool"},
    "formula": _COMMON | {"expr", "as", "decimals", "format"},
}


# ====================================================================== dates as text
_DATE_DIRS = set("aAbBCdDeFgGhjmuUVwWxyY")
_TIME_DIRS = {"H": 3600, "I": 3600, "p": 3600, "M": 60, "S": 1}
_EXPAND = {"D": "%m/%d/%y", "F": "%Y-%m-%d", "R": "%H:%M", "T": "%H:%M:%S", "X": "%H:%M:%S",
           "r": "%I:%M:%S %p", "c": "%a %b %e %H:%M:%S %Y", "x": "%m/%d/%y"}


def _check_strftime(fmt: Any, path: tuple[Any, ...], w: _Where) -> None:
    if not isinstance(fmt, str) or not fmt:
        raise w.error(path, f"must be a strftime format such as '%Y-%m-%d', got {fmt!r}")
    try:
        dt.datetime(2024, 1, 31, 13, 5, 9).strftime(fmt)
    except ValueError as exc:
        raise w.error(path, f"{fmt!r} is not a valid strftime format ({exc})") from None
    if not re.search(r"%[A-Za-z]", fmt):
        raise w.error(path, f"{fmt!r} has no date directive such as %Y, %m or %d")


class _DateFormatter:
    """``strftime`` for millions of rows: each run of date directives is formatted once per distinct
    day (Python's ``strftime``, so the output is exactly Python's), each time directive once per
    hour/minute/second; rows are assembled with pyarrow ``take`` and joins."""

    def __init__(self, fmt: str, unit: str) -> None:
        self.fmt, self.unit = fmt, unit
        for k, v in _EXPAND.items():
            fmt = fmt.replace("%" + k, v)
        tokens = re.findall(r"%.|[^%]+|%", fmt)
        self.pieces: list[tuple[str, str]] = []  # ("date", subformat) | ("time", directive)
        self._tables: dict[str, tuple[int, int, Any]] = {}
        self.slow = False
        run = ""
        for t in tokens:
            if t.startswith("%") and len(t) == 2 and t[1] in _TIME_DIRS:
                if run:
                    self.pieces.append(("date", run))
                    run = ""
                self.pieces.append(("time", t))
            elif t == "%%":
                run += "%%"
            elif t.startswith("%") and len(t) == 2 and t[1] in ("z", "Z"):
                continue  # naive times: empty, as in Python
            elif t.startswith("%") and len(t) == 2 and t[1] == "f":
                run += "000000"
            elif t.startswith("%") and (len(t) < 2 or t[1] not in _DATE_DIRS):
                self.slow = True
                run += t
            else:
                run += t
        if run:
            self.pieces.append(("date", run))

    def format(self, secs: np.ndarray, mask: np.ndarray | None) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        if len(secs) == 0:
            return _arrow_str(pa.array([], type=pa.string()), None)
        if mask is not None and mask.any():
            secs = np.where(mask, secs[~mask][0] if (~mask).any() else 0, secs)
        if self.slow:
            uniq, inv = np.unique(secs, return_inverse=True)
            table = pa.array([(_EPOCH + dt.timedelta(seconds=int(s))).strftime(self.fmt) for s in uniq])
            return _arrow_str(table.take(pa.array(inv.ravel())), mask)
        days, sod = np.divmod(secs, 86400)
        parts: list[Any] = []
        for kind, f in self.pieces:
            if kind == "date":
                lo, hi = int(days.min()), int(days.max())
                if "%" not in f.replace("%%", ""):
                    parts.append(f.replace("%%", "%"))
                    continue
                cached = self._tables.get(f)
                if cached is not None and cached[0] <= lo and hi <= cached[1]:
                    parts.append(cached[2].take(pa.array(days - cached[0])))
                elif hi - lo <= 400_000:
                    if cached is not None and max(hi, cached[1]) - min(lo, cached[0]) <= 400_000:
                        lo, hi = min(lo, cached[0]), max(hi, cached[1])
                    base = dt.date(1970, 1, 1) + dt.timedelta(days=lo)
                    table = pa.array([(base + dt.timedelta(days=i)).strftime(f) for i in range(hi - lo + 1)])
                    self._tables[f] = (lo, hi, table)
                    parts.append(table.take(pa.array(days - lo)))
                else:
                    uniq, inv = np.unique(days, return_inverse=True)
                    table = pa.array([(dt.date(1970, 1, 1) + dt.timedelta(days=int(d))).strftime(f) for d in uniq])
                    parts.append(table.take(pa.array(inv.ravel())))
            else:
                step = _TIME_DIRS[f[1]]
                key = (sod // step) % (24 if step == 3600 else 60)
                size = 24 if step == 3600 else 60
                table = pa.array([dt.datetime(2000, 1, 1, h if step == 3600 else 0, h if step == 60 else 0,
                                              h if step == 1 else 0).strftime(f) for h in range(size)])
                parts.append(table.take(pa.array(key)))
        if all(isinstance(p, str) for p in parts):  # no directive that varies (e.g. only %z)
            parts.append(pa.array([""] * len(secs)))
        out = pc.binary_join_element_wise(*parts, "") if len(parts) > 1 else parts[0]
        return _arrow_str(out, mask)


# ====================================================================== the spec
_TOP = {"version", "locale", "columns", "constraints", "description"}


class Spec:
    """A validated generation spec (columns, dependencies, constraints). Build it with
    :meth:`load`, :meth:`from_dict` or :meth:`from_data`; it never changes afterwards.

    Example:
        >>> import datatwin
        >>> spec = datatwin.Spec.from_dict({"columns": {
        ...     "id": {"type": "sequence", "format": "C-{:04d}"},
        ...     "price": {"type": "float", "distribution": "uniform", "min": 1, "max": 9, "decimals": 2},
        ...     "qty": {"type": "integer", "distribution": "poisson", "mean": 3, "min": 1},
        ...     "total": {"type": "formula", "expr": "price * qty", "decimals": 2}}})
        >>> df = datatwin.generate(spec, 5, seed=0)
        >>> list(df.columns), bool((df.total == (df.price * df.qty).round(2)).all())
        (['id', 'price', 'qty', 'total'], True)
    """

    __slots__ = ("_cols", "_constraints", "_data", "_order", "_where", "locale")

    def __init__(self, data: dict[str, Any], where: _Where) -> None:
        self._data = copy.deepcopy(data)
        self._where = where
        self._compile(copy.deepcopy(data), where)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Spec:
        """Validate a spec given as plain data (what ``yaml.safe_load`` or ``json.load`` return)."""
        if not isinstance(d, Mapping):
            raise SpecError(f"a spec must be a mapping with a 'columns' mapping, got {type(d).__name__}")
        return cls(dict(d), _Where())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Spec:
        """Read a YAML (``.yaml``/``.yml``) or JSON (``.json``) spec file; errors name its line and field."""
        data, where = _read_spec_file(Path(path))
        if not isinstance(data, dict):
            raise where.error((), f"a spec must be a mapping with a 'columns' mapping, got {type(data).__name__}")
        return cls(data, where)

    @classmethod
    def from_data(cls, df: pd.DataFrame, metadata: Any = None, *, min_count: int = 5) -> Spec:
        """A starter spec from a real table: fitted distributions, never real extremes or rare values.

        Numbers get a normal or lognormal fit clipped to the 1st..99th percentiles, categories the
        levels seen in at least ``min_count`` rows with their shares, dates their 1st..99th
        percentile range, PII a Faker provider, ids a sequence. Edit it, then ``generate``.
        """
        return cls.from_dict(starter_spec(df, metadata, min_count=min_count))

    # ------------------------------------------------------------------ views
    @property
    def columns(self) -> list[str]:
        """Column names, in output order."""
        return list(self._cols)

    @property
    def constraints(self) -> list[str]:
        return [c[1] for c in self._constraints]

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (a copy)."""
        return copy.deepcopy(self._data)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(_plain(self._data), sort_keys=False, allow_unicode=True, default_flow_style=None,
                              width=110)

    def save(self, path: str | os.PathLike[str], *, comment: str | None = None) -> None:
        """Write the spec as YAML (``comment`` as ``#`` lines on top), or JSON when ``path`` ends in
        ``.json``; atomically."""
        from ..io import atomic_write_text

        p = Path(path)
        if p.suffix.lower() == ".json":
            text = json.dumps(_plain(self._data), indent=2) + "\n"
        else:
            head = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
            text = head + self.to_yaml()
        atomic_write_text(p, text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spec) and _plain(self._data) == _plain(other._data)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Spec(columns={self.columns!r}, constraints={len(self._constraints)})"

    # ------------------------------------------------------------------ compile
    def _compile(self, d: dict[str, Any], w: _Where) -> None:
        d = _check_keys(d, _TOP, (), w, "a spec")
        if "version" in d and d["version"] != SPEC_FORMAT_VERSION:
            raise w.error(("version",), f"spec version {d['version']!r} is not supported (this datatwin reads "
                                        f"version {SPEC_FORMAT_VERSION})")
        self.locale = str(d.get("locale", "en_US"))
        if "columns" not in d:
            raise w.error((), "a spec needs a 'columns' mapping (name: {type: ..., ...})")
        cols_in = d["columns"]
        if not isinstance(cols_in, dict) or not cols_in:
            raise w.error(("columns",), "must be a non-empty mapping of column name to its definition")
        cols: dict[str, _Col] = {}
        for raw_name, cd in cols_in.items():
            name = str(raw_name)
            path = ("columns", name)
            if not name.strip():
                raise w.error(path, "column names must not be empty")
            if not isinstance(cd, dict):
                raise w.error(path, f"must be a mapping with a type, got {cd!r}")
            t = cd.get("type")
            if t is None:
                known = set().union(*_KEYS.values())
                for k in cd:
                    if str(k) not in known:
                        raise w.error((*path, str(k)), f"unknown field {str(k)!r} ({_suggest(k, known)}"
                                                       f"a column needs a type: {', '.join(_TYPES)})")
                raise w.error(path, f"needs a type ({', '.join(_TYPES)})")
            if t not in _CLASSES:
                raise w.error((*path, "type"), f"unknown type {t!r} ({_suggest(t, _TYPES)}choose "
                                               f"{', '.join(_TYPES)})")
            cd = _check_keys(cd, _KEYS[t], path, w, f"{'an' if t[0] in 'aeiou' else 'a'} {t} column")
            cols[name] = _CLASSES[t](name, cd, path, w)
        if any(isinstance(c, _FakerCol) for c in cols.values()):
            self.locale = _check_locale(d.get("locale", "en_US"), w)
            for c in cols.values():
                if isinstance(c, _FakerCol):
                    c.check(self.locale)
        elif "locale" in d:
            _check_locale(d["locale"], w)
        # dependencies: references must exist; no cycles
        deps: dict[str, list[str]] = {}
        for name, c in cols.items():
            deps[name] = []
            for ref, p in c.refs():
                if ref not in cols:
                    raise w.error(p, f"unknown column {ref!r} ({_suggest(ref, cols)}columns: {_choices(cols)})")
                if ref == name:
                    raise w.error(p, f"column {name!r} refers to itself")
                deps[name].append(ref)
        self._order = _toposort(deps, w)
        for name in self._order:
            cols[name].bind(cols)
        self._cols = cols
        self._constraints: list[tuple[_Expr, str, tuple[Any, ...]]] = []
        cons = d.get("constraints", [])
        if not isinstance(cons, list):
            raise w.error(("constraints",), "must be a list of conditions such as 'start_date <= end_date'")
        for i, text in enumerate(cons):
            p = ("constraints", i)
            for ref in _expr_names(text, p, w):
                if ref not in cols:
                    raise w.error(p, f"unknown column {ref!r} in {str(text)!r} ({_suggest(ref, cols)}"
                                     f"columns: {_choices(cols)})")
            e = _Expr(text, p, w, cols)
            if e.kind != "b":
                raise w.error(p, f"{str(text)!r} is not a condition; write a comparison such as 'a <= b'")
            self._constraints.append((e, str(text), p))
        keys = {zlib.crc32(n.encode()) for n in cols}
        if len(keys) < len(cols):  # two names with one CRC would share a random stream
            raise w.error(("columns",), "two column names collide in the random-stream hash; rename one")


def _toposort(deps: dict[str, list[str]], w: _Where) -> list[str]:
    """Columns in an order where every column comes after the ones it uses (spec order otherwise)."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, stack: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = stack[stack.index(name):] + [name]
            raise w.error(("columns", name), f"dependency cycle {' -> '.join(cycle)}; a column cannot depend "
                                              "on itself through other columns")
        state[name] = 1
        for dep in deps[name]:
            visit(dep, [*stack, name])
        state[name] = 2
        order.append(name)

    for name in deps:
        visit(name, [])
    return order


def _plain(x: Any) -> Any:
    """Plain YAML/JSON data: numpy scalars to Python, dates to ISO text."""
    if isinstance(x, dict):
        return {(_plain(k) if isinstance(k, (bool, int, float, np.generic)) else str(k)): _plain(v)
                for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (dt.date, dt.datetime)):
        return x.isoformat()
    return x


# ====================================================================== generation
def _as_spec(spec: Any) -> Spec:
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, Mapping):
        return Spec.from_dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        return Spec.load(spec)
    raise InputError(f"spec must be a Spec, a mapping or a path to a YAML/JSON file, got {type(spec).__name__}")


def _check_int(v: Any, name: str, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise InputError(f"{name} must be an integer >= {lo}, got {v!r}")
    return int(v)


def _rows(spec: Spec, run: _Run, rows: np.ndarray, rngs: dict[str, np.random.Generator],
          stats: dict[str, int]) -> tuple[dict[str, _Vals], np.ndarray]:
    """Draw every column for the given row numbers; ``bad`` marks rows breaking a constraint."""
    n = len(rows)
    ctx: dict[str, _Vals] = {}
    bad = np.zeros(n, dtype=bool)
    for name in spec._order:
        col = spec._cols[name]
        rng = rngs[name]
        v = col.draw(rows, ctx, rng, run)
        if v.bad is not None:
            bad |= v.bad
            stats[f"bounds:{name}"] = stats.get(f"bounds:{name}", 0) + int(v.bad.sum())
            v.bad = None
        for other in ctx.values():  # own arrays: the repair below writes into them in place
            if other.values is v.values:
                v.values = v.values.copy()
            if v.mask is not None and other.mask is v.mask:
                v.mask = v.mask.copy()
        ctx[name] = v
    for i, (e, _, _) in enumerate(spec._constraints):
        ok, mask = e.eval(ctx, n)
        viol = ~ok if mask is None else (~ok & ~mask)
        stats[f"constraint:{i}"] = stats.get(f"constraint:{i}", 0) + int(viol.sum())
        bad |= viol
    return ctx, bad


def _block(spec: Spec, run: _Run, start: int, m: int, ss: np.random.SeedSequence) -> pd.DataFrame:
    import pyarrow as pa

    rngs = {name: np.random.default_rng(np.random.SeedSequence(ss.entropy, spawn_key=(
        *ss.spawn_key, zlib.crc32(name.encode())))) for name in spec._order}
    rows = np.arange(start, start + m, dtype=np.int64)
    stats: dict[str, int] = {}
    ctx, bad = _rows(spec, run, rows, rngs, stats)
    tried, good = m, m - int(bad.sum())
    while bad.any():
        targets = np.flatnonzero(bad)
        k = len(targets)
        rate = (good + 1) / (tried + 2)
        reps = int(min(max(1, math.ceil(2.5 / rate)), max(1, _MAX_CANDIDATES // k)))
        cand_rows = np.tile(rows[targets], reps)
        cctx, cbad = _rows(spec, run, cand_rows, rngs, stats)
        ok = ~cbad.reshape(reps, k)
        has = ok.any(axis=0)
        pick = ok.argmax(axis=0) * k + np.arange(k)
        tried += len(cand_rows)
        good += int(ok.sum())
        fill, src = targets[has], pick[has]
        for name, v in ctx.items():
            c = cctx[name]
            v.values[fill] = c.values[src]
            if c.mask is not None or v.mask is not None:
                vm = v.mask if v.mask is not None else np.zeros(m, dtype=bool)
                vm[fill] = c.mask[src] if c.mask is not None else False
                v.mask = vm
        bad[fill] = False
        if bad.any() and (tried >= _MAX_REPAIR_ROWS or (good == 0 and tried >= 100_000)):
            raise _constraint_error(spec, stats, tried)
    # null_rate blanks cells at random once the rows are complete: other columns were computed
    # from the value before it was blanked, so the share is exact and constraints hold on it.
    for name in spec._order:
        col = spec._cols[name]
        if col.null_rate > 0:
            v = ctx[name]
            blank = rngs[name].random(m) < col.null_rate
            v.mask = blank if v.mask is None else (v.mask | blank)
            if isinstance(col, _CategoryCol):
                v.values = np.where(blank, -1, v.values).astype(v.values.dtype)
    out = {}
    for name, col in spec._cols.items():
        v = ctx[name]
        if isinstance(col, _FakerCol):
            out[name] = _arrow_str(run.pools[name].take(pa.array(v.values)), v.mask)
        else:
            out[name] = col.output(v)
    return pd.DataFrame(out, copy=False)


def _constraint_error(spec: Spec, stats: dict[str, int], tried: int) -> SpecError:
    key, fails = max(stats.items(), key=lambda kv: kv[1])
    share = 100.0 * (1 - fails / tried)
    held = f"{share:.2g}% of {tried:,}" if share > 0 else f"none of {tried:,}"
    if key.startswith("bounds:"):
        col = spec._cols[key.split(":", 1)[1]]
        lo = col.d.get("min")  # type: ignore[union-attr]
        hi = col.d.get("max")  # type: ignore[union-attr]
        return spec._where.error((*col.path, "min"), f"min ({lo}) is above max ({hi}) in {fails:,} of {tried:,} "
                                                     "generated rows; widen the range or change the columns it uses")
    i = int(key.split(":", 1)[1])
    _, text, path = spec._constraints[i]
    return spec._where.error(path, f"constraint {text!r} held in {held} generated rows, too few to repair; "
                                   "loosen the columns' ranges or build the dependency into a column "
                                   "(e.g. min: start_date)")


def iter_generate(spec: Spec | Mapping[str, Any] | str | os.PathLike[str], n: int, seed: int = 0, *,
                  chunk_size: int = BLOCK, progress: ProgressCallback | None = None) -> Iterator[pd.DataFrame]:
    """Generate ``n`` rows as DataFrames of ``chunk_size`` rows (memory stays at about one chunk).

    The rows do not depend on ``chunk_size``: they are generated in fixed blocks of
    :data:`BLOCK` rows, each from its own seed, and only regrouped.
    """
    spec = _as_spec(spec)
    n = _check_int(n, "n (the number of rows)", 1)
    seed = _check_int(seed, "seed", 0)
    chunk_size = _check_int(chunk_size, "chunk_size", 1)
    run = _Run(spec, n, seed)
    n_blocks = math.ceil(n / BLOCK)
    children = np.random.SeedSequence(seed).spawn(n_blocks)
    pending: list[pd.DataFrame] = []
    have = done = 0
    for b, ss in enumerate(children):
        start = b * BLOCK
        m = min(BLOCK, n - start)
        pending.append(_block(spec, run, start, m, ss))
        have += m
        while have >= chunk_size:
            big = pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0]
            yield big.iloc[:chunk_size].reset_index(drop=True)
            done += chunk_size
            report(progress, "generate", done, n)
            rest = big.iloc[chunk_size:]
            pending, have = ([rest] if len(rest) else []), len(rest)
    if have:
        yield pd.concat(pending, ignore_index=True) if len(pending) > 1 else pending[0].reset_index(drop=True)
        report(progress, "generate", n, n)


def generate(spec: Spec | Mapping[str, Any] | str | os.PathLike[str], n: int, seed: int = 0) -> pd.DataFrame:
    """Generate ``n`` rows from a spec (a :class:`Spec`, a mapping, or a YAML/JSON path).

    The same spec and seed give the same rows, byte for byte; different seeds give different rows.

    Example:
        >>> import datatwin
        >>> df = datatwin.generate({"columns": {"age": {"type": "integer", "distribution": "normal",
        ...                         "mean": 40, "sd": 10, "min": 18}}}, 1000, seed=1)
        >>> int(df.age.min()) >= 18
        True
    """
    chunks = list(iter_generate(spec, n, seed, chunk_size=n if isinstance(n, int) and n > 0 else 1))
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def generate_to_file(spec: Spec | Mapping[str, Any] | str | os.PathLike[str], n: int,
                     path: str | os.PathLike[str], seed: int = 0, *, chunk_size: int = BLOCK,
                     progress: ProgressCallback | None = None) -> int:
    """Stream ``n`` generated rows into a CSV or Parquet file (atomic: no partial file on failure)."""
    from ..io import write_table_chunks

    return write_table_chunks(iter_generate(spec, n, seed, chunk_size=chunk_size, progress=progress), path)


# ====================================================================== starter spec from data
def starter_spec(df: pd.DataFrame, metadata: Any = None, *, min_count: int = 5) -> dict[str, Any]:
    """A spec (plain data) that imitates ``df`` column by column, without real rare values or extremes."""
    from ..metadata import Metadata

    if not isinstance(df, pd.DataFrame) or df.shape[1] == 0 or len(df) == 0:
        raise InputError("a starter spec needs a DataFrame with rows and columns")
    meta = metadata if metadata is not None else Metadata.infer(df)
    if isinstance(meta, Mapping):
        meta = Metadata.infer(df).update(dict(meta))
    cols: dict[str, Any] = {}
    for name in df.columns:
        cm = meta.columns[str(name)]
        cols[str(name)] = _starter_column(df[name], cm, min_count)
    return {"version": SPEC_FORMAT_VERSION, "locale": "en_US", "columns": cols}


def _is_number_text(v: str) -> bool:
    try:
        return math.isfinite(float(v))
    except ValueError:
        return False


def _sig(x: float, digits: int = 4) -> float:
    if x == 0 or not math.isfinite(x):
        return 0.0
    return float(f"{x:.{digits}g}")


def _starter_column(s: pd.Series, cm: Any, min_count: int) -> dict[str, Any]:
    nonnull = s.dropna()
    out: dict[str, Any]
    null_rate = round(float(s.isna().mean()), 4)
    kind = cm.kind
    if kind == "numeric":
        out = _starter_number(pd.to_numeric(nonnull, errors="coerce").dropna().to_numpy(np.float64), cm, min_count)
    elif kind == "constant" and cm.value is not None and _is_number_text(cm.value):
        out = {"type": "formula", "expr": str(cm.value)}
    elif kind == "categorical" or (kind == "constant" and cm.value is not None):
        out = _starter_category(nonnull, min_count) if kind == "categorical" else {
            "type": "category", "values": [cm.value]}
    elif kind == "boolean":
        text = nonnull.astype(str).str.strip().str.lower()
        out = {"type": "boolean", "p": round(float((text == "true").mean()), 4) if len(text) else 0.5}
    elif kind == "datetime":
        out = _starter_date(nonnull, cm)
    elif kind == "id":
        out = _starter_id(nonnull, cm)
    elif kind == "pii":
        out = {"type": "faker", "provider": PII_FAKER.get(cm.pii_type or "name", "name")}
    elif kind == "text":
        words = nonnull.astype(str).str.count(r"\s+") + 1
        out = {"type": "faker", "provider": "sentence",
               "args": {"nb_words": int(max(1, round(float(words.median())))) if len(words) else 6}}
    else:  # all missing
        out = {"type": "float", "distribution": "uniform", "min": 0, "max": 0}
        null_rate = 1.0
    if null_rate > 0:
        out["null_rate"] = null_rate
    return out


def _starter_number(v: np.ndarray, cm: Any, min_count: int) -> dict[str, Any]:
    if len(v) == 0:
        return {"type": "float", "distribution": "uniform", "min": 0, "max": 1}
    integer = bool(cm.integer)
    uniq, counts = np.unique(v, return_counts=True)
    if integer and len(uniq) <= 20:
        keep = counts >= min_count
        if keep.any():
            total = float(counts[keep].sum())
            return {"type": "category", "values": [int(u) for u in uniq[keep]],
                    "weights": [round(float(c) / total, 4) for c in counts[keep]],
                    "description": f"whole numbers with few values; values seen in fewer than {min_count} "
                                   "rows left out"}
    p1, p99 = np.percentile(v, [1, 99])
    out: dict[str, Any] = {"type": "integer" if integer else "float"}
    skew = float(pd.Series(v).skew()) if len(v) > 2 else 0.0
    if v.min() > 0 and skew > 1.0:
        logs = np.log(v)
        out.update(distribution="lognormal", mu=_sig(float(logs.mean()), 6), sigma=_sig(float(logs.std()), 4))
    else:
        out.update(distribution="normal", mean=_sig(float(v.mean()), 6), sd=_sig(float(v.std()), 4))
    if integer:
        lo, hi = math.ceil(p1), math.floor(p99)
        if lo > hi:
            lo = hi = round(float(np.median(v)))
        out.update(min=int(lo), max=int(hi))
    else:
        dec = cm.decimals if cm.decimals is not None and cm.decimals <= 6 else None
        if dec is not None:
            f = 10.0**dec
            lo, hi = math.ceil(p1 * f) / f, math.floor(p99 * f) / f
            if lo > hi:
                lo = hi = round(float(np.median(v)), dec)
            out.update(min=_sig(lo, 10), max=_sig(hi, 10), decimals=int(dec))
        else:
            out.update(min=_sig(float(p1), 6), max=_sig(float(p99), 6))
    if out["sd" if "sd" in out else "sigma"] == 0:
        out["sd" if "sd" in out else "sigma"] = 0.0
    return out


def _starter_category(s: pd.Series, min_count: int) -> dict[str, Any]:
    counts = s.astype(str).value_counts()
    kept = counts[counts >= min_count].iloc[:200]
    if kept.empty:
        return {"type": "faker", "provider": "word",
                "description": f"no value was seen in {min_count} or more rows; fake words instead"}
    total = float(kept.sum())
    out: dict[str, Any] = {"type": "category", "values": {str(k): round(float(c) / total, 4) for k, c in kept.items()}}
    if len(kept) < len(counts):
        out["description"] = f"{len(counts) - len(kept)} values seen in fewer than {min_count} rows left out"
    return out


def _starter_date(s: pd.Series, cm: Any) -> dict[str, Any]:
    from ..metadata import parse_datetime_text

    fmt = cm.datetime_format
    t = parse_datetime_text(s.astype(str), fmt) if fmt else pd.to_datetime(s, errors="coerce")
    t = t.dropna()
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    if t.empty:
        return {"type": "date", "min": "2000-01-01", "max": "2000-12-31"}
    secs = (t.astype("datetime64[s]").astype(np.int64)).to_numpy(np.float64)
    has_time = bool((secs % 86400 != 0).any()) or bool(fmt and re.search(r"%[HIMSTRrX]", fmt))
    p1, p99 = np.percentile(secs, [1, 99])
    unit = "datetime" if has_time else "date"
    if unit == "date":
        lo, hi = math.ceil(p1 / 86400), math.floor(p99 / 86400)
        lo = min(lo, hi)
        out: dict[str, Any] = {"type": "date", "min": _when_text(lo, "date"), "max": _when_text(hi, "date")}
    else:
        lo, hi = math.ceil(p1), math.floor(p99)
        out = {"type": "datetime", "min": _when_text(lo, "datetime"), "max": _when_text(hi, "datetime")}
    if fmt:
        out["format"] = fmt
    return out


def _starter_id(s: pd.Series, cm: Any) -> dict[str, Any]:
    if cm.integer or pd.api.types.is_numeric_dtype(s):
        return {"type": "sequence", "start": 1, "step": 1}
    text = s.astype(str)
    m = text.str.extract(r"^([^\d{}]*?)(\d+)([^\d{}]*)$")
    if len(text) and m[1].notna().mean() >= 0.9:
        prefix = m[0].dropna().mode()
        suffix = m[2].dropna().mode()
        width = int(m[1].dropna().str.len().mode().iloc[0])
        pre = prefix.iloc[0] if len(prefix) else ""
        suf = suffix.iloc[0] if len(suffix) else ""
        return {"type": "sequence", "start": 1, "step": 1, "format": f"{pre}{{:0{width}d}}{suf}"}
    return {"type": "sequence", "start": 1, "step": 1, "format": "ID-{:08d}",
            "description": "the real ids have no common number pattern; plain numbered ids instead"}
