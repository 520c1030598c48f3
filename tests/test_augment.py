"""Blending real and synthetic rows: shares, labels, shuffling, seeds, bad arguments, the command."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import datatwin
from helpers import run_cli as cli


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    df = pd.DataFrame({
        "age": [23, 35, 47, 51, 62, 29, 41, 38] * 25,
        "plan": ["a", "b", "a", "c", "b", "c", "a", "b"] * 25,
        "score": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5] * 25,
    })
    df["age"] = df["age"] + (df.index % 7)
    return df


@pytest.fixture(scope="module")
def syn(real) -> datatwin.Synthesizer:
    return datatwin.Synthesizer(engine="copula", random_state=0).fit(real)




def value_key(df: pd.DataFrame) -> list[tuple]:
    return sorted(map(tuple, df.astype(str).itertuples(index=False)))


def test_ratio_is_the_synthetic_share_and_every_real_row_is_kept(real, syn):
    out = datatwin.augment(real, syn, ratio=0.5, label_column="source", seed=1)
    assert len(out) == 2 * len(real) and list(out.columns) == [*real.columns, "source"]
    counts = out["source"].value_counts()
    assert counts["real"] == counts["synthetic"] == len(real)
    assert value_key(out[out.source == "real"].drop(columns="source")) == value_key(real)
    quarter = datatwin.augment(real, syn, ratio=0.2, seed=1)
    assert len(quarter) == len(real) + len(real) // 4 and list(quarter.columns) == list(real.columns)


def test_rows_are_shuffled_and_seeded(real, syn):
    a = datatwin.augment(real, syn, 0.5, label_column="src", seed=3)
    b = datatwin.augment(real, syn, 0.5, label_column="src", seed=3)
    c = datatwin.augment(real, syn, 0.5, label_column="src", seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    labels = a["src"].tolist()
    assert labels != sorted(labels) and labels[: len(real)].count("real") < len(real)


def test_fixed_output_size_subsamples_real_rows(real, syn):
    out = datatwin.augment(real, syn, ratio=0.3, n=100, label_column="source", seed=0)
    assert len(out) == 100 and (out.source == "synthetic").sum() == 30
    all_syn = datatwin.augment(real, syn, ratio=1, n=50, label_column="source")
    assert set(all_syn.source) == {"synthetic"}
    with pytest.raises(datatwin.InputError, match="needs 1,000 real rows"):
        datatwin.augment(real, syn, ratio=0, n=1000)


def test_ratio_zero_returns_the_real_rows(real, syn):
    out = datatwin.augment(real, syn, ratio=0)
    assert value_key(out) == value_key(real)


def test_model_file_path_works(tmp_path, real, syn):
    path = tmp_path / "m.dtw"
    syn.save(path)
    pd.testing.assert_frame_equal(datatwin.augment(real, str(path), 0.25, seed=2),
                                  datatwin.augment(real, syn, 0.25, seed=2))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ratio": 1.0}, "must be in [0, 1)"),
    ({"ratio": -0.1}, "must be in [0, 1)"),
    ({"ratio": "half"}, "must be in [0, 1)"),
    ({"seed": -1}, "seed must be"),
    ({"label_column": "plan"}, "already a column"),
    ({"n": 0}, "positive number of rows"),
])
def test_bad_arguments(real, syn, kwargs, message):
    with pytest.raises(datatwin.InputError) as exc:
        datatwin.augment(real, syn, **{"ratio": 0.5, **kwargs})
    assert message in str(exc.value)


def test_columns_must_match_the_model(real, syn):
    with pytest.raises(datatwin.InputError, match=r"not in the table: \['score'\]"):
        datatwin.augment(real.drop(columns="score"), syn)
    with pytest.raises(datatwin.InputError, match=r"not in the model: \['extra'\]"):
        datatwin.augment(real.assign(extra=1), syn)
    with pytest.raises(datatwin.InputError, match="fitted datatwin Synthesizer"):
        datatwin.augment(real, object())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(ratio=st.floats(0, 0.9), seed=st.integers(0, 2**31))
def test_share_matches_ratio(real, syn, ratio, seed):
    out = datatwin.augment(real, syn, ratio=ratio, label_column="source", seed=seed)
    n_syn = int((out.source == "synthetic").sum())
    assert (out.source == "real").sum() == len(real)
    assert n_syn == round(len(real) * ratio / (1 - ratio))
    assert abs(n_syn / len(out) - ratio) <= 1 / len(out) + 1e-9


def test_cli_augment(tmp_path, real, syn, capsys):
    data, model, out = tmp_path / "real.csv", tmp_path / "m.dtw", tmp_path / "out.csv"
    real.to_csv(data, index=False)
    syn.save(model)
    assert cli("augment", str(data), "--model", str(model), "--ratio", "0.5", "-o", str(out),
               "--label-column", "source", "--seed", "2") == 0
    assert f"{2 * len(real):,} rows ({len(real):,} real, {len(real):,} synthetic)" in capsys.readouterr().err
    df = pd.read_csv(out)
    assert len(df) == 2 * len(real) and (df.source == "synthetic").sum() == len(real)
    again = tmp_path / "again.csv"
    cli("augment", str(data), "--model", str(model), "-o", str(again), "--label-column", "source", "--seed", "2")
    assert again.read_bytes() == out.read_bytes()
    sized = tmp_path / "sized.parquet"
    assert cli("augment", str(data), "--model", str(model), "-n", "60", "--ratio", "0.25", "-o", str(sized)) == 0
    assert len(pd.read_parquet(sized)) == 60


@pytest.mark.parametrize(("args", "message"), [
    (["--ratio", "1"], "must be in [0, 1)"),
    (["--ratio", "0.5", "--label-column", "plan"], "already a column"),
    (["--model", "MISSING"], "does not exist"),
])
def test_cli_augment_errors_write_nothing(tmp_path, real, syn, capsys, args, message):
    data, model, out = tmp_path / "real.csv", tmp_path / "m.dtw", tmp_path / "out.csv"
    real.to_csv(data, index=False)
    syn.save(model)
    args = [str(tmp_path / "nope.dtw") if a == "MISSING" else a for a in args]
    base = ["augment", str(data), "-o", str(out)] + ([] if "--model" in args else ["--model", str(model)])
    assert cli(*base, *args) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dtw", "real.csv"]
