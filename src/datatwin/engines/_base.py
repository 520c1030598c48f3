from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._privacy import PrivacyLedger
from .._progress import ProgressCallback
from ..encoding import SubColumn

__all__ = ["CONDITIONS", "CONTEXT", "DIFFERENTIAL_PRIVACY", "SAME_AS", "Engine"]

# What an engine can do, declared on its class so the estimator asks instead of naming engines.
CONDITIONS = "conditions"  # fixed and allowed codes: conditions, rebalance, boost, seed rows, what-if
CONTEXT = "context"  # leading context columns (a parent row, the previous step of a sequence)
SAME_AS = "same_as"  # the encoder's "same as an earlier column" codes (the engine must learn when to copy)
DIFFERENTIAL_PRIVACY = "differential_privacy"  # training spends a privacy-loss budget


class Engine:
    """Fit on an encoded integer matrix (rows x sub-columns); sample new matrices.

    ``fixed`` maps sub-column index -> codes (one per row) that sampling must keep, which is how
    conditional sampling and imputation reach the engine; ``forbidden`` lists, per sub-column,
    codes never to draw (the rare bucket).

    A fitted engine is read-only: ``sample`` keeps its state in the call (any cache it fills is
    derived from the fitted weights and guarded by a lock), so threads and workers can share one.
    """

    name: ClassVar[str] = "base"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def can(cls, capability: str) -> bool:
        """Whether this engine supports ``capability`` (one of the module's constants)."""
        return capability in cls.capabilities

    def fit(self, codes: np.ndarray, subcolumns: list[SubColumn], *, seed: int,
            progress: ProgressCallback | None = None, n_context: int = 0,
            privacy: PrivacyLedger | None = None) -> Engine:
        """``n_context``: how many leading columns are context (conditioned on, never generated),
        e.g. a parent row's attributes for a child table or the previous step of a sequence.

        ``privacy`` (engines with :data:`DIFFERENTIAL_PRIVACY` only): the fit's accountant, with
        what the encoders spent already recorded; the engine spends the rest of its budget, never
        more, records each private step in it, and reads nothing from the data outside them."""
        raise NotImplementedError

    def sample(self, n: int, *, seed: int, forbidden: list[np.ndarray],
               fixed: dict[int, np.ndarray] | None = None, allowed: dict[int, np.ndarray] | None = None,
               return_log_weights: bool = False) -> Any:
        raise NotImplementedError

    def sample_given(self, n: int, *, seed: int, forbidden: list[np.ndarray], fixed: dict[int, np.ndarray]
                     ) -> np.ndarray:
        """``sample(n, seed=seed, forbidden=forbidden, fixed=fixed)``, the same codes: an engine may
        make it cheaper for callers that draw many small batches around given codes (histories,
        one call per step)."""
        return self.sample(n, seed=seed, forbidden=forbidden, fixed=fixed)

    def get_params(self) -> dict[str, Any]:
        raise NotImplementedError

    def check_params(self) -> None:
        """Raise InputError for a parameter out of range; called before ``fit`` uses them and when
        a model file is read (whose parameters are untrusted). Engines with parameters override it."""

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        raise NotImplementedError

    def set_state(self, subcolumns: list[SubColumn], state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError
