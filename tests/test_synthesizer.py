import hashlib
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

import datatwin
from datatwin import InputError, ModelFileError, NotFittedError, Synthesizer
from helpers import FAST_ARGN, shared_csv

ENGINES = [("copula", None), ("argn", FAST_ARGN)]


def make(engine, opts, **kw):
    return Synthesizer(engine, random_state=0, engine_options=opts, **kw)


@pytest.mark.parametrize(("engine", "opts"), ENGINES)
def test_schema_and_domain(mixed_df, engine, opts):
    syn = make(engine, opts).fit(mixed_df)
    out = syn.sample(1000, seed=3)
    assert list(out.columns) == list(mixed_df.columns)
    assert dict(out.dtypes) == dict(mixed_df.dtypes)
    assert len(out) == 1000
    # Integers stay whole and inside the (clipped) training range.
    assert out["age"].between(mixed_df["age"].min(), mixed_df["age"].max()).all()
    # No invented categories; missing values come back at a similar rate.
    assert set(out["plan"].dropna()) <= set(mixed_df["plan"].dropna())
    assert 0.0 < out["plan"].isna().mean() < 0.15
    assert 0.0 < out["score"].isna().mean() < 0.25
    # Decimals kept, dates valid and in the input's format.
    assert (out["score"].dropna() * 10).round(6).mod(1).eq(0).all()
    parsed = pd.to_datetime(out["signup"], format="%Y-%m-%d", errors="coerce")
    assert parsed.notna().all()
    assert parsed.between(pd.Timestamp("2020-01-01"), pd.Timestamp("2021-02-03")).all()


@pytest.mark.parametrize(("engine", "opts"), ENGINES)
def test_seeded_determinism_bytes(mixed_df, engine, opts, tmp_path):
    a = make(engine, opts).fit(mixed_df)
    b = make(engine, opts).fit(mixed_df)
    a.save(tmp_path / "a.dtw")
    b.save(tmp_path / "b.dtw")
    assert (tmp_path / "a.dtw").read_bytes() == (tmp_path / "b.dtw").read_bytes()
    s1 = a.sample(500, seed=11).to_csv(index=False)
    s2 = b.sample(500, seed=11).to_csv(index=False)
    assert s1 == s2
    assert a.sample(500, seed=12).to_csv(index=False) != s1
    # Chunking changes nothing: the chunk plan comes from n and the seed only.
    assert a.sample(500, seed=11, chunk_size=500).equals(a.sample(500, seed=11, chunk_size=137))


def test_different_fit_seeds_differ(mixed_df, tmp_path):
    Synthesizer("argn", random_state=1, engine_options=FAST_ARGN).fit(mixed_df).save(tmp_path / "a.dtw")
    Synthesizer("argn", random_state=2, engine_options=FAST_ARGN).fit(mixed_df).save(tmp_path / "b.dtw")
    assert (tmp_path / "a.dtw").read_bytes() != (tmp_path / "b.dtw").read_bytes()


@pytest.mark.parametrize(("engine", "opts"), ENGINES)
def test_save_load_round_trip(mixed_df, engine, opts, tmp_path):
    syn = make(engine, opts).fit(mixed_df)
    path = tmp_path / "m.dtw"
    syn.save(path)
    loaded = datatwin.load(path)
    pd.testing.assert_frame_equal(syn.sample(300, seed=5), loaded.sample(300, seed=5))
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["SHA256SUMS", "arrays.safetensors", "manifest.json"]
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format"] == "datatwin-model"
    # No training row is stored: no real plan label appears except the kept levels, no ages list.
    assert "n_rows" in manifest


def _rewrite(path, out, name, transform):
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.namelist():
            data = zin.read(item)
            zout.writestr(item, transform(data) if item == name else data)


def test_bad_model_files(mixed_df, tmp_path):
    path = tmp_path / "m.dtw"
    make("copula", None).fit(mixed_df).save(path)
    raw = path.read_bytes()
    (tmp_path / "trunc.dtw").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError, match="not a datatwin model file"):
        datatwin.load(tmp_path / "trunc.dtw")
    (tmp_path / "text.dtw").write_text("hello")
    with pytest.raises(ModelFileError, match="not a datatwin model file"):
        datatwin.load(tmp_path / "text.dtw")
    _rewrite(path, tmp_path / "tampered.dtw", "manifest.json", lambda b: b.replace(b"gold", b"GOLD"))
    with pytest.raises(ModelFileError, match="corrupt or was modified"):
        datatwin.load(tmp_path / "tampered.dtw")

    def future(b):
        return json.dumps({**json.loads(b), "format_version": 999}).encode()

    _rewrite(path, tmp_path / "future.dtw", "manifest.json", future)
    with zipfile.ZipFile(tmp_path / "future.dtw") as zf:
        manifest = zf.read("manifest.json")
        arrays = zf.read("arrays.safetensors")
    sums = "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in
                   (("manifest.json", manifest), ("arrays.safetensors", arrays)))
    _rewrite(tmp_path / "future.dtw", tmp_path / "future2.dtw", "SHA256SUMS", lambda b: sums.encode())
    with pytest.raises(ModelFileError, match="newer than this datatwin reads"):
        datatwin.load(tmp_path / "future2.dtw")
    with pytest.raises(ModelFileError, match="does not exist"):
        datatwin.load(tmp_path / "missing.dtw")


def test_rare_categories_never_reproduced():
    rng = np.random.default_rng(0)
    n = 2000
    city = rng.choice(["Oslo", "Rome", "Lima"], n).astype(object)
    city[:3] = ["Smalltown", "Tinyville", "Tinyville"]
    df = pd.DataFrame({"city": city, "x": rng.normal(size=n)})
    for engine, opts in ENGINES:
        out = make(engine, opts).fit(df).sample(5000)
        assert set(out["city"]) == {"Oslo", "Rome", "Lima"}


def test_extremes_are_clipped():
    rng = np.random.default_rng(0)
    x = rng.normal(100, 10, 3000)
    x[0], x[1] = 10_000.0, -5_000.0
    df = pd.DataFrame({"x": x})
    out = make("argn", FAST_ARGN).fit(df).sample(20_000)
    assert out["x"].max() < 1_000 and out["x"].min() > -1_000
    assert out["x"].max() <= np.sort(x)[-6] + 1e-9


def test_ids_are_new_and_unique():
    path = shared_csv("customers.csv")
    df = pd.read_csv(path, keep_default_na=False, na_values=[""]).head(2000)
    syn = make("copula", None).fit(df)
    out = syn.sample(5000, chunk_size=1234)
    assert out["customer_id"].is_unique and out["index"].is_unique
    assert not set(out["customer_id"]) & set(df["customer_id"])
    assert not set(out["index"]) & set(df["index"])
    assert out["customer_id"].str.len().eq(15).all()
    # PII columns never carry a real value.
    for col in ("email", "phone_1", "phone_2"):
        assert not set(out[col]) & set(df[col]), col
    assert out["email"].str.contains("@").all()


def test_bad_inputs():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [np.nan] * 3})
    with pytest.raises(InputError, match="'b' is entirely missing"):
        Synthesizer().fit(df)
    with pytest.raises(InputError, match="at least 2 rows"):
        Synthesizer().fit(pd.DataFrame({"a": [1]}))
    dup = pd.DataFrame([[1, 2]] * 5, columns=["a", "a"])
    with pytest.raises(InputError, match="duplicate column names"):
        Synthesizer().fit(dup)
    with pytest.raises(NotFittedError, match="not fitted"):
        Synthesizer().sample(5)
    syn = Synthesizer("copula").fit(pd.DataFrame({"a": [1.0, 2.0, 3.0] * 5}))
    for bad in (0, -3, 2.5, "10"):
        with pytest.raises(InputError, match="number of rows"):
            syn.sample(bad)
    with pytest.raises(InputError, match="'engine' parameter of Synthesizer"):
        Synthesizer("gan").fit(df[["a"]])
    with pytest.raises(InputError, match="'rare_threshold' parameter"):
        Synthesizer(rare_threshold=-1).fit(df[["a"]])
    with pytest.raises(InputError, match="'max_epochs' parameter of ARGNEngine"):
        Synthesizer(engine_options={"max_epochs": 0}).fit(df[["a"]])


def test_all_missing_column_kept_when_declared_constant():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0] * 4, "b": [np.nan] * 12})
    out = Synthesizer("copula").fit(df, {"columns": {"b": {"kind": "constant"}}}).sample(7)
    assert out["b"].isna().all() and out["b"].dtype == df["b"].dtype


def test_fit_accepts_a_path(tmp_path, mixed_df):
    path = tmp_path / "d.csv"
    mixed_df.to_csv(path, index=False)
    out = Synthesizer("copula").fit(path).sample(10)
    assert list(out.columns) == list(mixed_df.columns)


def test_metadata_override_changes_kind(mixed_df):
    syn = Synthesizer("copula").fit(mixed_df, {"columns": {"age": {"kind": "categorical"}}})
    assert syn.metadata_.columns["age"].kind == "categorical"
    out = syn.sample(200)
    assert out["age"].dtype == mixed_df["age"].dtype
    assert set(out["age"]) <= set(mixed_df["age"])


def test_dependency_is_learned():
    # plan is "gold" exactly when age > 50; the network must keep that rule, which the copula
    # (a linear model of ranks) cannot.
    rng = np.random.default_rng(3)
    n = 2000
    age = rng.integers(18, 80, n)
    df = pd.DataFrame({"age": age, "plan": np.where(age > 50, "gold", rng.choice(["basic", "plus"], n)),
                       "x": rng.normal(size=n)})
    out = Synthesizer("argn", random_state=0).fit(df).sample(3000)
    agree = ((out["age"] > 50) == (out["plan"] == "gold")).mean()
    assert agree > 0.95


def test_wide_table_fallback_samples_the_same_distribution(mixed_df, monkeypatch):
    # Very wide tables skip the per-code lookup tables and use the first-layer matmul instead.
    import datatwin.engines._argn as argn

    syn = make("argn", FAST_ARGN).fit(mixed_df)
    fast = syn.sample(3000, seed=2)
    monkeypatch.setattr(argn, "_prefix_tables", lambda *a, **k: None)
    slow = syn.sample(3000, seed=2)
    assert list(slow.columns) == list(fast.columns) and len(slow) == 3000
    # Same math in another summation order: draws may differ, the distribution may not.
    assert abs(slow["age"].mean() - fast["age"].mean()) < 2.0
    assert abs(slow["plan"].eq("gold").mean() - fast["plan"].eq("gold").mean()) < 0.05


def test_binned_columns_share_their_in_bin_position():
    """x, y = x + tiny noise and z = -x: decoding the real codes keeps y close to x and z to -x."""
    from datatwin.encoding import NumericEncoder, TableEncoder

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 100, 4000)
    df = pd.DataFrame({"x": x, "y": x + rng.normal(0, 0.01, 4000), "z": -x + rng.normal(0, 0.01, 4000),
                       "k": rng.uniform(0, 1, 4000)})
    meta = datatwin.Metadata.infer(df)
    enc = TableEncoder([NumericEncoder(c, meta.columns[c]) for c in df.columns])
    codes = enc.fit_encode(df, np.random.default_rng(1))
    flips = {e.name: e.flip_ for e in enc.encoders}
    assert flips["x"] == flips["y"] != flips["z"]
    out = enc.decode(codes, np.random.default_rng(2))
    # 400 bins 0.25 wide: independent positions leave a median |y - x| of 0.065, shared ones 0.005.
    assert np.median(np.abs(out["y"] - out["x"])) < 0.02
    assert np.median(np.abs(out["z"] + out["x"])) < 0.02


def test_a_column_that_often_equals_another_keeps_those_equalities(tmp_path):
    """pay == bill in 30 % of rows (a bill paid in full): the "same as" code reproduces it."""
    rng = np.random.default_rng(0)
    n = 4000
    bill = np.round(rng.lognormal(8, 1, n), 2)
    pay = np.where(rng.random(n) < 0.3, bill, np.round(rng.lognormal(6, 1, n), 2))
    df = pd.DataFrame({"bill": bill, "pay": pay, "k": rng.integers(0, 3, n)})
    syn = Synthesizer(random_state=0, engine_options={"max_epochs": 15}).fit(df)
    twins = {e.name: e.twin_ for e in syn.table_encoder_.encoders if getattr(e, "mode_", None) == "binned"}
    assert twins == {"bill": None, "pay": "bill"}
    out = syn.sample(4000, seed=1)
    assert 0.22 < (out["pay"] == out["bill"]).mean() < 0.38
    # Under a condition on pay the copy is never drawn, so the condition holds.
    cond = syn.sample(500, seed=2, conditions={"pay": (100, 200)})
    assert cond["pay"].between(100, 200).all()
    syn.save(tmp_path / "m.dtw")
    assert datatwin.load(tmp_path / "m.dtw").sample(300, seed=3).equals(syn.sample(300, seed=3))
    # The copula cannot tell when to copy, so it gets no "same as" code.
    copula = Synthesizer("copula").fit(df)
    assert all(getattr(e, "twin_", None) is None for e in copula.table_encoder_.encoders)


def test_a_huge_n_is_refused_beyond_the_limit_and_streams_below_it(mixed_df, monkeypatch):
    syn = datatwin.Synthesizer(engine="copula", random_state=0).fit(mixed_df)
    with pytest.raises(InputError, match="more than the limit of 100,000,000,000 rows"):
        syn.sample(10**20)
    # At the limit nothing is planned up front: the first chunk comes at once, block seeds are made on demand.
    first = next(syn.iter_sample(10**11, seed=3, chunk_size=50))
    assert len(first) == 50 and first.equals(syn.sample(50, seed=3))
    monkeypatch.setenv("DATATWIN_MAX_ROWS", "1000")
    with pytest.raises(InputError, match="DATATWIN_MAX_ROWS"):
        syn.sample(1001)
