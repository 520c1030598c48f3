"""Numbers whose values are mostly rare are binned, not snapped to the nearest common value."""

import numpy as np
import pandas as pd

import datatwin


def test_a_mostly_rare_number_is_binned_not_snapped():
    # Ages in a 200-row survey: most values are seen fewer than 5 times. Moving each such row to
    # the nearest common age would reshape the column; binned, its quantiles stay.
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"age": rng.integers(18, 90, 200), "group": rng.choice(["a", "b"], 200)})
    syn = datatwin.Synthesizer(random_state=0, engine_options={"max_epochs": 20}).fit(real)
    enc = next(e for e in syn.table_encoder_.encoders if e.name == "age")
    assert enc.mode_ == "binned"
    out = syn.sample(4000, seed=0)
    assert out["age"].between(18, 89).all() and pd.api.types.is_integer_dtype(out["age"])
    q = [0.1, 0.25, 0.5, 0.75, 0.9]
    assert np.abs(out["age"].quantile(q).to_numpy() - real["age"].quantile(q).to_numpy()).max() < 5



def test_a_few_rare_values_keep_exact_values():
    # 5% of rows hold a rare amount: the column stays exact values; the rare ones never come out.
    rng = np.random.default_rng(1)
    amount = np.where(rng.random(2000) < 0.95, rng.choice([0, 100, 250], 2000), rng.integers(1000, 9000, 2000))
    real = pd.DataFrame({"amount": amount, "group": rng.choice(["a", "b"], 2000)})
    syn = datatwin.Synthesizer(random_state=0, engine_options={"max_epochs": 10}).fit(real)
    enc = next(e for e in syn.table_encoder_.encoders if e.name == "amount")
    assert enc.mode_ == "discrete"
    assert set(syn.sample(3000, seed=0)["amount"].unique()) <= {0, 100, 250}
