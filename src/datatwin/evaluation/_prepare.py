"""Input checks, column kinds, seeded subsampling and one shared numeric view of every frame.

Every metric works on a :class:`Prepared` table: numeric and datetime columns as float64
(datetimes as seconds since 1970, missing as NaN), categorical and boolean columns as int32
codes into one sorted list of canonical strings shared by all frames (missing as -1). The
canonical strings follow the judge's rules, so ``1``, ``1.0`` and ``"1"`` are one level.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError
from ..metadata import KINDS, MIN_PARSED_SHARE, Counts, is_whole, mostly_numbers

CONTINUOUS = ("numeric", "datetime")
DISCRETE = ("categorical", "boolean")
ANALYSED = CONTINUOUS + DISCRETE
NAN_TOKEN = "__nan__"

_WHOLE_TEXT = re.compile(r"-?\d+(\.0+)?")
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


# ----------------------------------------------------------------------------- kinds
def infer_kinds(df: pd.DataFrame) -> dict[str, str]:
    """Column kinds by rules close to the judge's ``detect_metadata``.

    * all missing, or one value and never missing       -> constant
    * bool dtype                                         -> boolean
    * datetime dtype                                     -> datetime
    * numeric: whole, >= 0, at most min(10, n/10) values -> categorical
      numeric: whole, all distinct, no missing (n > 20)  -> id
      other numeric                                      -> numeric
    * text parseable as dates (>= 95 % of a sample)      -> datetime
    * text, all distinct, no missing (n > 20)            -> id
    * other text                                         -> categorical

    The counting rules are :class:`datatwin.metadata.Counts`'s. Where this differs from
    ``Metadata.infer`` it follows the judge on purpose; each difference is marked below.
    """
    kinds: dict[str, str] = {}
    for c in df.columns:
        s = df[c]
        counts = Counts.of(s)
        # Judge: constant is decided before the dtype (Metadata.infer: a one-valued bool column
        # is boolean, a one-valued datetime column datetime).
        if counts.constant:
            kinds[c] = "constant"
        elif pd.api.types.is_bool_dtype(s):
            kinds[c] = "boolean"
        elif pd.api.types.is_datetime64_any_dtype(s):
            kinds[c] = "datetime"
        elif pd.api.types.is_numeric_dtype(s):
            clean = s.dropna().to_numpy(dtype=float)
            whole = is_whole(clean)
            nonneg = bool(np.all(clean >= 0))
            # Judge: a few small whole numbers are categories (Metadata.infer keeps them numeric).
            if whole and nonneg and counts.distinct <= min(10, max(1, round(counts.n / 10))):
                kinds[c] = "categorical"
            # Judge: any whole all-distinct column is an id (Metadata.infer also asks for an
            # id-like name or a contiguous range).
            elif whole and counts.all_distinct:
                kinds[c] = "id"
            else:
                kinds[c] = "numeric"
        # Judge: no text booleans, no PII, no free text; dates by pandas' own parsing.
        elif _looks_like_dates(s):
            kinds[c] = "datetime"
        elif counts.all_distinct:
            kinds[c] = "id"
        else:
            kinds[c] = "categorical"
    return kinds


def _looks_like_dates(s: pd.Series) -> bool:
    """Like the judge: a random sample, parsed by pandas' inference (Metadata.infer instead tries
    a fixed list of formats on an evenly spaced sample); same share and numbers rule."""
    clean = s.dropna()
    if len(clean) == 0:
        return False
    sample = clean.sample(min(len(clean), 2000), random_state=0).astype(str)
    if mostly_numbers(sample):
        return False
    parsed = _parse_dates(sample)
    return bool(parsed.notna().mean() >= MIN_PARSED_SHARE)


def _parse_dates(s: pd.Series) -> pd.Series:
    """Text to datetimes: one inferred format first (fast), every cell on its own if that fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = pd.to_datetime(s, errors="coerce")
        except (ValueError, TypeError, OverflowError):
            out = pd.Series(pd.NaT, index=s.index)
        bad = out.isna() & s.notna()
        if bad.mean() > 0.05 * max(s.notna().mean(), 1e-12):
            with contextlib.suppress(ValueError, TypeError, OverflowError):
                out = pd.to_datetime(s, errors="coerce", format="mixed")
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out


# ----------------------------------------------------------------------------- checks
def check_frame(df: Any, name: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{name} must be a pandas DataFrame, got {type(df).__name__}; read the file with "
                         "pandas or datatwin first")
    if df.shape[1] == 0:
        raise InputError(f"the {name} data has no columns; give a table with a header and data rows")
    if len(df) == 0:
        raise InputError(f"the {name} data has no rows; give a table with at least one data row")
    dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if dupes:
        raise InputError(f"the {name} data has duplicate column names {dupes}; rename them to be unique")
    return df


def check_same_columns(real: pd.DataFrame, other: pd.DataFrame, name: str) -> None:
    missing = [str(c) for c in real.columns if c not in other.columns]
    extra = [str(c) for c in other.columns if c not in real.columns]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {_few(missing)}")
        if extra:
            parts.append(f"has extra {_few(extra)}")
        raise InputError(f"the {name} data {' and '.join(parts)} compared with the real data; "
                         "both must have the same columns")


def _few(names: list[str], k: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:k])
    more = f" and {len(names) - k} more" if len(names) > k else ""
    return f"column{'s' if len(names) > 1 else ''} {shown}{more}"


def resolve_kinds(real: pd.DataFrame, metadata: dict[str, str] | None) -> tuple[dict[str, str], str]:
    if metadata is None:
        return infer_kinds(real), "inferred from the real data"
    if not isinstance(metadata, dict):
        raise InputError("metadata must be a dict mapping column name to kind, e.g. {'age': 'numeric'}")
    unknown = [c for c in metadata if c not in real.columns]
    if unknown:
        raise InputError(f"metadata names {_few([str(c) for c in unknown])} not in the data; "
                         "fix the names or drop them from the metadata")
    bad = {str(c): k for c, k in metadata.items() if k not in KINDS}
    if bad:
        c, k = next(iter(bad.items()))
        raise InputError(f"metadata gives column {c!r} the kind {k!r}; use one of {', '.join(KINDS)}")
    rest = [c for c in real.columns if c not in metadata]
    kinds = infer_kinds(real[rest]) if rest else {}
    kinds.update(metadata)
    return {c: kinds[c] for c in real.columns}, ("given" if not rest else "given, the rest inferred")


# ----------------------------------------------------------------------------- subsample
def subsample(df: pd.DataFrame, max_rows: int, seed: int, stream: int) -> pd.DataFrame:
    if len(df) <= max_rows:
        return df
    rng = np.random.default_rng([seed, stream])
    idx = np.sort(rng.choice(len(df), size=max_rows, replace=False))
    return df.iloc[idx]


# ----------------------------------------------------------------------------- canonical views
def canonical_strings(s: pd.Series, kind: str) -> pd.Series:
    """Object series of canonical strings (missing as NaN), computed once per distinct value."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    uniques = pd.Index(uniques)
    canon = np.array([_canon_value(v, kind) for v in uniques], dtype=object)
    out = np.full(len(s), np.nan, dtype=object)
    ok = codes >= 0
    out[ok] = canon[codes[ok]]
    return pd.Series(out, index=s.index, dtype=object)


def _canon_value(v: Any, kind: str) -> Any:
    if isinstance(v, (bool, np.bool_)):
        txt = str(bool(v))
    elif isinstance(v, (int, np.integer)):
        txt = str(int(v))
    elif isinstance(v, (float, np.floating)):
        f = float(v)
        if np.isnan(f):
            return np.nan
        txt = str(int(f)) if f.is_integer() and abs(f) < 2**63 else repr(f)
    else:
        txt = str(v).strip()
        if _WHOLE_TEXT.fullmatch(txt):
            with contextlib.suppress(ValueError, OverflowError):
                txt = str(int(float(txt)))
    if kind == "boolean":
        low = txt.lower()
        if low in _TRUE:
            return "True"
        if low in _FALSE:
            return "False"
    return txt


def to_float(s: pd.Series, kind: str) -> tuple[np.ndarray, int]:
    """Numeric or datetime column as float64 (datetimes in seconds) and the count of cells that
    were present but could not be parsed."""
    present = s.notna().to_numpy()
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(s):
            dt = s
            if isinstance(dt.dtype, pd.DatetimeTZDtype):
                dt = dt.dt.tz_convert("UTC").dt.tz_localize(None)
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            # numbers where dates were expected: not parseable as dates
            return np.full(len(s), np.nan), int(present.sum())
        else:
            dt = _parse_dates(s.astype(object).where(s.notna(), None))
        v = datetime_seconds(dt.to_numpy())
    elif pd.api.types.is_bool_dtype(s):
        v = s.astype(float).to_numpy(dtype=float, na_value=np.nan)
    elif pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy(dtype=float, na_value=np.nan)
    else:
        v = pd.to_numeric(s.astype(object).where(s.notna(), None), errors="coerce").to_numpy(
            dtype=float, na_value=np.nan)
    bad = int((present & np.isnan(v)).sum())
    inf = np.isinf(v)
    if inf.any():  # infinities carry no distribution to compare; count them as unreadable
        v = np.where(inf, np.nan, v)
        bad += int(inf.sum())
    return v, bad


def datetime_seconds(arr: np.ndarray) -> np.ndarray:
    """datetime64 array (any unit, NaT allowed) to float seconds since 1970 (NaN for NaT)."""
    arr = np.asarray(arr)
    nat = np.isnat(arr)
    us = arr.astype("datetime64[us]").astype(np.int64).astype(float)
    us[nat] = np.nan
    return us / 1e6


@dataclass
class Prepared:
    """The analysed view of the frames (see the module docstring)."""

    kinds: dict[str, str]
    columns: list[str]  # analysed columns, in the real data's order
    levels: dict[str, np.ndarray]  # categorical/boolean column -> sorted canonical strings
    frames: dict[str, dict[str, np.ndarray]]  # frame name -> column -> float64 values or int32 codes
    rows: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def is_continuous(self, c: str) -> bool:
        return self.kinds[c] in CONTINUOUS

    def n(self, frame: str) -> int:
        return self.rows[frame]

    def take(self, frame: str, idx: np.ndarray, name: str) -> None:
        """Add a row subset of ``frame`` as a new frame ``name``."""
        self.frames[name] = {c: v[idx] for c, v in self.frames[frame].items()}
        self.rows[name] = len(idx)


def prepare(frames: dict[str, pd.DataFrame], kinds: dict[str, str]) -> Prepared:
    """Build the analysed view; raises InputError where a frame's column cannot hold its kind."""
    columns = [c for c, k in kinds.items() if k in ANALYSED]
    out: dict[str, dict[str, np.ndarray]] = {k: {} for k in frames}
    levels: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for c in columns:
        kind = kinds[c]
        if kind in CONTINUOUS:
            for name, df in frames.items():
                v, bad = to_float(df[c], kind)
                present = int(df[c].notna().sum())
                if bad and name != "real" and bad > 0.5 * present:
                    example = df[c][df[c].notna() & np.isnan(v)].iloc[0]
                    what = "dates" if kind == "datetime" else "numbers"
                    raise InputError(
                        f"column {c!r} holds {what} in the real data but the {name} data has values such as "
                        f"{str(example)[:40]!r}; give the {name} data the same column types as the real data")
                if bad:
                    notes.append(f"{bad} cell(s) of column {c!r} in the {name} data could not be read as finite "
                                 f"{'dates' if kind == 'datetime' else 'numbers'} and count as missing")
                out[name][c] = v
        else:
            canon = {name: canonical_strings(df[c], kind) for name, df in frames.items()}
            lv = sorted(set().union(*[set(s.dropna().unique()) for s in canon.values()]))
            levels[c] = np.array(lv, dtype=object)
            for name, s in canon.items():
                codes = pd.Categorical(s, categories=lv).codes.astype(np.int32)
                out[name][c] = codes
    return Prepared(kinds=dict(kinds), columns=columns, levels=levels, frames=out,
                    rows={k: len(v) for k, v in frames.items()}, notes=notes)


def row_hashes(df: pd.DataFrame, kinds: dict[str, str], chunk: int = 200_000) -> np.ndarray:
    """One uint64 per row over the analysed columns (numbers rounded to 6 decimals, categories as
    canonical strings), computed in chunks so that a million rows stay small in memory."""
    cols = [c for c, k in kinds.items() if k in ANALYSED]
    out = np.empty(len(df), dtype=np.uint64)
    for start in range(0, len(df), chunk):
        part = df.iloc[start:start + chunk]
        view = {}
        for c in cols:
            if kinds[c] in CONTINUOUS:
                v, _ = to_float(part[c], kinds[c])
                view[c] = np.round(v, 6)
            else:
                view[c] = canonical_strings(part[c], kinds[c]).fillna(NAN_TOKEN).to_numpy(dtype=object)
        h = pd.util.hash_pandas_object(pd.DataFrame(view), index=False)
        out[start:start + len(part)] = h.to_numpy(dtype=np.uint64)
    return out
