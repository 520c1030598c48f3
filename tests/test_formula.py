"""The shared formula language (datatwin._formula): safe parsing, names, numeric evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datatwin import ConstraintError, SpecError
from datatwin._formula import MAX_CHARS, Compiler, FormulaError, names, numeric, parse
from datatwin._graph import CycleError, topological
from datatwin.constraints import parse_constraints

N = 7
COLS = {"a": np.array([-2.5, -1.0, 0.0, 0.5, 3.0, np.nan, 1e20]),
        "b": np.array([1.0, 0.0, -3.0, 2.0, 0.25, 4.0, -1e-3]),
        "c": np.array([0.0, 0.0, 1.0, np.inf, -2.0, 5.0, 7.0])}
UNARY = {"abs": np.abs, "sqrt": np.sqrt, "log": np.log, "exp": np.exp, "floor": np.floor, "ceil": np.ceil}
BINARY = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "//": np.floor_divide,
          "%": np.remainder, "**": np.power}


def _leaf() -> st.SearchStrategy[tuple[str, Callable[[], Any]]]:
    names_ = st.sampled_from(sorted(COLS)).map(lambda n: (n, lambda: COLS[n]))
    ints = st.integers(0, 9).map(lambda i: (str(i), lambda: np.float64(i)))
    floats = st.floats(-5, 5, allow_nan=False).map(lambda x: (f"({round(x, 3)!r})", lambda: np.float64(round(x, 3))))
    return st.one_of(names_, ints, floats)


Case = tuple[str, Callable[[], Any]]  # formula text, and its value computed directly with numpy


def _extend(child: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    def binop(op: str, a: Case, b: Case) -> Case:
        return f"({a[0]} {op} {b[0]})", lambda: BINARY[op](a[1](), b[1]())

    def unary(fn: str, a: Case) -> Case:
        return f"{fn}({a[0]})", lambda: UNARY[fn](a[1]())

    def minmax(fn: str, a: Case, b: Case) -> Case:
        return f"{fn}({a[0]}, {b[0]})", lambda: (np.minimum if fn == "min" else np.maximum)(a[1](), b[1]())

    return st.one_of(
        st.builds(binop, st.sampled_from(sorted(BINARY)), child, child),
        st.builds(unary, st.sampled_from(sorted(UNARY)), child),
        st.builds(minmax, st.sampled_from(["min", "max"]), child, child),
        child.map(lambda a: (f"(-{a[0]})", lambda: -np.asarray(a[1]()))),
        st.builds(lambda a, d: (f"round({a[0]}, {d})", lambda: np.round(a[1](), d)), child, st.integers(0, 3)),
    )


EXPRESSIONS = st.recursive(_leaf(), _extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(EXPRESSIONS)
def test_ieee_model_equals_numpy(case):
    text, ref = case
    with np.errstate(all="ignore"):
        want = np.broadcast_to(np.asarray(ref(), dtype=np.float64), (N,)).astype(np.float64)
    want[~np.isfinite(want)] = np.nan
    got = numeric(text).floats(COLS, N)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "price", "qty"]), min_size=1, max_size=6))
def test_names_once_each_without_functions(cols):
    got = names(parse(" + ".join(f"min({c}, 1)" for c in cols)))
    assert sorted(got) == sorted(set(cols))


def test_typed_model_keeps_integers_and_masks_division_by_zero():
    class Ints(Compiler):
        def name(self, name):
            from datatwin._formula import Node
            return Node(lambda ctx, n: (ctx[name], None), "i")

    ctx = {"x": np.array([6, 7, 8], dtype=np.int64), "y": np.array([2, 0, 3], dtype=np.int64)}
    v, m = Ints("x // y + 1").evaluate(ctx, 3)
    assert v.dtype == np.int64 and v[0] == 4 and v[2] == 3
    assert m.tolist() == [False, True, False]
    v, m = Ints("x * 2").evaluate(ctx, 3)
    assert v.tolist() == [12, 14, 16] and m is None
    v, _ = Ints("floor(x / 4)").evaluate(ctx, 3)
    assert v.dtype == np.int64 and v.tolist() == [1, 1, 2]
    assert Ints("x / y").kind == "f"


def test_ieee_division_by_zero_is_numpy_inf():
    f = numeric("min(1 / b, 5)")
    assert f.floats({"b": np.array([0.0, 2.0])}, 2).tolist() == [5.0, 0.5]


HOSTILE = ["__import__('os').system('echo hi')", "__import__('os')", "().__class__.__bases__", "open('x')",
           "(lambda: 1)()", "p[0]", "[x for x in (1, 2)]", "{x for x in p}", "p.real", "eval('1')",
           "exec('1')", "(p := 3)", "f'{p}'", "p & 1", "~p", "not p", "p < 1", "p and q", "p if q else 1",
           "None", "b'x'", "'text'", "True", "{1: 2}", "1j", "...", "round(p, ndigits=1)", "max(*p)",
           "globals()", "getattr(p, 'x')", "min(p)", "sqrt(p, q)", "round(p, q)", "p(1)", "p.q(1)"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_formulas_are_refused(text):
    with pytest.raises(FormulaError):
        numeric(text)


@pytest.mark.parametrize("text", ["p +", "1 +* 2", "", "p = 1"])
def test_syntax_errors_carry_pythons_message(text):
    with pytest.raises(FormulaError) as exc:
        parse(text)
    assert exc.value.syntax and not exc.value.inside


def test_size_limits():
    with pytest.raises(FormulaError, match=f"longer than {MAX_CHARS}"):
        parse("1 + " * MAX_CHARS + "1")
    with pytest.raises(FormulaError, match="too deeply nested"):
        numeric("-" * 1500 + "1")
    with pytest.raises(FormulaError, match="must be a formula"):
        parse(3)


def test_callers_keep_their_own_errors():
    with pytest.raises(ConstraintError, match=r"__import__\('os'\).* is not allowed; use column names"):
        parse_constraints(["t = price * __import__('os')"])
    with pytest.raises(ConstraintError, match="invalid syntax in the expression"):
        parse_constraints(["t = price *"])
    with pytest.raises(ConstraintError, match=r"min\(\) takes 2 or more arguments"):
        parse_constraints(["t = min(price)"])
    import datatwin

    with pytest.raises(SpecError, match=r"^spec columns\.f\.expr: in 'p\.real': attribute access"):
        datatwin.Spec.from_dict({"columns": {"p": {"type": "integer", "min": 0, "max": 1},
                                             "f": {"type": "formula", "expr": "p.real"}}})


def test_topological_order_and_cycles():
    assert topological({"total": ["price", "qty"], "price": [], "qty": []}) == ["price", "qty", "total"]
    assert topological([("b", ["a"]), ("b", ["c"]), ("c", ["a"])]) == ["a", "c", "b"]
    with pytest.raises(CycleError) as exc:
        topological({"a": ["b"], "b": ["c"], "c": ["a"]})
    ring = exc.value.cycle
    assert ring[0] == ring[-1] and set(ring) == {"a", "b", "c"} and len(ring) == 4
