"""Fake primitives shared by :func:`anonymize`, free-text scrubbing and synthesis: the Faker
factory, pools of fakes of one PII type, aligned fake people, sentences, and keyed hashes.

Every Faker instance comes from :func:`faker_for`, fresh and seeded on each call. A Faker
instance carries mutable random state, so one instance shared between callers (or threads)
would make each caller's fakes depend on what the others drew before it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import unicodedata
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError
from ..metadata import PII_TYPES

__all__ = ["FAKER_METHODS", "WEIGHTED_UP_TO", "ascii_slug", "emails_from_names", "fake_people", "fake_pool",
           "fake_sentences", "faker_for", "faker_methods", "keyed_hash"]

FAKER_METHODS = {
    "email": "email", "phone": "phone_number", "first_name": "first_name", "last_name": "last_name",
    "name": "name", "address": "address", "street": "street_address", "city": "city", "postcode": "postcode",
    "company": "company", "url": "url", "ssn": "ssn", "iban": "iban", "credit_card": "credit_card_number",
    "ip_address": "ipv4", "username": "user_name",
}

WEIGHTED_UP_TO = 5000  # larger pools draw words uniformly: Faker's frequency weighting costs ~8x

# Attributes of a Faker provider that are machinery, not value makers.
_FAKER_PLUMBING = {"add_provider", "del_arguments", "format", "generator", "get_arguments", "get_formatter",
                   "get_providers", "parse", "provider", "seed", "seed_instance", "seed_locale", "set_arguments",
                   "set_formatter"}


def faker_for(locale: str, seed: int | None = None, *, weighted: bool = True) -> Any:
    """A new ``Faker(locale)`` of its own, seeded with ``seed`` when given.

    Never cached: each caller gets its own random state, so results do not depend on other
    callers or threads (building one costs about a millisecond). ``weighted=False`` draws words
    uniformly instead of by frequency (much faster for large pools). Raises ``InputError`` for
    an unknown locale.
    """
    from faker import Faker

    try:
        fake = Faker(locale, use_weighting=weighted)
    except AttributeError:
        raise InputError(f"unknown Faker locale {locale!r}; use e.g. en_US, de_DE, fr_FR") from None
    if seed is not None:
        fake.seed_instance(seed)
    return fake


@functools.lru_cache(maxsize=8)
def faker_methods(locale: str) -> frozenset[str]:
    """Names of the value-making methods of the locale's Faker providers (cached: immutable)."""
    fake = faker_for(locale)
    names = set()
    for prov in fake.providers:
        for attr in dir(prov):
            if attr.startswith("_") or attr in _FAKER_PLUMBING or attr.isupper():
                continue
            if callable(getattr(prov, attr, None)):
                names.add(attr)
    return frozenset(names)


def keyed_hash(key: str, column: str, value: str) -> bytes:
    """HMAC-SHA256 of a column's value under ``key``: picks a fake without storing a mapping."""
    return hmac.new(key.encode(), f"{column}\x00{value}".encode(), hashlib.sha256).digest()


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits of ``text`` (accents dropped), or "user" if none."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", text.lower()) or "user"


def fake_pool(pii_type: str, size: int, *, locale: str = "en_US", seed: int = 0,
              exclude: set[str] | None = None) -> np.ndarray:
    """``size`` fakes of one PII type (as an object array), none of them in ``exclude``."""
    if pii_type not in FAKER_METHODS:
        raise InputError(f"unknown PII type {pii_type!r}; use one of {', '.join(PII_TYPES)}")
    fake = faker_for(locale, seed, weighted=size <= WEIGHTED_UP_TO)
    method = getattr(fake, FAKER_METHODS[pii_type])
    exclude = exclude or set()
    out: list[str] = []
    tries = 0
    while len(out) < size and tries < 3 * size + 100:
        value = str(method()).replace("\n", ", ")
        tries += 1
        if value not in exclude:
            out.append(value)
    while len(out) < size:  # tiny vocabularies: make values distinct from the real ones by a suffix
        out.append(f"{out[len(out) % max(1, len(out))] if out else pii_type}-{len(out)}")
    return np.array(out, dtype=object)


def fake_people(size: int, locale: str, ss: np.random.SeedSequence, real: pd.DataFrame,
                name_cols: dict[str, str], email_cols: list[str]) -> dict[str, np.ndarray]:
    """Aligned pools of fake persons: first/last/full names and matching emails.

    A person whose full name (or first+last pair) belongs to a real row is dropped, and so is an
    email that equals a real one: no real person's name or email comes out.
    """
    fake = faker_for(locale, int(ss.generate_state(1)[0]))
    rng = np.random.default_rng(ss)
    firsts = [c for c, t in name_cols.items() if t == "first_name"]
    lasts = [c for c, t in name_cols.items() if t == "last_name"]
    fulls = [c for c, t in name_cols.items() if t == "name"]
    real_pairs: set[tuple[str, str]] = set()
    if firsts and lasts:
        real_pairs = set(zip(real[firsts[0]].astype(str), real[lasts[0]].astype(str), strict=True))
    real_full = set().union(*(set(real[c].dropna().astype(str)) for c in fulls)) if fulls else set()
    real_emails = set().union(*(set(real[c].dropna().astype(str)) for c in email_cols)) if email_cols else set()
    first: list[str] = []
    last: list[str] = []
    tries = 0
    while len(first) < size and tries < 5 * size:
        tries += 1
        f, la = fake.first_name(), fake.last_name()
        if (f, la) in real_pairs or f"{f} {la}" in real_full:
            continue
        first.append(f)
        last.append(la)
    fa, lo = np.array(first, dtype=object), np.array(last, dtype=object)
    out: dict[str, np.ndarray] = {}
    for c in firsts:
        out[c] = fa
    for c in lasts:
        out[c] = lo
    for c in fulls:
        out[c] = np.array([f"{f} {la}" for f, la in zip(fa, lo, strict=True)], dtype=object)
    if email_cols:
        domains = np.array(sorted({e.split("@", 1)[1] for e in (fake.email() for _ in range(300))}), dtype=object)
        emails = emails_from_names(fa, lo, rng, domains)
        clash = np.isin(emails, list(real_emails))
        emails[clash] = [f"{e.split('@')[0]}{k}@{e.split('@')[1]}" for k, e in enumerate(emails[clash])]
        for c in email_cols:
            out[c] = emails
    return out


def fake_sentences(size: int, words: list[int], locale: str, ss: np.random.SeedSequence,
                   exclude: set[str]) -> np.ndarray:
    """Sentences whose word counts span the real column's 10th-90th percentile."""
    fake = faker_for(locale, int(ss.generate_state(1)[0]))
    lo, hi = max(1, words[0]), max(1, words[-1])
    counts = np.random.default_rng(ss).integers(lo, hi + 1, max(1, size))
    pool = [fake.sentence(nb_words=int(k)) for k in counts]
    return np.array([p for p in pool if p not in exclude] or ["(text)"], dtype=object)


def emails_from_names(first: np.ndarray, last: np.ndarray, rng: np.random.Generator,
                      domains: np.ndarray) -> np.ndarray:
    """``first.last@domain`` style emails for the given fake names, with a few common variants."""
    style = rng.integers(0, 4, len(first))
    dom = domains[rng.integers(0, len(domains), len(first))]
    digits = rng.integers(1, 99, len(first))
    out = np.empty(len(first), dtype=object)
    for i, (f, la) in enumerate(zip(first, last, strict=True)):
        f, la = ascii_slug(str(f)), ascii_slug(str(la))
        local = (f"{f}.{la}", f"{f[0]}{la}", f"{f}{la}{digits[i]}", f"{f}_{la}")[style[i]]
        out[i] = f"{local}@{dom[i]}"
    return out
