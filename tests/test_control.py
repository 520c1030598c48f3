"""Conditional sampling, rebalancing and seed rows: exact, bounded in time, clear errors."""

import numpy as np
import pandas as pd
import pytest

from datatwin import ConditionError, Synthesizer


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(5)
    n = 3000
    age = rng.integers(18, 80, n)
    country = rng.choice(["Canada", "Peru", "Kenya", "Japan"], n, p=[0.1, 0.3, 0.3, 0.3])
    income = np.round(np.exp(rng.normal(10, 0.5, n)) + age * 300, 2)
    label = np.where((income > np.quantile(income, 0.9)) | (rng.random(n) < 0.02), "yes", "no")
    day = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    df = pd.DataFrame({"age": age, "country": country, "income": income, "label": label,
                       "day": day.strftime("%d/%m/%Y")})
    return df, Synthesizer("argn", random_state=0, engine_options={"max_epochs": 15}).fit(df)


def test_fixed_values_sets_and_ranges(fitted):
    df, syn = fitted
    out = syn.sample(2000, conditions={"country": "Canada", "age": (30, 40), "income": (20_000, None)})
    assert len(out) == 2000
    assert out["country"].eq("Canada").all()
    assert out["age"].between(30, 40).all()
    assert (out["income"] >= 20_000).all()
    out = syn.sample(500, conditions={"country": ["Peru", "Kenya"], "day": ("01/03/2021", "31/03/2021")})
    assert set(out["country"]) <= {"Peru", "Kenya"}
    days = pd.to_datetime(out["day"], format="%d/%m/%Y")
    assert days.between("2021-03-01", "2021-03-31").all()


def test_conditions_are_seeded(fitted):
    _, syn = fitted
    a = syn.sample(300, seed=4, conditions={"label": "yes"})
    b = syn.sample(300, seed=4, conditions={"label": "yes"})
    pd.testing.assert_frame_equal(a, b)
    assert (a["label"] == "yes").all()
    assert not a.equals(syn.sample(300, seed=5, conditions={"label": "yes"}))


def test_conditioning_moves_other_columns(fitted):
    df, syn = fitted
    rich = syn.sample(3000, conditions={"label": "yes"})
    poor = syn.sample(3000, conditions={"label": "no"})
    assert rich["income"].median() > 1.5 * poor["income"].median()
    real_ratio = df[df.label == "yes"].income.median() / df[df.label == "no"].income.median()
    assert abs(rich["income"].median() / poor["income"].median() - real_ratio) < 0.35 * real_ratio


def test_rebalance(fitted):
    df, syn = fitted
    out = syn.sample(6000, rebalance={"label": {"yes": 0.5}})
    share = out["label"].eq("yes").mean()
    assert abs(share - 0.5) < 0.03
    # The other columns stay consistent with the new mix.
    assert out[out.label == "yes"].income.median() > 1.5 * out[out.label == "no"].income.median()


def test_rebalance_a_numeric_class_column(fitted):
    _, syn = fitted
    out = syn.sample(4000, rebalance={"age": {30: 0.25}})
    assert abs(out["age"].eq(30).mean() - 0.25) < 0.03


def test_seed_rows_keep_given_cells(fitted):
    df, syn = fitted
    seed = df.head(300).copy()
    seed.loc[seed.index[::2], "label"] = np.nan
    seed["age"] = np.nan
    out = syn.sample(seed=seed)
    assert len(out) == 300 and list(out.columns) == list(df.columns)
    kept = seed["label"].notna()
    assert out.loc[kept, "label"].tolist() == seed.loc[kept, "label"].tolist()
    assert out["income"].tolist() == seed["income"].tolist()
    assert out["age"].notna().all() and out["label"].notna().all()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"conditions": {"planet": "Mars"}}, "does not have"),
    ({"conditions": {"country": "Atlantis"}}, "no value 'Atlantis'"),
    ({"conditions": {"age": (200, 300)}}, "no value satisfies"),
    ({"conditions": {"age": (40, 30)}}, "is empty"),
    ({"conditions": {"age": "old"}}, "not a number"),
    ({"conditions": {"day": "someday"}}, "not a date"),
    ({"rebalance": {"label": {"yes": 1.5}}}, "must be in \\[0, 1\\]"),
    ({"rebalance": {"label": {"yes": 0.7, "no": 0.7}}}, "more than 1"),
    ({"rebalance": {"income": {30_000: 0.5}}}, "continuous"),
    ({"boost": {"where": {"label": "yes"}}}, "boost must be"),
    ({"boost": {"where": {"label": "yes"}, "share": 2}}, "share must be a number in"),
    ({"boost": {"where": {"nope": 1}, "share": 0.5}}, "does not have"),
    ({"boost": {"where": {"label": "yes"}, "share": 0.5}, "conditions": {"label": "no"}}, "both in the conditions"),
    ({"boost": {"where": {"label": "yes"}, "share": 0.5}, "rebalance": {"country": {"Peru": 0.5}}},
     "cannot be combined"),
    ({"boost": {"where": {"age": (18, 80)}, "share": 0.1}}, "nearly every generated row matches"),
])
def test_bad_conditions(fitted, kwargs, message):
    _, syn = fitted
    with pytest.raises(ConditionError, match=message):
        syn.sample(10, **kwargs)


def test_boost_makes_a_rare_event_an_exact_share(fitted):
    df, syn = fitted
    where = {"label": "yes", "country": ["Canada", "Japan"], "age": (50, None)}
    real_share = (df["label"].eq("yes") & df["country"].isin(["Canada", "Japan"]) & df["age"].ge(50)).mean()
    out = syn.sample(4000, seed=2, boost={"where": where, "share": 0.4}, chunk_size=1500)
    hit = out["label"].eq("yes") & out["country"].isin(["Canada", "Japan"]) & out["age"].ge(50)
    assert real_share < 0.1 and hit.mean() == pytest.approx(0.4, abs=1 / 4000)
    # The boosted rows are conditional samples: high income goes with "yes" as in the data.
    assert out.loc[hit, "income"].median() > df["income"].median()
    assert out.equals(syn.sample(4000, seed=2, boost={"where": where, "share": 0.4}))
    none = syn.sample(3000, seed=2, boost={"where": {"label": "yes"}, "share": 0})
    assert not none["label"].eq("yes").any()


def test_copula_refuses_conditions(fitted):
    df, _ = fitted
    syn = Synthesizer("copula").fit(df)
    with pytest.raises(ConditionError, match="copula engine"):
        syn.sample(10, conditions={"country": "Peru"})


def test_what_if_flows_through_the_learned_relations(fitted):
    df, syn = fitted
    base = syn.sample(3000, seed=2)
    richer = syn.what_if(3000, {"income": lambda s: s * 1.5}, seed=2)
    assert richer["income"].tolist() == (base["income"] * 1.5).tolist()
    # label depends on income: the share of "yes" rises with it.
    assert (richer["label"] == "yes").mean() > (base["label"] == "yes").mean() + 0.05
    mix = syn.what_if(3000, {"country": {"Canada": 0.6}}, seed=2)
    assert abs((mix["country"] == "Canada").mean() - 0.6) < 0.04
    with pytest.raises(ConditionError, match="does not have"):
        syn.what_if(10, {"nope": lambda s: s})


def test_what_if_cli(tmp_path, fitted, capsys):
    from datatwin.cli import main

    df, syn = fitted
    model = tmp_path / "m.dtw"
    syn.save(model)
    out = tmp_path / "w.csv"
    main(["sample", str(model), "-n", "200", "-o", str(out), "--what-if", "age=+5"])
    assert len(pd.read_csv(out)) == 200
    with pytest.raises(SystemExit) as exc:
        main(["sample", str(model), "-n", "5", "-o", str(tmp_path / "x.csv"), "--what-if", "age=^2"])
    assert exc.value.code == 1 and "--what-if" in capsys.readouterr().err
