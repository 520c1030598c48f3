"""Fast table writers: CSV text built with Arrow kernels is byte for byte what pandas writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import datatwin
from datatwin.io import escape_formula_cells


def _hostile(n: int = 3000) -> pd.DataFrame:
    """Every kind of column a sample or a user frame may hold, with missing values and the
    characters that need quoting."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, n) * 10.0 ** rng.integers(-8, 20, n)
    x[::7] = np.nan
    x[::11] = np.round(x[::11])
    x[3], x[5], x[6] = -0.0, np.inf, -np.inf
    df = pd.DataFrame({
        "f": x, "i": rng.integers(-5, 10**12, n),
        "I": pd.array(np.where(rng.random(n) < .2, None, rng.integers(0, 9, n)), dtype="Int64"),
        "b": rng.random(n) < .5,
        "B": pd.array(np.where(rng.random(n) < .2, None, rng.random(n) < .5), dtype="boolean"),
        "s": pd.Series(rng.choice(["a", "b,c", 'q"x', "", "line\nbreak", "cr\r", "tab\tx", "é漢", " sp ", "=1+2",
                                   "-5", "+44 20", "@x"], n)).where(rng.random(n) > .1),
        "S": pd.Series(rng.choice(["x", "y,z", None, "-abc"], n), dtype="string"),
        "c": pd.Categorical(rng.choice(["lo", "hi,x", None, "=cmd"], n)),
        "cn": pd.Categorical(rng.choice([1.5, 2.0, np.nan], n)),
        "d": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D"),
        "dt": (pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**8, n), unit="s"))
        .where(rng.random(n) > .1),
        "o": pd.Series(([None, 1.0, "t,u", True, 3, float("nan")] * n)[:n], dtype=object),
        "f32": rng.random(n).astype(np.float32),
    })
    return df.rename(columns={"f32": 'we"ird,name'})


@pytest.mark.parametrize("suffix,sep", [(".csv", ","), (".tsv", "\t")])
@pytest.mark.parametrize("cols", [None, [0], [5, 6], [2, 12]])
def test_csv_bytes_are_what_pandas_writes(tmp_path, suffix, sep, cols):
    df = _hostile()
    if cols is not None:
        df = df.iloc[:, cols]
    path = tmp_path / f"out{suffix}"
    for escape in (True, False):
        datatwin.write_table(df, path, escape_formulas=escape)
        want = escape_formula_cells(df) if escape else df
        assert path.read_bytes() == want.to_csv(index=False, sep=sep, lineterminator="\n").encode()


def test_chunks_write_one_header_and_every_row(tmp_path):
    df = _hostile(1000)
    path = tmp_path / "out.csv"
    rows = datatwin.io.write_table_chunks([df.iloc[:400], df.iloc[400:400], df.iloc[400:]], path)
    assert rows == 1000
    assert path.read_bytes() == escape_formula_cells(df).to_csv(index=False, lineterminator="\n").encode()


def test_formula_cells_are_escaped_in_text_and_categorical_columns(tmp_path):
    df = _hostile(200)
    path = tmp_path / "out.csv"
    datatwin.write_table(df, path)
    back = pd.read_csv(path, keep_default_na=False, dtype=str)
    assert not back["s"].str.match(r"^[=+@]").any() and (back["s"] == "'=1+2").any()
    assert (back["s"] == "-5").any()  # a plain number stays as it is
    assert (back["c"] == "'=cmd").any() and (back["S"] == "'-abc").any()
