"""The shape many callers share: a fitted model is read-only while it samples (threads,
interleaved generators), fit is all or nothing, engines declare capabilities, and the
estimator follows scikit-learn's parameter conventions."""

from __future__ import annotations

import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import datatwin
from datatwin.engines import CONDITIONS, ENGINES, SAME_AS, Engine

CUSTOMERS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "customers.csv"
FAST = {"max_epochs": 3, "n_threads": 1}


def _bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    return buf.getvalue().encode()


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    """A customers-like table: a text id, names and an email (one fake person a row), numbers."""
    if CUSTOMERS.exists():
        return pd.read_csv(CUSTOMERS).head(800)
    rng = np.random.default_rng(0)
    n = 800
    return pd.DataFrame({"customer_id": [f"C{i:07d}" for i in rng.permutation(10**6)[:n]],
                         "first_name": rng.choice(["Ann", "Bob", "Cyd", "Dee", "Eve"], n),
                         "email": [f"user{i}@example.com" for i in range(n)],
                         "age": rng.integers(18, 80, n)})


@pytest.fixture(scope="module")
def people_model(people) -> datatwin.Synthesizer:
    return datatwin.Synthesizer(random_state=0, engine_options=FAST,
                                constraints=[datatwin.Unique(["email"])]).fit(people)


def test_threads_sampling_one_model_give_the_bytes_of_sequential_calls(people_model):
    sequential = [_bytes(people_model.sample(1500, seed=s)) for s in range(4)]
    barrier = threading.Barrier(4)

    def job(s: int) -> bytes:
        barrier.wait()  # start together, so the calls really overlap
        return _bytes(people_model.sample(1500, seed=s))

    for _ in range(2):
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(job, range(4))) == sequential


def test_threads_with_conditions_and_boost(mixed_df):
    syn = datatwin.Synthesizer(random_state=0, engine_options=FAST,
                               constraints=[datatwin.Range("age", None, 70)]).fit(mixed_df)
    calls = [dict(conditions={"plan": "gold"}), dict(rebalance={"plan": {"basic": 0.5}}),
             dict(boost={"where": {"active": True}, "share": 0.8}), dict(conditions={"age": (30, 40)})]
    sequential = [_bytes(syn.sample(700, seed=i, **kw)) for i, kw in enumerate(calls)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda ikw: _bytes(syn.sample(700, seed=ikw[0], **ikw[1])), enumerate(calls)))
    assert got == sequential


def test_interleaved_generators_give_what_each_gives_alone(people_model):
    alone_a = [_bytes(c) for c in people_model.iter_sample(1200, seed=1, chunk_size=300)]
    alone_b = [_bytes(c) for c in people_model.iter_sample(1200, seed=2, chunk_size=400)]
    a = people_model.iter_sample(1200, seed=1, chunk_size=300)
    b = people_model.iter_sample(1200, seed=2, chunk_size=400)
    got_a, got_b = [], []
    for chunk in a:  # b advances between every two chunks of a, until it runs out
        got_a.append(_bytes(chunk))
        nxt = next(b, None)
        if nxt is not None:
            got_b.append(_bytes(nxt))
    got_b += [_bytes(c) for c in b]
    assert got_a == alone_a
    assert got_b == alone_b


def test_sampling_writes_nothing_into_the_fitted_model(people_model):
    def snapshot() -> dict[str, object]:
        model = people_model.model_
        out: dict[str, object] = {"estimator": dict(vars(people_model))}
        for name, g in model.generators.items():
            out[f"gen.{name}"] = dict(vars(g))
        out["engine"] = {k: v for k, v in vars(model.engine).items() if k != "net_"}
        return {k: repr(v) for k, v in out.items()}

    before = snapshot()
    people_model.sample(500, seed=9)
    list(people_model.iter_sample(300, seed=10, chunk_size=100))
    assert snapshot() == before


def test_failed_refit_leaves_the_previous_model_whole(mixed_df):
    syn = datatwin.Synthesizer(random_state=0, engine_options=FAST).fit(mixed_df)
    model, before = syn.model_, _bytes(syn.sample(300, seed=1))
    syn.set_params(engine_options={"no_such_option": 1})
    with pytest.raises(datatwin.InputError, match="engine_options"):
        syn.fit(mixed_df.drop(columns=["score"]))
    syn.set_params(engine_options=FAST, constraints=[datatwin.Range("age", 50, 60), datatwin.Range("age", 20, 40)])
    with pytest.raises(datatwin.ConstraintError, match="conflict"):
        syn.fit(mixed_df.drop(columns=["score"]))
    assert syn.model_ is model
    assert syn.columns_ == list(mixed_df.columns)
    assert _bytes(syn.sample(300, seed=1)) == before


def test_clone_and_params_follow_scikit_learn():
    syn = datatwin.Synthesizer(engine="copula", random_state=3, engine_options={"x": 1}, constraints=["a <= b"])
    twin = clone(syn)
    assert twin is not syn and twin.get_params() == syn.get_params()
    assert twin.engine_options is not syn.engine_options  # clone copies parameters deeply
    assert set(syn.get_params()) == {"engine", "random_state", "rare_threshold", "max_categories",
                                     "max_training_time", "locale", "engine_options", "constraints", "privacy",
                                     "infer_formulas", "max_fit_rows"}
    assert syn.set_params(rare_threshold=7) is syn and syn.rare_threshold == 7
    with pytest.raises(datatwin.InputError, match="no parameter 'epochs'"):
        syn.set_params(epochs=3)
    assert repr(datatwin.Synthesizer()) == "Synthesizer()"
    assert repr(datatwin.Synthesizer(engine="copula")) == "Synthesizer(engine='copula')"


def test_clone_of_a_fitted_model_is_unfitted(mixed_df):
    syn = datatwin.Synthesizer(engine="copula").fit(mixed_df)
    twin = clone(syn)
    assert not hasattr(twin, "model_")
    with pytest.raises(datatwin.NotFittedError):
        twin.sample(5)


def test_engines_declare_capabilities():
    assert ENGINES["argn"].can(CONDITIONS) and ENGINES["argn"].can(SAME_AS)
    assert not ENGINES["copula"].can(CONDITIONS)
    assert Engine.capabilities == frozenset()


def test_an_engine_without_conditioning_is_refused_by_capability(mixed_df, monkeypatch):
    # The estimator asks the engine, never its name: an ARGN that declared no conditioning is refused too.
    syn = datatwin.Synthesizer(random_state=0, engine_options=FAST).fit(mixed_df)
    monkeypatch.setattr(type(syn.engine_), "capabilities", frozenset())
    with pytest.raises(datatwin.ConditionError, match="cannot sample under conditions"):
        syn.sample(10, conditions={"plan": "gold"})
    with pytest.raises(datatwin.ConditionError, match="cannot complete seed rows"):
        syn.sample(seed=mixed_df.head(3)[["age"]])


def test_thread_count_never_changes_the_model_or_its_rows(mixed_df):
    from datatwin.engines._argn import free_cores

    assert 1 <= free_cores() <= os.cpu_count()
    rows = []
    for threads in (1, 2):
        syn = datatwin.Synthesizer(random_state=0, engine_options={"max_epochs": 3, "n_threads": threads})
        rows.append(_bytes(syn.fit(mixed_df).sample(800, seed=1)))
    assert rows[0] == rows[1]


def test_blocks_drawn_side_by_side_give_the_bytes_and_counts_of_one_thread(mixed_df):
    """Over several seeded blocks, 2 threads draw blocks in parallel (one torch thread each):
    the rows and the constraint counts are those of one thread."""
    from datatwin.sampling import BLOCK, block_threads

    syn = datatwin.Synthesizer(random_state=0, engine_options=FAST,
                               constraints=[datatwin.Range("age", None, 70)]).fit(mixed_df)
    n = 2 * BLOCK + 1234
    got = {}
    for threads in (1, 2):
        syn.model_.engine.n_threads = threads
        assert block_threads(syn.model_, 3) == threads
        events: list[dict] = []

        def keep(ev, events=events):
            if ev.stage == "constraints":
                events.append(dict(ev.info))

        df = syn.sample(n, seed=5, chunk_size=70_000, progress=keep)
        got[threads] = (_bytes(df), events)
        full = df
    assert got[1] == got[2]
    assert got[1][1] and got[1][1][0]["rows"] >= n  # every row was checked, across the threads
    # A chunk iterator stopped early leaves no thread drawing.
    it = syn.iter_sample(n, seed=5, chunk_size=1000)
    first = next(it)
    assert len(first) == 1000 and _bytes(first) == _bytes(full.head(1000))
    it.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("datatwin-block")]


def test_a_unique_rule_on_learned_columns_keeps_blocks_in_one_thread(mixed_df):
    from datatwin.sampling import MAX_KEY_SHARES, block_threads

    syn = datatwin.Synthesizer(random_state=0, engine_options={**FAST, "n_threads": 2},
                               constraints=[datatwin.Unique(["income"])]).fit(mixed_df)
    assert block_threads(syn.model_, 3) == 2  # 3 blocks: one share of the key space each
    assert block_threads(syn.model_, MAX_KEY_SHARES + 1) == 1  # beyond: each remembers the keys before it
