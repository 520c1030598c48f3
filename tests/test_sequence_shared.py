"""Numbers whose whole history several entities share exactly (a region's fuel price and CPI):
found at fit, copied whole into generated entities, one real combination per entity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datatwin import DatabaseSynthesizer, SequenceSynthesizer
from datatwin.relational import _sequence


def _regions(n_region: int = 5, per_region: int = 6, n: int = 30, seed: int = 0, shared: bool = True) -> pd.DataFrame:
    """Stores in regions: each region has its own fuel-price and CPI walk that all its stores
    report exactly (``shared``; otherwise every store has walks of its own), and each store has
    its own sales."""
    rng = np.random.default_rng(seed)
    n_ent = n_region * per_region
    k = n_region if shared else n_ent
    fuel = (3.0 + np.cumsum(rng.normal(0, 0.03, (k, n)), axis=1)).round(3)
    cpi = (200.0 + np.cumsum(rng.normal(0.1, 0.2, (k, n)), axis=1)).round(4)
    region = np.repeat(np.arange(n_region), per_region) if shared else np.arange(n_ent)
    sales = 1000 + rng.normal(0, 50, (n_ent, n)) + rng.normal(0, 300, n_ent)[:, None]
    dates = pd.date_range("2020-01-03", periods=n, freq="7D").strftime("%Y-%m-%d")
    return pd.DataFrame({"store": np.repeat(np.arange(n_ent), n), "date": np.tile(dates, n_ent),
                         "sales": sales.ravel().round(2), "fuel": fuel[region].ravel(), "cpi": cpi[region].ravel()})


@pytest.fixture(scope="module")
def fitted():
    df = _regions()
    return df, SequenceSynthesizer("store", "date", engine_options={"max_epochs": 3}).fit(df)


def test_series_shared_by_several_entities_are_found_and_own_ones_are_not():
    plan = _sequence.sequence_plan(_regions(), "data", "store", "date", set())
    shared = plan["shared"]
    assert set(shared["columns"]) == {"fuel", "cpi"}  # sales: every store its own
    assert len(shared["paths"]["fuel"]) == 5 and len(shared["paths"]["cpi"]) == 5
    assert sum(shared["weights"]) == 30 and len(shared["combos"]) == 5  # fuel and CPI go together
    own = _sequence.sequence_plan(_regions(shared=False), "data", "store", "date", set())
    assert "shared" not in own


def test_a_series_of_one_entity_alone_is_never_stored():
    df = _regions()
    # Half the stores leave their region's fuel price for one of their own.
    alone = df["store"] % 6 >= 3
    df.loc[alone, "fuel"] = (df.loc[alone, "fuel"] + 0.001 * df.loc[alone, "store"]).round(3)
    shared = _sequence.sequence_plan(df, "data", "store", "date", set())["shared"]
    real = {tuple(g["fuel"]) for _, g in df[~alone].groupby("store")}
    assert {tuple(p) for p in shared["paths"]["fuel"]} == real  # the 5 regional series only
    fuel = shared["columns"].index("fuel")
    assert -1 in [c[fuel] for c in shared["combos"]]  # stores on their own: no fuel series
    # Fewer than half the stores on a shared series: the column is drawn by the step model.
    df.loc[df["store"] % 6 == 2, "fuel"] += 0.0005
    assert "fuel" not in (_sequence.sequence_plan(df, "data", "store", "date", set()).get("shared") or
                          {"columns": []})["columns"]


def test_generated_entities_follow_one_real_region_exactly(fitted, tmp_path):
    df, seq = fitted
    out = seq.sample(seed=0)
    regions = {(tuple(g["fuel"]), tuple(g["cpi"])) for _, g in df.groupby("store")}
    got = [(tuple(g["fuel"]), tuple(g["cpi"])) for _, g in out.groupby("store")]
    assert len(got) == 30
    # Every store's fuel price and CPI are one real region's, both of the same region.
    assert all(g in regions for g in got)
    assert len(set(got)) >= 3  # drawn per store, not one for all
    seq.save(tmp_path / "m.dtw")  # the series travel in the model file
    assert DatabaseSynthesizer.load(tmp_path / "m.dtw").sample(seed=0)["data"].equals(out)
    assert seq.sample(seed=0).to_csv(index=False) == out.to_csv(index=False)


def test_frame_path_copies_the_same_series(fitted, monkeypatch):
    df, seq = fitted
    monkeypatch.setattr(_sequence.StepCodes, "usable", staticmethod(lambda model, plan: False))
    out = seq.sample(seed=2)
    regions = {tuple(g["fuel"]) for _, g in df.groupby("store")}
    assert all(tuple(g["fuel"]) in regions for _, g in out.groupby("store"))


def _days(n_ent: int = 20, n: int = 60, seed: int = 1) -> pd.DataFrame:
    """Open and close of tickers: a day's open is the previous close plus a small overnight move,
    its close the open plus a larger move of the day."""
    rng = np.random.default_rng(seed)
    night, day = rng.normal(0, 0.003, (n_ent, n)), rng.normal(0, 0.03, (n_ent, n))
    log_close = np.log(rng.uniform(20, 200, n_ent))[:, None] + np.cumsum(night + day, axis=1)
    log_open = log_close - day
    dates = pd.bdate_range("2021-01-04", periods=n).strftime("%Y-%m-%d")
    return pd.DataFrame({"ticker": np.repeat([f"T{i}" for i in range(n_ent)], n), "date": np.tile(dates, n_ent),
                         "open": np.exp(log_open).ravel().round(2), "close": np.exp(log_close).ravel().round(2)})


def _night(d: pd.DataFrame) -> float:
    d = d.sort_values(["ticker", "date"])
    gap = np.log(d["open"]) - np.log(d.groupby("ticker")["close"].shift(1))
    return float(gap.std())


def test_a_number_closer_to_another_numbers_previous_value_moves_from_it():
    df = _days()
    plan = _sequence.sequence_plan(df, "data", "ticker", "date", set())
    assert plan["cross_base"] == {"open": "close"}
    # Closes at three times the open: the open is nearer its own previous value.
    assert "cross_base" not in _sequence.sequence_plan(df.assign(close=df["close"] * 3), "data", "ticker", "date",
                                                       set())
    seq = SequenceSynthesizer("ticker", "date", engine_options={"max_epochs": 15}).fit(df)
    out = seq.sample(seed=0)
    # The overnight move stays the small one (from the open's own lag: about 10 times larger).
    assert _night(out) < 2 * _night(df), (_night(out), _night(df))  # (own lag: 17 times)


def _bars(n_ent: int = 20, n: int = 60, seed: int = 2) -> pd.DataFrame:
    """Daily bars: open, close, and a high over both and a low under both."""
    df = _days(n_ent, n, seed)
    rng = np.random.default_rng(seed)
    top, bottom = np.maximum(df["open"], df["close"]), np.minimum(df["open"], df["close"])
    df["high"] = (top * np.exp(np.abs(rng.normal(0, 0.01, len(df))))).round(2)
    df["low"] = (bottom * np.exp(-np.abs(rng.normal(0, 0.01, len(df))))).round(2)
    return df


def test_a_high_stays_over_open_and_close_and_a_low_under_them():
    df = _bars()
    plan = _sequence.sequence_plan(df, "data", "ticker", "date", set())
    assert plan["envelope"] == {"high": {"side": "over", "of": ["open", "close"]},
                                "low": {"side": "under", "of": ["open", "close"]}}
    # One real high in a hundred under its close: no longer a rule.
    broken = df.copy()
    broken.loc[broken.index[::100], "high"] = broken["close"][::100] - 0.5
    assert "high" not in (_sequence.sequence_plan(broken, "data", "ticker", "date", set()).get("envelope") or {})
    out = SequenceSynthesizer("ticker", "date", engine_options={"max_epochs": 3}).fit(df).sample(seed=0)
    ok = out[["open", "close", "high", "low"]].notna().all(axis=1)
    o = out[ok]
    assert (o["high"] >= np.maximum(o["open"], o["close"])).all()
    assert (o["low"] <= np.minimum(o["open"], o["close"])).all()
    assert (o["high"] > np.maximum(o["open"], o["close"])).mean() > 0.5  # put back where crossed, not always


def test_logged_prices_keep_the_decimals_most_of_them_have():
    v = pd.Series(np.r_[np.full(98, 12.34), [12.3456, 1.2345]])
    assert _sequence._typical_decimals(v, 4) == 2
    assert _sequence._typical_decimals(pd.Series(np.r_[np.full(90, 12.34), np.full(10, 1.2345)]), 4) == 4
    assert _sequence._typical_decimals(v, None) is None
    def cheap(names: list[str]) -> pd.DataFrame:  # those tickers' prices under 1, at 4 decimals: logs
        df = _bars(n_ent=40)
        rows, cols = df["ticker"].isin(names), ["open", "close", "high", "low"]
        df.loc[rows, cols] = (df.loc[rows, cols] * 0.002).round(4)
        return df

    plan = _sequence.sequence_plan(cheap(["T0"]), "data", "ticker", "date", set())  # 2.5 % of rows at 4
    assert plan["log"]["open"] == 2
    assert _sequence.sequence_plan(cheap(["T0", "T1", "T2", "T3"]), "data", "ticker", "date",
                                   set())["log"]["open"] == 4  # 10 %: 4


def test_moves_of_a_common_path_are_centred_on_the_real_mean_each_step():
    plan = {"center": {"a": 0.5}, "spread": {}}
    rng = np.random.default_rng(0)
    d = {"a": rng.normal(2.0, 1.0, 40), "b": rng.normal(2.0, 1.0, 40)}
    d["a"][:3] = np.nan
    out = _sequence._centered(plan, d, set(), False)
    assert abs(np.nanmean(out["a"]) - 0.5) < 1e-12 and np.isnan(out["a"][:3]).all()
    assert np.allclose(np.nanstd(out["a"]), np.nanstd(d["a"]))  # shifted together, not squeezed
    assert out["b"] is d["b"]  # not a centred number
    few = {"a": rng.normal(2.0, 1.0, 5)}
    assert np.array_equal(_sequence._centered(plan, few, set(), False)["a"], few["a"])  # 5 entities: their own
    # Found at fit for numbers with a common path; not for one that mostly does not move.
    df = _bars(n_ent=30)  # with a market every ticker moves with
    market = np.exp(np.cumsum(np.random.default_rng(4).normal(0.002, 0.02, 60)))
    at = np.tile(np.arange(60), 30)
    for c in ("open", "close", "high", "low"):
        df[c] = (df[c] * market[at]).round(2)
    assert set(_sequence.sequence_plan(df, "data", "ticker", "date", set())["center"]) == {"open", "close"}
    # A rate that all tickers change on two dates by about the same, and keep otherwise.
    g = np.random.default_rng(1)
    rate = g.uniform(3, 9, 30)[:, None] + (np.arange(60) >= 20) * (0.5 + g.normal(0, 0.05, (30, 1))) \
        - (np.arange(60) >= 40) * (0.3 + g.normal(0, 0.05, (30, 1)))
    plan = _sequence.sequence_plan(df.assign(rate=rate.ravel().round(2)), "data", "ticker", "date", set())
    assert "rate" in plan["common"] and "rate" not in plan["center"]
