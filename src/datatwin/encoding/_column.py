"""The encoder interface: one modelled column <-> one or more small-integer sub-columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..metadata import ColumnMeta


class ColumnEncoder:
    """Base class: fit on a column, encode to sub-column codes, decode codes to values."""

    kind = "base"

    def __init__(self, name: str, meta: ColumnMeta) -> None:
        self.name = name
        self.meta = meta

    @property
    def cardinalities(self) -> list[int]:
        raise NotImplementedError

    def fit_encode(self, s: pd.Series, rng: np.random.Generator) -> list[np.ndarray]:
        raise NotImplementedError

    def decode(self, codes: list[np.ndarray], rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def forbidden(self) -> list[np.ndarray]:
        """Codes that must never be sampled, per sub-column (the rare bucket)."""
        return [np.zeros(0, dtype=np.int64) for _ in self.cardinalities]

    def condition(self, spec: Any) -> tuple[list[np.ndarray], Any]:
        """Allowed codes per sub-column for a condition, and bounds for decoding.

        ``spec`` is a value, a list/set of values, or (for numbers and dates) a ``(low, high)``
        tuple, inclusive, with ``None`` for an open end.
        """
        raise NotImplementedError

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    @classmethod
    def from_state(cls, name: str, meta: ColumnMeta, state: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> ColumnEncoder:
        raise NotImplementedError

