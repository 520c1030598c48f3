"""The rules that decide a column's kind and format from its values and its name.

The counting rules (:class:`Counts`: constant, all distinct; :func:`is_whole`) are shared with
the evaluation's own kind detection, which otherwise follows an external judge's rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._column import ColumnMeta
from ._dates import detect_datetime_format, detect_epoch, detect_utc_offset

__all__ = ["ID_MIN_ROWS", "Counts", "decimals_of", "explain_column", "infer_column", "is_whole"]

# Column-name hints for PII (matched against a normalised, lower-case name).
_PII_NAME_HINTS: list[tuple[str, str]] = [
    (r"e_?mail", "email"),
    (r"(phone|mobile|cell|fax|tel)", "phone"),
    (r"^(first|given|fore)_?name$|^fname$", "first_name"),
    (r"^(last|sur|family)_?name$|^lname$|^surname$", "last_name"),
    (r"^(full_?|customer_?|person_?|contact_?|patient_?|client_?)?name$", "name"),
    (r"(street|address|addr)", "address"),
    (r"^(city|town)$", "city"),
    (r"(zip|postcode|postal)", "postcode"),
    (r"^(company|employer|organi[sz]ation)(_name)?$", "company"),
    (r"(url|website|homepage|web_?site)", "url"),
    (r"^(ssn|social_security.*)$", "ssn"),
    (r"iban", "iban"),
    (r"(credit_?card|card_?number)", "credit_card"),
    (r"^ip(_address)?$", "ip_address"),
    (r"^(user_?name|login|handle)$", "username"),
]
_EMAIL_RE = re.compile(r"^[\w.+'-]+@[\w-]+(\.[\w-]+)+$")
_PHONE_RE = re.compile(r"^\+?[\d\s().\-/]{7,}(\s*(x|ext\.?)\s*\d+)?$")
_ID_NAME_RE = re.compile(r"(^id$|_id$|^id_|uuid|guid|_key$|^key$|^index$|_no$|_number$)")

#: A column of distinct values is an id only above this many rows (a short table may just
#: happen to have no repeats).
ID_MIN_ROWS = 20


@dataclass(frozen=True)
class Counts:
    """Rows, present (non-missing) values and distinct present values of a column."""

    n: int
    present: int
    distinct: int

    @classmethod
    def of(cls, s: pd.Series) -> Counts:
        return cls(len(s), int(s.notna().sum()), int(s.nunique(dropna=True)))

    @property
    def constant(self) -> bool:
        """All missing, or one value and never missing."""
        return self.present == 0 or (self.distinct == 1 and self.present == self.n)

    @property
    def all_distinct(self) -> bool:
        """Every row present and different, in a table long enough for that to mean an id."""
        return self.distinct == self.n and self.present == self.n and self.n > ID_MIN_ROWS


def is_whole(values: np.ndarray) -> bool:
    """Every (non-missing, float64) value is a whole number; infinities, read as missing, aside."""
    finite = values[np.isfinite(values)]
    return bool(np.all(finite == np.round(finite)))


def decimals_of(values: np.ndarray, max_decimals: int = 10) -> int | None:
    """Smallest number of decimals that represents every value exactly (None if more than max)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0
    v = np.unique(v)[:100_000]
    for d in range(max_decimals + 1):
        scaled = v * 10.0**d
        tol = np.maximum(1e-7, 1e-12 * np.abs(scaled))  # float noise of a decimal literal
        if np.all(np.abs(scaled - np.round(scaled)) <= tol):
            return d
    return None


def infer_column(s: pd.Series) -> ColumnMeta:
    """The column's kind and format (see :func:`explain_column` for the reason)."""
    return explain_column(s)[0]


# Direct identifiers of a person are PII whatever their cardinality. Places, companies and web
# sites are quasi-identifiers: repeated, they are categories (the rare-category protection keeps
# their rare values out), and only near-unique ones are replaced by fakes.
_PLACE_LIKE = ("city", "postcode", "company", "url")
_NEAR_UNIQUE = 0.5  # share of distinct values above which a place-like column is PII


def explain_column(s: pd.Series) -> tuple[ColumnMeta, str]:
    """The column's kind and format, and the evidence that decided it (shown by ``inspect``)."""
    name = _norm_name(s.name)
    dtype = str(s.dtype)
    nonnull = s.dropna()
    counts = Counts(len(s), len(nonnull), int(nonnull.nunique()))
    n, n_nonnull, nunique = counts.n, counts.present, counts.distinct
    if n_nonnull == 0:
        return ColumnMeta("constant", dtype=dtype, value=None), "every value is missing"

    if pd.api.types.is_bool_dtype(s):
        return ColumnMeta("boolean", dtype=dtype), "boolean dtype"
    if pd.api.types.is_datetime64_any_dtype(s):
        return ColumnMeta("datetime", dtype=dtype), "datetime dtype"
    if pd.api.types.is_numeric_dtype(s):
        vals = nonnull.to_numpy(dtype=np.float64)
        integer = is_whole(vals)
        if counts.constant:
            return ColumnMeta("constant", dtype=dtype, value=_num_text(vals[0], integer)), "one value, never missing"
        epoch = detect_epoch(name, vals)
        if epoch is not None:
            return (ColumnMeta("datetime", dtype=dtype, datetime_format=epoch),
                    f"whole numbers in the range of {'seconds' if epoch == 'epoch_s' else 'milliseconds'} "
                    f"since 1970, and a time-like name")
        if integer and counts.all_distinct and (_ID_NAME_RE.search(name) or _is_sequential(vals)):
            return (ColumnMeta("id", dtype=dtype, integer=True),
                    "every value distinct, " + ("an id-like name" if _ID_NAME_RE.search(name) else "a run of "
                                                "whole numbers"))
        return (ColumnMeta("numeric", dtype=dtype, integer=integer, decimals=0 if integer else decimals_of(vals)),
                "numbers")

    # Text from here on.
    text = nonnull.astype(str)
    if counts.constant:
        return ColumnMeta("constant", dtype=dtype, value=str(text.iloc[0])), "one value, never missing"
    lowered = set(text.str.strip().str.lower().unique()[:3])
    if nunique == 2 and lowered <= {"true", "false"}:
        return ColumnMeta("boolean", dtype=dtype), "true/false text"
    fmt = detect_datetime_format(text)
    if fmt is not None:
        offset = detect_utc_offset(text) if "%z" in fmt else None
        return (ColumnMeta("datetime", dtype=dtype, datetime_format=fmt, utc_offset=offset),
                f"95%+ of the values parse as {fmt}")
    sample = text.iloc[:: max(1, len(text) // 2000)]
    if sample.str.fullmatch(_EMAIL_RE).mean() >= 0.9:
        return ColumnMeta("pii", dtype=dtype, pii_type="email"), "90%+ of the values are email addresses"
    pii = _pii_from_name(name)
    if pii == "phone" and sample.str.fullmatch(_PHONE_RE).mean() < 0.9:
        pii = None
    share = nunique / n_nonnull
    if pii is not None and pii not in _PLACE_LIKE:
        return ColumnMeta("pii", dtype=dtype, pii_type=pii), f"a {pii} name: a direct identifier of a person"
    if pii is not None and share > _NEAR_UNIQUE:
        return (ColumnMeta("pii", dtype=dtype, pii_type=pii),
                f"a {pii} name and {share:.0%} distinct values: near-unique, so it identifies rows")
    if counts.all_distinct and not sample.str.contains(r"\s").any() and sample.str.len().max() <= 64:
        return ColumnMeta("id", dtype=dtype), "every value distinct, no spaces"
    if _ID_NAME_RE.search(name) and nunique > 0.95 * n_nonnull and n > ID_MIN_ROWS:
        return ColumnMeta("id", dtype=dtype), "an id-like name and 95%+ distinct values"
    if sample.str.fullmatch(_PHONE_RE).mean() >= 0.95 and sample.str.count(r"\d").min() >= 7:
        return ColumnMeta("pii", dtype=dtype, pii_type="phone"), "95%+ of the values are phone numbers"
    words = sample.str.count(r"\s+") + 1
    if nunique > 0.5 * n_nonnull and words.mean() >= 4:
        return ColumnMeta("text", dtype=dtype), "mostly distinct values of 4+ words"
    if pii is not None:
        return (ColumnMeta("categorical", dtype=dtype),
                f"a {pii} name, but values repeat ({nunique:,} distinct in {n_nonnull:,}): a category, kept "
                f"with rare values protected")
    if text.str.fullmatch(r"0\d+").any() and text.str.fullmatch(r"\d+").all():
        return ColumnMeta("categorical", dtype=dtype), "digit codes with leading zeros (a code, not a number)"
    return ColumnMeta("categorical", dtype=dtype), f"text with {nunique:,} distinct values"


def _norm_name(name: Any) -> str:
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name).strip())
    return re.sub(r"[^0-9a-z]+", "_", s.lower()).strip("_")


def _pii_from_name(name: str) -> str | None:
    for pattern, pii in _PII_NAME_HINTS:
        if re.search(pattern, name):
            return pii
    return None


def _is_sequential(vals: np.ndarray) -> bool:
    """Whole numbers that fill (almost all of) a contiguous range, like row numbers."""
    lo, hi = float(vals.min()), float(vals.max())
    return hi - lo + 1 <= 1.1 * len(vals)


def _num_text(v: float, integer: bool) -> str:
    return str(int(v)) if integer and np.isfinite(v) else repr(float(v))
