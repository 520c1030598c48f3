"""Differential privacy: the accountant, what a DP fit reads from the data, and the DP engines."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datatwin
from datatwin._privacy import ORDERS, PrivacyLedger, default_delta, rdp_to_epsilon, rho_for_epsilon
from datatwin.engines._marginal import _project
from helpers import run_cli as _cli


def _table(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    plan = rng.choice(["basic", "plus", "premium"], n, p=[0.5, 0.3, 0.2])
    spend = np.round(age * 3.0 + np.where(plan == "premium", 200.0, 0.0) + rng.normal(0, 20, n), 2)
    return pd.DataFrame({"age": age, "plan": plan, "spend": spend, "smoker": rng.random(n) < 0.2})


# ---------------------------------------------------------------------------- accountant
def test_gaussian_accounting_matches_opacus_conversion_and_the_classical_bound() -> None:
    from opacus.accountants.analysis.rdp import get_privacy_spent

    ledger = PrivacyLedger(epsilon=1.0, delta=1e-5)
    ledger.gaussian("a", sigma=20.0)
    ledger.gaussian("b", sigma=10.0, sensitivity=2.0)
    rho = 1 / (2 * 20.0**2) + 4 / (2 * 10.0**2)
    ours = ledger.spent()["epsilon"]
    theirs, _ = get_privacy_spent(orders=list(ORDERS), rdp=list(rho * ORDERS), delta=1e-5)
    assert ours == pytest.approx(theirs, abs=5e-4)
    # zCDP's classical conversion is looser than the RDP one, never tighter.
    assert ours <= rho + 2 * math.sqrt(rho * math.log(1 / 1e-5)) + 1e-9


def test_subsampled_gaussian_accounting_matches_opacus_accountant() -> None:
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    for _ in range(300):
        acc.step(noise_multiplier=1.2, sample_rate=0.02)
    ledger = PrivacyLedger(epsilon=10.0, delta=1e-5)
    ledger.subsampled_gaussian("engine: DP-SGD", noise_multiplier=1.2, sample_rate=0.02, steps=300)
    assert ledger.spent()["epsilon"] == pytest.approx(acc.get_epsilon(1e-5, alphas=list(ORDERS)), abs=5e-4)


@settings(max_examples=40, deadline=None)
@given(eps=st.floats(0.05, 20), delta=st.sampled_from([1e-5, 1e-7, 1e-9]))
def test_rho_for_epsilon_spends_the_budget_and_no_more(eps: float, delta: float) -> None:
    rho = rho_for_epsilon(eps, delta)
    assert rdp_to_epsilon(rho * ORDERS, delta) <= eps + 1e-9
    assert rdp_to_epsilon(rho * 1.01 * ORDERS, delta) > eps  # the whole budget is used


def test_default_delta_is_fixed_and_well_below_one_over_n() -> None:
    # A delta read from the row count would reveal it; 1e-7 is far below 1/n up to a million rows.
    assert default_delta() == 1e-7 == datatwin.DP(1.0).resolve_delta()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-50, 500), min_size=1, max_size=60), st.floats(1, 5000))
def test_projection_is_non_negative_and_keeps_the_total(noisy: list[float], total: float) -> None:
    out = _project(np.array(noisy), total)
    assert (out >= 0).all()
    assert out.sum() == pytest.approx(total, rel=1e-9)
    # Order is kept: a larger noisy count never gets a smaller estimate.
    order = np.argsort(noisy, kind="stable")
    assert np.all(np.diff(out[order]) >= -1e-9)


# ---------------------------------------------------------------------------- fitting under DP
@pytest.fixture(scope="module")
def dp_model() -> datatwin.Synthesizer:
    return datatwin.Synthesizer(privacy=datatwin.DP(1.0, noise_seed=0), random_state=0).fit(_table())


def test_dp_fit_spends_within_budget_and_reports_it(dp_model: datatwin.Synthesizer, tmp_path) -> None:
    spent = dp_model.privacy_
    assert dp_model.engine_.name == "marginal"  # engine="auto" under a small budget
    assert spent["epsilon"] <= 1.0 + 1e-9 and spent["epsilon"] > 0.99  # the budget is used, not exceeded
    assert spent["delta"] <= 1e-5 * (1 + 1e-9)
    assert {s["what"].split(":")[0] for s in spent["steps"]} == {"values", "engine"}
    path = tmp_path / "m.dtw"
    dp_model.save(path)
    again = datatwin.load(path)
    assert again.privacy_ == spent
    assert again.get_params()["privacy"] == datatwin.DP(1.0)
    pd.testing.assert_frame_equal(again.sample(200, seed=3), dp_model.sample(200, seed=3))


def test_dp_noise_is_fresh_but_sampling_a_dp_model_is_seeded(tmp_path) -> None:
    # Noise drawn from a known seed could be re-run and subtracted by anyone holding the other
    # rows: two DP fits with the same random_state must differ; a saved model samples seeded.
    models = [datatwin.Synthesizer(privacy=datatwin.DP(2.0), random_state=5).fit(_table()) for _ in range(2)]
    tables = [np.concatenate([t.ravel() for t in m.engine_.tables_]) for m in models]
    assert not np.array_equal(tables[0], tables[1])
    models[0].save(tmp_path / "m.dtw")
    again = datatwin.load(tmp_path / "m.dtw")
    pd.testing.assert_frame_equal(again.sample(300, seed=2), models[0].sample(300, seed=2))
    # An explicit noise_seed (tests, research) makes the fit reproducible, and is never saved.
    pinned = [datatwin.Synthesizer(privacy=datatwin.DP(2.0, noise_seed=7)).fit(_table()) for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(pinned[0].engine_.tables_, pinned[1].engine_.tables_, strict=True))
    pinned[0].save(tmp_path / "p.dtw")
    assert datatwin.load(tmp_path / "p.dtw").get_params()["privacy"].noise_seed is None
    with pytest.raises(datatwin.InputError, match="noise_seed must be a non-negative integer"):
        datatwin.Synthesizer(privacy=datatwin.DP(2.0, noise_seed=-1)).fit(_table())


def test_the_row_count_is_measured_and_the_schema_inferred_from_values_is_reported() -> None:
    df = _table(2000)
    syn = datatwin.Synthesizer(privacy=datatwin.DP(1.0, noise_seed=0), random_state=0).fit(df)
    assert "values: row count" in [s["what"] for s in syn.privacy_["steps"]]
    assert abs(syn.n_rows_ - 2000) < 500
    assert syn.privacy_["schema_inferred_from_values"] == ["plan"]  # a text column: kind read from values
    declared = datatwin.Synthesizer(privacy=datatwin.DP(1.0)).fit(df, {"columns": {"plan": {"kind": "categorical"}}})
    assert declared.privacy_["schema_inferred_from_values"] == []
    # Decimals and "whole numbers only" come from the dtype, not from the values.
    assert declared.metadata_.columns["spend"].decimals is None
    assert declared.metadata_.columns["age"].integer


def test_an_outlier_and_a_unique_category_never_reach_the_model() -> None:
    df = _table()
    df.loc[0, "spend"] = 1e9  # one extreme row
    df.loc[1, "plan"] = "secret-plan"  # one unique value
    syn = datatwin.Synthesizer(privacy=datatwin.DP(1.0, noise_seed=0), random_state=0).fit(df)
    out = syn.sample(5000, seed=1)
    assert out["spend"].max() < 1e4  # the range comes from noisy cells, not from the maximum
    assert "secret-plan" not in set(out["plan"])
    assert set(out["plan"].dropna()) <= {"basic", "plus", "premium"}


def test_declared_ranges_and_categories_are_used_and_cost_nothing() -> None:
    meta = {"columns": {"age": {"kind": "numeric", "min": 18, "max": 79},
                        "plan": {"kind": "categorical", "categories": ["basic", "plus", "premium", "gold"]},
                        "spend": {"kind": "numeric", "min": 0, "max": 600}}}
    syn = datatwin.Synthesizer(privacy=datatwin.DP(1.0, noise_seed=0), random_state=0).fit(_table(), meta)
    whats = [s["what"] for s in syn.privacy_["steps"]]
    assert not any("age" in w or "plan" in w for w in whats)  # public: not measured
    assert "values: histogram of spend" in whats  # bounds public, bins still measured
    out = syn.sample(3000, seed=2)
    assert out["age"].between(18, 79).all() and out["spend"].dropna().between(0, 600).all()
    assert out["spend"].isna().mean() < 0.01  # a float column may hold missing values: noise may add a few
    enc = {e.name: e for e in syn.table_encoder_.encoders}
    assert enc["plan"].levels_ == ["basic", "plus", "premium", "gold"]


def test_generated_columns_learn_nothing_from_the_rows_under_dp() -> None:
    def frame(seed: int) -> pd.DataFrame:
        df = _table(400, seed)
        df["customer_id"] = [f"CUST-{i:05d}" for i in np.random.default_rng(seed).permutation(400)]
        df["email"] = [f"person{i}@example.com" for i in range(400)]
        return df

    meta = {"columns": {"customer_id": {"kind": "id"}, "email": {"kind": "pii", "pii_type": "email"}}}
    states = []
    for seed in (1, 2):
        syn = datatwin.Synthesizer(privacy=datatwin.DP(1.0), random_state=0).fit(frame(seed), meta)
        states.append({n: g.get_state() for n, g in syn.generators_.items()})
    assert states[0] == states[1]  # same schema and row count: same generators, whatever the rows


def test_dp_refuses_what_it_cannot_make_private() -> None:
    with pytest.raises(datatwin.InputError, match="cannot train under a privacy budget"):
        datatwin.Synthesizer(engine="copula", privacy=datatwin.DP(1.0)).fit(_table())
    with pytest.raises(datatwin.InputError, match="combinations cannot be read from the data"):
        datatwin.Synthesizer(privacy=datatwin.DP(1.0), constraints=[datatwin.FixedCombinations(["plan", "smoker"])]
                             ).fit(_table())
    for bad in (0, -1, math.inf, "1"):
        with pytest.raises(datatwin.InputError, match="epsilon must be a positive finite number"):
            datatwin.Synthesizer(privacy=datatwin.DP(bad)).fit(_table())  # type: ignore[arg-type]
    with pytest.raises(datatwin.InputError, match="delta must be a number in"):
        datatwin.Synthesizer(privacy=datatwin.DP(1.0, delta=1.5)).fit(_table())
    with pytest.raises(datatwin.InputError, match="privacy"):
        datatwin.Synthesizer(privacy={"epsilon": 1}).fit(_table())  # type: ignore[arg-type]


def test_conditions_rebalancing_and_declared_combinations_work_on_a_dp_model(dp_model) -> None:
    out = dp_model.sample(400, seed=4, conditions={"plan": "premium", "age": (30, 40)})
    assert out["plan"].eq("premium").all() and out["age"].between(30, 40).all()
    mixed = dp_model.sample(4000, seed=4, rebalance={"plan": {"plus": 0.5}})
    assert abs(mixed["plan"].eq("plus").mean() - 0.5) < 0.03
    rule = datatwin.FixedCombinations(["plan", "smoker"], combinations=[("basic", False), ("plus", True)])
    syn = datatwin.Synthesizer(privacy=datatwin.DP(2.0, noise_seed=0), constraints=[rule]).fit(_table())
    got = set(map(tuple, syn.sample(2000, seed=1)[["plan", "smoker"]].dropna().itertuples(index=False)))
    assert got <= {("basic", False), ("plus", True)}


def test_marginal_engine_without_privacy_learns_a_strong_relation() -> None:
    df = _table(3000)
    syn = datatwin.Synthesizer(engine="marginal", random_state=0).fit(df)
    assert syn.privacy_ is None
    out = syn.sample(6000, seed=1)
    real = df.groupby("plan")["spend"].mean()
    fake = out.groupby("plan")["spend"].mean()
    assert abs(fake["premium"] - fake["basic"] - (real["premium"] - real["basic"])) < 40


def test_metadata_bounds_and_categories_are_checked() -> None:
    with pytest.raises(datatwin.MetadataError, match="min 5 is above max 1"):
        datatwin.Metadata.from_dict({"columns": {"a": {"kind": "numeric", "min": 5, "max": 1}}})
    with pytest.raises(datatwin.MetadataError, match="categories apply to categorical"):
        datatwin.Metadata.from_dict({"columns": {"a": {"kind": "numeric", "categories": [1, 2]}}})
    with pytest.raises(datatwin.MetadataError, match="distinct values"):
        datatwin.Metadata.from_dict({"columns": {"a": {"kind": "categorical", "categories": ["x", "x"]}}})


def test_declared_bounds_and_categories_hold_without_privacy_too() -> None:
    meta = {"columns": {"age": {"kind": "numeric", "min": 30, "max": 60},
                        "plan": {"kind": "categorical", "categories": ["basic", "plus"]}}}
    syn = datatwin.Synthesizer(engine="copula", random_state=0).fit(_table(), meta)
    out = syn.sample(2000, seed=1)
    assert out["age"].between(30, 60).all()
    assert set(out["plan"].dropna()) <= {"basic", "plus", "_RARE_"} and "premium" not in set(out["plan"])
    # The declared bounds kept the inferred integer format (the override names only the bounds).
    assert out["age"].dtype == np.int64




def test_cli_fit_with_epsilon_and_inspect_of_the_model(tmp_path, capsys) -> None:
    data = tmp_path / "t.csv"
    _table(600).to_csv(data, index=False)
    model = tmp_path / "m.dtw"
    assert _cli("fit", str(data), "-o", str(model), "--epsilon", "2", "--delta", "1e-6") == 0
    assert datatwin.load(model).privacy_["delta"] <= 1e-6 * (1 + 1e-9)
    capsys.readouterr()
    assert _cli("inspect", str(model)) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(epsilon=2, delta=1e-06)-differentially private" in text
    assert _cli("fit", str(data), "-o", str(tmp_path / "x.dtw"), "--delta", "1e-6") != 0
    assert "--delta needs --epsilon" in capsys.readouterr().err
    assert not (tmp_path / "x.dtw").exists()


def test_the_report_states_the_guarantee_or_its_absence(dp_model) -> None:
    real = _table(400, seed=3)
    synthetic = dp_model.sample(400, seed=1)
    html = datatwin.evaluate(real, synthetic, guarantee=dp_model.privacy_).to_html()
    assert "Formal guarantee:" in html and "-differentially" in html and "&epsilon; = 1" in html
    assert "No formal guarantee:" in datatwin.evaluate(real, synthetic).to_html()
    with pytest.raises(datatwin.InputError, match="guarantee must be"):
        datatwin.evaluate(real, synthetic, guarantee={"eps": 1})


def test_auto_takes_dp_sgd_argn_from_epsilon_3_and_spends_within_budget() -> None:
    syn = datatwin.Synthesizer(privacy=datatwin.DP(5.0, noise_seed=0), random_state=0,
                               engine_options={"dp_epochs": 2}).fit(_table(800))
    assert syn.engine_.name == "argn"
    spent = syn.privacy_
    assert spent["epsilon"] <= 5.0 + 1e-9 and spent["engine"] == "argn"
    assert any(s["mechanism"] == "subsampled_gaussian" for s in spent["steps"])
    out = syn.sample(300, seed=1, conditions={"plan": "plus"})
    assert out["plan"].eq("plus").all()


def test_a_column_whose_values_all_fall_below_the_noise_comes_out_missing() -> None:
    df = _table(600)
    df["city"] = [f"town-{i % 40}" for i in range(600)]  # 15 rows each: far below the threshold at epsilon 1
    syn = datatwin.Synthesizer(privacy=datatwin.DP(1.0, noise_seed=0), random_state=0).fit(df)
    out = syn.sample(500, seed=1)
    assert out["city"].isna().all()  # never the placeholder "_RARE_", never a real town
    assert out["plan"].notna().any()
