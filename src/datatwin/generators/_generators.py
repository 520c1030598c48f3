"""Columns that are generated fresh instead of learned: identifiers, PII, free text, constants.

None of them ever copies a real value: ids are new (integers continue past the real maximum;
text ids follow the real ids' character pattern), PII and text come from Faker.
"""

from __future__ import annotations

import hashlib
import math
import string
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from ..encoding import as_text_dtype, from_float
from ..metadata import ColumnMeta
from ..pii import fake_people, fake_pool, fake_sentences

__all__ = ["ColumnGenerator", "make_generator"]

_CLASSES = {"d": string.digits, "u": string.ascii_uppercase, "l": string.ascii_lowercase}


class ColumnGenerator:
    """Base: learn a column's format (never its values) and generate new values."""

    def __init__(self, name: str, meta: ColumnMeta) -> None:
        self.name = name
        self.meta = meta
        self.na_rate_ = 0.0

    def fit(self, s: pd.Series) -> ColumnGenerator:
        self.na_rate_ = float(s.isna().mean())
        self._fit(s.dropna())
        return self

    def _fit(self, s: pd.Series) -> None:
        pass

    def prepare(self, seed: int, n: int) -> None:
        """Per-sample set-up shared by every chunk (e.g. a pool of fakes for ``n`` rows)."""

    def generate(self, n: int, offset: int, rng: np.random.Generator) -> Any:
        values = self._generate(n, offset, rng)
        if self.na_rate_ > 0:
            missing = rng.random(n) < self.na_rate_
            values = values.astype(object)
            values[missing] = None
        return self._to_dtype(values)

    def _generate(self, n: int, offset: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _to_dtype(self, values: np.ndarray) -> Any:
        return as_text_dtype(values.astype(object), self.meta.dtype)

    def get_state(self) -> dict[str, Any]:
        return {"na_rate": self.na_rate_, **self._state()}

    def _state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        self.na_rate_ = float(state["na_rate"])


class ConstantGenerator(ColumnGenerator):
    def _generate(self, n: int, offset: int, rng: np.random.Generator) -> np.ndarray:
        return np.full(n, self.meta.value, dtype=object)

    def _to_dtype(self, values: np.ndarray) -> Any:
        if self.meta.dtype.startswith(("int", "float", "Int", "Float", "uint")):
            v = np.array([np.nan if x is None else float(x) for x in values[:1]], dtype=np.float64)
            full = np.full(len(values), v[0] if len(v) else np.nan)
            full[pd.isna(values)] = np.nan
            integer = self.meta.value is not None and float(self.meta.value).is_integer()
            return from_float(full, ColumnMeta("numeric", dtype=self.meta.dtype, integer=integer), None)
        if self.meta.dtype == "bool":
            return values.astype(str) == "True"
        return super()._to_dtype(values)


class IdGenerator(ColumnGenerator):
    """Unique identifiers in the real ids' format.

    Integer ids continue after the real maximum. Text ids keep each position's character class
    (digit / upper / lower, or a fixed character such as '-'); row ``i`` maps to a distinct id
    through a seeded affine bijection, so ids are unique across chunks with no shared state.
    """

    def _fit(self, s: pd.Series) -> None:
        self.integer_ = bool(self.meta.integer or pd.api.types.is_numeric_dtype(s))
        if self.integer_:
            self.start_ = int(pd.to_numeric(s).max()) + 1 if len(s) else 1
            return
        text = s.astype(str)
        length = Counter(text.str.len()).most_common(1)[0][0] if len(text) else 8
        same = text[text.str.len() == length].iloc[:5000]
        template = []
        for pos in range(length):
            chars = set(same.str[pos])
            # One constant symbol or letter is part of the format ("CUST-"); a constant digit
            # stays a digit so the id space stays large.
            if len(chars) == 1 and not chars.pop().isdigit():
                template.append("=" + same.iloc[0][pos])
                continue
            classes = "".join(sorted(k for k, al in _CLASSES.items() if any(c in al for c in set(same.str[pos]))))
            template.append(classes or "d")
        self.template_ = template

    def prepare(self, seed: int, n: int) -> None:
        self._seed = seed

    def _layout(self) -> tuple[list[str], int, list[int]]:
        """Each position's alphabet, and the unique part: the last positions whose joint
        capacity stays below 2**62, with that capacity (how many distinct ids there are)."""
        alphabets = ["".join(_CLASSES[k] for k in t) if not t.startswith("=") else t[1:] for t in self.template_]
        cap, unique_pos = 1, []
        for pos in reversed(range(len(alphabets))):
            size = len(alphabets[pos])
            if size > 1 and cap * size < 2**62:
                cap *= size
                unique_pos.append(pos)
        return alphabets, cap, unique_pos

    def capacity(self) -> int | None:
        """How many distinct ids the format holds (None: integers, as many as needed)."""
        return None if self.integer_ else self._layout()[1]

    def _generate(self, n: int, offset: int, rng: np.random.Generator) -> np.ndarray:
        idx = np.arange(offset, offset + n, dtype=np.int64)
        if self.integer_:
            return idx + self.start_
        alphabets, cap, unique_pos = self._layout()
        prng = np.random.default_rng([self._seed, 0x1D])
        mult = _coprime(cap, int(prng.integers(1, max(2, cap))))
        add = int(prng.integers(0, cap))
        code = ((idx.astype(object) * mult + add) % cap) if cap >= 2**31 else (idx * mult + add) % cap
        code = np.asarray(code, dtype=object)
        cols = []
        for pos, al in enumerate(alphabets):
            if pos in unique_pos:
                size = len(al)
                digit = np.asarray(code % size, dtype=np.int64)
                code = code // size
                cols.append(np.array(list(al))[digit])
            elif len(al) == 1:
                cols.append(np.full(n, al))
            else:
                cols.append(np.array(list(al))[rng.integers(0, len(al), n)])
        out = cols[0].astype(object)
        for c in cols[1:]:
            out = out + c.astype(object)
        return out

    def _to_dtype(self, values: np.ndarray) -> Any:
        if self.integer_:
            v = np.array([np.nan if x is None else x for x in values], dtype=np.float64)
            return from_float(v, ColumnMeta("numeric", dtype=self.meta.dtype, integer=True), None)
        return super()._to_dtype(values)

    def _state(self) -> dict[str, Any]:
        if self.integer_:
            return {"integer": True, "start": self.start_}
        return {"integer": False, "template": self.template_}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.integer_ = state["integer"]
        if self.integer_:
            self.start_ = int(state["start"])
        else:
            self.template_ = list(state["template"])


def _coprime(m: int, a: int) -> int:
    a = max(1, a % m)
    while math.gcd(a, m) != 1:
        a += 1
    return a


class FakerGenerator(ColumnGenerator):
    """PII and free text: drawn per row from a pool of Faker fakes built at fit time.

    The pool is built once (Faker costs tens of microseconds per value) from a seed that mixes
    ``random_state`` with a digest of the real values, so nobody can rebuild it without the data;
    every fake equal to a real value of the column is dropped. Columns that describe one person
    (first name, last name, full name, email) share a pool of aligned persons, so a row's email
    matches its name. The pool is stored in the model; the real values are not.
    """

    POOL_SIZE = 4000
    UNIQUE_POOL_MAX = 200_000  # a column under a uniqueness rule gets 2 fakes per training row, up to this

    def __init__(self, name: str, meta: ColumnMeta, locale: str = "en_US") -> None:
        super().__init__(name, meta)
        self.locale = locale
        self.pool_: list[str] = []
        self.group_: str | None = None
        # Under a uniqueness rule: rows take pool entries in a seeded order without repeats
        # (row i of a sample takes entry perm[i]), so values never repeat within a sample.
        self.unique_ = False

    def _fit(self, s: pd.Series) -> None:
        text = s.astype(str)
        self.words_ = [int(x) for x in np.percentile(text.str.count(r"\s+") + 1, [10, 50, 90])] if len(text) else [3]

    def set_pool(self, pool: np.ndarray, group: str | None) -> None:
        self.pool_ = [str(v) for v in pool]
        self.group_ = group

    def prepare(self, seed: int, n: int) -> None:
        self._pool = np.array(self.pool_, dtype=object)
        # The same seed for every column of a person group, so they share one order.
        self._perm = np.random.default_rng([seed, 0x0F1]).permutation(len(self.pool_)) if self.unique_ else None

    def unique_positions(self, m: int, offset: int) -> np.ndarray:
        """Pool positions of rows ``offset .. offset+m`` of a sample (distinct for distinct rows)."""
        assert self._perm is not None
        # Wraps around for scratch rows (redraw candidates), whose unique cells are never used.
        return self._perm[np.arange(offset, offset + m) % max(1, len(self._perm))]

    def generate_at(self, index: np.ndarray, rng: np.random.Generator) -> Any:
        """Values at given pool positions (shared by the columns of one person)."""
        values = self._pool[index]
        if self.na_rate_ > 0:
            values = values.astype(object)
            values[rng.random(len(index)) < self.na_rate_] = None
        return self._to_dtype(values)

    def _generate(self, n: int, offset: int, rng: np.random.Generator) -> np.ndarray:
        if self.unique_:
            return self._pool[self.unique_positions(n, offset)]
        return self._pool[rng.integers(0, len(self._pool), n)]

    def _state(self) -> dict[str, Any]:
        return {"locale": self.locale, "words": self.words_, "pool": self.pool_, "group": self.group_,
                "unique": self.unique_}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.locale = state["locale"]
        self.words_ = list(state["words"])
        self.pool_ = list(state["pool"])
        self.group_ = state.get("group")
        self.unique_ = bool(state.get("unique", False))


def build_fake_pools(df: pd.DataFrame, generators: dict[str, ColumnGenerator], seed: int, locale: str,
                     unique: frozenset[str] | set[str] = frozenset()) -> None:
    """Give every Faker column its pool of fakes (see :class:`FakerGenerator`); columns in
    ``unique`` (and their person group) get a larger pool, drawn without repeats."""
    fakers = {n: g for n, g in generators.items() if isinstance(g, FakerGenerator)}
    if not fakers:
        return
    big = int(min(FakerGenerator.UNIQUE_POOL_MAX, max(FakerGenerator.POOL_SIZE, 2 * len(df))))
    digest = hashlib.sha256()
    for name in sorted(fakers):
        digest.update(pd.util.hash_pandas_object(df[name], index=False).to_numpy().tobytes())
    base = [seed, int.from_bytes(digest.digest()[:8], "big")]
    size = FakerGenerator.POOL_SIZE
    types = {n: g.meta.pii_type for n, g in fakers.items() if g.meta.kind == "pii"}
    person_cols = {n: t for n, t in types.items() if t in ("first_name", "last_name", "name")}
    if person_cols:
        group = [*person_cols, *(n for n, t in types.items() if t == "email")]
        wanted = [n for n in group if n in unique]
        people = fake_people(big if wanted else size, locale, np.random.SeedSequence([*base, 1]), df, person_cols,
                             [n for n, t in types.items() if t == "email"])
        if wanted:  # one person per distinct value of the unique columns
            keep = ~pd.DataFrame({n: people[n] for n in wanted}).duplicated().to_numpy()
            people = {n: v[keep] for n, v in people.items()}
        for n, values in people.items():
            fakers[n].set_pool(values, "person")
            fakers[n].unique_ = bool(wanted)
    for i, (name, gen) in enumerate(sorted(fakers.items())):
        if gen.group_ == "person":
            continue
        ss = np.random.SeedSequence([*base, 100 + i])
        # Excluding the real values of every PII column also stops a real phone_1 coming out as
        # a fake phone_2.
        real = set().union(*(set(df[c].dropna().astype(str)) for c in fakers))
        n_pool = big if name in unique else size
        if gen.meta.kind == "text":
            pool = fake_sentences(n_pool if name in unique else n_pool // 4, gen.words_, locale, ss, real)
        else:
            pool = fake_pool(gen.meta.pii_type or "name", n_pool, locale=locale,
                             seed=int(ss.generate_state(1)[0]), exclude=real)
        if name in unique:
            pool = pd.unique(pd.Series(pool, dtype=object)).astype(object)
        gen.set_pool(pool, None)
        gen.unique_ = name in unique


def make_generator(name: str, meta: ColumnMeta, locale: str = "en_US") -> ColumnGenerator:
    if meta.kind == "id":
        return IdGenerator(name, meta)
    if meta.kind in ("pii", "text"):
        return FakerGenerator(name, meta, locale)
    if meta.kind == "constant":
        return ConstantGenerator(name, meta)
    raise AssertionError(f"kind {meta.kind!r} is modelled, not generated")
