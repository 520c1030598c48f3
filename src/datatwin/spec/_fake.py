"""Faker columns: text from a Faker provider, through a seeded pool of values drawn by index."""

from __future__ import annotations

import re
import zlib
from typing import Any

import numpy as np

from .._exceptions import InputError
from ..pii import faker_for, faker_methods
from ._checks import _number, _suggest, _text
from ._columns import RunState, _Col, _Vals
from ._source import _Where

DEFAULT_POOL = 5_000


def _check_locale(locale: Any, w: _Where) -> str:
    if not isinstance(locale, str) or not re.fullmatch(r"[A-Za-z]{2,3}(_[A-Za-z]{2,4})?", locale):
        raise w.error(("locale",), f"must be a Faker locale such as en_US or de_DE, got {locale!r}")
    try:
        faker_methods(locale)
    except InputError:
        raise w.error(("locale",), f"Faker has no locale {locale!r} (e.g. en_US, en_GB, de_DE, fr_FR)") from None
    return locale


class _FakerCol(_Col):
    """Values from a Faker provider, through a seeded pool: Faker runs ``pool`` times per call,
    and rows draw from the pool by index (row ``i`` takes value ``i`` when ``n <= pool``)."""

    type = "faker"
    fkind = "text"

    def __init__(self, name: str, d: dict[str, Any], path: tuple[Any, ...], w: _Where) -> None:
        super().__init__(name, d, path, w)
        if "provider" not in d:
            raise self.err((), "a faker column needs provider (a Faker method such as name, email, city)")
        self.provider = _text(d["provider"], (*path, "provider"), w, "a Faker provider name")
        self.args = d.get("args", {})
        if not isinstance(self.args, dict) or not all(isinstance(k, str) for k in self.args):
            raise self.err("args", f"must be a mapping of the provider's arguments, got {self.args!r}")
        self.pool = int(_number(d.get("pool", DEFAULT_POOL), (*path, "pool"), w, lo=1, hi=1_000_000,
                                integer=True, what="a whole number of pooled values"))

    def check(self, locale: str) -> None:
        methods = faker_methods(locale)
        if self.provider not in methods:
            raise self.err("provider", f"unknown Faker provider {self.provider!r} "
                           f"({_suggest(self.provider, methods)}e.g. name, email, phone_number, address, city, "
                           "company, date_of_birth, sentence; see faker.readthedocs.io)")
        fake = faker_for(locale, 0)
        try:
            getattr(fake, self.provider)(**self.args)
        except Exception as exc:
            raise self.err("args" if self.args else "provider",
                           f"Faker provider {self.provider!r} failed with args {self.args}: "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None

    def build_pool(self, n: int, seed: int, locale: str) -> Any:
        import pyarrow as pa

        ss = np.random.SeedSequence([seed, 0xFA4E], spawn_key=(zlib.crc32(self.name.encode()),))
        fake = faker_for(locale, int(ss.generate_state(1)[0]))  # a Faker of its own: safe in threads
        method = getattr(fake, self.provider)
        size = min(n, self.pool)
        values = [str(method(**self.args)).replace("\n", ", ") for _ in range(size)]
        return pa.array(values, type=pa.string())

    def draw(self, rows: np.ndarray, ctx: dict[str, _Vals], rng: np.random.Generator, run: RunState) -> _Vals:
        size = min(run.n, self.pool)
        idx = rows.astype(np.int64) if run.n <= self.pool else rng.integers(0, size, len(rows))
        return _Vals(idx, None)

    def output(self, v: _Vals) -> Any:
        raise AssertionError("faker columns are output by the run (they need the pool)")

