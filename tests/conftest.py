from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from pg_helpers import PgServer, pg_cluster

os.environ.setdefault("MPLCONFIGDIR", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "mpl"))


@pytest.fixture
def mixed_df() -> pd.DataFrame:
    """A small table with every modelled kind, missing values and a dependency between columns."""
    rng = np.random.default_rng(7)
    n = 400
    age = rng.integers(18, 80, n)
    income = np.round(20_000 + age * 900 + rng.normal(0, 8_000, n), 2)
    plan = np.where(age > 50, "gold", rng.choice(["basic", "plus"], n))
    df = pd.DataFrame({
        "age": age,
        "income": income,
        "plan": plan,
        "active": rng.random(n) > 0.3,
        "signup": pd.Series(pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"))
        .sample(frac=1, random_state=1).to_numpy(),
        "score": np.where(rng.random(n) < 0.1, np.nan, np.round(rng.normal(50, 10, n), 1)),
    })
    df.loc[rng.random(n) < 0.05, "plan"] = np.nan
    df["plan"] = df["plan"].astype("str").where(df["plan"].notna(), np.nan)
    return df


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    """A throwaway PostgreSQL cluster for the whole session (skips where the server binaries are missing)."""
    with pg_cluster() as server:
        yield server
