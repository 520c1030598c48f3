"""Categorical and boolean columns: one sub-column of level codes.

Levels seen in fewer than ``rare_threshold`` rows share one rare code that is never sampled, so
a rare real value is never reproduced; missing is a code of its own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .._exceptions import ConditionError
from ..metadata import ColumnMeta
from ._column import ColumnEncoder
from ._convert import from_float, is_missing, is_text_dtype


class CategoricalEncoder(ColumnEncoder):
    """Levels by frequency; a rare bucket for levels seen in fewer than ``rare_threshold`` rows."""

    kind = "categorical"

    def __init__(self, name: str, meta: ColumnMeta, rare_threshold: int = 5, max_levels: int = 1000) -> None:
        super().__init__(name, meta)
        self.rare_threshold = rare_threshold
        self.max_levels = max_levels

    @property
    def cardinalities(self) -> list[int]:
        return [len(self.levels_) + int(self.has_rare_) + int(self.has_na_)]

    def _keys(self, s: pd.Series) -> pd.Series:
        if self.meta.kind == "boolean" and not pd.api.types.is_bool_dtype(s):
            return s.astype("object").where(s.isna(), s.astype(str))
        return s.astype("object") if not pd.api.types.is_bool_dtype(s) else s.astype(object)

    def fit_encode(self, s: pd.Series, rng: np.random.Generator) -> list[np.ndarray]:
        keys = self._keys(s)
        counts = keys.value_counts(dropna=True, sort=False)
        # Sort by count (desc) then by text, so the level order never depends on row order.
        order = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        kept = [k for k, c in order if c >= self.rare_threshold][: self.max_levels]
        if self.meta.categories is not None:  # declared values: no other is ever generated
            allowed = {str(c) for c in self.meta.categories}
            kept = [k for k in kept if str(k) in allowed]
        self.levels_ = kept
        self.counts_ = [int(counts[k]) for k in kept]
        self.has_rare_ = len(kept) < len(order)
        self.has_na_ = bool(s.isna().any())
        self.all_rare_ = len(kept) == 0
        return [self.encode(s)]

    def encode(self, s: pd.Series) -> np.ndarray:
        rare = len(self.levels_)
        na = rare + int(self.has_rare_)
        if isinstance(s.dtype, pd.StringDtype) and self.meta.kind != "boolean" and \
                all(type(k) is str for k in self.levels_):
            # Text against text levels: one hash lookup in Arrow (the object copy and the dict map
            # below cost ~15x more, and a database's parent rows are encoded once per child model).
            import pyarrow as pa
            import pyarrow.compute as pc

            arr = pa.array(s.array)
            found = pc.index_in(arr, value_set=pa.array(self.levels_, type=arr.type))
            out = found.fill_null(rare).to_numpy(zero_copy_only=False).astype(np.int32)
            out[s.isna().to_numpy()] = na
            return out
        keys = self._keys(s)
        index = {k: i for i, k in enumerate(self.levels_)}
        codes = keys.map(index).to_numpy(dtype=np.float64, na_value=np.nan)
        out = np.where(np.isnan(codes), rare, codes).astype(np.int32)
        out[s.isna().to_numpy()] = na
        return out

    def forbidden(self) -> list[np.ndarray]:
        if self.has_rare_ and not self.all_rare_:
            return [np.array([len(self.levels_)], dtype=np.int64)]
        return [np.zeros(0, dtype=np.int64)]

    def decode(self, codes: list[np.ndarray], rng: np.random.Generator) -> Any:
        c = codes[0]  # int32 codes: compared and clipped as they are, no int64 copy
        n = len(self.levels_)
        rare = (c == n) & self.has_rare_
        missing = c >= n + int(self.has_rare_)
        dtype = self.meta.dtype
        if not is_text_dtype(dtype):
            vals = np.array([*self.levels_, None], dtype=object)[np.where(c >= n, n, c)]
            if dtype in ("bool", "boolean"):
                if dtype == "bool" and not (missing | rare).any():
                    return vals.astype(bool)
                return pd.array(vals, dtype="boolean")
            v = np.array([np.nan if x is None else float(x) for x in [*self.levels_, None]])[np.where(c >= n, n, c)]
            integer = all(float(x).is_integer() for x in self.levels_)
            return from_float(v, ColumnMeta("numeric", dtype=dtype, integer=integer), None)
        import pyarrow as pa

        # Arrow's dictionary decode builds a million strings in milliseconds.
        dictionary = pa.array([*self.levels_, "_RARE_"], type=pa.large_string())
        idx = np.minimum(c, n).astype(np.int32, copy=False)  # codes >= n (rare, missing) -> the _RARE_ slot
        mask = missing if missing.any() else None  # no validity bitmap to build for a column with no missing
        arr = pa.DictionaryArray.from_arrays(pa.array(idx, mask=mask), dictionary).cast(pa.large_string())
        if dtype in ("object", "O"):
            out = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)
            out[missing] = np.nan
            return out
        try:
            return pd.array(arr, dtype=dtype)
        except (TypeError, ValueError):
            return pd.array(arr, dtype="str")

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        levels: list[Any] = [bool(x) if isinstance(x, (bool, np.bool_)) else x for x in self.levels_]
        state = {"levels": levels, "has_rare": self.has_rare_, "has_na": self.has_na_,
                 "all_rare": self.all_rare_, "rare_threshold": self.rare_threshold}
        return state, {"counts": np.asarray(self.counts_, dtype=np.int64)}

    @classmethod
    def from_state(cls, name: str, meta: ColumnMeta, state: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> CategoricalEncoder:
        # The state may come from an untrusted model file: checked field by field (ValueError).
        rare = state["rare_threshold"]
        if isinstance(rare, bool) or not isinstance(rare, int) or not 0 <= rare <= 10**9:
            raise ValueError(f"categorical encoder {name!r}: rare_threshold must be an integer >= 0")
        enc = cls(name, meta, rare)
        levels = state["levels"]
        if not isinstance(levels, list) or not all(
                isinstance(x, (str, int, float, bool)) and not (isinstance(x, float) and not math.isfinite(x))
                for x in levels) or len({(type(x).__name__, x) for x in levels}) != len(levels):
            raise ValueError(f"categorical encoder {name!r}: levels must be a list of distinct text or numbers")
        enc.levels_ = list(levels)
        counts = arrays["counts"]
        if counts.shape != (len(levels),) or counts.dtype.kind not in "iu" or (counts < 0).any():
            raise ValueError(f"categorical encoder {name!r}: counts must be one count >= 0 per level")
        enc.counts_ = [int(c) for c in counts]
        flags = state["has_rare"], state["has_na"], state["all_rare"]
        if not all(isinstance(f, bool) for f in flags) or (flags[2] and levels):
            raise ValueError(f"categorical encoder {name!r}: has_rare, has_na and all_rare must be true/false")
        enc.has_rare_, enc.has_na_, enc.all_rare_ = flags
        return enc

    def code_of(self, value: Any) -> int:
        """The code of one value (missing included); a clear error for unseen or rare values."""
        if is_missing(value):
            if not self.has_na_:
                raise ConditionError(f"column {self.name!r} has no missing values to condition on")
            return len(self.levels_) + int(self.has_rare_)
        for i, level in enumerate(self.levels_):
            if level == value or str(level) == str(value):
                return i
        shown = ", ".join(repr(v) for v in self.levels_[:12]) + (" ..." if len(self.levels_) > 12 else "")
        raise ConditionError(f"column {self.name!r} has no value {value!r} that can be generated (unseen, or seen "
                             f"in fewer than {self.rare_threshold} rows); known values: {shown}")

    def condition(self, spec: Any) -> tuple[list[np.ndarray], Any]:
        values = list(spec) if isinstance(spec, (list, set, frozenset, tuple)) else [spec]
        mask = np.zeros(self.cardinalities[0], dtype=bool)
        for v in values:
            mask[self.code_of(v)] = True
        return [mask], None

