from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._progress import ProgressCallback
from ..encoding import SubColumn

__all__ = ["Engine"]


class Engine:
    """Fit on an encoded integer matrix (rows x sub-columns); sample new matrices.

    ``fixed`` maps sub-column index -> codes (one per row) that sampling must keep, which is how
    conditional sampling and imputation reach the engine; ``forbidden`` lists, per sub-column,
    codes never to draw (the rare bucket).
    """

    name: ClassVar[str] = "base"

    def fit(self, codes: np.ndarray, subcolumns: list[SubColumn], *, seed: int,
            progress: ProgressCallback | None = None, n_context: int = 0) -> Engine:
        """``n_context``: how many leading columns are context (conditioned on, never generated),
        e.g. a parent row's attributes for a child table or the previous step of a sequence."""
        raise NotImplementedError

    def sample(self, n: int, *, seed: int, forbidden: list[np.ndarray],
               fixed: dict[int, np.ndarray] | None = None, allowed: dict[int, np.ndarray] | None = None,
               return_log_weights: bool = False) -> Any:
        raise NotImplementedError

    def get_params(self) -> dict[str, Any]:
        raise NotImplementedError

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    def set_state(self, subcolumns: list[SubColumn], state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError
