"""Dates across tables: children dated after their parents, histories that start on their parent's
date and stay inside the window the real data was observed in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datatwin import InputError
from datatwin.relational import DatabaseSynthesizer, Schema
from datatwin.relational._dates import anchor_of, day_resolution, days, distance_plan, fit_window, in_window
from relational_helpers import FAST

END = pd.Timestamp("2021-06-30")  # the real transactions stop here (the data's observation window)
LOANS_END = "2022-03-31"  # and the loans here


def _bank(seed: int = 0) -> tuple[dict[str, pd.DataFrame], Schema]:
    """Accounts opened over 3 years; each loan 60 to 400 days after its account; transactions from
    the opening day, every few days, until END (accounts opened after END have none)."""
    rng = np.random.default_rng(seed)
    n = 300
    opened = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, n), unit="D")
    account = pd.DataFrame({"account_id": np.arange(1, n + 1), "kind": rng.choice(["a", "b"], n),
                            "date": opened.strftime("%Y-%m-%d")})
    has_loan = np.flatnonzero(rng.random(n) < 0.5)
    loan = pd.DataFrame({"loan_id": np.arange(1, len(has_loan) + 1), "account_id": has_loan + 1,
                         "date": (opened[has_loan] + pd.to_timedelta(rng.integers(60, 401, len(has_loan)), unit="D")
                                  ).strftime("%Y-%m-%d"),
                         "duration": rng.choice([12, 24, 36, 48], len(has_loan)),
                         "payments": rng.integers(100, 2_000, len(has_loan))})
    loan["amount"] = loan["duration"] * loan["payments"]
    loan = loan[loan["date"] <= LOANS_END].reset_index(drop=True)  # loans are observed until LOANS_END
    loan["loan_id"] = np.arange(1, len(loan) + 1)
    rows = []
    for a, day in zip(account["account_id"], opened, strict=True):
        t = day
        while t <= END:
            rows.append((int(a), t.strftime("%Y-%m-%d"), float(rng.integers(10, 500))))
            t += pd.Timedelta(days=int(rng.integers(5, 40)))
    trans = pd.DataFrame(rows, columns=["account_id", "date", "amount"])
    trans.insert(0, "trans_id", np.arange(1, len(trans) + 1))
    schema = Schema.from_dict({
        "tables": {"account": {"primary_key": "account_id"}, "loan": {"primary_key": "loan_id"},
                   "trans": {"primary_key": "trans_id", "sequence_key": "account_id", "sequence_index": "date"}},
        "foreign_keys": [{"table": "loan", "column": "account_id", "parent_table": "account",
                          "parent_column": "account_id"},
                         {"table": "trans", "column": "account_id", "parent_table": "account",
                          "parent_column": "account_id"}]})
    return {"account": account, "loan": loan, "trans": trans}, schema


@pytest.fixture(scope="module")
def bank():
    frames, schema = _bank()
    db = DatabaseSynthesizer(random_state=0, engine_options=FAST, constraints=RULES).fit(frames, schema)
    return frames, db, db.sample(seed=1)


RULES = {"loan": ["amount = duration * payments"]}


def _opened(out: dict[str, pd.DataFrame], table: str) -> pd.Series:
    acc = out["account"].set_index("account_id")["date"]
    return pd.to_datetime(out[table]["account_id"].map(acc))


def test_the_dates_each_child_follows_are_found(bank):
    _, db, _ = bank
    anchors = db.plans_["loan"]["date_anchors"]
    assert list(anchors) == ["date"] and anchors["date"]["from"] == "date" and anchors["date"]["format"] == "%Y-%m-%d"
    assert db.plans_["account"]["start_anchor"] == {"trans.account_id": "date"}


def test_a_loan_never_precedes_its_account(bank):
    frames, _, out = bank
    gap = (pd.to_datetime(out["loan"]["date"]) - _opened(out, "loan")).dt.days
    real = (pd.to_datetime(frames["loan"]["date"]) -
            pd.to_datetime(frames["loan"]["account_id"].map(frames["account"].set_index("account_id")["date"]))
            ).dt.days
    assert len(gap) > 50 and gap.notna().all()
    # Within the real distances (60..400 days) and the real loans' dates, in the real text format.
    assert gap.min() >= real.min() and gap.max() <= real.max()
    assert out["loan"]["date"].min() >= frames["loan"]["date"].min()
    assert out["loan"]["date"].max() <= frames["loan"]["date"].max() <= LOANS_END
    assert out["loan"]["date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


def test_a_history_starts_on_its_parents_date_and_ends_in_the_window(bank):
    _, _, out = bank
    t = pd.to_datetime(out["trans"]["date"])
    first = t.groupby(out["trans"]["account_id"]).min()
    opened = pd.to_datetime(out["account"].set_index("account_id")["date"]).reindex(first.index)
    assert len(first) > 50 and (first == opened).all()
    # A history of an account opened inside the window never runs past its end, where the window
    # leaves room for its steps at the real data's smallest gap (5 days); a longer one is squeezed
    # down to that gap.
    steps = out["trans"].groupby("account_id").size()
    room = ((END - opened).dt.days >= 5 * (steps - 1))
    fits = out["trans"]["account_id"].map(room).to_numpy(bool)
    assert fits.mean() > 0.5 and (t[fits] <= END).all()
    assert (t.groupby(out["trans"]["account_id"]).diff().dropna().dt.days >= 5).all()
    assert out["trans"].groupby("account_id")["date"].apply(lambda s: s.is_monotonic_increasing).all()


def test_dates_learned_as_distances_survive_save_and_load(bank, tmp_path):
    _, db, out = bank
    db.save(tmp_path / "bank.dtw")
    again = DatabaseSynthesizer.load(tmp_path / "bank.dtw").sample(seed=1)
    for t in out:
        pd.testing.assert_frame_equal(again[t], out[t])


def test_unrelated_dates_stay_dates():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1000, 500)
    assert anchor_of(rng.uniform(0, 1000, 500), {"a": a}) is None  # independent: the distance varies more
    assert anchor_of(a + rng.uniform(0, 50, 500), {"b": rng.uniform(0, 1000, 500), "a": a}) == "a"
    with_gaps = a.copy()
    with_gaps[:10] = np.nan  # a date the parent lacks where the child has one cannot anchor it
    assert anchor_of(a + 1, {"a": with_gaps}) is None


def test_fit_window_squeezes_only_histories_that_run_past_it():
    t = np.array([0.0, 10, 30, 5, 6, 7, 50, 60])
    ent = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    start = np.array([0.0, 0, 0, 5, 5, 5, 50, 50])
    out = fit_window(t, ent, start, 20.0, 1.0, True)
    assert out[:3].tolist() == [0.0, 6.0, 20.0]  # squeezed about its start, last step on the end
    assert out[3:6].tolist() == [5.0, 6.0, 7.0]  # inside the window: untouched
    assert out[6:].tolist() == [50.0, 60.0]  # starts after the end: cannot be squeezed, left
    tight = fit_window(np.array([0.0, 1, 2, 3, 40]), np.zeros(5, int), np.zeros(5), 2.0, 1.0, True)
    assert np.all(np.diff(tight) >= 1.0)  # the minimal gap wins over the window
    assert day_resolution(days(pd.Series(["2020-01-01", "2020-02-03"])))
    assert not day_resolution(days(pd.Series(["2020-01-01 12:00:00"])))


def test_a_tables_rule_holds_in_every_generated_row(bank):
    _, _, out = bank
    loan = out["loan"]
    assert len(loan) > 50 and (loan["amount"] == loan["duration"] * loan["payments"]).all()


@pytest.mark.parametrize("rules, message", [
    ({"nope": ["a <= b"]}, "constraints name table 'nope'"),
    ({"trans": ["amount >= 0"]}, "a sequence table's steps are generated by change"),
])
def test_rules_on_unknown_or_sequence_tables_are_refused(rules, message):
    frames, schema = _bank()
    with pytest.raises(InputError, match=message):
        DatabaseSynthesizer(engine_options=FAST, constraints=rules).fit(frames, schema)


def test_a_distance_that_lands_outside_the_real_dates_is_redrawn_from_those_that_fit():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 100, 1000)
    after = rng.integers(10, 60, 1000).astype(float)
    plan = distance_plan(base + after, after)  # real dates 10..160
    parents = np.array([0.0, 90.0, 130.0, 200.0, np.nan])
    x = in_window(parents, np.array([30.0, 70.0, 45.0, 20.0, 5.0]), plan, np.random.default_rng(1))
    assert x[0] == 30.0  # inside: kept
    assert 90 + 10 <= x[1] <= plan["hi"] and x[1] == np.round(x[1])  # redrawn among the distances that fit
    assert 130 + 10 <= x[2] <= plan["hi"]
    assert x[3] == plan["hi"]  # no real distance fits: the nearer end of the range
    assert np.isnan(x[4])  # no parent date: none


def test_an_identity_in_every_real_row_is_kept_unasked():
    """loan amount = duration * payments in every real loan: kept without constraints=..., and the
    rule is saved with the model; infer_formulas=False learns amount like any other column."""
    frames, _ = _bank()
    frames = {t: frames[t] for t in ("account", "loan")}
    schema = Schema.from_dict({
        "tables": {"account": {"primary_key": "account_id"}, "loan": {"primary_key": "loan_id"}},
        "foreign_keys": [{"table": "loan", "column": "account_id", "parent_table": "account",
                          "parent_column": "account_id"}]})
    db = DatabaseSynthesizer(random_state=0, engine_options=FAST).fit(frames, schema)
    assert [f.describe() for f in db.synthesizers_["loan"].constraints_.formulas] == ["amount = duration * payments"]
    loan = db.sample(seed=1)["loan"]
    assert len(loan) > 50 and (loan["amount"] == loan["duration"] * loan["payments"]).all()
    off = DatabaseSynthesizer(random_state=0, engine_options=FAST, infer_formulas=False).fit(frames, schema)
    loan = off.sample(seed=1)["loan"]
    assert (loan["amount"] == loan["duration"] * loan["payments"]).mean() < 0.5
