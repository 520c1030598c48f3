"""Datetimes stored as text: which ``strftime`` format a column uses, and parsing with it."""

from __future__ import annotations

import warnings

import pandas as pd

__all__ = ["DATE_FORMATS", "MIN_PARSED_SHARE", "detect_datetime_format", "mostly_numbers", "parse_datetime_text"]

# Text date formats tried, in order; the first that parses (nearly) every value wins.
DATE_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%SZ", "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S", "%d/%m/%Y", "%m/%d/%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y", "%d.%m.%Y %H:%M", "%d-%m-%Y",
    "%m-%d-%Y", "%Y%m%d", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y",
    "%d-%b-%Y", "%Y-%m",
)

#: Share of a text column's values that must parse as dates for it to be a datetime column.
MIN_PARSED_SHARE = 0.95


def mostly_numbers(sample: pd.Series) -> bool:
    """More than half of the texts read as numbers: a number column, not dates ("20240131" aside)."""
    return bool(pd.to_numeric(sample, errors="coerce").notna().mean() > 0.5)


def parse_datetime_text(s: pd.Series, fmt: str) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(s, format=fmt, errors="coerce")


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
