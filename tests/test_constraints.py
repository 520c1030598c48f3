"""Constraints: every output row satisfies them, conflicts are refused with a message naming them."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datatwin
from datatwin import ConditionError, ConstraintError, FixedCombinations, Inequality, Range, Regex, Unique
from datatwin.constraints import ConstraintSet, Units, exact_formulas, parse_constraints
from helpers import run_cli as cli
from helpers import shared_csv

FAST = {"max_epochs": 4}




def orders_frame(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 500, n), unit="D")
    country = rng.choice(["FR", "DE", "IT"], n)
    cities = {"FR": ["Paris", "Lyon"], "DE": ["Berlin", "Bonn"], "IT": ["Rome", "Milan"]}
    city = [cities[c][i] for c, i in zip(country, rng.integers(0, 2, n), strict=True)]
    price = rng.uniform(1, 100, n).round(2)
    qty = rng.integers(1, 10, n)
    return pd.DataFrame({
        "order_id": [f"ORD-{i:05d}" for i in rng.permutation(n)],
        "start": start.strftime("%Y-%m-%d"),
        "end": (start + pd.to_timedelta(rng.integers(0, 40, n), unit="D")).strftime("%Y-%m-%d"),
        "country": country, "city": city, "price": price, "qty": qty, "total": (price * qty).round(2),
        "age": rng.integers(18, 90, n),
        "low": rng.normal(0, 1, n).round(3), "high": rng.normal(0.5, 1, n).round(3),
    })


CONSTRAINTS = ["start <= end", "total = price * qty", FixedCombinations(["country", "city"]),
               Range("age", 30, 60), "low < high", Regex("order_id", r"ORD-[0-9]{5}"), Unique(["order_id"])]


def check_all(out: pd.DataFrame, real: pd.DataFrame) -> None:
    assert (pd.to_datetime(out["start"]) <= pd.to_datetime(out["end"])).all()
    assert np.allclose(out["total"], (out["price"] * out["qty"]).round(2))
    assert set(zip(out["country"], out["city"], strict=True)) <= set(zip(real["country"], real["city"], strict=True))
    assert out["age"].between(30, 60).all()
    assert (out["low"] < out["high"]).all()
    assert out["order_id"].str.fullmatch(r"ORD-[0-9]{5}").all() and out["order_id"].is_unique


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return orders_frame()


@pytest.fixture(scope="module")
def syn(real: pd.DataFrame) -> datatwin.Synthesizer:
    return datatwin.Synthesizer(random_state=0, constraints=CONSTRAINTS, engine_options=FAST).fit(real)


def test_every_row_satisfies_every_constraint(syn, real):
    # "low < high" holds in only ~64% of real rows and the age range cuts the domain in half.
    out = syn.sample(4000, seed=1)
    assert len(out) == 4000 and out.dtypes.to_dict() == real.dtypes.to_dict()
    check_all(out, real)


def test_conditions_and_rebalance_keep_constraints(syn, real):
    out = syn.sample(1000, seed=2, conditions={"country": "DE", "age": (40, 80)})
    check_all(out, real)
    assert out["country"].eq("DE").all() and out["age"].between(40, 60).all()
    out = syn.sample(1000, seed=2, rebalance={"country": {"IT": 0.8}})
    check_all(out, real)


def test_condition_that_contradicts_a_range_is_refused(syn):
    with pytest.raises(ConditionError, match=r"age.*cannot both hold"):
        syn.sample(10, conditions={"age": (70, 80)})
    with pytest.raises(ConditionError, match=r"computed by the rule .total = price \* qty.*infer_formulas=False"):
        syn.sample(10, conditions={"total": (0, 10)})


def test_same_seed_same_bytes_whatever_the_chunk_size(syn):
    a = syn.sample(2500, seed=5)
    b = syn.sample(2500, seed=5, chunk_size=700)
    assert a.equals(b)


def test_save_load_keeps_constraints(syn, real, tmp_path):
    path = tmp_path / "m.dtw"
    syn.save(path)
    loaded = datatwin.load(path)
    assert loaded.sample(500, seed=3).equals(syn.sample(500, seed=3))
    check_all(loaded.sample(500, seed=4), real)


def test_seed_rows_and_what_if_recompute_formulas(syn, real):
    base = syn.sample(300, seed=6)
    more = syn.what_if(300, {"price": lambda s: (s * 1.1).round(2)}, seed=6)
    assert np.allclose(more["total"], (more["price"] * more["qty"]).round(2))
    assert (more["age"].between(30, 60)).all() and (more["low"] < more["high"]).all()
    assert more["price"].mean() > base["price"].mean()
    seeds = pd.DataFrame({"country": ["FR", "IT", None], "age": [35, None, 50]})
    out = syn.sample(seed=seeds)
    assert list(out["country"][:2]) == ["FR", "IT"] and out["age"][0] == 35 and out["age"][2] == 50
    check_all(out, real)


def test_copula_meets_constraints_by_redrawing(real):
    syn = datatwin.Synthesizer(engine="copula", constraints=CONSTRAINTS).fit(real)
    check_all(syn.sample(2000, seed=1), real)


def test_training_rows_that_break_a_rule_are_reported(real, caplog):
    with caplog.at_level(logging.WARNING, logger="datatwin"):
        datatwin.Synthesizer(engine="copula", constraints=["low < high"]).fit(real)
    assert "training rows break 'low < high'" in caplog.text


def test_explicit_combinations_and_repair():
    df = pd.DataFrame({"a": list("xxyyzz") * 50, "b": list("121212") * 50, "v": np.arange(300) % 7})
    allowed = [["x", "1"], ["y", "2"], ["z", "1"]]
    syn = datatwin.Synthesizer(engine="copula", constraints=[FixedCombinations(["a", "b"], allowed)]).fit(df)
    out = syn.sample(600, seed=0)
    assert set(zip(out["a"], out["b"], strict=True)) <= {tuple(t) for t in allowed}


def test_regex_masks_categories_that_do_not_match():
    df = pd.DataFrame({"zip": ["12345", "23456", "ABCDE", "34567"] * 30, "n": range(120)})
    syn = datatwin.Synthesizer(random_state=0, constraints=[Regex("zip", r"[0-9]{5}")], engine_options=FAST).fit(df)
    out = syn.sample(400, seed=0)
    assert out["zip"].str.fullmatch(r"[0-9]{5}").all() and set(out["zip"]) <= {"12345", "23456", "34567"}


def test_impossible_uniqueness_says_why():
    df = pd.DataFrame({"k": ["a", "b", "c"] * 20, "v": range(60)})
    syn = datatwin.Synthesizer(engine="copula", constraints=[Unique("k")]).fit(df)
    assert syn.sample(3, seed=0)["k"].is_unique
    with pytest.raises(ConstraintError, match=r"only 3 distinct values"):
        syn.sample(10, seed=0)


# ---------------------------------------------------------------------- parsing and conflicts
def test_text_and_dict_forms():
    cs = parse_constraints(["a <= b", "b > c", "x < y", "total = price * qty",
                            {"type": "range", "column": "a", "low": 1},
                            {"type": "fixed_combinations", "columns": ["c1", "c2"]},
                            {"type": "unique", "columns": ["id"]},
                            {"type": "regex", "column": "z", "pattern": "[a-z]+"}])
    assert [c.describe() for c in cs] == ["a <= b", "c < b", "x < y", "total = price * qty", "1 <= a",
                                          "fixed combinations of (c1, c2)", "unique (id)", "z matches '[a-z]+'"]
    assert parse_constraints([c.to_dict() for c in cs]) == cs


@pytest.mark.parametrize("bad, message", [
    ("a ~ b", "cannot read constraint"),
    ("a => b", "invalid syntax"),
    ({"type": "between"}, "'type' must be one of"),
    ({"type": "range", "low": 1}, r"lacks \['column'\]"),
    ({"type": "regex", "column": "z", "pattern": "[", "x": 1}, "unknown field"),
    ({"type": "regex", "column": "z", "pattern": "("}, "not a valid regular expression"),
    ("t = price * __import__('os')", "is not allowed"),
    ("t = price *", "in the expression"),
    (42, "is a int"),
])
def test_malformed_constraints(bad, message):
    with pytest.raises(ConstraintError, match=message):
        parse_constraints([bad])


@pytest.mark.parametrize("constraints, message", [
    ([Range("age", 50, 40)], "is empty"),
    ([Range("age", 200, 300)], "excludes every value"),
    (["start <= end", "end <= start"], "form a cycle"),
    ([Range("price", 50, None), Range("total", None, 40), "price <= total"], "conflict: no value"),
    (["price = total / qty", "total = price * qty"], "form a cycle"),
    (["total = price * qty", "total = price + qty"], "has two formulas"),
    (["country = price * 2"], "works on numeric columns"),
    ([Inequality("age", "start")], "numeric or date columns of one kind"),
    ([FixedCombinations(["country", "order_id"])], "generated fresh"),
    ([Regex("price", "[0-9]+")], "patterns apply to text"),
    ([Regex("country", "[a-z]+")], "none of the values the model learned"),
    (["nope <= age"], "names column 'nope'"),
    ([Range("start", "2030-01-01", None)], "excludes every value"),
    ([Range("start", "someday", None)], "is not a date"),
])
def test_conflicts_are_refused_at_fit(real, constraints, message):
    with pytest.raises(ConstraintError, match=message):
        datatwin.Synthesizer(engine="copula", constraints=constraints).fit(real)


def test_constraints_in_a_metadata_file_and_the_cli(tmp_path, real):
    data = tmp_path / "orders.csv"
    real.to_csv(data, index=False)
    meta = {"columns": {}, "constraints": ["start <= end", {"type": "range", "column": "age", "low": 30, "high": 60},
                                           "total = price * qty"]}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    model, out = tmp_path / "m.dtw", tmp_path / "out.csv"
    assert cli("fit", str(data), "-o", str(model), "--metadata", str(tmp_path / "meta.json"), "--engine", "copula") == 0
    assert cli("sample", str(model), "-n", "800", "-o", str(out)) == 0
    df = pd.read_csv(out)
    assert (pd.to_datetime(df["start"]) <= pd.to_datetime(df["end"])).all() and df["age"].between(30, 60).all()
    assert np.allclose(df["total"], (df["price"] * df["qty"]).round(2))
    assert datatwin.load(model).metadata_.constraints == meta["constraints"]


def test_bad_constraint_in_metadata_is_one_line_exit_1(tmp_path, real, capsys):
    data = tmp_path / "orders.csv"
    real.to_csv(data, index=False)
    (tmp_path / "meta.json").write_text(json.dumps({"columns": {}, "constraints": ["age <= nope"]}))
    assert cli("fit", str(data), "-o", str(tmp_path / "m.dtw"), "--metadata", str(tmp_path / "meta.json")) == 1
    err = capsys.readouterr().err
    assert "names column 'nope'" in err and "Traceback" not in err
    assert not (tmp_path / "m.dtw").exists()


# ---------------------------------------------------------------------- repair, as a property
@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-50, 50), st.integers(-50, 50), st.integers(-50, 50)), min_size=1, max_size=40),
       st.booleans())
def test_repair_sorts_a_chain_of_inequalities(rows, strict):
    """Whatever the model gives, the repair makes a <= b <= c hold and keeps each row's values."""
    df = pd.DataFrame(rows, columns=["a", "b", "c"]).astype("int64")
    meta = datatwin.Metadata.infer(pd.DataFrame({"a": [1, 2], "b": [1, 2], "c": [1, 2]}))
    cs = ConstraintSet([Inequality("a", "b", strict), Inequality("b", "c", strict)])
    cs.bind(meta, set())
    units = Units(meta, {})
    cs.conditions(units, {})
    out = cs.enforce(df.copy(), units, lambda r, k, rnd: df.iloc[np.repeat(r, k)].reset_index(drop=True), [], {},
                     np.random.default_rng(0))
    if strict:
        assert ((out["a"] < out["b"]) & (out["b"] < out["c"])).all()
    else:
        assert ((out["a"] <= out["b"]) & (out["b"] <= out["c"])).all()
        assert (np.sort(out.to_numpy(), axis=1) == np.sort(df.to_numpy(), axis=1)).all()
    assert out.dtypes.to_dict() == df.dtypes.to_dict()


def test_cli_constraint_and_boost_options(tmp_path, real, capsys):
    data, model, out = tmp_path / "orders.csv", tmp_path / "m.dtw", tmp_path / "out.csv"
    real.to_csv(data, index=False)
    assert cli("fit", str(data), "-o", str(model), "-c", "low < high", "--constraint", "total = price * qty",
               "--max-training-time", "20") == 0
    # The model's size is reported (KB or MB), with how training ended.
    assert re.search(r"m\.dtw \(\d+ KB; \d+ epochs, stopped by ", " ".join(capsys.readouterr().err.split()))
    assert cli("sample", str(model), "-n", "1000", "-o", str(out), "--boost-where", "country=IT",
               "--boost-where", "age=60..", "--boost-share", "0.25") == 0
    df = pd.read_csv(out)
    assert (df["low"] < df["high"]).all() and np.allclose(df["total"], (df["price"] * df["qty"]).round(2))
    assert (df["country"].eq("IT") & df["age"].ge(60)).mean() == 0.25
    assert cli("sample", str(model), "-n", "10", "-o", str(out), "--boost-share", "0.2") == 1
    assert cli("fit", str(data), "-o", str(model), "-c", "low <= nope") == 1


def test_ids_that_break_a_pattern_are_regenerated_unique(real):
    syn = datatwin.Synthesizer(engine="copula", constraints=[Regex("order_id", r"X-9[0-9]{4}")]).fit(real)
    events = []
    out = syn.sample(3000, seed=0, progress=events.append)
    assert out["order_id"].str.fullmatch(r"X-9[0-9]{4}").all() and out["order_id"].is_unique
    assert _run_stats(events)["repaired"] == 3000  # the run's counts come with its progress events


def test_metadata_round_trip_and_bad_constraints_field():
    meta = datatwin.Metadata.from_dict({"columns": {}, "constraints": ["a <= b", Range("a", 0, 1).to_dict()]})
    assert datatwin.Metadata.from_dict(json.loads(meta.to_json())).constraints == meta.constraints
    with pytest.raises(datatwin.MetadataError, match="must be a list"):
        datatwin.Metadata.from_dict({"columns": {}, "constraints": "a <= b"})


def test_unique_fake_emails_and_phones_beyond_the_pool_of_4000():
    df = pd.read_csv(shared_csv("customers.csv")).iloc[:3000]
    syn = datatwin.Synthesizer(engine="copula", constraints=[Unique(["email"]), Unique(["phone_1"])]).fit(df)
    out = syn.sample(5000, seed=0, chunk_size=1500)
    assert out["email"].is_unique and out["phone_1"].is_unique
    assert out.equals(syn.sample(5000, seed=0))
    # The email still matches the row's fake name (one fake person per row).
    assert all(ln.lower() in e.lower() or fn.lower() in e.lower()
               for fn, ln, e in zip(out["first_name"][:200], out["last_name"][:200], out["email"][:200], strict=True))
    assert not set(out["email"]) & set(df["email"])
    with pytest.raises(ConstraintError, match="ask for at most"):
        syn.sample(7000, seed=0)


def test_uniqueness_holds_across_blocks(real):
    """Two seeded blocks of 100,000 rows: the second block is checked against the first."""
    # Without order_id: its format (ORD-#####) holds 100,000 ids, fewer than the rows asked for.
    syn = datatwin.Synthesizer(engine="copula", constraints=[Unique(["price", "low"])]).fit(
        real.drop(columns=["order_id"]))
    events = []
    out = syn.sample(150_000, seed=0, progress=events.append)
    assert not out.duplicated(["price", "low"]).any()
    assert _run_stats(events)["redrawn"] > 0  # price has 2 decimals: clashes happen and get redrawn


# ---------------------------------------------------------------------- suggested constraints
def test_suggestions_find_the_rules_meant_and_not_the_accidents(real):
    found = [c.describe() for c in datatwin.suggest_constraints(real)]
    assert "start <= end" in found and "total = price * qty" in found
    assert "fixed combinations of (country, city)" in found
    # low ~ N(0, 1) and price in [1, 100] barely overlap: "low < price" is an accident of scale.
    assert not any("low" in f for f in found)
    codes = pd.DataFrame({"flag": np.arange(200) % 2, "grade": np.arange(200) % 2 + 1})
    assert datatwin.suggest_constraints(codes) == [FixedCombinations(["grade", "flag"])]
    assert datatwin.suggest_constraints(real.head(10)) == []


def test_exact_identities_are_kept_without_being_declared(real):
    """total = price * qty holds in every real row: fit keeps it unasked, so every generated row
    has it exactly; infer_formulas=False learns the column like any other, and misses."""
    kept = datatwin.Synthesizer(engine="copula", random_state=0).fit(real)
    assert [c.describe() for c in kept.constraints_.formulas] == ["total = price * qty"]
    out = kept.sample(2000, seed=1)
    assert np.allclose(out["total"], (out["price"] * out["qty"]).round(2), atol=0.005)
    learned = datatwin.Synthesizer(engine="copula", random_state=0, infer_formulas=False).fit(real)
    assert learned.constraints_.formulas == []
    out = learned.sample(2000, seed=1)
    assert np.isclose(out["total"], (out["price"] * out["qty"]).round(2), atol=0.005).mean() < 0.5
    # A declared rule that names the column wins.
    capped = datatwin.Synthesizer(engine="copula", random_state=0, constraints=[Range("total", 0, 900)]).fit(real)
    assert capped.constraints_.formulas == []


def test_identities_are_kept_only_where_they_lose_nothing():
    rng = np.random.default_rng(0)
    n = 200
    a, b, e = rng.integers(1, 50, n).astype(float), rng.uniform(1, 9, n).round(1), rng.integers(0, 9, n).astype(float)
    df = pd.DataFrame({"a": a, "b": b, "c": a * b, "e": e})
    df["d"] = df["c"] + df["e"]  # reads c, which the first identity computes: only c's is kept
    meta = datatwin.Metadata.infer(df)
    assert [f.describe() for f in exact_formulas(df, meta)] == ["c = a * b"]
    assert exact_formulas(df.head(40), datatwin.Metadata.infer(df.head(40))) == []  # too few rows
    # c missing where a and b are not: computing it would fill it in. d is missing with c, so it stays.
    gappy = df.assign(c=df["c"].mask(np.arange(n) % 7 == 0), d=df["d"].mask(np.arange(n) % 7 == 0))
    assert [f.describe() for f in exact_formulas(gappy, datatwin.Metadata.infer(gappy))] == ["d = c + e"]
    ones = df.assign(b=1.0, c=df["a"])  # c = a * 1: a constant input is no identity worth keeping
    assert not any(f.column == "c" for f in exact_formulas(ones, datatwin.Metadata.infer(ones)))


def test_a_privacy_budget_reads_no_identity_from_the_rows(real):
    private = datatwin.Synthesizer(privacy=datatwin.DP(1.0, noise_seed=0), random_state=0)
    syn = private.fit(real[["price", "qty", "total"]])
    assert syn.constraints_.formulas == []


def test_inspect_writes_suggestions_that_fit_applies(tmp_path, real, capsys):
    data, meta = tmp_path / "orders.csv", tmp_path / "meta.json"
    real.to_csv(data, index=False)
    assert cli("inspect", str(data), "--json", str(meta)) == 0
    assert "start <= end" in capsys.readouterr().out
    written = json.loads(meta.read_text())["constraints"]
    assert "total = price * qty" in written
    model, out = tmp_path / "m.dtw", tmp_path / "out.csv"
    assert cli("fit", str(data), "-o", str(model), "--metadata", str(meta), "--engine", "copula") == 0
    assert cli("sample", str(model), "-n", "500", "-o", str(out)) == 0
    df = pd.read_csv(out)
    assert (pd.to_datetime(df["start"]) <= pd.to_datetime(df["end"])).all()
    assert set(zip(df["country"], df["city"], strict=True)) <= set(zip(real["country"], real["city"], strict=True))


def test_a_range_that_excludes_every_value_is_refused_beside_missing_and_same_as_codes():
    rng = np.random.default_rng(0)
    bill = np.round(rng.lognormal(8, 1, 2000), 2)
    pay = np.where(rng.random(2000) < 0.3, bill, np.round(rng.lognormal(6, 1, 2000), 2))
    pay[rng.random(2000) < 0.1] = np.nan
    df = pd.DataFrame({"bill": bill, "pay": pay})
    with pytest.raises(ConstraintError, match="excludes every value"):
        datatwin.Synthesizer(random_state=0, constraints=[Range("pay", 1e9, None)],
                             engine_options={"max_epochs": 1}).fit(df)


def _run_stats(events) -> dict:
    """The constraint counts of one sampling run (its last "constraints" progress event)."""
    return [e.info for e in events if e.stage == "constraints"][-1]


def test_key_shares_agree_for_equal_keys_however_a_block_types_them():
    """Two blocks may type one column differently (int64, or Int64/float64 where a value is
    missing, or object): a key must fall in the same share of the key space in each, or two
    blocks could both emit it."""
    from datatwin.constraints._set import key_share

    forms = [pd.DataFrame({"k": np.array([5, -0, 7], dtype=np.int64), "t": ["a", "b", "c"]}),
             pd.DataFrame({"k": pd.array([5, 0, pd.NA], dtype="Int64"), "t": pd.Categorical(["a", "b", "c"])}),
             pd.DataFrame({"k": [5.0, -0.0, np.nan], "t": np.array(["a", "b", "c"], dtype=object)}),
             pd.DataFrame({"k": np.array([5, 0.0, None], dtype=object), "t": ["a", "b", None]})]
    shares = [key_share(df, ["k", "t"], 1009) for df in forms]
    for share, _ in shares:
        assert share[:2].tolist() == shares[0][0][:2].tolist()
    assert shares[1][1].tolist() == [False, False, True] and shares[3][1].tolist() == [False, False, True]
    # Text never shares a hash with the number it spells, and the shares spread.
    text, _ = key_share(pd.DataFrame({"k": ["5.0"]}), ["k"], 2**31 - 1)
    number, _ = key_share(pd.DataFrame({"k": [5.0]}), ["k"], 2**31 - 1)
    assert text[0] != number[0]
    spread, _ = key_share(pd.DataFrame({"k": np.arange(10_000.0)}), ["k"], 4)
    assert np.bincount(spread, minlength=4).min() > 2300
