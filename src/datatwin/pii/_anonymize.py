"""PII replacement: realistic fakes from Faker, never a real value.

Two uses:

* synthesis: PII columns of synthetic rows are drawn from a seeded pool of fakes; an email
  column is built from the same row's fake first/last name when the table has them;
* :func:`anonymize`: replace the PII columns of a *real* table in place of a full synthesis,
  optionally with a consistent mapping (the same real value always gets the same fake when a
  ``key`` is given: a keyed hash picks the fake, so the mapping needs no stored table).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError
from ..metadata import PII_TYPES, Metadata

__all__ = ["FAKER_METHODS", "anonymize", "fake_pool"]

FAKER_METHODS = {
    "email": "email", "phone": "phone_number", "first_name": "first_name", "last_name": "last_name",
    "name": "name", "address": "address", "street": "street_address", "city": "city", "postcode": "postcode",
    "company": "company", "url": "url", "ssn": "ssn", "iban": "iban", "credit_card": "credit_card_number",
    "ip_address": "ipv4", "username": "user_name",
}


WEIGHTED_UP_TO = 5000  # larger pools draw words uniformly: Faker's frequency weighting costs ~8x


def _faker(locale: str, seed: int, weighted: bool = True) -> Any:
    from faker import Faker

    try:
        fake = Faker(locale, use_weighting=weighted)
    except AttributeError:
        raise InputError(f"unknown Faker locale {locale!r}; use e.g. en_US, de_DE, fr_FR") from None
    fake.seed_instance(seed)
    return fake


def fake_pool(pii_type: str, size: int, *, locale: str = "en_US", seed: int = 0,
              exclude: set[str] | None = None) -> np.ndarray:
    """``size`` fakes of one PII type (as an object array), none of them in ``exclude``."""
    if pii_type not in FAKER_METHODS:
        raise InputError(f"unknown PII type {pii_type!r}; use one of {', '.join(PII_TYPES)}")
    fake = _faker(locale, seed, weighted=size <= WEIGHTED_UP_TO)
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
    fake = _faker(locale, int(ss.generate_state(1)[0]))
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
    fake = _faker(locale, int(ss.generate_state(1)[0]))
    lo, hi = max(1, words[0]), max(1, words[-1])
    counts = np.random.default_rng(ss).integers(lo, hi + 1, max(1, size))
    pool = [fake.sentence(nb_words=int(k)) for k in counts]
    return np.array([p for p in pool if p not in exclude] or ["(text)"], dtype=object)


def _ascii_slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", text.lower()) or "user"


def emails_from_names(first: np.ndarray, last: np.ndarray, rng: np.random.Generator,
                      domains: np.ndarray) -> np.ndarray:
    """``first.last@domain`` style emails for the given fake names, with a few common variants."""
    style = rng.integers(0, 4, len(first))
    dom = domains[rng.integers(0, len(domains), len(first))]
    digits = rng.integers(1, 99, len(first))
    out = np.empty(len(first), dtype=object)
    for i, (f, la) in enumerate(zip(first, last, strict=True)):
        f, la = _ascii_slug(str(f)), _ascii_slug(str(la))
        local = (f"{f}.{la}", f"{f[0]}{la}", f"{f}{la}{digits[i]}", f"{f}_{la}")[style[i]]
        out[i] = f"{local}@{dom[i]}"
    return out


def anonymize(df: pd.DataFrame, metadata: Metadata | dict[str, Any] | None = None, *, key: str | None = None,
              locale: str = "en_US", seed: int = 0, scrub_text: bool = True) -> pd.DataFrame:
    """Replace the PII of a real table with realistic fakes; other columns stay as they are.

    With ``key``, the same real value always maps to the same fake (within and across runs with
    that key); without it, each row gets an independent fake. A fake never equals a real value of
    its column. Emails follow the row's fake name where the table has name columns.

    Free-text columns (kind ``text``) keep their words but lose their PII spans: emails, phone
    numbers, URLs, IPv4 addresses, card-like numbers, IBAN-like tokens and SSN-like numbers, and
    any mention of the row's own PII values or of a real name from the table's name columns. A
    mentioned value takes the fake its column got, so a note names the row's fake person. Names
    that are in no PII column are not found (there is no NER model). ``scrub_text=False`` leaves
    text columns as they are.

    Example:
        >>> import pandas as pd, datatwin
        >>> df = pd.DataFrame({"name": ["Ann Lee", "Bo Chan", "Ann Lee"], "score": [1, 2, 3],
        ...                    "note": ["Ann Lee called from 555-201-7788", None, "mail ann@lee.org"]})
        >>> meta = {"columns": {"name": {"kind": "pii", "pii_type": "name"}, "note": {"kind": "text"}}}
        >>> out = datatwin.anonymize(df, meta, key="k")
        >>> bool(out["name"][0] == out["name"][2] != "Ann Lee"), list(out["score"])
        (True, [1, 2, 3])
        >>> out["note"][0].startswith(out["name"][0] + " called from "), out["note"].isna().tolist()
        (True, [False, True, False])
        >>> "555-201-7788" in out["note"][0] or "ann@lee.org" in out["note"][2]
        False
    """
    if not isinstance(scrub_text, bool):
        raise InputError(f"scrub_text must be True or False, got {scrub_text!r}")
    meta = Metadata.infer(df)
    if metadata is not None:
        meta = meta.update(metadata)
    pii = {name: col.pii_type for name, col in meta.columns.items() if col.kind == "pii" and col.pii_type}
    out = df.copy()
    rng = np.random.default_rng(seed)
    generated: dict[str, np.ndarray] = {}
    for i, (name, pii_type) in enumerate(sorted(pii.items(), key=lambda kv: kv[1] == "email")):
        real = df[name]
        present = real.notna().to_numpy()
        real_set = set(real.dropna().astype(str))
        # Keyed: one fake per distinct value (injective); a tenth more covers fakes dropped
        # for equalling a real value. A pool's prefix does not depend on its size (on one side
        # of WEIGHTED_UP_TO), so neither does a value's fake.
        size = int(max(1000, 1.1 * len(real_set) + 100) if key is not None
                   else min(max(1000, 1.1 * len(real_set) + 100), 50_000))
        # With a key the pool depends on the key alone, so the mapping holds across runs.
        pool_seed = int.from_bytes(_keyed_hash(key, name, "pool")[:4], "big") if key else seed * 1000 + i
        pool = fake_pool(pii_type, size, locale=locale, seed=pool_seed, exclude=real_set)
        if key is not None:
            # Order the distinct real values by a keyed hash and give the i-th the i-th fake: the
            # same value always gets the same fake, and two values never share one.
            uniq = sorted(real_set, key=lambda v: _keyed_hash(key, name, v))
            rank = {v: k for k, v in enumerate(uniq)}
            idx = np.array([rank.get(str(v), 0) for v in real.astype(str)]) % len(pool)
        else:
            idx = rng.integers(0, len(pool), len(real))
        values = pool[idx]
        firsts = [c for c, t in pii.items() if t == "first_name"]
        lasts = [c for c, t in pii.items() if t == "last_name"]
        if pii_type == "email" and firsts and lasts and key is None:
            pool = fake_pool("email", 300, locale=locale, seed=seed)
            domains = np.array(sorted({e.split("@", 1)[1] for e in pool}), dtype=object)
            values = emails_from_names(generated[firsts[0]], generated[lasts[0]], rng, domains)
            clash = np.isin(values, list(real_set))
            values[clash] = pool[rng.integers(0, len(pool), int(clash.sum()))]
        generated[name] = values
        col = values.astype(object)
        col[~present] = None
        out[name] = pd.array(col, dtype=real.dtype) if str(real.dtype) not in ("object",) else col
    texts = [name for name, col in meta.columns.items() if col.kind == "text"]
    if scrub_text and texts:
        from ._text import TextScrubber

        scrubber = TextScrubber(df, pii, generated, key=key, locale=locale, seed=seed)
        for name in texts:
            out[name] = scrubber.scrub(df[name])
    return out


def _keyed_hash(key: str, column: str, value: str) -> bytes:
    return hmac.new(key.encode(), f"{column}\x00{value}".encode(), hashlib.sha256).digest()
