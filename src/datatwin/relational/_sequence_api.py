"""One table of histories (stores x weeks, tickers x days) as its own estimator."""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from .._exceptions import InputError, NotFittedError
from ..io import read_table
from ._model import DatabaseSynthesizer
from ._schema import Schema, TableSchema

__all__ = ["SequenceSynthesizer"]

TABLE = "data"


class SequenceSynthesizer:
    """Learns one table of ordered histories and generates new entities with their own histories.

    Parameters:
        sequence_key: the column naming the entity (store, ticker, account).
        sequence_index: the column that orders an entity's rows (a date or a number).
        Other parameters as for :class:`DatabaseSynthesizer`.

    Example:
        >>> import numpy as np, pandas as pd, datatwin
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"store": np.repeat([1, 2, 3, 4], 10),
        ...                    "week": np.tile(np.arange(10), 4),
        ...                    "sales": np.cumsum(rng.normal(0, 1, 40)).round(2)})
        >>> seq = datatwin.SequenceSynthesizer("store", "week", engine_options={"max_epochs": 2}).fit(df)
        >>> out = seq.sample(seed=1)
        >>> bool(out.groupby("store")["week"].apply(lambda s: s.is_monotonic_increasing).all())
        True
    """

    def __init__(self, sequence_key: str, sequence_index: str, *, engine: str = "argn", random_state: int = 0,
                 engine_options: dict[str, Any] | None = None, max_training_time: float = 600.0,
                 rare_threshold: int = 5) -> None:
        self.sequence_key = sequence_key
        self.sequence_index = sequence_index
        self.engine = engine
        self.random_state = random_state
        self.engine_options = engine_options
        self.max_training_time = max_training_time
        self.rare_threshold = rare_threshold

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("sequence_key", "sequence_index", "engine", "random_state",
                                              "engine_options", "max_training_time", "rare_threshold")}

    def fit(self, data: pd.DataFrame | str | os.PathLike[str]) -> SequenceSynthesizer:
        """Learn a table (DataFrame or CSV/Parquet path) of histories."""
        df = read_table(data) if isinstance(data, (str, os.PathLike)) else data
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"fit expects a DataFrame or a file path, got {type(df).__name__}")
        for c in (self.sequence_key, self.sequence_index):
            if c not in df.columns:
                raise InputError(f"column {c!r} (sequence key / index) is not in the table; "
                                 f"columns: {list(df.columns)}")
        schema = Schema({TABLE: TableSchema(TABLE, [], self.sequence_key, self.sequence_index)}, [])
        params = {k: v for k, v in self.get_params().items() if k not in ("sequence_key", "sequence_index")}
        self.database_ = DatabaseSynthesizer(**params).fit({TABLE: df}, schema)
        return self

    def sample(self, scale: float = 1.0, *, seed: int | None = None) -> pd.DataFrame:
        """New histories: ``scale`` times as many entities as the real table, ordered by entity and index."""
        if not hasattr(self, "database_"):
            raise NotFittedError("this SequenceSynthesizer is not fitted yet; call fit(data) first")
        return self.database_.sample(scale, seed=seed)[TABLE]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model file (a database model with one table)."""
        if not hasattr(self, "database_"):
            raise NotFittedError("this SequenceSynthesizer is not fitted yet; call fit(data) first")
        self.database_.save(path)
