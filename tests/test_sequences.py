"""Histories generated in lock-step blocks: seeded per block, keys intact, the frame path and
the code path interchangeable in what they guarantee."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
import torch

from datatwin import DatabaseSynthesizer, SequenceSynthesizer
from datatwin.cli import main
from datatwin.io import write_table
from datatwin.relational import _dates, _model, _sequence
from relational_helpers import check_keys, lag1, tiny_sequence_db


def _walks(n_ent: int = 30, n_steps: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "store": np.repeat(np.arange(n_ent), n_steps),
        "week": np.tile(pd.date_range("2024-01-05", periods=n_steps, freq="7D").strftime("%Y-%m-%d"), n_ent),
        "price": (100 + np.cumsum(rng.normal(0, 1, n_ent * n_steps))).round(2),
        "promo": rng.choice(["none", "tv", "web"], n_ent * n_steps),
    })


@pytest.fixture(scope="module")
def walks():
    return SequenceSynthesizer("store", "week", engine_options={"max_epochs": 3}).fit(_walks())


@pytest.fixture(scope="module")
def tiny_db():
    db = tiny_sequence_db()
    assert "sequence" in db.plans_["trans"]
    return db


def test_history_blocks_cover_every_entity_once():
    lengths = np.array([3, 5, 100_000, 2, 99_990, 4, 6])
    blocks = _sequence.history_blocks(lengths)
    assert blocks[0][0] == 0 and blocks[-1][1] == len(lengths)
    assert all(a < b for a, b in blocks)
    assert all(b == a2 for (_, b), (a2, _) in zip(blocks[:-1], blocks[1:], strict=True))
    # Each block is within the row budget unless it is one entity alone.
    assert all(lengths[a:b].sum() <= _sequence.HISTORY_BLOCK_ROWS or b - a == 1 for a, b in blocks)


def test_a_block_is_the_same_whoever_else_is_generated(walks, monkeypatch):
    """Rows depend on the seed and the block only: the first block's histories come out the same
    whether the other blocks are generated in the same call or not."""
    monkeypatch.setattr(_sequence, "HISTORY_BLOCK_ROWS", 100)  # 5 entities of 20 steps per block
    db = walks.database_
    plan = db.plans_["data"]
    first, step = db.synthesizers_["data#first"].model_, db.synthesizers_["data"].model_
    ctx = pd.DataFrame({"ctx.__n.data.store": np.full(12, 20), "ctx.__start.data.store": ["2024-01-05"] * 12})
    ctx = ctx[[c for c in ctx.columns if c in step.columns]]
    lengths, starts = np.full(12, 20), np.full(12, 19727.0)
    full, ent = _sequence.generate_histories(first, step, plan["sequence"], ctx, lengths, starts, 7, 7.0)
    part, ent5 = _sequence.generate_histories(first, step, plan["sequence"], ctx.iloc[:5], lengths[:5], starts[:5],
                                              7, 7.0)
    assert len(_sequence.history_blocks(lengths)) == 3
    pd.testing.assert_frame_equal(full.iloc[: len(part)].reset_index(drop=True), part)
    assert (ent[: len(part)] == ent5).all()
    # ... and another block is not a copy of it.
    assert not np.array_equal(full["price"].to_numpy()[:100], full["price"].to_numpy()[100:200])


def test_same_seed_same_bytes_different_seed_differs(walks):
    a, b, c = walks.sample(seed=3), walks.sample(seed=3), walks.sample(seed=4)
    assert a.to_csv(index=False) == b.to_csv(index=False)
    assert a.to_csv(index=False) != c.to_csv(index=False)


def test_histories_keep_their_shape(walks):
    out = walks.sample(seed=1)
    assert out.groupby("store").size().eq(20).all()
    assert pd.to_datetime(out["week"]).groupby(out["store"]).diff().dropna().dt.days.eq(7).all()
    assert set(out["promo"].dropna()) <= {"none", "tv", "web"}
    assert out["price"].notna().all()


def test_database_keys_intact_with_code_path(tiny_db):
    out = tiny_db.sample(scale=2.0, seed=5)
    trans, account = out["trans"], out["account"]
    assert trans["trans_id"].is_unique and account["account_id"].is_unique
    assert trans["account_id"].isin(account["account_id"]).all()
    dates = pd.to_datetime(trans["date"])
    assert dates.groupby(trans["account_id"]).apply(lambda s: s.is_monotonic_increasing).all()
    again = tiny_db.sample(scale=2.0, seed=5)
    for t in out:
        pd.testing.assert_frame_equal(out[t], again[t])


def test_frame_path_keeps_the_same_guarantees(walks, monkeypatch):
    """Models with constraints or generated columns go through frames; same invariants, same seeding."""
    monkeypatch.setattr(_sequence.StepCodes, "usable", staticmethod(lambda model, plan: False))
    out = walks.sample(seed=1)
    assert out.groupby("store").size().eq(20).all()
    assert pd.to_datetime(out["week"]).groupby(out["store"]).diff().dropna().dt.days.eq(7).all()
    assert out.to_csv(index=False) == walks.sample(seed=1).to_csv(index=False)


# ------------------------------------------------------------------ shards: memory follows the shard
def test_shards_stream_to_the_same_files_as_the_whole_database(tiny_db, tmp_path, monkeypatch):
    """With the database cut into shards, the folder written shard by shard holds exactly the
    tables of sample(), and keys stay unique and intact across shards."""
    monkeypatch.setattr(_model, "SHARD_ROWS", 400)
    assert tiny_db.n_shards(3.0) > 2
    whole = tiny_db.sample(scale=3.0, seed=4)
    check_keys(tiny_db.schema_, whole)
    assert whole["customer"]["customer_id"].tolist() == list(range(1, len(whole["customer"]) + 1))
    model = tmp_path / "m.dtw"
    tiny_db.save(model)
    main(["sample", str(model), "-o", str(tmp_path / "out"), "--scale", "3", "--seed", "4"])
    for t, df in whole.items():
        write_table(df, tmp_path / f"{t}.csv")
        assert (tmp_path / "out" / f"{t}.csv").read_bytes() == (tmp_path / f"{t}.csv").read_bytes(), t
    target = f"sqlite:///{tmp_path / 'syn.db'}"
    main(["sample", str(model), "-o", target, "--scale", "3", "--seed", "4"])
    con = sqlite3.connect(tmp_path / "syn.db")
    try:
        for t, df in whole.items():
            assert con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] == len(df), t
        dangling = con.execute("SELECT COUNT(*) FROM trans t LEFT JOIN account a ON t.account_id = a.account_id "
                               "WHERE a.account_id IS NULL").fetchone()[0]
    finally:
        con.close()
    assert dangling == 0


def test_shard_count_depends_on_the_scale_not_on_the_writer(tiny_db, monkeypatch):
    monkeypatch.setattr(_model, "SHARD_ROWS", 400)
    parts = list(tiny_db.iter_sample(scale=3.0, seed=4))
    assert len(parts) == tiny_db.n_shards(3.0)
    # Every shard is a small database of its own: each root table has rows in it.
    assert all(len(p["customer"]) and len(p["employee"]) and len(p["tag"]) for p in parts)
    assert tiny_db.n_shards(0.01) == 1


# ------------------------------------------------------------------ temporal quality
@pytest.mark.parametrize("phi", [0.2, 0.8])
def test_ar1_autocorrelation_comes_back(phi):
    """An AR(1) table: the synthetic histories' lag-1 autocorrelation is near the real one, for
    a weakly and a strongly persistent series alike (changes are conditioned on the level)."""
    rng = np.random.default_rng(0)
    rows = []
    for e in range(40):
        x = rng.normal(0, 1 / np.sqrt(1 - phi**2))
        for t in range(40):
            x = phi * x + rng.normal()
            rows.append((e, t, round(x, 3)))
    df = pd.DataFrame(rows, columns=["unit", "t", "x"])
    out = SequenceSynthesizer("unit", "t", engine_options={"max_epochs": 20}).fit(df).sample(seed=1)
    real, syn = lag1(df, "unit", "x"), lag1(out, "unit", "x")
    assert abs(syn - real) < 0.12, (real, syn)


def test_numbers_that_move_together_do_not_drift_apart():
    """A close, high and low that are one random walk plus small spreads: generated as spreads
    from their anchor, so after 150 steps high and low still bracket close."""
    rng = np.random.default_rng(3)
    n_ent, n = 8, 150
    close = 100 + np.cumsum(rng.normal(0, 1, (n_ent, n)), axis=1)
    high = close + np.abs(rng.normal(0, 0.5, (n_ent, n)))
    low = close - np.abs(rng.normal(0, 0.5, (n_ent, n)))
    df = pd.DataFrame({"tk": np.repeat(np.arange(n_ent), n), "day": np.tile(np.arange(n), n_ent),
                       "close": close.ravel().round(2), "high": high.ravel().round(2), "low": low.ravel().round(2)})
    seq = SequenceSynthesizer("tk", "day", engine_options={"max_epochs": 5}).fit(df)
    assert seq.database_.plans_["data"]["sequence"]["spread"] == {"high": "close", "low": "close"}
    out = seq.sample(seed=0)
    assert (out["high"] >= out["low"]).mean() > 0.95
    assert (out["high"] - out["close"]).abs().quantile(0.95) < 5  # real: about 1; drifting walks: tens
    assert lag1(out, "tk", "close") > 0.8


def test_calendar_of_a_date_index():
    days = np.array([0.0, 3.0, 31.0 + 28 + 31, np.nan])  # 1970-01-01 (Thu), 01-04 (Sun), 04-01
    cal = _sequence._calendar(days)
    assert cal["seq.doy"][:3].tolist() == [0.0, 3.0, 90.0] and np.isnan(cal["seq.doy"][3])
    assert cal["seq.dow"][:3].tolist() == [3.0, 6.0, 2.0]


def test_levels_of_their_own_do_not_wander():
    """Each store's sales swing around the store's own level (lag-1 autocorrelation near 0),
    beside a price that is a random walk. Sales are generated as distances from the history's
    mean, the price as changes; summed changes made the sales wander (autocorrelation ~0.9)."""
    rng = np.random.default_rng(5)
    n_ent, n = 40, 40
    level = rng.uniform(100, 1000, n_ent)[:, None]
    sales = level * (1 + rng.normal(0, 0.1, (n_ent, n)))
    price = 50 + np.cumsum(rng.normal(0, 1, (n_ent, n)), axis=1)
    df = pd.DataFrame({"store": np.repeat(np.arange(n_ent), n), "week": np.tile(np.arange(n), n_ent),
                       "sales": sales.ravel().round(1), "price": price.ravel().round(2)})
    seq = SequenceSynthesizer("store", "week", engine_options={"max_epochs": 20}).fit(df)
    assert seq.database_.plans_["data"]["sequence"]["reverting"] == ["sales"]
    out = seq.sample(seed=0)
    real, syn = lag1(df, "store", "sales"), lag1(out, "store", "sales")
    assert abs(syn - real) < 0.2, (real, syn)
    # Stores keep levels of their own: the spread of store means is the real one's, within reason.
    ratio = out.groupby("store")["sales"].mean().std() / df.groupby("store")["sales"].mean().std()
    assert 0.6 < ratio < 1.5, ratio
    assert lag1(out, "store", "price") > 0.8

def _shared_moves(n_ent: int = 40, n: int = 40, seed: int = 3, own_dates: bool = False) -> pd.DataFrame:
    """A fuel price every store follows (a national random walk times a regional factor) and a
    temperature with a season common to all stores (it crosses zero), each with a little noise
    of the store's own."""
    rng = np.random.default_rng(seed)
    national = 3.0 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    season = 10 * np.sin(np.arange(n) / 6)
    fuel = national[None, :] * rng.uniform(0.9, 1.1, n_ent)[:, None] * np.exp(rng.normal(0, 0.003, (n_ent, n)))
    temp = season[None, :] + rng.normal(0, 4, n_ent)[:, None] + rng.normal(0, 0.5, (n_ent, n))
    weeks = np.tile(np.arange(n) * 7, n_ent)
    if own_dates:  # every store on its own days: no dates shared
        weeks = weeks + np.repeat(rng.integers(0, 7, n_ent), n)
    return pd.DataFrame({"store": np.repeat(np.arange(n_ent), n),
                         "date": (pd.Timestamp("2024-01-01") + pd.to_timedelta(weeks, "D")).strftime("%Y-%m-%d"),
                         "fuel": fuel.ravel().round(3), "temp": temp.ravel().round(1)})


def test_moves_shared_by_every_entity_at_a_date_are_kept(tmp_path):
    """Stores generated one by one each followed a fuel price of their own; the real ones all
    follow the same national path. The path of the mean move at each date is learned and added
    back at the generated dates, so the synthetic stores move together, as the real ones do."""
    df = _shared_moves()
    seq = SequenceSynthesizer("store", "date", engine_options={"max_epochs": 20}).fit(df)
    common = seq.database_.plans_["data"]["sequence"]["common"]
    assert set(common) == {"fuel", "temp"}
    assert common["fuel"]["ratio"] and not common["temp"]["ratio"]  # positive: a ratio; crossing 0: a sum
    out = seq.sample(seed=0)
    real, syn = df.groupby("date")["temp"].mean(), out.groupby("date")["temp"].mean()
    both = real.index.intersection(syn.index)
    assert len(both) >= 35
    # The season at each date within 0.5 degrees (summed per store: 1.0 off, walks of their own).
    assert np.abs(real[both] - syn[both]).mean() < 0.5
    # Each store keeps its factor to the national fuel price (real spread 0.003; each store on a
    # walk of its own: 0.025).
    def spread(d: pd.DataFrame) -> float:
        return float((d["fuel"] / d.groupby("date")["fuel"].transform("mean")).groupby(d["store"]).std().median())

    assert spread(out) < 2 * spread(df)
    seq.save(tmp_path / "m.dtw")  # the paths travel in the model file
    assert DatabaseSynthesizer.load(tmp_path / "m.dtw").sample(seed=0)["data"].equals(out)
    assert out["fuel"].between(df["fuel"].min(), df["fuel"].max()).all()


def test_entities_on_dates_of_their_own_have_no_common_path():
    df = _shared_moves(own_dates=True)
    plan = _sequence.sequence_plan(df, "data", "store", "date", set())
    assert plan["common"] == {}
    few = _shared_moves(n_ent=6)  # a mean move of 6 stores is too close to each store's own
    assert _sequence.sequence_plan(few, "data", "store", "date", set())["common"] == {}


# ------------------------------------------------------------------ the step-by-step engine path
def _given_cases(eng, rng, n_cases=8):
    subs = eng.subcolumns_
    for case in range(n_cases):
        n = int(rng.choice([1, 3, 40, 700]))
        cols = set(rng.choice(eng.n_columns_, int(rng.integers(0, eng.n_columns_)), replace=False).tolist())
        fixed = {j: rng.integers(0, sc.cardinality, n) for j, sc in enumerate(subs) if sc.column in cols}
        wide = [j for j in fixed if j + 1 in fixed and subs[j + 1].column == subs[j].column]
        if case % 3 == 2 and wide:
            # A column given in part (a number's bin but not its fine code): its other
            # sub-columns are drawn in between the given ones.
            fixed.pop(wide[0] + 1)
        yield case, n, fixed


def test_sample_given_draws_the_codes_of_sample(walks):
    """The engine's path for many small calls around given codes (one per history step) is
    sample(), byte for byte: any given set, forbidden codes (also all of a sub-column's), and a
    second call that finds its column order cached."""
    model = walks.database_.synthesizers_["data"].model_
    eng = model.engine
    rng = np.random.default_rng(0)
    forbid = [np.asarray(f) for f in model.forbidden]
    forbid[-1] = np.array([0])
    forbid[-2] = np.arange(eng.subcolumns_[-2].cardinality)  # all forbidden: none is
    for forbidden in (model.forbidden, forbid):
        for case, n, fixed in _given_cases(eng, rng):
            want = eng.sample(n, seed=case, forbidden=forbidden, fixed=fixed)
            assert np.array_equal(eng.sample_given(n, seed=case, forbidden=forbidden, fixed=fixed), want)
            assert np.array_equal(eng.sample_given(n, seed=case, forbidden=forbidden, fixed=fixed), want)
    # The cases took each way in and out of the plan: given codes first (by slices) or spread
    # out (a column given in part), drawn ones in their own order or not.
    plans = [p for p in eng.net_.given.values() if p is not None]
    assert {p.n_lead > 0 for p in plans if p.fixed_pos} == {True, False}
    assert {p.in_order for p in plans} == {True, False}


def test_sample_given_redraws_overflowing_rows_as_sample_does():
    """Logits that overflow exp() take sample()'s stable fallback on the same rows."""
    from datatwin.encoding import SubColumn
    from datatwin.engines import ARGNEngine

    codes = np.random.default_rng(1).integers(0, 5, size=(400, 3)).astype(np.int32)
    subs = [SubColumn(0, "a", 5), SubColumn(1, "b", 5), SubColumn(2, "c", 5)]
    eng = ARGNEngine(max_epochs=1, n_threads=1).fit(codes, subs, seed=0)
    with torch.no_grad():
        for b2 in eng.net_.b2:
            b2.add_(torch.linspace(0, 200, b2.shape[-1]))  # exp(200) overflows float32
    eng.net_.folded.clear()
    forbidden = [np.array([], dtype=np.int64)] * 3
    rng = np.random.default_rng(2)
    for case, n, fixed in _given_cases(eng, rng, 6):
        want = eng.sample(n, seed=case, forbidden=forbidden, fixed=fixed)
        assert np.array_equal(eng.sample_given(n, seed=case, forbidden=forbidden, fixed=fixed), want)


def test_history_blocks_drawn_side_by_side_give_the_same_bytes(walks, monkeypatch):
    """Blocks are drawn by several threads when cores allow; the rows are those of one thread."""
    monkeypatch.setattr(_sequence, "HISTORY_BLOCK_ROWS", 100)
    monkeypatch.setattr(_sequence, "block_threads", lambda model, n: 1)
    one = walks.sample(2.0, seed=5).to_csv(index=False)
    monkeypatch.setattr(_sequence, "block_threads", lambda model, n: min(3, n))
    assert walks.sample(2.0, seed=5).to_csv(index=False) == one


def test_prices_of_every_size_move_by_ratios():
    """Geometric random walks from $2 to $600: modelled as logs (one set of change bins for
    every size), so cheap and dear entities alike get daily moves of about the real 2 %, and
    the output keeps the table's 2 decimals."""
    rng = np.random.default_rng(11)
    n_ent, n = 30, 60
    start = np.exp(rng.uniform(np.log(2), np.log(600), n_ent))[:, None]
    price = start * np.exp(np.cumsum(rng.normal(0, 0.02, (n_ent, n)), axis=1))
    df = pd.DataFrame({"tk": np.repeat(np.arange(n_ent), n), "day": np.tile(np.arange(n), n_ent),
                       "price": price.ravel().round(2)})
    seq = SequenceSynthesizer("tk", "day", engine_options={"max_epochs": 20}).fit(df)
    plan = seq.database_.plans_["data"]["sequence"]
    assert plan["log"] == {"price": 2} and plan["reverting"] == []
    out = seq.sample(seed=0)
    assert (out["price"] > 0).all() and (out["price"] == out["price"].round(2)).all()
    moves = out.groupby("tk")["price"].apply(lambda s: np.log(s).diff().std())
    cheap = out.groupby("tk")["price"].first() < 50
    assert cheap.any() and (~cheap).any()
    # Cheap and dear entities move by similar ratios (additive steps gave cheap ones far more).
    assert 0.5 < moves[cheap].median() / moves[~cheap].median() < 2, moves
    assert 0.01 < moves.median() < 0.04, moves.median()


def test_counts_spanning_magnitudes_with_a_few_zeros_are_logs():
    """Trading volumes from thousands to millions with 3 zero days in 2,400: a log of x + 1 (the
    zeros kept, exactly back to integers); with many zeros a column is a mixture and stays as it is."""
    rng = np.random.default_rng(2)
    n_ent, n = 40, 60
    volume = np.round(np.exp(rng.uniform(7, 16, n_ent))[:, None] * np.exp(rng.normal(0, 0.3, (n_ent, n))))
    volume.ravel()[[5, 700, 1900]] = 0
    df = pd.DataFrame({"tk": np.repeat(np.arange(n_ent), n), "day": np.tile(np.arange(n), n_ent),
                       "volume": volume.ravel().astype(np.int64)})
    plan = _sequence.sequence_plan(df, "data", "tk", "day", set())
    assert plan["log"] == {"volume": 0} and plan["log_shift"] == {"volume": 1.0}
    units = _sequence.to_model_units(plan, df)["volume"].to_numpy()
    assert units.min() == 0.0 and np.isfinite(units).all()
    back = _sequence.from_model_units(plan, "volume", units, df["day"].to_numpy(float))
    assert np.array_equal(back, df["volume"].to_numpy())
    many = df.assign(volume=np.where(np.arange(len(df)) % 10 == 0, 0, df["volume"]))
    assert _sequence.sequence_plan(many, "data", "tk", "day", set())["log"] == {}


def test_a_parent_drawn_without_a_start_still_costs_one_call_per_step(tiny_db, monkeypatch):
    """A parent drawn with children but no start: its histories begin at the filled start, and
    the step model is told that start, so a step stays one engine call (a missing start was
    drawn anew at every step, in a second call for those entities)."""
    plan = tiny_db.plans_["trans"]
    fk = tiny_db.schema_.foreign_keys[plan["context"]]
    start_col = _model._start_col(fk)
    pf = tiny_db.synthesizers_[fk.parent_table].sample(60, seed=1)
    counts = _model._counts(pf, _model._count_col(fk))
    assert f"ctx.{start_col}" in [f"ctx.{c}" for c in plan["ctx_columns"]] and (counts > 0).sum() > 3
    pf[start_col] = pf[start_col].where(~np.isin(np.arange(len(pf)), np.flatnonzero(counts > 0)[:3]))
    ctx = pd.DataFrame({f"ctx.{c}": pf[c].to_numpy() for c in plan["ctx_columns"]})
    engine = tiny_db.synthesizers_["trans"].model_.engine
    calls = []

    def counted(n, **kw):
        calls.append(n)
        return type(engine).sample_given(engine, n, **kw)

    monkeypatch.setattr(engine, "sample_given", counted)
    frame, prow = tiny_db._sample_sequences(plan, tiny_db.synthesizers_["trans"], ctx, counts, pf, fk, 3)
    assert len(calls) == counts.max() - 1  # steps 1, 2, ...: one call each
    assert len(frame) == counts.sum()


def test_month_end_events_land_on_the_last_day():
    """Accounts get interest on each month's last day, between purchases on days of their own:
    the step model is told the days left in the month, so the gap that reaches its end is learnable
    (without it, synthetic month ends were as rare as any other day)."""
    rng = np.random.default_rng(4)
    rows = []
    for acc in range(60):
        day = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(rng.integers(0, 20)))
        while day < pd.Timestamp("2024-06-01"):
            end = day + pd.Timedelta(days=1) + pd.offsets.MonthEnd(0)  # the next month end after day
            buy = day + pd.Timedelta(days=int(rng.integers(1, 8)))
            if buy < end:
                rows.append((acc, buy, "buy", round(float(rng.gamma(2, 30)), 2)))
                day = buy
            else:
                rows.append((acc, end, "interest", round(float(rng.uniform(1, 3)), 2)))
                day = end
    df = pd.DataFrame(rows, columns=["acc", "date", "kind", "amount"])
    df["date"] = df["date"].dt.strftime("%Y-%m-%d")
    seq = SequenceSynthesizer("acc", "date", engine_options={"max_epochs": 30}).fit(df)
    out = seq.sample(seed=0)
    real_share = pd.to_datetime(df["date"]).dt.is_month_end.mean()
    syn_share = pd.to_datetime(out["date"]).dt.is_month_end.mean()
    assert abs(syn_share - real_share) < 0.08, (real_share, syn_share)
    # Month ends carry the interest: far more of them than of the other days' rows.
    ends = pd.to_datetime(out["date"]).dt.is_month_end
    interest = out["kind"] == "interest"
    assert interest[ends].mean() > 2 * interest[~ends].mean()


# ------------------------------------------------------------------ a shared calendar of dates
def _business_days(n_ent: int = 30, n_days: int = 120, seed: int = 6) -> pd.DataFrame:
    """Tickers on one calendar of trading days (Monday to Friday), each a random walk."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2024-01-01", periods=n_days)
    return pd.DataFrame({
        "ticker": np.repeat([f"t{i}" for i in range(n_ent)], n_days),
        "date": np.tile(days.strftime("%Y-%m-%d"), n_ent),
        "price": (50 + np.cumsum(rng.normal(0, 1, n_ent * n_days))).round(2),
    })


@pytest.fixture(scope="module")
def trading():
    return SequenceSynthesizer("ticker", "date", engine_options={"max_epochs": 5}).fit(_business_days())


def _on_real_days(out: pd.DataFrame, real: pd.DataFrame) -> None:
    d = pd.to_datetime(out["date"])
    assert len(out) and out["date"].isin(set(real["date"])).all(), sorted(set(out["date"]) - set(real["date"]))[:5]
    assert (d.dt.day_of_week < 5).all()
    assert d.groupby(out["ticker"]).apply(lambda s: s.is_monotonic_increasing and s.is_unique).all()


def test_entities_on_one_calendar_get_dates_of_that_calendar(trading, tmp_path, monkeypatch):
    """Tickers that trade on business days: a drawn gap of one day after a Friday is the Monday,
    never a Saturday, and a history squeezed into the real window stays on the trading days. Both
    generation paths do so, and the calendar travels in the model file."""
    real = _business_days()
    plan = trading.database_.plans_["data"]["sequence"]
    assert len(plan["grid"]) == real["date"].nunique()
    out = trading.sample(seed=0)
    _on_real_days(out, real)
    trading.save(tmp_path / "m.dtw")
    assert DatabaseSynthesizer.load(tmp_path / "m.dtw").sample(seed=0)["data"].equals(out)
    monkeypatch.setattr(_sequence.StepCodes, "usable", staticmethod(lambda model, plan: False))
    _on_real_days(trading.sample(seed=0), real)


def test_entities_on_dates_of_their_own_have_no_grid():
    """Accounts with transactions at gaps of their own (berka) share no calendar: no grid, and
    their generated times are the drawn gaps as before."""
    rng = np.random.default_rng(2)
    rows = []
    for acc in range(40):
        day = pd.Timestamp("2023-01-01") + pd.to_timedelta(np.cumsum(rng.integers(1, 12, 30)), unit="D")
        rows.append(pd.DataFrame({"acc": acc, "date": day.strftime("%Y-%m-%d"),
                                  "amount": rng.gamma(2, 30, 30).round(2)}))
    df = pd.concat(rows, ignore_index=True)
    assert "grid" not in _sequence.sequence_plan(df, "data", "acc", "date", set())
    one = df[df["acc"] == 0]  # a single entity's own dates are not a calendar either
    assert "grid" not in _sequence.sequence_plan(one.assign(acc=[0] * 15 + [1] * 15), "data", "acc", "date", set())
    assert "grid" in _sequence.sequence_plan(pd.concat([one, one.assign(acc=1)]), "data", "acc", "date", set())


def test_a_step_after_a_friday_lands_on_the_next_trading_day():
    grid = _model_days(pd.bdate_range("2024-01-01", periods=10))  # Mon 1 Jan .. Fri 12 Jan
    fri, mon = grid[4], grid[5]
    got = _dates.grid_step(np.array([fri, fri, fri, grid[0], grid[9]]), np.array([1.0, 3.0, 4.0, 0.2, 1.0]),
                           grid, ties=False)
    # one day after Friday: Monday; three: Monday; four: Tuesday; a tiny gap: the next day
    # (strictly after); past the grid's end: as drawn, for the window to handle.
    assert got.tolist() == [mon, mon, grid[6], grid[1], grid[9] + 1.0]
    assert _dates.grid_step(np.array([grid[0]]), np.array([0.2]), grid, ties=True).tolist() == [grid[0]]
    assert _dates.grid_start(np.array([grid[4] + 1.0, grid[0] - 30.0]), grid).tolist() == [grid[5], grid[0]]


def test_a_history_squeezed_into_the_window_stays_on_the_grid_in_order():
    """A history running past the window's end is squeezed about its start, then put back on the
    calendar: strictly increasing grid dates, its last on the end; one with more steps than the
    dates left keeps its order on consecutive trading days and runs on past the end (weekdays)."""
    grid = _model_days(pd.bdate_range("2024-01-01", periods=20))
    end = grid[-1]
    fits = grid[2] + np.array([0.0, 6.0, 13.0, 20.0, 40.0])  # 5 steps from grid[2], past the end
    tight = grid[15] + np.arange(8) * 3.0  # 8 steps from grid[15]: only 5 dates left
    t = np.r_[fits, tight]
    ent = np.r_[np.zeros(5, int), np.ones(8, int)]
    start = np.r_[np.full(5, grid[2]), np.full(8, grid[15])]
    out = _dates.fit_window(t, ent, start, end, 1.0, True, grid, dated=True)
    a, b = out[:5], out[5:]
    assert np.isin(a, grid).all() and np.all(np.diff(a) > 0) and a[0] == grid[2] and a[-1] == end
    assert b[:5].tolist() == grid[15:].tolist() and np.all(np.diff(b) > 0)
    past = pd.to_datetime(b[5:] * 86400, unit="s")
    assert (past.day_of_week < 5).all() and past[0] == pd.Timestamp("2024-01-29")  # the Monday after
    # Without a grid, the squeeze is as it was: the last step on the end, dates off the calendar.
    plain = _dates.fit_window(t, ent, start, end, 1.0, True)
    assert plain[4] == end and not np.isin(plain[:5], grid).all()


def _model_days(days: pd.DatetimeIndex) -> np.ndarray:
    return ((days - pd.Timestamp("1970-01-01")).total_seconds() / 86400.0).to_numpy(float)


@pytest.mark.parametrize("plan", [{"index_kind": "datetime", "index_format": "%Y-%m-%d"},
                                  {"index_kind": "datetime", "index_format": "%d/%m/%Y %H:%M"},
                                  {"index_kind": "datetime", "index_format": None},
                                  {"index_kind": "numeric", "index_format": None}])
def test_index_times_are_what_the_formatted_order_column_reads_back(plan):
    """A sampled history's times are moved into the real window as its formatted order column
    would read back; index_times gives those times without formatting and parsing the text:
    dates as days floored to their day (before 1970 too, and for times just short of midnight)."""
    rng = np.random.default_rng(4)
    x = np.r_[rng.uniform(-3000, 12000, 400), np.round(rng.uniform(-50, 50, 50)), 9000.0 - 0.4 / 86400,
              9000.0 - 0.6 / 86400, -1.0 - 1e-7, np.nan]
    want = _sequence._to_time(_sequence.format_index(x, plan), plan["index_kind"])
    got = _sequence.index_times(x, plan)
    assert np.array_equal(got, want, equal_nan=True)
    if plan["index_format"] == "%Y-%m-%d":
        assert np.array_equal(got[:-1], np.floor(got[:-1])) and not np.array_equal(got[:-1], x[:-1])


def test_a_number_missing_alone_in_real_histories_is_never_missing_for_long():
    """Six lone missing values in 6,000 steps: the step model barely learns what follows one, and a
    drawn gap ran on (27-84 missing steps in a row over 3 seeds). A number never missing twice in a
    row gets its last known value when it would be."""
    rng = np.random.default_rng(0)
    parts = []
    for e in range(40):
        x = 50 + np.cumsum(rng.normal(0, 1, 150))
        parts.append(pd.DataFrame({"k": e, "t": np.arange(150), "x": x, "y": x + rng.normal(0, 0.1, 150)}))
    df = pd.concat(parts, ignore_index=True)
    df.loc[rng.choice(len(df), 6, replace=False), "x"] = np.nan
    seq = SequenceSynthesizer("k", "t", engine_options={"max_epochs": 20}).fit(df)
    plan = next(p["sequence"] for p in seq.database_.plans_.values() if "sequence" in p)
    assert plan["lone_gaps"] == ["x", "y"]

    def runs(out: pd.DataFrame) -> int:
        miss = out.sort_values(["k", "t"])["x"].isna().to_numpy()
        return int((miss[1:] & miss[:-1]).sum())

    assert [runs(seq.sample(seed=s)) for s in range(3)] == [0, 0, 0]
    plan["lone_gaps"] = []  # as before: gaps run on
    assert sum(runs(seq.sample(seed=s)) for s in range(3)) > 10
