"""The histories' fast paths compute what the plain ones do: stacked decoding of a step's
numbers, the fixed values of recurring numbers looked up by code, the day-of-the-month table,
fused columns split back by label."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest

from datatwin.encoding import NumericEncoder
from datatwin.relational import _sequence
from relational_helpers import tiny_sequence_db


@pytest.fixture(scope="module")
def step_model():
    db = tiny_sequence_db()
    return db.synthesizers_["trans"].model_, db.plans_["trans"]["sequence"]


def _random_codes(model, n: int, rng: np.random.Generator) -> np.ndarray:
    """Codes of every sub-column, a few past the column's own (the "same as" code of a twin)."""
    cards = [c for e in model.encoder.encoders for c in e.cardinalities]
    return np.stack([rng.integers(0, c + 2, n) for c in cards], axis=1).astype(np.int32)


def _numbers_both_ways(sc, codes, names, monkeypatch):
    fast = sc.numbers(codes, names, np.random.default_rng(5))
    with monkeypatch.context() as m:
        m.setattr(_sequence._StackedDecode, "make", classmethod(lambda cls, *a: None))
        sc.decoding.clear()
        plain = sc.numbers(codes, names, np.random.default_rng(5))
    sc.decoding.clear()
    return fast, plain


def test_stacked_numbers_are_the_column_by_column_numbers(step_model, monkeypatch):
    model, plan = step_model
    sc = _sequence.StepCodes(model, plan, pd.DataFrame(index=range(3)))
    numeric = [e.name for e in model.encoder.encoders if isinstance(e, NumericEncoder)]
    assert sc.any_binned
    stacked = _sequence._StackedDecode.make(model, numeric, sc.slices, sc.index)
    assert stacked is not None and len(stacked.names) >= 3  # the test exercises the stack
    codes = _random_codes(model, 500, np.random.default_rng(0))
    fast, plain = _numbers_both_ways(sc, codes, numeric + ["not_a_column"], monkeypatch)
    assert set(fast) >= set(plain)
    for name, v in plain.items():
        assert np.array_equal(fast[name], v, equal_nan=True), name


def test_stacked_numbers_copy_twins_and_flip_as_the_encoder_does(step_model, monkeypatch):
    """Twins and flipped bins, set on copies of the fitted encoders: a binned number copies its
    twin (clipped to its range) where the "same as" code was drawn, as decode_numbers does."""
    model, plan = step_model
    table = copy.copy(model.encoder)
    encs = [copy.copy(e) for e in table.encoders]
    table.encoders = encs
    model = dataclasses.replace(model, encoder=table)
    binned = [e for e in encs if isinstance(e, NumericEncoder) and e.mode_ != "discrete"]
    discrete = [e for e in encs if isinstance(e, NumericEncoder) and e.mode_ == "discrete"]
    assert len(binned) >= 2 and discrete
    binned[0].twin_, binned[0].flip_ = discrete[0].name, True  # a twin outside the stack's binned rows
    binned[1].twin_ = binned[-1].name if binned[-1] is not binned[1] else None
    sc = _sequence.StepCodes(model, plan, pd.DataFrame(index=range(3)))
    names = [e.name for e in binned]
    codes = _random_codes(model, 800, np.random.default_rng(1))
    start = sc.slices[sc.index[binned[0].name]].start
    codes[::3, start] = binned[0].n_coarse_ + int(binned[0].has_na_)  # "same as" drawn often
    fast, plain = _numbers_both_ways(sc, codes, names, monkeypatch)
    copied = fast[binned[0].name][::3]
    assert np.isfinite(copied).any()
    for name in names:
        assert np.array_equal(fast[name], plain[name], equal_nan=True), name


def test_fixed_values_by_code_are_those_by_text(step_model):
    model, plan = step_model
    sc = _sequence.StepCodes(model, plan, pd.DataFrame(index=range(3)))
    cats = [e for e in model.encoder.encoders if type(e).__name__ == "CategoricalEncoder"]
    assert cats
    enc = cats[0]
    table = {str(v): float(k) + 0.5 for k, v in enumerate(enc.levels_) if k % 2 == 0}
    codes = _random_codes(model, 300, np.random.default_rng(2))
    part = codes[:, sc.slices[sc.index[enc.name]]][:, 0]
    text = [str(enc.levels_[c]) if c < len(enc.levels_) else None for c in part]
    got = sc.fixed(codes, enc.name, table)
    assert np.array_equal(got, _sequence.fixed_by_text(text, table), equal_nan=True)
    assert np.isfinite(got).any() and np.isnan(got).any()
    assert sc.fixed(codes, "not_a_column", table) is None


def _dom_datetime64(days: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(days)
    d = np.floor(np.where(ok, days, 0)).astype("int64").astype("datetime64[D]")
    dom = (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    return np.where(ok, dom.astype(np.float64), np.nan)


def _to_dom_datetime64(prev: np.ndarray, now: np.ndarray, dom: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(dom) & ~np.isnan(prev)
    floor_prev = np.floor(np.where(ok, prev, 0))
    base = floor_prev.astype("int64").astype("datetime64[D]").astype("datetime64[M]")
    want = np.where(ok, dom, 1).astype(np.int64)
    best = np.full(len(now), np.inf)
    for k in (1, 0):
        m = base + k
        last = ((m + 1).astype("datetime64[D]") - m.astype("datetime64[D]")).astype(np.int64)
        cand = (m.astype("datetime64[D]") + (np.minimum(want, last) - 1)).astype(np.int64).astype(np.float64)
        best = np.where(cand >= floor_prev, cand, best)
    return np.where(ok, best, now)


def test_day_of_month_table_gives_the_datetime64_answers():
    lo, hi = _sequence._MonthTable.LO, _sequence._MonthTable.HI
    every = np.arange(lo - 70, hi + 70, dtype=float)  # each day of the table, its edges and past them
    assert np.array_equal(_sequence._day_of_month(every), _dom_datetime64(every), equal_nan=True)
    rng = np.random.default_rng(3)
    for a, b in ((lo + 5, hi - 5), (lo - 400, lo + 400), (-1000, 30000)):
        prev = rng.uniform(a, b, 20000)
        prev[::17] = np.nan
        now = prev + rng.uniform(0, 40, len(prev))
        dom = rng.integers(0, 33, len(prev)).astype(float)
        dom[::13] = np.nan
        assert np.array_equal(_sequence._to_day_of_month(prev, now, dom), _to_dom_datetime64(prev, now, dom),
                              equal_nan=True)
        assert np.array_equal(_sequence._day_of_month(prev), _dom_datetime64(prev), equal_nan=True)


def test_unfuse_splits_labels_back_and_blanks_unknown_ones():
    plan = {"fused": [{"name": "a+b", "columns": ["a", "b"], "combos": [["x", 1], ["y", None], ["z", 2.5]]}]}
    labels = [_sequence._combo_label(tuple(r)) for r in plan["fused"][0]["combos"]]
    df = pd.DataFrame({"k": range(7), "a+b": [labels[0], labels[1], None, "nope", labels[2], labels[0], np.nan],
                       "c": list("abcdefg")})
    out = _sequence.unfuse(plan, df)
    assert list(out.columns) == ["k", "a", "b", "c"]
    assert out["a"].tolist() == ["x", "y", None, None, "z", "x", None]
    assert out["b"].tolist() == [1, None, None, None, 2.5, 1, None]
    assert out["a"].dtype == object and out["b"].dtype == object
    empty = _sequence.unfuse(plan, df.iloc[:0])
    assert list(empty.columns) == ["k", "a", "b", "c"] and len(empty) == 0


def test_month_ends_from_the_table_are_the_datetime64_ones():
    lo, hi = _sequence._MonthTable.LO, _sequence._MonthTable.HI
    days = np.r_[np.arange(lo - 70, hi + 70, dtype=float), np.random.default_rng(4).uniform(lo, hi, 5000)]
    for part in (days, days[days < lo + 10], days[(days > 0) & (days < 20000)]):
        month = np.floor(part).astype("int64").astype("datetime64[D]").astype("datetime64[M]")
        this_end = ((month + 1).astype("datetime64[D]") - 1).astype(np.int64).astype(float)
        last_end = (month.astype("datetime64[D]") - 1).astype(np.int64).astype(float)
        got = _sequence._month_ends_around(part)
        assert np.array_equal(got[0], last_end) and np.array_equal(got[1], this_end)
