"""Differential privacy: the budget a user sets, and the accountant that spends it.

Every private step is a Gaussian mechanism, plain (a noisy histogram: ρ-zCDP, an RDP curve
``ρ·α``) or Poisson-subsampled (DP-SGD: its RDP curve from opacus' analysis). The ledger adds
the RDP curves of all steps and converts the total to (ε, δ) once, with the conversion opacus
uses (Balle et al. 2020, Theorem 21), over a grid of orders wide enough for small ε. Category
lists found by noisy thresholding add their own δ (a value seen once is released with
probability at most that δ), which is set aside from the user's δ before the conversion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._exceptions import InputError

__all__ = ["DP", "ORDERS", "PrivacyLedger", "calibrate", "default_delta", "describe_spent", "rdp_to_epsilon",
           "rho_for_epsilon", "subsampled_gaussian_rdp"]

# Opacus' default orders, extended upwards: a budget of ε = 0.1 is best converted near α ≈ 300.
ORDERS = np.array([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
                  + [64, 80, 96, 128, 160, 192, 256, 320, 384, 512, 768, 1024, 1536, 2048, 4096, 8192],
                  dtype=np.float64)


def rdp_to_epsilon(rdp: np.ndarray, delta: float, orders: np.ndarray = ORDERS) -> float:
    """The smallest ε over ``orders`` for an RDP curve and δ (opacus' ``get_privacy_spent``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        eps = rdp - (math.log(delta) + np.log(orders)) / (orders - 1) + np.log((orders - 1) / orders)
    eps = eps[np.isfinite(eps)]
    return float(max(0.0, eps.min())) if len(eps) else math.inf


def rho_for_epsilon(epsilon: float, delta: float, spent: np.ndarray | None = None) -> float:
    """The largest zCDP ρ that, added to the ``spent`` RDP curve, stays within (ε, δ)."""
    base = np.zeros_like(ORDERS) if spent is None else spent
    if rdp_to_epsilon(base, delta) >= epsilon:
        return 0.0
    lo, hi = 0.0, 1.0
    while rdp_to_epsilon(base + hi * ORDERS, delta) < epsilon:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if rdp_to_epsilon(base + mid * ORDERS, delta) <= epsilon else (lo, mid)
    return lo


DEFAULT_DELTA = 1e-7  # well below 1/n for tables under a million rows, and independent of the data


def default_delta(n_rows: int | None = None) -> float:
    """The default δ: fixed, since a δ read from the row count would reveal it."""
    return DEFAULT_DELTA


@dataclass(frozen=True)
class DP:
    """A differential-privacy budget: the model is (``epsilon``, ``delta``)-differentially private.

    Parameters:
        epsilon: the privacy-loss budget ε (smaller is more private; 1 is strong, 10 is weak).
        delta: the probability that the ε bound may fail; ``None`` = 1e-7 (well below 1/n for any
            table under a million rows; set it for larger ones).
        value_share: the share of the budget spent on learning value ranges, bins and category
            lists (whatever the metadata does not declare); the rest trains the engine.
        noise_seed: ``None`` (default): the noise comes from the operating system's entropy, so
            nobody can re-create it. An integer makes a fit reproducible, for tests and research:
            the guarantee then holds only while the seed stays secret; it is never saved.

    Neighbouring tables differ by one row (added or removed): the row count is measured with
    noise like everything else. The schema (column names, kinds, formats) is public: declare it
    in the metadata; columns whose kind or format was inferred from the values are listed in the
    fit's privacy report.

    Example:
        >>> from datatwin import DP
        >>> DP(epsilon=1.0).resolve_delta()
        1e-07
    """

    epsilon: float
    delta: float | None = None
    value_share: float = 0.1
    # Tests and reproducible research only: anyone who knows it can remove the noise, so it is
    # never stored in a model file, and None (the default) draws the noise from the OS.
    noise_seed: int | None = None

    def check(self) -> None:
        if isinstance(self.epsilon, bool) or not isinstance(self.epsilon, (int, float)) or not (
                0 < self.epsilon < math.inf):
            raise InputError(f"DP epsilon must be a positive finite number, got {self.epsilon!r}")
        if self.delta is not None and (isinstance(self.delta, bool) or not isinstance(self.delta, (int, float))
                                       or not 0 < self.delta < 1):
            raise InputError(f"DP delta must be a number in (0, 1) or None for the default, got {self.delta!r}")
        if isinstance(self.value_share, bool) or not isinstance(self.value_share, (int, float)) or not (
                0 < self.value_share < 1):
            raise InputError(f"DP value_share must be in (0, 1), got {self.value_share!r}")
        if self.noise_seed is not None and (isinstance(self.noise_seed, bool) or not isinstance(self.noise_seed, int)
                                            or self.noise_seed < 0):
            raise InputError(f"DP noise_seed must be a non-negative integer or None (the default, and the only "
                             f"private choice), got {self.noise_seed!r}")

    def resolve_delta(self) -> float:
        return float(self.delta) if self.delta is not None else default_delta()

    def to_dict(self) -> dict[str, Any]:
        return {"epsilon": float(self.epsilon), "delta": None if self.delta is None else float(self.delta),
                "value_share": float(self.value_share)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DP:
        return cls(float(d["epsilon"]), None if d.get("delta") is None else float(d["delta"]),
                   float(d.get("value_share", 0.1)))


@dataclass
class PrivacyLedger:
    """The accountant of one fit: every private step is recorded, with what it cost.

    ``delta`` is the user's total δ; ``threshold_delta`` of it is set aside for the category
    lists found by noisy thresholding, and the rest is used to convert the RDP total to ε.
    """

    epsilon: float
    delta: float
    threshold_delta: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)
    rows: int | None = None  # the noisy row count, once measured (count_rows)

    @property
    def conversion_delta(self) -> float:
        return self.delta - self.threshold_delta

    def rdp(self) -> np.ndarray:
        """The total RDP curve over :data:`ORDERS`."""
        total = np.zeros_like(ORDERS)
        for s in self.steps:
            total = total + _curve(s)
        return total

    def total_rho(self) -> float:
        """The zCDP ρ that the whole budget allows (all steps Gaussian)."""
        return rho_for_epsilon(self.epsilon, self.conversion_delta)

    def remaining_rho(self) -> float:
        """The zCDP ρ left for further Gaussian steps."""
        return rho_for_epsilon(self.epsilon, self.conversion_delta, self.rdp())

    def count_rows(self, n: int, rho: float, rng: np.random.Generator) -> int:
        """The row count plus Gaussian noise (rho-zCDP, sensitivity 1), at least 1; stored as
        ``rows`` for every later step that needs a row count."""
        sigma = math.sqrt(1.0 / (2.0 * rho))
        self.gaussian("values: row count", sigma)
        self.rows = max(1, int(round(n + rng.normal(0.0, sigma))))
        return self.rows

    def gaussian(self, what: str, sigma: float, sensitivity: float = 1.0) -> None:
        """Record a Gaussian mechanism with noise ``sigma`` on a query of L2 ``sensitivity``."""
        self.steps.append({"what": what, "mechanism": "gaussian", "sigma": float(sigma),
                           "sensitivity": float(sensitivity)})

    def threshold(self, what: str, delta: float) -> None:
        """Record the δ of a noisy-threshold release (its Gaussian part is recorded separately)."""
        self.steps.append({"what": what, "mechanism": "threshold", "delta": float(delta)})

    def subsampled_gaussian(self, what: str, noise_multiplier: float, sample_rate: float, steps: int) -> None:
        """Record ``steps`` DP-SGD steps (Poisson sampling at ``sample_rate``, noise ``noise_multiplier``)."""
        self.steps.append({"what": what, "mechanism": "subsampled_gaussian", "noise_multiplier":
                           float(noise_multiplier), "sample_rate": float(sample_rate), "steps": int(steps)})

    def epsilon_with(self, extra_rdp: np.ndarray | None = None) -> float:
        total = self.rdp() if extra_rdp is None else self.rdp() + extra_rdp
        return rdp_to_epsilon(total, self.conversion_delta)

    def spent(self) -> dict[str, Any]:
        """What the fit spent: ε, δ, how it was split, and the accountant used."""
        total = self.rdp()
        eps = rdp_to_epsilon(total, self.conversion_delta)
        curves: dict[str, np.ndarray] = {}
        for s in self.steps:
            if s["mechanism"] != "threshold":
                key = s["what"].split(":")[0]
                curves[key] = curves.get(key, np.zeros_like(ORDERS)) + _curve(s)
        # Each part's epsilon had it been the only one (the parts compose to less than their sum).
        parts = {k: rdp_to_epsilon(c, self.conversion_delta) for k, c in curves.items()}
        used_thr = sum(s["delta"] for s in self.steps if s["mechanism"] == "threshold")
        return {"epsilon": round(eps, 6), "delta": self.conversion_delta + used_thr,
                "epsilon_budget": self.epsilon, "delta_budget": self.delta,
                "accountant": "rdp (Gaussian and Poisson-subsampled Gaussian mechanisms; Balle et al. 2020 "
                              "conversion)",
                "epsilon_alone_by_step": {k: round(v, 6) for k, v in parts.items()},
                "steps": list(self.steps)}


def describe_spent(spent: dict[str, Any]) -> str:
    """One line for people: the guarantee, and where the budget went.

    Example:
        >>> describe_spent({"epsilon": 1.0, "delta": 3e-06, "engine": "marginal",
        ...                 "epsilon_alone_by_step": {"values": 0.29, "engine": 0.94}})
        '(epsilon=1, delta=3e-06)-differentially private (marginal engine; values alone 0.29, engine alone 0.94)'
    """
    parts = ", ".join(f"{k} alone {v:.3g}" for k, v in spent.get("epsilon_alone_by_step", {}).items())
    engine = f"{spent['engine']} engine; " if spent.get("engine") else ""
    return (f"(epsilon={spent['epsilon']:.4g}, delta={spent['delta']:.2g})-differentially private "
            f"({engine}{parts})")


def _curve(step: dict[str, Any]) -> np.ndarray:
    mech = step["mechanism"]
    if mech == "gaussian":
        return ORDERS * (step["sensitivity"] ** 2) / (2.0 * step["sigma"] ** 2)
    if mech == "subsampled_gaussian":
        return subsampled_gaussian_rdp(step["noise_multiplier"], step["sample_rate"], step["steps"])
    return np.zeros_like(ORDERS)


def subsampled_gaussian_rdp(noise_multiplier: float, sample_rate: float, steps: int,
                            orders: np.ndarray = ORDERS) -> np.ndarray:
    """RDP of ``steps`` Poisson-subsampled Gaussian steps, from opacus' analysis (the reference),
    over ``orders`` (a subset of them is cheaper: the fractional orders cost most)."""
    try:
        from opacus.accountants.analysis.rdp import compute_rdp
    except ImportError:  # pragma: no cover - the [privacy] extra is missing
        raise InputError("DP-SGD needs opacus: pip install 'datatwin[privacy]'") from None
    return np.asarray(compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=steps,
                                  orders=[float(a) for a in orders]), dtype=np.float64)


def calibrate(target: Callable[[float], float], epsilon: float, lo: float = 0.3, hi: float = 50.0,
              tol: float = 0.0) -> float:
    """The smallest parameter in ``[lo, hi]`` (e.g. a noise multiplier) whose ``target`` ε is
    at most ``epsilon``, for a ``target`` that falls as the parameter grows; within ``tol`` above
    it (the answer always meets ``epsilon``; a tolerance saves evaluations of a slow ``target``)."""
    if target(hi) > epsilon:
        raise InputError(f"a budget of epsilon={epsilon} is too small for this training schedule; raise "
                         f"epsilon, or train for fewer epochs")
    if target(lo) <= epsilon:
        return lo
    for _ in range(60):
        if hi - lo <= tol:
            break
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if target(mid) <= epsilon else (mid, hi)
    return hi
