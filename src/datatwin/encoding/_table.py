"""All modelled columns of a table as one ``int32`` matrix of sub-columns, and back.

Everything is vectorised numpy; integer codes rather than one-hot columns, so thousands of
levels or millions of rows cost no one-hot memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._privacy import PrivacyLedger
from ..metadata import ColumnMeta
from ._categorical import CategoricalEncoder
from ._column import ColumnEncoder
from ._convert import from_float, to_float
from ._numeric import NumericEncoder
from ._private import private_fit_encode

MODELLED_KINDS = ("numeric", "categorical", "boolean", "datetime")


@dataclass(frozen=True)
class SubColumn:
    """One categorical sub-column of the encoded table."""

    column: int  # index of the modelled column it belongs to
    name: str
    cardinality: int
    # Codes are ordered values (numbers, dates, bins): the engine may add the code's rank as a
    # feature, so that neighbouring values share what they learn. After the ordered codes come
    # ``n_special`` codes that are not values (missing, "same as another column").
    ordinal: bool = False
    has_na: bool = False
    n_special: int = -1  # -1: int(has_na), for callers that predate special codes

    @property
    def n_values(self) -> int:
        return self.cardinality - (int(self.has_na) if self.n_special < 0 else self.n_special)


def make_encoder(name: str, meta: ColumnMeta, rare_threshold: int, max_levels: int) -> ColumnEncoder:
    """The (unfitted) encoder for a column of a modelled kind."""
    if meta.kind in ("categorical", "boolean"):
        return CategoricalEncoder(name, meta, rare_threshold, max_levels)
    if meta.kind in ("numeric", "datetime"):
        return NumericEncoder(name, meta, rare_threshold)
    raise AssertionError(f"kind {meta.kind!r} is not modelled")


class TableEncoder:
    """All modelled columns of a table, as one integer matrix of sub-columns."""

    def __init__(self, encoders: list[ColumnEncoder], twins: bool = True) -> None:
        self.encoders = encoders
        # "Same as" codes need a model that learns when to use them (ARGN); a Gaussian copula
        # would emit them without regard to the rest of the row.
        self.twins = twins

    @property
    def subcolumns(self) -> list[SubColumn]:
        subs = []
        for i, enc in enumerate(self.encoders):
            ordinal = isinstance(enc, NumericEncoder)
            for j, card in enumerate(enc.cardinalities):
                has_na = bool(ordinal and j == 0 and getattr(enc, "has_na_", False))
                special = int(has_na) + int(isinstance(enc, NumericEncoder) and j == 0 and enc.twin_ is not None)
                subs.append(SubColumn(i, f"{enc.name}#{j}", int(card), ordinal, has_na, special))
        return subs

    @property
    def slices(self) -> list[slice]:
        out, start = [], 0
        for enc in self.encoders:
            k = len(enc.cardinalities)
            out.append(slice(start, start + k))
            start += k
        return out

    def fit_encode(self, df: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        parts: list[np.ndarray] = []
        for enc in self.encoders:
            parts.extend(enc.fit_encode(df[enc.name], rng))
        self._orient(df)
        if self.twins:
            self._find_twins(df, parts)
        if not parts:
            return np.zeros((len(df), 0), dtype=np.int32)
        return np.stack(parts, axis=1).astype(np.int32)

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """Codes of new rows (a streamed batch) under the fitted encoders, with the "same as"
        codes of :meth:`_find_twins`; values the fit never saw take a code the model knows."""
        parts: list[np.ndarray] = []
        numbers: dict[str, np.ndarray] = {}
        for enc, card in zip(self.encoders, self._cards(), strict=True):
            if isinstance(enc, NumericEncoder):
                codes, v = enc.encode(df[enc.name])
                numbers[enc.name] = v
                if enc.twin_ is not None:
                    same = (v == numbers[enc.twin_]) & ~np.isnan(v)
                    codes[0] = np.where(same, enc.n_coarse_ + int(enc.has_na_), codes[0]).astype(np.int32)
                    codes[1] = np.where(same, 0, codes[1]).astype(np.int32)
                parts.extend(codes)
            else:
                c = enc.encode(df[enc.name])
                # Unseen values with no rare code, or missing values where the fit saw none: the
                # most common level.
                parts.append(np.where(c < card[0], c, 0).astype(np.int32))
        if not parts:
            return np.zeros((len(df), 0), dtype=np.int32)
        return np.stack(parts, axis=1)

    def _cards(self) -> list[list[int]]:
        return [enc.cardinalities for enc in self.encoders]

    def fit_encode_private(self, df: pd.DataFrame, rng: np.random.Generator, ledger: PrivacyLedger,
                           rho: float) -> np.ndarray:
        """Like :meth:`fit_encode`, under differential privacy: ranges, bins and levels are public
        or measured with at most ``rho`` (zCDP) of ``ledger``; no "same as" codes and no
        orientation, which would read the data outside the budget."""
        self.twins = False
        parts = private_fit_encode(self.encoders, df, ledger, rho, rng)
        if not parts:
            return np.zeros((len(df), 0), dtype=np.int32)
        return np.stack(parts, axis=1).astype(np.int32)

    def _binned(self) -> list[NumericEncoder]:
        return [e for e in self.encoders if isinstance(e, NumericEncoder) and e.mode_ == "binned"]

    def _find_twins(self, df: pd.DataFrame, parts: list[np.ndarray], min_share: float = 0.03,
                    min_rows: int = 50) -> None:
        """Give a binned column a "same as" code for the earlier numeric column it most often
        equals exactly (a bill paid in full: ``pay_amt1 == bill_amt2`` in 22 % of credit rows),
        and re-code those rows with it (``parts`` are the sub-columns' codes, changed in place).

        Independent in-bin draws almost never reproduce such equalities, and a classifier sees
        that at once; as a code, the model learns when the columns are equal like any other level.
        """
        nums = [e for e in self.encoders if isinstance(e, NumericEncoder)]
        first_part = {e.name: sl.start for e, sl in zip(self.encoders, self.slices, strict=True)}
        values = {e.name: to_float(df[e.name], e.meta)[0] for e in nums}
        for idx, b in enumerate(nums):
            if b.mode_ != "binned":
                continue
            best, best_eq = None, None
            for a in nums[:idx]:
                if a.meta.kind != b.meta.kind:
                    continue
                equal = (values[a.name] == values[b.name]) & ~np.isnan(values[b.name])
                if equal.mean() >= min_share and equal.sum() >= min_rows and (
                        best_eq is None or equal.sum() > best_eq.sum()):
                    best, best_eq = a.name, equal
            if best is not None and best_eq is not None:
                b.twin_ = best
                j = first_part[b.name]
                parts[j] = np.where(best_eq, b.n_coarse_ + int(b.has_na_), parts[j]).astype(np.int32)
                parts[j + 1] = np.where(best_eq, 0, parts[j + 1]).astype(np.int32)

    def _orient(self, df: pd.DataFrame) -> None:
        """Which binned columns draw their in-bin position as ``1 - u`` rather than ``u``.

        Strongly related numbers (a diamond's x, y and z) move together inside their bins too;
        independent in-bin draws blur that fine structure, a shared position keeps it. The
        orientation follows the sign of each column's loading on the first principal
        component of the rank correlations, so negatively related columns mirror each other.
        """
        binned = self._binned()
        if len(binned) < 2:
            return
        ranks = []
        for e in binned:
            r = pd.Series(to_float(df[e.name], e.meta)[0]).rank().to_numpy()
            ranks.append(np.where(np.isnan(r), np.nanmean(r) if np.isfinite(r).any() else 0.0, r))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.nan_to_num(np.corrcoef(np.column_stack(ranks), rowvar=False))
        lead = np.linalg.eigh(corr)[1][:, -1]
        lead = lead * (1.0 if lead[0] >= 0 else -1.0)
        for e, x in zip(binned, lead, strict=True):
            e.flip_ = bool(x < 0)

    def decode(self, codes: np.ndarray, rng: np.random.Generator,
               bounds: dict[str, Any] | None = None) -> dict[str, Any]:
        out = {}
        numbers: dict[str, np.ndarray] = {}
        # One in-bin position per row for all binned columns (see _orient).
        u = rng.random(len(codes)) if self._binned() else None
        for enc, sl in zip(self.encoders, self.slices, strict=True):
            parts = [codes[:, i] for i in range(sl.start, sl.stop)]
            if isinstance(enc, NumericEncoder):
                twin = numbers.get(enc.twin_) if enc.twin_ else None
                v = enc.decode_numbers(parts, rng, (bounds or {}).get(enc.name), u=u, twin=twin)
                numbers[enc.name] = v
                out[enc.name] = from_float(v, enc.meta, enc.unit_)
            else:
                out[enc.name] = enc.decode(parts, rng)
        return out

    def forbidden(self) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for enc in self.encoders:
            out.extend(enc.forbidden())
        return out
