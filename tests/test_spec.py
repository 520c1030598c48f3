"""Rule-based generation from a spec: determinism, distributions, formulas, constraints, bad specs,
starter specs from real data, and the `generate` / `inspect --spec` commands."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datatwin
from datatwin import Spec, SpecError, generate
from datatwin.spec import iter_generate
from helpers import run_cli as cli

FULL = """\
locale: en_US
columns:
  customer_id: {type: sequence, start: 1, format: "CUST-{:06d}"}
  region:
    type: category
    values: {north: 0.4, south: 0.3, east: 0.2, west: 0.1}
  age: {type: integer, distribution: normal, mean: 40, sd: 12, min: 18, max: 90}
  income:
    type: float
    distribution: lognormal
    mu: 10.5
    sigma: 0.5
    decimals: 2
    by: region
    params:
      north: {mu: 11}
  price: {type: float, distribution: uniform, min: 1, max: 100, decimals: 2}
  quantity: {type: integer, distribution: poisson, mean: 3, min: 1}
  total: {type: formula, expr: price * quantity, decimals: 2}
  member: {type: boolean, p: 0.3, null_rate: 0.1}
  start_date: {type: date, min: 2020-01-01, max: 2024-12-31}
  end_date: {type: date, min: start_date, max: 2025-06-30, format: "%d/%m/%Y"}
  email: {type: faker, provider: email, null_rate: 0.05, pool: 300}
constraints:
  - total >= price
  - "end_date - start_date <= 90"
"""


@pytest.fixture(scope="module")
def full_spec() -> Spec:
    return Spec.from_dict(yaml.safe_load(FULL))


def spec_of(**columns) -> Spec:
    return Spec.from_dict({"columns": columns})




# ---------------------------------------------------------------------- determinism
def test_same_seed_same_rows_different_seed_different_rows(full_spec):
    a, b, c = generate(full_spec, 3000, seed=7), generate(full_spec, 3000, seed=7), generate(full_spec, 3000, seed=8)
    pd.testing.assert_frame_equal(a, b)
    for col in ("age", "region", "email", "end_date"):
        assert not a[col].equals(c[col]), col


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_same_seed_same_bytes(tmp_path, full_spec, suffix):
    paths = [tmp_path / f"{name}{suffix}" for name in "abc"]
    for p, seed in zip(paths, (3, 3, 4), strict=True):
        assert datatwin.generate_to_file(full_spec, 2500, p, seed=seed, chunk_size=1000) == 2500
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    assert digest[0] == digest[1] != digest[2]


def test_rows_do_not_depend_on_chunk_size(full_spec, monkeypatch):
    monkeypatch.setattr(datatwin.spec._generate, "BLOCK", 1000)  # small blocks: the same code path, faster
    n = 3 * 1000 + 345
    whole = generate(full_spec, n, seed=11)
    for chunk in (7, 999, 1000, 2500, 10_000):
        chunks = list(iter_generate(full_spec, n, seed=11, chunk_size=chunk))
        assert all(len(c) == chunk for c in chunks[:-1])
        pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


def test_adding_a_column_leaves_the_others_alone():
    base = {"a": {"type": "float", "min": 0, "max": 1}, "b": {"type": "category", "values": ["x", "y"]}}
    more = {**base, "c": {"type": "integer", "distribution": "poisson", "mean": 4}}
    one, two = generate({"columns": base}, 500, seed=2), generate({"columns": more}, 500, seed=2)
    pd.testing.assert_frame_equal(one, two[["a", "b"]])


def test_generate_accepts_spec_dict_and_path(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(FULL)
    pd.testing.assert_frame_equal(generate(p, 50, seed=1), generate(yaml.safe_load(FULL), 50, seed=1))
    pd.testing.assert_frame_equal(generate(str(p), 50, seed=1), generate(Spec.load(p), 50, seed=1))


@pytest.mark.parametrize(("n", "seed"), [(0, 0), (-1, 0), (2.5, 0), (10, -1), (10, 1.5), (True, 0)])
def test_bad_n_or_seed(full_spec, n, seed):
    with pytest.raises(datatwin.InputError):
        generate(full_spec, n, seed=seed)


# ---------------------------------------------------------------------- distributions and types
def test_output_types(full_spec):
    df = generate(full_spec, 400, seed=0)
    assert list(df.columns) == full_spec.columns
    assert df["customer_id"].iloc[:3].tolist() == ["CUST-000001", "CUST-000002", "CUST-000003"]
    assert isinstance(df["region"].dtype, pd.CategoricalDtype)
    assert list(df["region"].cat.categories) == ["north", "south", "east", "west"]
    assert df["age"].dtype == np.int64 and df["quantity"].dtype == np.int64
    assert df["income"].dtype == np.float64 and df["member"].dtype == "boolean"
    assert df["start_date"].dtype == "datetime64[s]"
    assert pd.to_datetime(df["end_date"], format="%d/%m/%Y").notna().all()
    assert df["email"].dropna().str.contains("@").all()


def test_distributions_are_roughly_right():
    spec = spec_of(
        n={"type": "float", "distribution": "normal", "mean": 50, "sd": 10},
        ln={"type": "float", "distribution": "lognormal", "mean": 200, "sd": 50},
        p={"type": "integer", "distribution": "poisson", "mean": 4},
        e={"type": "float", "distribution": "exponential", "mean": 3},
        u={"type": "integer", "min": -3, "max": 3},
        c={"type": "category", "values": ["a", "b", "c"], "weights": [6, 3, 1]},
        b={"type": "boolean", "p": 0.25, "null_rate": 0.2},
        d={"type": "date", "min": "2021-01-01", "max": "2021-01-10"},
    )
    df = generate(spec, 60_000, seed=4)
    assert abs(df.n.mean() - 50) < 0.3 and abs(df.n.std() - 10) < 0.3
    assert abs(df.ln.mean() - 200) < 2 and abs(df.ln.std() - 50) < 2
    assert abs(df.p.mean() - 4) < 0.05 and abs(df.e.mean() - 3) < 0.1
    assert set(df.u) == set(range(-3, 4))
    shares = df.c.value_counts(normalize=True)
    assert abs(shares["a"] - 0.6) < 0.01 and abs(shares["c"] - 0.1) < 0.01
    assert abs(df.b.isna().mean() - 0.2) < 0.01 and abs(df.b.dropna().mean() - 0.25) < 0.01
    assert df.d.min() == pd.Timestamp("2021-01-01") and df.d.max() == pd.Timestamp("2021-01-10")


def test_parameters_by_category_value():
    spec = spec_of(
        tier={"type": "category", "values": {"free": 0.5, "pro": 0.5}, "null_rate": 0.1},
        spend={"type": "float", "distribution": "normal", "mean": 10, "sd": 1, "by": "tier",
               "params": {"pro": {"mean": 100, "max": 101}}},
        churn={"type": "boolean", "by": "tier", "params": {"free": {"p": 0.9}, "pro": {"p": 0.1}}},
        plan={"type": "category", "values": ["basic"], "by": "tier",
              "params": {"pro": {"values": {"team": 1, "enterprise": 3}}}},
    )
    df = generate(spec, 20_000, seed=1)
    pro, free, none = df[df.tier == "pro"], df[df.tier == "free"], df[df.tier.isna()]
    assert abs(pro.spend.mean() - 100) < 0.2 and pro.spend.max() <= 101
    assert abs(free.spend.mean() - 10) < 0.1
    # null_rate blanks the tier after the row is made: those rows keep their tier's spend
    assert abs(none.spend.mean() - 55) < 5 and abs(len(none) / len(df) - 0.1) < 0.01
    assert abs(free.churn.mean() - 0.9) < 0.02 and abs(pro.churn.mean() - 0.1) < 0.02
    assert set(free.plan) == {"basic"} and set(pro.plan) == {"team", "enterprise"}
    assert abs((pro.plan == "enterprise").mean() - 0.75) < 0.02


def test_null_rates():
    spec = spec_of(**{t: {"type": t, "null_rate": 0.3, **extra} for t, extra in {
        "integer": {"min": 0, "max": 9}, "float": {"min": 0, "max": 1}, "boolean": {},
        "category": {"values": ["x"]}, "date": {"min": "2020-01-01", "max": "2020-02-01"},
        "sequence": {}, "faker": {"provider": "city", "pool": 50}}.items()})
    df = generate(spec, 20_000, seed=9)
    for col in df.columns:
        assert abs(df[col].isna().mean() - 0.3) < 0.015, col
    assert df["integer"].dtype == "Int64" and df["sequence"].dtype == "Int64"


def test_faker_pool_gives_distinct_values_for_small_n():
    df = generate(spec_of(name={"type": "faker", "provider": "name"}), 200, seed=3)
    assert df.name.nunique() > 190
    loc = Spec.from_dict({"locale": "de_DE", "columns": {"c": {"type": "faker", "provider": "city", "pool": 20}}})
    assert generate(loc, 100, seed=0).c.nunique() <= 20


# ---------------------------------------------------------------------- formulas and constraints
def test_formulas_are_exact():
    spec = spec_of(
        price={"type": "float", "min": 1, "max": 100, "decimals": 2},
        qty={"type": "integer", "distribution": "poisson", "mean": 3},
        region={"type": "category", "values": ["north", "south"]},
        d={"type": "date", "min": "2022-01-01", "max": "2022-12-31"},
        total={"type": "formula", "expr": "price * qty", "decimals": 2},
        per={"type": "formula", "expr": "price / qty"},
        big={"type": "formula", "expr": "qty >= 3 and region == 'north'"},
        tax={"type": "formula", "expr": "where(region == 'north', price * 0.2, 0) + abs(-1)", "decimals": 3},
        half={"type": "formula", "expr": "qty // 2 if qty > 1 else -qty"},
        later={"type": "formula", "expr": "d + qty", "as": "date"},
        h2={"type": "formula", "expr": "d >= '2022-07-01'"},
    )
    df = generate(spec, 5000, seed=5)
    assert (df.total == (df.price * df.qty).round(2)).all()
    zero = df.qty == 0
    assert df.per[zero].isna().all() and np.allclose(df.per[~zero], df.price[~zero] / df.qty[~zero])
    assert (df.big == ((df.qty >= 3) & (df.region == "north"))).all()
    assert np.allclose(df.tax, np.where(df.region == "north", df.price * 0.2, 0) + 1)
    assert (df.half == np.where(df.qty > 1, df.qty // 2, -df.qty)).all()
    assert ((df.later - df.d).dt.days == df.qty).all()
    assert (df.h2 == (df.d >= "2022-07-01")).all()


def test_constraints_always_hold(full_spec):
    df = generate(full_spec, 30_000, seed=2)
    end = pd.to_datetime(df.end_date, format="%d/%m/%Y")
    assert (df.total >= df.price).all()
    gap = (end - df.start_date).dt.days
    assert gap.between(0, 90).all()


def test_bounds_from_other_columns():
    spec = spec_of(
        start={"type": "datetime", "min": "2024-01-01 00:00:00", "max": "2024-01-31 23:59:59"},
        stop={"type": "datetime", "min": "start + 1/24", "max": "start + 2", "format": "%Y-%m-%d %H:%M:%S"},
        low={"type": "integer", "min": 0, "max": 100},
        high={"type": "integer", "min": "low", "max": "low * 2 + 1"},
    )
    df = generate(spec, 5000, seed=8)
    dur = pd.to_datetime(df.stop) - df.start
    assert dur.min() >= pd.Timedelta(hours=1) and dur.max() <= pd.Timedelta(days=2)
    assert (df.high >= df.low).all() and (df.high <= 2 * df.low + 1).all()


def test_null_rate_is_exact_under_constraints():
    spec = Spec.from_dict({"columns": {
        "a": {"type": "integer", "min": 0, "max": 100, "null_rate": 0.2},
        "b": {"type": "formula", "expr": "a * 2"},
        "c": {"type": "category", "values": ["x", "y"], "null_rate": 0.5},
    }, "constraints": ["a > 90", "c == 'x'"]})
    df = generate(spec, 20_000, seed=3)
    assert abs(df.a.isna().mean() - 0.2) < 0.01 and (df.a.dropna() > 90).all()
    assert (df.b > 180).all() and df.b.dtype == np.int64
    assert abs(df.c.isna().mean() - 0.5) < 0.015 and set(df.c.dropna()) == {"x"}


def test_impossible_constraint_is_named():
    spec = spec_of(a={"type": "integer", "min": 0, "max": 9}, b={"type": "integer", "min": 20, "max": 30})
    bad = Spec.from_dict({**spec.to_dict(), "constraints": ["a > b"]})
    with pytest.raises(SpecError, match=r"constraints\[0\]: constraint 'a > b' held in none of"):
        generate(bad, 100)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lo=st.integers(-1000, 1000), width=st.integers(0, 500), decimals=st.integers(0, 4),
       seed=st.integers(0, 2**32), n=st.integers(1, 300))
def test_uniform_values_stay_on_the_grid_and_in_range(lo, width, decimals, seed, n):
    hi = lo + width / 7
    spec = spec_of(x={"type": "float", "min": lo, "max": hi, "decimals": decimals},
                   y={"type": "float", "distribution": "normal", "mean": lo, "sd": width + 1, "min": lo, "max": hi,
                      "decimals": decimals})
    df = generate(spec, n, seed=seed)
    for col in "xy":
        v = df[col].to_numpy()
        assert (v >= lo - 1e-9).all() and (v <= hi + 1e-9).all()
        assert np.allclose(v, np.round(v, decimals))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), gap=st.integers(0, 400), n=st.integers(1, 2000))
def test_constraints_hold_for_any_seed(seed, gap, n):
    spec = Spec.from_dict({"columns": {
        "a": {"type": "date", "min": "2020-01-01", "max": "2021-12-31"},
        "b": {"type": "date", "min": "2020-01-01", "max": "2021-12-31"},
        "x": {"type": "float", "distribution": "normal", "mean": 0, "sd": 1, "null_rate": 0.1},
        "y": {"type": "formula", "expr": "x * 2 + 1"},
    }, "constraints": ["a <= b", f"b - a <= {gap}", "y > x"]})
    df = generate(spec, n, seed=seed)
    days = (df.b - df.a).dt.days
    assert days.between(0, gap).all()
    both = df.x.notna()
    assert (df.y[both] > df.x[both]).all() and df.y.notna().all()  # y comes from x before blanking


@settings(max_examples=40, deadline=None)
@given(a=st.integers(-50, 50), b=st.integers(-50, 50), op=st.sampled_from(["+", "-", "*", "//", "%", "/", "**"]))
def test_formula_arithmetic_matches_python(a, b, op):
    spec = spec_of(x={"type": "integer", "min": a, "max": a}, f={"type": "formula", "expr": f"x {op} ({b})"})
    got = generate(spec, 3, seed=0).f.iloc[0]
    if op in ("//", "%", "/") and b == 0:
        assert pd.isna(got)
        return
    if op == "**":
        want = float(a) ** b if not (a == 0 and b < 0) else math.inf
        assert (pd.isna(got) and not math.isfinite(want)) or math.isclose(got, want, rel_tol=1e-9)
        return
    want = {"+": a + b, "-": a - b, "*": a * b, "//": a // b if b else 0, "%": a % b if b else 0,
            "/": a / b if b else 0}[op]
    assert got == pytest.approx(want)


# ---------------------------------------------------------------------- bad specs
BAD = [
    # (yaml, line, field, message part)
    ("columns:\n  age:\n    type: integer\n    distribution: gausian\n", 4, "columns.age.distribution",
     "unknown distribution 'gausian' (did you mean 'normal'?"),
    ("columns:\n  a: {type: integer\n  b: 1\n", 3, None, "is not valid YAML"),
    ("columns:\n  a:\n    typ: integer\n", 3, "columns.a.typ", "unknown field 'typ'"),
    ("columns:\n  a:\n    type: integr\n", 3, "columns.a.type", "did you mean 'integer'?"),
    ("columns:\n  a:\n    type: float\n    distribution: normal\n    mean: 1\n    sd: -1\n", 6,
     "columns.a.sd", "must be at least 0"),
    ("columns:\n  a:\n    type: integer\n    distribution: poisson\n    mean: 3\n    sd: 1\n", 6, "columns.a.sd",
     "poisson takes mean; remove sd"),
    ("columns:\n  a:\n    type: integer\n    min: 10\n    max: 5\n", 5, "columns.a.max", "below min"),
    ("columns:\n  a:\n    type: faker\n    provider: emial\n", 4, "columns.a.provider",
     "unknown Faker provider 'emial' (did you mean 'email'?"),
    ("columns:\n  a:\n    type: faker\n    provider: sentence\n    args: {nb_wrds: 2}\n", 5, "columns.a.args",
     "unexpected keyword argument 'nb_wrds'"),
    ("locale: xx_YY\ncolumns:\n  a: {type: faker, provider: name}\n", 1, "locale", "no locale 'xx_YY'"),
    ("columns:\n  p: {type: float, min: 0, max: 1}\n  t:\n    type: formula\n    expr: p * qty\n", 5,
     "columns.t.expr", "unknown column 'qty'"),
    ("columns:\n  a:\n    type: boolean\n    by: regon\n    params: {x: {p: 1}}\n", 4, "columns.a.by",
     "unknown column 'regon'"),
    ("columns:\n  r: {type: category, values: [north, south]}\n  a:\n    type: boolean\n    by: r\n"
     "    params:\n      nrth: {p: 1}\n", 7, "columns.a.params.nrth", "'nrth' is not a value of 'r'"),
    ("columns:\n  a: {type: integer, min: 0, max: 1}\nconstraints:\n  - a < b\n", 4, "constraints[0]",
     "unknown column 'b'"),
    ("columns:\n  a: {type: formula, expr: b + 1}\n  b: {type: formula, expr: a * 2}\n", 2, "columns.a",
     "dependency cycle a -> b -> a"),
    ("columns:\n  a: {type: integer, min: 0, max: 1}\n  a: {type: boolean}\n", 3, "columns", "duplicate key 'a'"),
    ("columns:\n  d: {type: date, min: 2020-13-45, max: 2021-01-01}\n", 2, "columns.d.min", "not a valid value"),
    ("columns:\n  d: {type: date, min: '2020-13-45', max: 2021-01-01}\n", 2, "columns.d.min", "not a valid date"),
    ("columns:\n  c: {type: category, values: [a, b], weights: [1]}\n", 2, "columns.c.weights", "list of 2 weights"),
    ("columns:\n  s: {type: sequence, format: 'ID-{:q}'}\n", 2, "columns.s.format", "not a pattern"),
    ("columns:\n  a: {type: boolean, null_rate: 2}\n", 2, "columns.a.null_rate", "at most 1"),
    ("version: 9\ncolumns:\n  a: {type: boolean}\n", 1, "version", "not supported"),
    ("columns: {}\n", 1, "columns", "non-empty mapping"),
    ("colums:\n  a: {type: boolean}\n", 1, "colums", "did you mean 'columns'?"),
]


@pytest.mark.parametrize(("text", "line", "field", "part"), BAD)
def test_bad_spec_names_line_and_field(tmp_path, text, line, field, part):
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    with pytest.raises(SpecError) as exc:
        Spec.load(p)
    e = exc.value
    assert part in str(e)
    assert (e.line, e.field, e.source) == (line, field, "spec.yaml")
    assert str(e).startswith(f"spec.yaml line {line}" + (f", {field}: " if field else ": "))
    assert "\n" not in str(e)
    assert isinstance(e, datatwin.InputError) and isinstance(e, ValueError)


UNSAFE = ["__import__('os').system('echo hi')", "__import__('os')", "().__class__.__bases__", "open('x')",
          "(lambda: 1)()", "p[0]", "[x for x in (1, 2)]", "p.real", "eval('1')", "p if p else exec('1')",
          "(p := 3)", "f'{p}'", "p & 1", "~p", "None", "b'x'", "{1: 2}"]


@pytest.mark.parametrize("expr", UNSAFE)
def test_unsafe_formulas_are_refused(expr):
    with pytest.raises(SpecError, match=r"columns\.f\.expr: "):
        spec_of(p={"type": "integer", "min": 0, "max": 1}, f={"type": "formula", "expr": expr})


def test_errors_from_dict_name_the_field():
    with pytest.raises(SpecError, match=r"^spec columns\.a\.distribution: unknown distribution 'gaus'"):
        spec_of(a={"type": "float", "distribution": "gaus", "mean": 1, "sd": 1})
    with pytest.raises(SpecError, match="must be a mapping"):
        Spec.from_dict(["columns"])  # type: ignore[arg-type]


def test_json_spec_errors_name_the_line(tmp_path):
    p = tmp_path / "spec.json"
    p.write_text(json.dumps({"columns": {"a": {"type": "integer", "min": 0, "max": 5},
                                         "b": {"type": "float", "distribution": "uniform", "min": 1}}}, indent=2))
    with pytest.raises(SpecError, match=r"^spec\.json line \d+, columns\.b\.max: a uniform float needs max"):
        Spec.load(p)
    p.write_text('{"columns": {"a": {"type": "integer",}}}')
    with pytest.raises(SpecError, match=r"^spec\.json line 1: is not valid JSON"):
        Spec.load(p)


def test_unreadable_spec_files(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        Spec.load(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("  \n")
    with pytest.raises(SpecError, match="is empty"):
        Spec.load(tmp_path / "empty.yaml")
    (tmp_path / "loop.yaml").write_text("a: &a [*a]\n")
    with pytest.raises(SpecError, match="refers to itself"):
        Spec.load(tmp_path / "loop.yaml")
    (tmp_path / "evil.yaml").write_text("columns: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(SpecError, match="line 1: is not valid YAML"):
        Spec.load(tmp_path / "evil.yaml")


# ---------------------------------------------------------------------- value object
def test_spec_round_trips(tmp_path, full_spec):
    assert Spec.from_dict(full_spec.to_dict()) == full_spec
    for name in ("s.yaml", "s.json"):
        full_spec.save(tmp_path / name)
        assert Spec.load(tmp_path / name) == full_spec
    assert "Spec(columns=['customer_id'" in repr(full_spec)
    assert full_spec.constraints == ["total >= price", "end_date - start_date <= 90"]
    d = full_spec.to_dict()
    d["columns"].clear()
    assert full_spec.columns[0] == "customer_id"  # to_dict gives a copy


# ---------------------------------------------------------------------- starter specs
@pytest.fixture
def real_df() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 600
    df = pd.DataFrame({
        "customer_id": [f"C-{i:05d}" for i in rng.permutation(n)],
        "email": [f"person{i}@mail.example.com" for i in range(n)],
        "age": rng.integers(18, 90, n),
        "income": np.round(np.exp(rng.normal(10, 0.8, n)), 2),
        "score": rng.normal(0, 1, n),
        "kids": rng.choice([0, 1, 2, 3, 9], n, p=[0.4, 0.3, 0.2, 0.095, 0.005]),
        "city": rng.choice(["Oslo", "Rome", "Lima", "Tiny"], n, p=[0.5, 0.3, 0.195, 0.005]),
        "active": rng.random(n) < 0.7,
        "joined": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D"),
    })
    df.loc[rng.random(n) < 0.1, "score"] = np.nan
    return df


def test_starter_spec_from_data(real_df):
    spec = Spec.from_data(real_df)
    cols = spec.to_dict()["columns"]
    assert cols["customer_id"] == {"type": "sequence", "start": 1, "step": 1, "format": "C-{:05d}"}
    assert cols["email"] == {"type": "faker", "provider": "email"}
    assert cols["income"]["distribution"] == "lognormal" and cols["income"]["decimals"] == 2
    assert cols["score"]["distribution"] == "normal" and cols["score"]["null_rate"] == pytest.approx(0.1, abs=0.03)
    assert cols["active"]["type"] == "boolean" and cols["active"]["p"] == pytest.approx(0.7, abs=0.05)
    assert cols["joined"]["type"] == "date"
    # never a real extreme value, never a level seen in fewer than 5 rows
    for name in ("age", "income", "score"):
        p1, p99 = np.nanpercentile(real_df[name], [1, 99])
        assert p1 <= cols[name]["min"] and cols[name]["max"] <= p99
    for name in ("income", "score"):
        assert real_df[name].min() < cols[name]["min"] and cols[name]["max"] < real_df[name].max()
    assert pd.Timestamp(cols["joined"]["min"]) > real_df.joined.min()
    assert "Tiny" not in cols["city"]["values"] and set(cols["city"]["values"]) == {"Oslo", "Rome", "Lima"}
    assert cols["kids"]["values"] == [0, 1, 2, 3]
    df = generate(spec, 2000, seed=0)
    assert list(df.columns) == list(real_df.columns)
    assert abs(df.age.mean() - real_df.age.mean()) < 2
    assert abs(np.log(df.income).mean() - np.log(real_df.income).mean()) < 0.1


# ---------------------------------------------------------------------- command line
def test_cli_generate(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(FULL)
    out = tmp_path / "out.parquet"
    assert cli("generate", str(spec), "-n", "2500", "-o", str(out), "--seed", "5", "--chunk-size", "1000") == 0
    assert "2,500 rows written" in capsys.readouterr().err
    pd.testing.assert_frame_equal(pd.read_parquet(out).drop(columns=["start_date"]),
                                  generate(spec, 2500, seed=5).drop(columns=["start_date"]),
                                  check_categorical=False, check_dtype=False)
    csv = tmp_path / "out.csv"
    assert cli("generate", str(spec), "-n", "300", "-o", str(csv)) == 0
    assert len(pd.read_csv(csv)) == 300


def test_cli_generate_bad_spec_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("columns:\n  id: {type: sequence}\n  age:\n    type: integer\n    distribution: gausian\n")
    out = tmp_path / "out.csv"
    assert cli("generate", str(spec), "-n", "10", "-o", str(out)) == 1
    err = capsys.readouterr().err
    assert "spec.yaml line 5, columns.age.distribution: unknown distribution 'gausian'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == [spec]


def test_cli_generate_impossible_constraint_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("columns:\n  a: {type: integer, min: 0, max: 9}\n  b: {type: integer, min: 20, max: 30}\n"
                    "constraints:\n  - a > b\n")
    assert cli("generate", str(spec), "-n", "250000", "-o", str(tmp_path / "out.parquet")) == 1
    assert "line 5, constraints[0]: constraint 'a > b'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [spec]


def test_cli_generate_bad_arguments(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(FULL)
    for args, part in [(("-n", "0", "-o", str(tmp_path / "x.csv")), "positive number of rows"),
                       (("-n", "5", "-o", str(tmp_path / "x.json")), "must end in .csv or .parquet"),
                       (("-n", "5", "-o", str(tmp_path / "no" / "x.csv")), "does not exist")]:
        assert cli("generate", str(spec), *args) == 1
        assert part in capsys.readouterr().err
    assert cli("generate", str(tmp_path / "missing.yaml"), "-n", "5", "-o", str(tmp_path / "x.csv")) == 1
    assert "does not exist" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


def test_cli_inspect_writes_a_starter_spec_that_generates(tmp_path, real_df, capsys):
    data = tmp_path / "real.csv"
    real_df.to_csv(data, index=False)
    starter = tmp_path / "starter.yaml"
    assert cli("inspect", str(data), "--spec", str(starter)) == 0
    assert "starter spec written" in capsys.readouterr().err
    assert starter.read_text().startswith("# Starter spec written by 'datatwin inspect' from real.csv")
    out = tmp_path / "gen.csv"
    assert cli("generate", str(starter), "-n", "500", "-o", str(out)) == 0
    gen = pd.read_csv(out)
    assert list(gen.columns) == list(real_df.columns) and len(gen) == 500
    assert not set(gen.email) & set(real_df.email)
    assert cli("inspect", str(data), "--spec", str(tmp_path / "starter.json")) == 0
    assert Spec.load(tmp_path / "starter.json") == Spec.load(starter)
    assert cli("inspect", str(data), "--spec", str(tmp_path / "nodir" / "s.yaml")) == 1


# ---------------------------------------------------------------------- fast formatting = Python's
@settings(max_examples=40, deadline=None)
@given(parts=st.lists(st.sampled_from(["%Y", "%m", "%d", "%H", "%M", "%S", "%y", "%b", "%B", "%a", "%A", "%j",
                                       "%I", "%p", "%e", "%F", "%T", "%D", "%%", "-", "/", " ", "T", ":", "at"]),
                      min_size=1, max_size=8).filter(lambda p: any(x[1].isalpha() for x in p if x[0] == "%")),
       seed=st.integers(0, 2**32))
def test_date_formats_match_python_strftime(parts, seed):
    fmt = "".join(parts)
    spec = spec_of(t={"type": "datetime", "min": "1999-12-30 00:00:00", "max": "2031-01-02 23:59:59"},
                   s={"type": "formula", "expr": "t", "as": "datetime", "format": fmt, "null_rate": 0.1})
    df = generate(spec, 300, seed=seed)
    want = [None if pd.isna(s) else t.to_pydatetime().strftime(fmt) for t, s in zip(df.t, df.s, strict=True)]
    assert [None if pd.isna(s) else s for s in df.s] == want


@settings(max_examples=40, deadline=None)
@given(fmt=st.sampled_from(["X-{:06d}", "{:d}", "{}", "{:8d}", "ID{{x}}-{:03}", "{0:05d}/", "{:x}", "{:,d}"]),
       start=st.integers(-50, 10**9), step=st.integers(-5, 1000).filter(bool))
def test_sequence_formats_match_python_format(fmt, start, step):
    df = generate(spec_of(i={"type": "sequence", "start": start, "step": step, "format": fmt}), 50, seed=0)
    assert df.i.tolist() == [fmt.format(start + step * k) for k in range(50)]


def test_the_docs_example_generates(tmp_path):
    import re
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "spec.md").read_text()
    (tmp_path / "spec.yaml").write_text(re.search(r"## A full example\n\n```yaml\n(.*?)```", doc, re.S).group(1))
    df = generate(tmp_path / "spec.yaml", 3000, seed=1)
    assert (df.wait_days.dropna() <= 21).all() and ((df.age >= 21) | ~df.premium).all()
    shipped = pd.to_datetime(df.shipped_on, format="%d/%m/%Y")
    assert (shipped > df.ordered_at).all() and (df.delivered_on >= shipped).all()
    assert set(df.channel[~df.premium]) <= {"web", "app", "phone"}
