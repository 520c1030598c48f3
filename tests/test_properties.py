"""Property-based tests: invariants that must hold for any table."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datatwin import Synthesizer
from datatwin.encoding import CategoricalEncoder, NumericEncoder
from datatwin.metadata import ColumnMeta


@st.composite
def tables(draw):
    n = draw(st.integers(12, 120))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    cols = {}
    for i in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["int", "float", "cat", "bool"]))
        if kind == "int":
            lo = draw(st.integers(-1000, 1000))
            v = rng.integers(lo, lo + draw(st.integers(1, 5000)), n).astype(float)
        elif kind == "float":
            v = np.round(rng.normal(draw(st.floats(-1e6, 1e6)), draw(st.floats(0.01, 1e4)), n), draw(st.integers(0, 4)))
        elif kind == "cat":
            v = rng.choice([f"L{k}" for k in range(draw(st.integers(1, 12)))], n).astype(object)
        else:
            v = rng.random(n) > 0.5
        if kind != "bool" and draw(st.booleans()):
            v = v.astype(object) if kind == "cat" else v
            v[rng.random(n) < 0.2] = np.nan if kind != "cat" else None
        cols[f"c{i}"] = v
    df = pd.DataFrame(cols)
    for c in df.columns:
        if df[c].isna().all():
            df.loc[0, c] = 1.0 if df[c].dtype.kind == "f" else "L0"
        if df[c].dtype == object:
            df[c] = df[c].astype("str").where(df[c].notna(), np.nan)
    return df


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=tables(), seed=st.integers(0, 1000))
def test_any_table_round_trips_within_its_domain(df, seed):
    syn = Synthesizer("copula", random_state=seed, rare_threshold=2).fit(df)
    out = syn.sample(257, seed=seed, chunk_size=100)
    assert list(out.columns) == list(df.columns)
    assert dict(out.dtypes) == dict(df.dtypes)
    for c in df.columns:
        real, fake = df[c], out[c]
        if real.isna().sum() == 0:
            assert fake.isna().sum() == 0, c
        if pd.api.types.is_numeric_dtype(real) and not pd.api.types.is_bool_dtype(real):
            assert fake.min() >= real.min() - 1e-9 and fake.max() <= real.max() + 1e-9, c
            whole = real.dropna().eq(real.dropna().round()).all()
            if whole:
                assert fake.dropna().eq(fake.dropna().round()).all(), c
        elif not pd.api.types.is_bool_dtype(real):
            assert set(fake.dropna()) <= set(real.dropna()) | {"_RARE_"}, c
    assert out.equals(syn.sample(257, seed=seed, chunk_size=100))


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=3, max_size=400),
       seed=st.integers(0, 100))
def test_numeric_encoding_decodes_into_its_bin(values, seed):
    s = pd.Series(values, name="x")
    enc = NumericEncoder("x", ColumnMeta("numeric", dtype="float64"), rare_threshold=0)
    codes = enc.fit_encode(s, np.random.default_rng(seed))
    assert all(c.min() >= 0 and c.max() < card for c, card in zip(codes, enc.cardinalities, strict=True))
    back = np.asarray(enc.decode(codes, np.random.default_rng(seed)), dtype=float)
    if enc.mode_ == "discrete":
        np.testing.assert_allclose(back, s.to_numpy())
    else:
        t = codes[0] * enc.n_fine_ + codes[1]
        assert np.all(back >= enc.lo_[t] - 1e-6) and np.all(back <= enc.hi_[t] + 1e-6)


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.sampled_from(list("abcdefgh")) | st.none(), min_size=1, max_size=200),
       threshold=st.integers(0, 6))
def test_categorical_encoding_round_trip(labels, threshold):
    s = pd.Series(labels, name="x", dtype="object")
    enc = CategoricalEncoder("x", ColumnMeta("categorical", dtype="object"), rare_threshold=threshold)
    codes = enc.fit_encode(s, np.random.default_rng(0))
    back = pd.Series(enc.decode(codes, np.random.default_rng(0)))
    counts = s.value_counts()
    for orig, got in zip(s, back, strict=True):
        if orig is None:
            assert pd.isna(got)
        elif counts[orig] >= threshold:
            assert got == orig
        else:
            assert got == "_RARE_"


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.sampled_from(list("abcdefgh")) | st.none(), min_size=1, max_size=200),
       new=st.lists(st.sampled_from(list("abcdefghxyz")) | st.none(), min_size=0, max_size=50),
       threshold=st.integers(0, 6))
def test_text_columns_encode_as_object_columns(labels, new, threshold):
    """Text (Arrow-backed or not) is encoded through Arrow, objects through a dict: the same codes,
    unseen values on the rare code and missing ones on the NA code."""
    enc = CategoricalEncoder("x", ColumnMeta("categorical", dtype="object"), rare_threshold=threshold)
    enc.fit_encode(pd.Series(labels, name="x", dtype="object"), np.random.default_rng(0))
    want = enc.encode(pd.Series(new, dtype="object"))
    for dtype in ("str", pd.StringDtype("python"), pd.StringDtype("pyarrow", na_value=pd.NA)):
        assert np.array_equal(enc.encode(pd.Series(new, dtype=dtype)), want)
