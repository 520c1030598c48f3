"""Fitting on a Parquet dataset larger than ``max_fit_rows``: a seeded sample fits the encoders,
the network trains on every row streamed in batches, and bad datasets get one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import datatwin
from helpers import run_cli as cli

ADULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult.csv"
FAST = {"max_epochs": 4, "n_threads": 1}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    if ADULT.exists():
        return pd.read_csv(ADULT).head(12_000)
    rng = np.random.default_rng(0)
    n = 12_000
    age = rng.integers(18, 80, n)
    return pd.DataFrame({"age": age, "plan": np.where(age > 50, "gold", rng.choice(["basic", "plus"], n)),
                         "income": np.round(20_000 + age * 900 + rng.normal(0, 8_000, n), 2)})


@pytest.fixture(scope="module")
def dataset(table, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ds")
    for i in range(4):
        table.iloc[i * 3000:(i + 1) * 3000].to_parquet(folder / f"part-{i}.parquet")
    (folder / "_datatwin_manifest.json").write_text("{}")  # skipped by readers; marks one table in parts
    return folder


def test_a_streamed_fit_learns_as_well_as_one_in_memory(table, dataset):
    streamed = datatwin.Synthesizer(random_state=0, max_fit_rows=2000, engine_options=FAST).fit(dataset)
    whole = datatwin.Synthesizer(random_state=0, engine_options=FAST).fit(table)
    assert streamed.n_rows_ == len(table)
    assert list(streamed.columns_) == list(table.columns)
    # Validation losses are on held-out real rows in both fits: the streamed network, which saw
    # every row but learned its bins from 2,000, is about as good.
    assert streamed.engine_.val_loss_ < whole.engine_.val_loss_ * 1.1
    out = streamed.sample(3000, seed=1)
    assert out.shape == (3000, table.shape[1])
    for name in table.select_dtypes("number").columns:
        assert abs(out[name].median() - table[name].median()) <= 0.15 * table[name].std() + 1e-9
    # Same seed, same model: the sample and the training passes are seeded.
    again = datatwin.Synthesizer(random_state=0, max_fit_rows=2000, engine_options=FAST).fit(dataset)
    assert again.sample(500, seed=2).equals(streamed.sample(500, seed=2))


def test_a_dataset_within_max_fit_rows_is_read_whole(table, dataset):
    a = datatwin.Synthesizer(random_state=0, engine_options={"max_epochs": 2, "n_threads": 1}).fit(dataset)
    b = datatwin.Synthesizer(random_state=0, engine_options={"max_epochs": 2, "n_threads": 1}).fit(table)
    assert a.sample(300, seed=1).equals(b.sample(300, seed=1))


def test_the_sample_is_uniform_and_bounded():
    from datatwin.synthesizer._estimator import _uniform_rows

    rng = np.random.default_rng(0)
    rows = _uniform_rows(rng, 1_000_000, 10_000)
    assert len(np.unique(rows)) == 10_000 and rows.min() >= 0 and rows.max() < 1_000_000
    assert np.all(np.diff(rows) > 0)
    counts = np.histogram(rows, bins=10, range=(0, 1_000_000))[0]
    assert counts.min() > 900 and counts.max() < 1100
    assert len(_uniform_rows(rng, 100, 80)) == 80


def test_bad_datasets_get_one_clear_line(tmp_path, table, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(datatwin.InputError, match="holds no Parquet files"):
        datatwin.Synthesizer(max_fit_rows=10).fit(empty)
    no_rows = tmp_path / "norows"
    no_rows.mkdir()
    table.head(0).to_parquet(no_rows / "a.parquet")
    with pytest.raises(datatwin.InputError, match="has no rows"):
        datatwin.Synthesizer(max_fit_rows=10).fit(no_rows)
    mixed = tmp_path / "mixed.parquet"  # a folder named like a file: one table in parts
    mixed.mkdir()
    table.head(100).to_parquet(mixed / "a.parquet")
    table.head(100).rename(columns={table.columns[0]: "other"}).to_parquet(mixed / "b.parquet")
    with pytest.raises(datatwin.InputError, match="other columns or types than"):
        datatwin.Synthesizer(max_fit_rows=10).fit(mixed)
    capsys.readouterr()
    assert cli("fit", str(mixed), "-o", str(tmp_path / "m.dtw")) == 1
    err = capsys.readouterr().err
    assert "other columns or types" in err and "Traceback" not in err and not (tmp_path / "m.dtw").exists()
    with pytest.raises(datatwin.InputError, match="differentially private fit needs every row"):
        datatwin.Synthesizer(max_fit_rows=10, privacy=datatwin.DP(1.0)).fit(mixed / "a.parquet")


def test_the_cli_streams_a_parquet_folder(tmp_path, dataset):
    out = tmp_path / "m.dtw"
    assert cli("fit", str(dataset), "-o", str(out), "--max-training-time", "60") == 0
    assert datatwin.load(out).n_rows_ == 12_000
