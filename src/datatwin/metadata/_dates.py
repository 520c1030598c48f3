"""Datetimes stored as text: which ``strftime`` format a column uses, and parsing with it."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

__all__ = ["DATE_FORMATS", "EPOCH_FORMATS", "MIN_PARSED_SHARE", "detect_datetime_format", "detect_epoch",
           "detect_utc_offset", "mostly_numbers", "offset_seconds", "parse_datetime_text"]

# Text date formats tried, in order; the first that parses (nearly) every value wins.
DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%SZ", "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S", "%d/%m/%Y", "%m/%d/%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y", "%d.%m.%Y %H:%M", "%d-%m-%Y",
    "%m-%d-%Y", "%Y%m%d", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y",
    "%d-%b-%Y", "%Y-%m", "%d/%m/%y", "%m/%d/%y",
    # With a UTC offset ("+00:00", "+0100", "Z"), as exports from databases and APIs write them.
    "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M%z", "%Y-%m-%dT%H:%M%z",
)

#: Formats of numbers that count time since 1970-01-01 UTC (a column named like a time).
EPOCH_FORMATS = {"epoch_s": 1, "epoch_ms": 1000}
_EPOCH_NAME_RE = re.compile(r"(time|date|timestamp|epoch|(^|_)ts$|_at$|^ts_|_ts_)")
_OFFSET_RE = r"(Z|[+-]\d{2}:?\d{2})$"

#: Share of a text column's values that must parse as dates for it to be a datetime column.
MIN_PARSED_SHARE = 0.95


def mostly_numbers(sample: pd.Series) -> bool:
    """More than half of the texts read as numbers: a number column, not dates ("20240131" aside)."""
    return bool(pd.to_numeric(sample, errors="coerce").notna().mean() > 0.5)


def parse_datetime_text(s: pd.Series, fmt: str) -> pd.Series:
    """Timestamps parsed with ``fmt`` (NaT where a value does not match); values with an offset
    come back as UTC instants, so a column that mixes offsets (summer time) still parses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(s, format=fmt, errors="coerce", utc="%z" in fmt)


def detect_utc_offset(values: pd.Series) -> str | None:
    """The most common UTC offset as written ("+00:00", "Z", "-0500"), kept for the output."""
    found = values.dropna().astype(str).str.strip().str.extract(_OFFSET_RE, expand=False).dropna()
    return str(found.value_counts().index[0]) if len(found) else None


def offset_seconds(offset: str) -> int:
    """Seconds east of UTC of an offset as written by :func:`detect_utc_offset`."""
    if offset == "Z":
        return 0
    digits = offset[1:].replace(":", "")
    secs = int(digits[:2]) * 3600 + int(digits[2:4]) * 60
    return -secs if offset[0] == "-" else secs


def detect_epoch(name: str, values: np.ndarray) -> str | None:
    """``epoch_s`` or ``epoch_ms`` for whole numbers in a column named like a time whose values
    fall between 1973 and 2128 in that unit; anything else is left a number."""
    if not _EPOCH_NAME_RE.search(name) or values.size == 0 or not np.all(values == np.round(values)):
        return None
    lo, hi = float(values.min()), float(values.max())
    for fmt, per_second in EPOCH_FORMATS.items():
        if 1e8 * per_second <= lo and hi <= 5e9 * per_second:
            return fmt
    return None


def detect_datetime_format(values: pd.Series) -> str | None:
    """The first format of :data:`DATE_FORMATS` that parses >= 95% of the values, preferring
    day-first or month-first only when the data decides between them."""
    sample = values.dropna().astype(str).str.strip()
    if sample.empty:
        return None
    sample = sample.iloc[:: max(1, len(sample) // 2000)]
    if mostly_numbers(sample) and not sample.str.len().eq(8).all():
        return None
    if not sample.str.contains(r"\d").all():
        return None
    for fmt in DATE_FORMATS:
        parsed = parse_datetime_text(sample, fmt)
        if parsed.notna().mean() >= MIN_PARSED_SHARE:
            if fmt == "%Y%m%d" and not sample.str.fullmatch(r"(19|20)\d{6}").all():
                continue
            return fmt
    return None
