"""Anonymize a real table: replace its PII columns with realistic fakes, never a real value.

This replaces the PII in place of a full synthesis, optionally with a consistent mapping (the
same real value always gets the same fake when a ``key`` is given: a keyed hash picks the fake,
so the mapping needs no stored table), and scrubs the PII spans of its free-text columns.
The fakes themselves come from ``_fakes``, shared with synthesis.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import InputError
from ..metadata import Metadata
from ._fakes import emails_from_names, fake_pool, keyed_hash
from ._text import TextScrubber

__all__ = ["anonymize"]


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
    if key is not None and not isinstance(key, str):
        raise InputError(f"anonymize: key must be text (a secret that fixes each real value's fake) or None, "
                         f"got {type(key).__name__} {key!r}; pass e.g. key='my-secret'")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"anonymize: seed must be a non-negative integer, got {seed!r}")
    if not isinstance(locale, str):
        raise InputError(f"anonymize: locale must be a Faker locale name such as 'en_US', got {locale!r}")
    if metadata is not None and not isinstance(metadata, (Metadata, dict)):
        raise InputError(f"anonymize: metadata must be a Metadata or its dict form, got {type(metadata).__name__}")
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
        pool_seed = int.from_bytes(keyed_hash(key, name, "pool")[:4], "big") if key else seed * 1000 + i
        pool = fake_pool(pii_type, size, locale=locale, seed=pool_seed, exclude=real_set)
        if key is not None:
            # Order the distinct real values by a keyed hash and give the i-th the i-th fake: the
            # same value always gets the same fake, and two values never share one.
            uniq = sorted(real_set, key=lambda v: keyed_hash(key, name, v))
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
        scrubber = TextScrubber(df, pii, generated, key=key, locale=locale, seed=seed)
        for name in texts:
            out[name] = scrubber.scrub(df[name])
    return out

