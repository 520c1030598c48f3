"""The one formula language of datatwin: safe arithmetic over numpy columns.

Spec formulas (``expr: price * qty``, bounds, row constraints) and constraint formulas
(``"total = price * qty"``) are parsed here with :mod:`ast` and compiled, node by node, into
closures over numpy arrays; nothing is ever ``eval``-ed. Only numbers, column names,
``+ - * / // % **``, unary ``+``/``-`` and the functions in :data:`FUNCTIONS` exist; attribute
access, indexing, lambdas, comprehensions, other calls and text longer than :data:`MAX_CHARS`
are refused with :class:`FormulaError`. Spec adds conditions, categories and dates by
subclassing :class:`Compiler`.

Two numeric models share the compiler (callers pick one, outputs depend on it):

* typed (spec): integer columns stay ``int64``; a division by zero, a failed ``floor`` etc.
  give a missing value, tracked as a mask next to the values;
* ``ieee`` (constraints): everything is ``float64`` as numpy computes it (``x / 0`` is
  ``inf``); only the final non-finite values count as missing.
"""

from __future__ import annotations

import ast
import difflib
import functools
from collections.abc import Callable, Iterable
from typing import Any, cast

import numpy as np

__all__ = ["FUNCTIONS", "MAX_CHARS", "Compiler", "FormulaError", "Node", "any_mask", "names", "numeric", "parse"]

#: Longest formula text accepted (parsing is recursive; this bounds its cost).
MAX_CHARS = 2_000
#: Function name -> (fewest, most) arguments (None: any number).
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1), "ceil": (1, 1), "exp": (1, 1), "floor": (1, 1), "log": (1, 1), "max": (2, None),
    "min": (2, None), "round": (1, 2), "sqrt": (1, 1),
}
OPERATORS: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
                              ast.Mod: "%", ast.Pow: "**"}
_UFUNCS: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "//": np.floor_divide,
    "%": np.remainder, "**": np.power,
}
_UNARY = {"abs": np.abs, "sqrt": np.sqrt, "log": np.log, "exp": np.exp, "floor": np.floor, "ceil": np.ceil}
_SYMBOLS = {ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>", ast.MatMult: "@"}
_NODES = {ast.Attribute: "attribute access ('.')", ast.Subscript: "indexing ('[...]')", ast.Lambda: "lambda",
          ast.NamedExpr: "assignment (':=')"}
DTYPES: dict[str, Any] = {"i": np.int64, "f": np.float64, "b": np.bool_}

Arr = Any  # np.ndarray or a numpy scalar
Fn = Callable[[Any, int], tuple[Arr, Any]]  # (context, rows) -> (values, missing mask or None)


class FormulaError(ValueError):
    """A formula outside the language, or malformed; callers turn it into their own error.

    Attributes:
        reason: what is wrong, in one line.
        node: the construct that is not allowed (an operator node for a refused operator),
            or None when the formula is allowed but wrong (arity, syntax, size).
        syntax: Python's message for a syntax error, else None.
        inside: the problem is inside a parsed formula (callers show the formula's text before
            ``reason``); False for problems with the text as a whole.
    """

    def __init__(self, reason: str, *, node: ast.AST | None = None, syntax: str | None = None,
                 inside: bool = True) -> None:
        self.reason, self.node, self.syntax, self.inside = reason, node, syntax, inside
        super().__init__(reason)


def parse(text: Any) -> ast.Expression:
    """``text`` parsed as one Python expression (not yet checked against the language)."""
    if not isinstance(text, str):
        raise FormulaError(f"must be a formula (text), got {text!r}", inside=False)
    if len(text) > MAX_CHARS:
        raise FormulaError(f"formula is longer than {MAX_CHARS} characters", inside=False)
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"formula {text!r} is not valid: {exc.msg}", syntax=exc.msg, inside=False) from None
    except (RecursionError, MemoryError, ValueError):
        raise FormulaError(f"formula {text!r} is too deeply nested", inside=False) from None


def names(tree: ast.AST) -> list[str]:
    """Column names a parsed formula refers to (function names excluded), once each, in
    :func:`ast.walk` order."""
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return list(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in calls))


def any_mask(*masks: Any) -> Any:
    """The union of missing masks, None standing for "nothing missing"."""
    out = None
    for m in masks:
        if m is None:
            continue
        out = m if out is None else (out | m)
    return out


class Node:
    """A compiled formula node: ``fn(ctx, n) -> (values, mask)`` plus its static type.

    ``kind`` is i (int64), f (float64) or b (bool); subclasses add their own (spec: cat, s).
    ``col`` is what :meth:`Compiler.name` attached (spec: the column), ``const`` a literal's value.
    """

    __slots__ = ("col", "const", "fn", "kind", "may_null")

    def __init__(self, fn: Fn | None, kind: str, may_null: bool = False, col: Any = None, const: Any = None):
        self.fn, self.kind, self.may_null, self.col, self.const = fn, kind, may_null, col, const


def _constant(c: Any, kind: str) -> Node:
    return Node(lambda ctx, n: (c, None), kind, const=c)


class Compiler:
    """A formula compiled once, evaluated on many blocks of rows (:meth:`evaluate`).

    The base class reads columns as ``ctx[name]`` (a float array, NaN = missing). Subclasses
    widen the language through the hooks: :meth:`constant`, :meth:`name`, :meth:`logical`,
    :meth:`extension` (other node types), :meth:`function`, :meth:`numeric` (operand checks),
    :meth:`suggest`, and the class attributes ``functions``, ``help`` and ``operator_hint``.
    """

    functions: dict[str, tuple[int, int | None]] = FUNCTIONS
    help = ("formulas use numbers, column names, + - * / // % ** and the functions "
            f"{', '.join(sorted(FUNCTIONS))}")
    operator_hint = ""  # after "operator '&' is not allowed"

    def __init__(self, text: Any, *, ieee: bool = False) -> None:
        self.ieee = ieee
        tree = parse(text)
        self.text = str(text)
        self.names = names(tree)  # the columns it reads
        try:
            self.root = self.compile(tree.body)
        except RecursionError:
            raise FormulaError(f"formula {self.text!r} is too deeply nested", inside=False) from None
        self.kind, self.may_null = self.root.kind, self.root.may_null

    def fail(self, reason: str, node: ast.AST | None = None) -> FormulaError:
        return FormulaError(reason, node=node)

    def suggest(self, word: str, options: Iterable[str]) -> str:
        close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
        return f"did you mean {close[0]!r}? " if close else ""

    # -------------------------------------------------------------- compile
    def compile(self, node: ast.AST) -> Node:
        if isinstance(node, ast.Constant):
            return self.constant(node.value, node)
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        out = self.extension(node)
        if out is not None:
            return out
        raise self.fail(f"{_NODES.get(type(node), type(node).__name__)} is not allowed; {self.help}", node)

    def extension(self, node: ast.AST) -> Node | None:
        """A node type the base language lacks (None: not allowed)."""
        return None

    def constant(self, v: Any, node: ast.AST) -> Node:
        if isinstance(v, int) and not isinstance(v, bool):
            if self.ieee:
                try:
                    return _constant(np.float64(float(v)), "f")
                except OverflowError:
                    raise self.fail(f"the number {v} is too large") from None
            if abs(v) >= 2**63:
                raise self.fail(f"the number {v} is too large")
            return _constant(np.int64(v), "i")
        if isinstance(v, float):
            return _constant(np.float64(v), "f")
        raise self.fail(f"the constant {v!r} is not allowed; {self.help}", node)

    def name(self, name: str) -> Node:
        def fn(ctx: Any, n: int) -> tuple[Arr, Any]:
            return ctx[name], None
        return Node(fn, "f")

    def numeric(self, a: Node, what: str) -> Node:
        """``a`` as an operand of arithmetic or a function (``what``); subclasses refuse text."""
        return a

    def binop(self, node: ast.BinOp) -> Node:
        if type(node.op) not in OPERATORS:
            sym = _SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise self.fail(f"operator {sym!r} is not allowed{self.operator_hint}; {self.help}", node.op)
        a = self.numeric(self.compile(node.left), "arithmetic")
        b = self.numeric(self.compile(node.right), "arithmetic")
        op = OPERATORS[type(node.op)]
        kind = "f" if op in ("/", "**") or "f" in (a.kind, b.kind) else "i"
        dtype = DTYPES[kind]
        af, bf, ufunc = cast(Fn, a.fn), cast(Fn, b.fn), _UFUNCS[op]
        mask_zero = op in ("/", "//", "%") and not self.ieee
        may_null = a.may_null or b.may_null or op in ("/", "//", "%", "**")

        def fn(ctx: Any, n: int) -> tuple[Arr, Any]:
            x, xm = af(ctx, n)
            y, ym = bf(ctx, n)
            x, y = np.asarray(x).astype(dtype, copy=False), np.asarray(y).astype(dtype, copy=False)
            extra = None
            with np.errstate(all="ignore"):
                if mask_zero:
                    zero = y == 0
                    if np.any(zero):
                        extra = np.broadcast_to(zero, (n,)).copy() if np.ndim(zero) == 0 else zero
                        y = np.where(zero, 1, y).astype(dtype, copy=False)
                r = ufunc(x, y)
            return np.asarray(r).astype(dtype, copy=False), any_mask(xm, ym, extra)
        return Node(fn, kind, may_null)

    def unary(self, node: ast.UnaryOp) -> Node:
        a = self.compile(node.operand)
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            return self.logical(node, a)
        a = self.numeric(a, "arithmetic")
        af = cast(Fn, a.fn)
        kind = "i" if a.kind == "b" else a.kind
        neg = isinstance(node.op, ast.USub)
        if a.const is not None:  # fold -3 so it stays a constant (useful in comparisons)
            return _constant(DTYPES[kind](-a.const if neg else a.const), kind)

        def fn(ctx: Any, n: int) -> tuple[Arr, Any]:
            x, m = af(ctx, n)
            x = np.asarray(x).astype(DTYPES[kind], copy=False)
            return (-x if neg else x), m
        return Node(fn, kind, a.may_null)

    def logical(self, node: ast.UnaryOp, a: Node) -> Node:
        """``not a`` or ``~a`` (both refused here)."""
        sym = "not" if isinstance(node.op, ast.Not) else "~"
        raise self.fail(f"operator {sym!r} is not allowed; {self.help}", node.op)

    def call(self, node: ast.Call) -> Node:
        allowed = ", ".join(sorted(self.functions))
        if not isinstance(node.func, ast.Name):
            raise self.fail(f"only the functions {allowed} may be called", node)
        name = node.func.id
        if name not in self.functions:
            raise self.fail(f"function {name!r} is not allowed ({self.suggest(name, self.functions)}"
                            f"allowed: {allowed})", node)
        starred = [a for a in node.args if isinstance(a, ast.Starred)]
        if node.keywords or starred:
            raise self.fail(f"{name}() takes plain arguments only", node if node.keywords else starred[0])
        lo, hi = self.functions[name]
        if len(node.args) < lo or (hi is not None and len(node.args) > hi):
            want = f"{lo}" if lo == hi else (f"{lo} or more" if hi is None else f"{lo} to {hi}")
            raise self.fail(f"{name}() takes {want} arguments, got {len(node.args)}")
        return self.function(name, [self.numeric(self.compile(a), f"{name}()") for a in node.args])

    def function(self, name: str, args: list[Node]) -> Node:
        """A call of an allowed function on compiled arguments."""
        fns = [cast(Fn, a.fn) for a in args]
        may_null = any(a.may_null for a in args) or name in ("sqrt", "log", "exp")
        if name in ("min", "max"):
            kinds = {a.kind for a in args}
            kind = "f" if "f" in kinds else "i"
        elif name == "abs":
            kind = "i" if args[0].kind == "b" else args[0].kind
        elif name in ("floor", "ceil") or (name == "round" and len(args) == 1):
            kind, may_null = ("f", may_null) if self.ieee else ("i", True)
        else:
            kind = "f"
        if name == "round" and len(args) == 2 and args[1].const is None:
            raise self.fail("round(x, decimals) needs a whole number of decimals")
        dtype = DTYPES[kind]

        def fn(ctx: Any, n: int) -> tuple[Arr, Any]:
            vals = [f(ctx, n) for f in fns]
            xs: list[np.ndarray] = [
                np.asarray(v).astype(np.float64 if kind == "f" or name in ("floor", "ceil", "round") else dtype,
                                     copy=False) for v, _ in vals]
            mask = any_mask(*(m for _, m in vals))
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
                if kind == "i" and r.dtype.kind == "f":  # a whole number too large for int64 is missing
                    bad = ~np.isfinite(r) | (np.abs(r) > 2.0**62)
                    if np.any(bad):
                        bad = np.broadcast_to(bad, (n,)).copy() if np.ndim(bad) == 0 else bad
                        mask = any_mask(mask, bad)
                        r = np.where(bad, 0, r)
                return r.astype(dtype, copy=False), mask
        return Node(fn, kind, may_null)

    # -------------------------------------------------------------- evaluate
    def evaluate(self, ctx: Any, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Values (int64, float64 or bool, length ``n``) and the missing mask (or None).

        Non-finite results count as missing (their values become 0).
        """
        assert self.root.fn is not None
        v, m = self.root.fn(ctx, n)
        v = np.asarray(v)
        if v.ndim == 0:
            v = np.full(n, v.item(), dtype=v.dtype)
        if v.dtype.kind == "f":
            bad = ~np.isfinite(v)
            if bad.any():
                m = any_mask(m, bad)
                v = np.where(bad, 0.0, v)
        if m is not None:
            m = np.broadcast_to(m, (n,)) if np.ndim(m) == 0 else m
            if not m.any():
                m = None
        return v, m

    def floats(self, ctx: Any, n: int) -> np.ndarray:
        """:meth:`evaluate` as a new float64 array, NaN where missing."""
        v, m = self.evaluate(ctx, n)
        out = np.array(v, dtype=np.float64)
        if m is not None:
            out[m] = np.nan
        return out


@functools.lru_cache(maxsize=256)
def numeric(text: str) -> Compiler:
    """``text`` compiled for float columns in the ``ieee`` model (cached: compiled formulas never
    change). Evaluate with ``.floats({name: float array}, n)``; ``names(parse(text))`` lists the
    columns it needs.

    Example:
        >>> numeric("round(price * qty, 2)").floats({"price": np.array([1.5, 2.0]), "qty": np.array([3.0, 0.5])}, 2)
        array([4.5, 1. ])
    """
    return Compiler(text, ieee=True)
