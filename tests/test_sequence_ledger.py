"""Numbers of a history that move by exactly another number of the same step (a balance by the
transaction's amount, credited or debited): learned as a rule of the plan, generated exactly as
often as in the data; values many rows share and month ends come back exactly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from datatwin import DatabaseSynthesizer, SequenceSynthesizer
from datatwin.relational import _sequence


def _ledger(n_acc: int = 40, n: int = 25, seed: int = 0, exact: float = 0.8) -> pd.DataFrame:
    """Accounts whose balance moves by + amount (credit) or - amount (debit), except in a share
    ``1 - exact`` of steps where something else moves it (a fee, a correction)."""
    rng = np.random.default_rng(seed)
    rows = []
    for acc in range(n_acc):
        balance = 0.0
        day = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(rng.integers(0, 10)))
        for _ in range(n):
            kind = "credit" if rng.random() < 0.5 else "debit"
            amount = round(float(rng.choice([100.0, 250.0, rng.gamma(2.0, 80.0)])), 1)
            balance += amount if kind == "credit" else -amount
            if rng.random() > exact:
                balance += round(float(rng.normal(0, 30)), 1)
            balance = round(balance, 1)
            rows.append((acc, day.strftime("%Y-%m-%d"), kind, amount, balance))
            day += pd.Timedelta(days=int(rng.integers(1, 9)))
    return pd.DataFrame(rows, columns=["acc", "date", "kind", "amount", "balance"])


def _held(df: pd.DataFrame) -> np.ndarray:
    """Per step after the first, whether the balance moved by exactly the signed amount."""
    df = df.sort_values(["acc", "date"], kind="mergesort")
    d = df.groupby("acc")["balance"].diff()
    signed = np.where(df["kind"] == "credit", 1.0, -1.0) * df["amount"]
    ok = d.notna().to_numpy()
    return np.isclose(d.to_numpy(), signed.to_numpy(), rtol=0, atol=1e-6)[ok]


def test_the_rule_is_found_with_its_signs_and_not_where_there_is_none():
    df = _ledger()
    plan = _sequence.sequence_plan(df, "t", "acc", "date", set())
    rule = plan["ledger"]["balance"]
    assert rule["source"] == "amount" and rule["by"] == "kind"
    assert rule["signs"] == {"credit": 1, "debit": -1}
    assert 0.7 < rule["share"] < 0.9  # as often as in the data (0.8)
    assert "balance" not in plan["reverting"]
    # Independent numbers: no rule.
    rng = np.random.default_rng(1)
    noise = df.assign(balance=np.round(rng.normal(0, 500, len(df)), 1))
    assert _sequence.sequence_plan(noise, "t", "acc", "date", set())["ledger"] == {}
    # A signed source (negative debits) gives its own sign: no categorical needed.
    signed = df.assign(amount=np.where(df["kind"] == "debit", -df["amount"], df["amount"])).drop(columns="kind")
    rule = _sequence.sequence_plan(signed, "t", "acc", "date", set())["ledger"]["balance"]
    assert rule["source"] == "amount" and rule["by"] is None and rule["sign"] == 1


@pytest.fixture(scope="module")
def fitted():
    df = _ledger()
    return df, SequenceSynthesizer("acc", "date", engine_options={"max_epochs": 30}).fit(df)


def test_generated_balances_follow_the_signed_amount_as_often_as_real_ones(fitted):
    df, seq = fitted
    out = seq.sample(seed=0)
    real, syn = _held(df).mean(), _held(out).mean()
    # Two independent moves matched in no step at all.
    assert abs(syn - real) < 0.12, (real, syn)
    # The rest still moves: the residual is not always zero.
    assert syn < 0.97


def test_the_rule_survives_save_and_load(fitted, tmp_path):
    df, seq = fitted
    seq.save(tmp_path / "m.dtw")
    back = DatabaseSynthesizer.load(tmp_path / "m.dtw")
    plan = back.plans_["data"]["sequence"]
    assert plan["ledger"]["balance"]["source"] == "amount"
    assert plan["ledger"] == json.loads(json.dumps(seq.database_.plans_["data"]["sequence"]["ledger"]))
    assert back.sample(seed=3)["data"].equals(seq.sample(seed=3))


def test_a_plan_without_a_ledger_generates_as_before():
    """A model file written before ledgers existed has no "ledger" entry: every number is a move."""
    plan = {"numeric": ["x"], "integer": [], "bounds": {"x": [0.0, 10.0]}, "spread": {}}
    gap, out = _sequence._next_values(plan, 1, np.array([1.0]), {"x": np.array([np.nan])},
                                      {"x": np.array([2.0])}, {"x": np.array([3.0])}, 0.0)
    assert out["x"][0] == 5.0


def test_ledger_move_signs_by_level_and_zero_for_unknown_levels():
    rule = {"source": "a", "by": "k", "signs": {"in": 1, "out": -1}, "na": -1}
    move = _sequence.ledger_move(rule, np.array([5.0, 5.0, 5.0, 5.0, np.nan]),
                                 np.array(["in", "out", "new", None, "in"], dtype=object))
    assert move.tolist() == [5.0, -5.0, 0.0, -5.0, 0.0]


def _day(s: str) -> float:
    return float((pd.Timestamp(s) - pd.Timestamp("1970-01-01")).days)


def test_a_step_drawn_as_a_month_end_lands_on_the_nearest_one_not_before_the_previous():
    prev = np.array([_day("2024-01-20"), _day("2024-01-31"), _day("2024-01-31"), _day("2024-02-10")])
    now = np.array([_day("2024-02-02"), _day("2024-01-31"), _day("2024-02-20"), _day("2024-02-12")])
    got = _sequence._to_month_end(prev, now)
    assert got.tolist() == [_day("2024-01-31"), _day("2024-01-31"), _day("2024-02-29"), _day("2024-02-29")]
    assert _sequence._is_month_end(np.array([_day("2024-02-29"), _day("2024-02-28")])).tolist() == [True, False]


def test_month_ends_are_drawn_only_where_they_are_far_more_common_than_chance():
    df = _ledger()  # steps every 1 to 8 days: month ends by chance only
    assert not _sequence.sequence_plan(df, "t", "acc", "date", set())["month_end"]
    ends = df.copy()
    last = pd.to_datetime(ends["date"]) + pd.offsets.MonthEnd(0)
    ends["date"] = np.where(np.arange(len(ends)) % 3 == 0, last.dt.strftime("%Y-%m-%d"), ends["date"])
    ends = ends.sort_values(["acc", "date"], kind="mergesort")
    plan = _sequence.sequence_plan(ends, "t", "acc", "date", set())
    assert plan["month_end"]
    _, train = _sequence.sequence_frame(ends, plan, ends["acc"].to_numpy(), pd.DataFrame(index=range(len(ends))))
    assert 0.25 < train["seq.end"].mean() < 0.45 and set(train["seq.end"].unique()) == {0.0, 1.0}


def test_a_ledger_step_out_of_the_real_range_moves_by_its_residual_alone():
    plan = {"numeric": ["amount", "balance"], "integer": [], "spread": {},
            "bounds": {"amount": [1.0, 500.0], "balance": [-50.0, 1000.0]},
            "ledger": {"balance": {"source": "amount", "by": None, "sign": -1, "share": 0.8}}}
    nan = np.full(3, np.nan)
    _, out = _sequence._next_values(plan, 1, np.ones(3), {"amount": np.array([30.0, 400.0, 10.0]), "balance": nan},
                                    {"amount": nan, "balance": np.array([0.0, 0.0, 5.0])},
                                    {"amount": nan, "balance": np.array([100.0, 100.0, 20.0])}, 0.0)
    # 100 - 30 = 70 (the rule); 100 - 400 = -300 is past -50: 100 + 0; 20 - 10 + 5 = 15.
    assert out["balance"].tolist() == [70.0, 100.0, 15.0]
