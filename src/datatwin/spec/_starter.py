"""A starter spec from a real table: fitted distributions, never real extremes or rare values."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError
from ..pii import FAKER_METHODS
from ._dates import _when_text
from ._source import SPEC_FORMAT_VERSION

#: Metadata PII types (``Metadata.infer``) and the Faker methods that replace them.
PII_FAKER = FAKER_METHODS


def starter_spec(df: pd.DataFrame, metadata: Any = None, *, min_count: int = 5) -> dict[str, Any]:
    """A spec (plain data) that imitates ``df`` column by column, without real rare values or extremes."""
    from ..metadata import Metadata

    if not isinstance(df, pd.DataFrame) or df.shape[1] == 0 or len(df) == 0:
        raise InputError("a starter spec needs a DataFrame with rows and columns")
    meta = metadata if metadata is not None else Metadata.infer(df)
    if isinstance(meta, Mapping):
        meta = Metadata.infer(df).update(dict(meta))
    cols: dict[str, Any] = {}
    for name in df.columns:
        cm = meta.columns[str(name)]
        cols[str(name)] = _starter_column(df[name], cm, min_count)
    return {"version": SPEC_FORMAT_VERSION, "locale": "en_US", "columns": cols}


def _is_number_text(v: str) -> bool:
    try:
        return math.isfinite(float(v))
    except ValueError:
        return False


def _sig(x: float, digits: int = 4) -> float:
    if x == 0 or not math.isfinite(x):
        return 0.0
    return float(f"{x:.{digits}g}")


def _starter_column(s: pd.Series, cm: Any, min_count: int) -> dict[str, Any]:
    nonnull = s.dropna()
    out: dict[str, Any]
    null_rate = round(float(s.isna().mean()), 4)
    kind = cm.kind
    if kind == "numeric":
        out = _starter_number(pd.to_numeric(nonnull, errors="coerce").dropna().to_numpy(np.float64), cm, min_count)
    elif kind == "constant" and cm.value is not None and _is_number_text(cm.value):
        out = {"type": "formula", "expr": str(cm.value)}
    elif kind == "categorical" or (kind == "constant" and cm.value is not None):
        out = _starter_category(nonnull, min_count) if kind == "categorical" else {
            "type": "category", "values": [cm.value]}
    elif kind == "boolean":
        text = nonnull.astype(str).str.strip().str.lower()
        out = {"type": "boolean", "p": round(float((text == "true").mean()), 4) if len(text) else 0.5}
    elif kind == "datetime":
        out = _starter_date(nonnull, cm)
    elif kind == "id":
        out = _starter_id(nonnull, cm)
    elif kind == "pii":
        out = {"type": "faker", "provider": PII_FAKER.get(cm.pii_type or "name", "name")}
    elif kind == "text":
        words = nonnull.astype(str).str.count(r"\s+") + 1
        out = {"type": "faker", "provider": "sentence",
               "args": {"nb_words": int(max(1, round(float(words.median())))) if len(words) else 6}}
    else:  # all missing
        out = {"type": "float", "distribution": "uniform", "min": 0, "max": 0}
        null_rate = 1.0
    if null_rate > 0:
        out["null_rate"] = null_rate
    return out


def _starter_number(v: np.ndarray, cm: Any, min_count: int) -> dict[str, Any]:
    if len(v) == 0:
        return {"type": "float", "distribution": "uniform", "min": 0, "max": 1}
    integer = bool(cm.integer)
    uniq, counts = np.unique(v, return_counts=True)
    if integer and len(uniq) <= 20:
        keep = counts >= min_count
        if keep.any():
            total = float(counts[keep].sum())
            return {"type": "category", "values": [int(u) for u in uniq[keep]],
                    "weights": [round(float(c) / total, 4) for c in counts[keep]],
                    "description": f"whole numbers with few values; values seen in fewer than {min_count} "
                                   "rows left out"}
    p1, p99 = np.percentile(v, [1, 99])
    out: dict[str, Any] = {"type": "integer" if integer else "float"}
    skew = float(pd.Series(v).skew()) if len(v) > 2 else 0.0
    if v.min() > 0 and skew > 1.0:
        logs = np.log(v)
        out.update(distribution="lognormal", mu=_sig(float(logs.mean()), 6), sigma=_sig(float(logs.std()), 4))
    else:
        out.update(distribution="normal", mean=_sig(float(v.mean()), 6), sd=_sig(float(v.std()), 4))
    if integer:
        lo, hi = math.ceil(p1), math.floor(p99)
        if lo > hi:
            lo = hi = round(float(np.median(v)))
        out.update(min=int(lo), max=int(hi))
    else:
        dec = cm.decimals if cm.decimals is not None and cm.decimals <= 6 else None
        if dec is not None:
            f = 10.0**dec
            lo, hi = math.ceil(p1 * f) / f, math.floor(p99 * f) / f
            if lo > hi:
                lo = hi = round(float(np.median(v)), dec)
            out.update(min=_sig(lo, 10), max=_sig(hi, 10), decimals=int(dec))
        else:
            out.update(min=_sig(float(p1), 6), max=_sig(float(p99), 6))
    if out["sd" if "sd" in out else "sigma"] == 0:
        out["sd" if "sd" in out else "sigma"] = 0.0
    return out


def _starter_category(s: pd.Series, min_count: int) -> dict[str, Any]:
    counts = s.astype(str).value_counts()
    kept = counts[counts >= min_count].iloc[:200]
    if kept.empty:
        return {"type": "faker", "provider": "word",
                "description": f"no value was seen in {min_count} or more rows; fake words instead"}
    total = float(kept.sum())
    out: dict[str, Any] = {"type": "category", "values": {str(k): round(float(c) / total, 4) for k, c in kept.items()}}
    if len(kept) < len(counts):
        out["description"] = f"{len(counts) - len(kept)} values seen in fewer than {min_count} rows left out"
    return out


def _starter_date(s: pd.Series, cm: Any) -> dict[str, Any]:
    from ..metadata import parse_datetime_text

    fmt = cm.datetime_format
    t = parse_datetime_text(s.astype(str), fmt) if fmt else pd.to_datetime(s, errors="coerce")
    t = t.dropna()
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    if t.empty:
        return {"type": "date", "min": "2000-01-01", "max": "2000-12-31"}
    secs = (t.astype("datetime64[s]").astype(np.int64)).to_numpy(np.float64)
    has_time = bool((secs % 86400 != 0).any()) or bool(fmt and re.search(r"%[HIMSTRrX]", fmt))
    p1, p99 = np.percentile(secs, [1, 99])
    unit = "datetime" if has_time else "date"
    if unit == "date":
        lo, hi = math.ceil(p1 / 86400), math.floor(p99 / 86400)
        lo = min(lo, hi)
        out: dict[str, Any] = {"type": "date", "min": _when_text(lo, "date"), "max": _when_text(hi, "date")}
    else:
        lo, hi = math.ceil(p1), math.floor(p99)
        out = {"type": "datetime", "min": _when_text(lo, "datetime"), "max": _when_text(hi, "datetime")}
    if fmt:
        out["format"] = fmt
    return out


def _starter_id(s: pd.Series, cm: Any) -> dict[str, Any]:
    if cm.integer or pd.api.types.is_numeric_dtype(s):
        return {"type": "sequence", "start": 1, "step": 1}
    text = s.astype(str)
    m = text.str.extract(r"^([^\d{}]*?)(\d+)([^\d{}]*)$")
    if len(text) and m[1].notna().mean() >= 0.9:
        prefix = m[0].dropna().mode()
        suffix = m[2].dropna().mode()
        width = int(m[1].dropna().str.len().mode().iloc[0])
        pre = prefix.iloc[0] if len(prefix) else ""
        suf = suffix.iloc[0] if len(suffix) else ""
        return {"type": "sequence", "start": 1, "step": 1, "format": f"{pre}{{:0{width}d}}{suf}"}
    return {"type": "sequence", "start": 1, "step": 1, "format": "ID-{:08d}",
            "description": "the real ids have no common number pattern; plain numbered ids instead"}
