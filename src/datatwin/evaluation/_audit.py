"""A privacy audit users can run: canaries, one training run, an empirical ε lower bound.

One-run auditing (Steinke, Nasr and Jagielski 2023, "Privacy Auditing with One (1) Training
Run", NeurIPS): ``m`` canary rows are each inserted with probability 1/2, the synthesizer is
fitted once on the real rows plus the inserted canaries, and a black-box attack on the sampled
rows guesses, for some canaries, whether they were inserted. An (ε, δ)-DP fit cannot let the
attack be right much more often than randomized response with parameter ε; the largest ε that
the observed number of correct guesses rules out (at the given confidence) is a lower bound
on the fit's true ε. A bound above the claimed ε means the claim is false.

Canaries. Each canary is a real row in which two or three disjoint pairs of columns are set to
a combination of *common* values (each seen in many rows, so no rare-value protection hides
it) that occurs in no real row and in no other canary: the canary's "distinctive cells".

Attack. For every pair of columns the auditor counts the synthetic rows in each cell (numbers
in quantile bins). A model that learned a canary's pair puts rows in its cell, which would
otherwise only get the rows the model scatters over cells that no real row holds; that
"leak rate" is measured per pair on the empty cells that belong to no canary. The score of a
canary is the Poisson log-likelihood ratio, summed over its distinctive cells, of "inserted"
(leak rate + one row's share of the synthetic rows) against "not inserted" (leak rate). It
adapts to the model: pairs the model does not learn weigh almost nothing.

Guesses. "In" for the ``k`` highest scores, "out" for the ``k`` lowest (or only one side), for a
fixed grid of ``k``; every choice is tested at ``(1 - confidence) / tests`` (a union bound), so
the best of them holds at the stated confidence.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._exceptions import InputError
from .._privacy import default_delta

__all__ = ["AuditResult", "audit_privacy", "epsilon_lower_bound"]

log = logging.getLogger(__name__)

K_SHARES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)  # guesses per side, as a share of the canaries (fixed in advance)
SIDES = ("both", "in", "out")
CELLS_PER_CANARY = 8  # distinctive pairs of columns per canary, at most (a narrow table has fewer)
MAX_LEVELS = 200  # text columns with more distinct values (ids, names) take no part in the attack
MAX_COLUMNS = 40  # columns the attack looks at (pairs grow as the square)


# ---------------------------------------------------------------------------- the bound
def _p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """P[at least ``v`` of ``r`` guesses correct] under (ε, δ)-DP (Steinke et al. 2023, Thm 5.2)."""
    q = 1.0 / (1.0 + math.exp(-epsilon))  # accuracy of ε-randomized response
    p = float(stats.binom.sf(v - 1, r, q))
    if delta > 0 and v > 0:
        # The δ term: 2mδ · max_i P[v - i <= Binomial(r, q) < v] / i.
        below = np.cumsum(stats.binom.pmf(np.arange(v - 1, -1, -1), r, q))
        p += 2.0 * m * delta * float(np.max(below / np.arange(1, v + 1)))
    return min(p, 1.0)


def epsilon_lower_bound(canaries: int, guesses: int, correct: int, *, delta: float = 0.0,
                        confidence: float = 0.95) -> float:
    """The largest ε that ``correct`` right guesses out of ``guesses`` rule out, at ``confidence``.

    An (ε, δ)-DP fit makes ``correct`` or more right guesses with probability below
    ``1 - confidence`` for every ε up to the returned value (one-run auditing, Steinke, Nasr and
    Jagielski 2023, Theorem 5.2, with the δ term), so the fit's true ε is at least that, with
    that confidence. ``canaries`` is the number of canaries (each inserted with probability 1/2).

    Example:
        >>> from datatwin.evaluation import epsilon_lower_bound
        >>> round(epsilon_lower_bound(1000, 100, 100), 2)
        3.49
        >>> epsilon_lower_bound(1000, 100, 50)
        0.0
    """
    for name, value in (("canaries", canaries), ("guesses", guesses), ("correct", correct)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"{name} must be a non-negative integer, got {value!r}")
    if not correct <= guesses <= canaries:
        raise InputError(f"need correct <= guesses <= canaries, got {correct}, {guesses}, {canaries}")
    if not 0 <= delta < 1:
        raise InputError(f"delta must be in [0, 1), got {delta!r}")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be in (0, 1), e.g. 0.95, got {confidence!r}")
    beta = 1.0 - confidence
    if correct == 0 or _p_value(canaries, guesses, correct, 0.0, delta) >= beta:
        return 0.0
    lo, hi = 0.0, 1.0
    while _p_value(canaries, guesses, correct, hi, delta) < beta:
        lo, hi = hi, hi * 2
        if hi > 1e4:  # cannot happen for r >= 1 (q -> 1), but never loop forever
            return lo
    for _ in range(50):  # p-value grows with ε: bisect for the last ε it still rejects
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _p_value(canaries, guesses, correct, mid, delta) < beta else (lo, mid)
    return lo


# ---------------------------------------------------------------------------- the result
@dataclass(frozen=True)
class AuditResult:
    """What :func:`audit_privacy` found.

    Attributes:
        claimed_epsilon, claimed_delta: the guarantee audited (the fit's ``privacy_``, or given).
        empirical_epsilon: the ε lower bound the attack proves at ``confidence`` (0 = nothing).
        canaries, included: canaries built, and how many of them the fit saw.
        guesses, correct: the attack's guesses (abstentions left out) and how many were right,
            for the choice of ``k`` that gave the largest bound.
        tests: how many choices of ``k`` were tried (the union bound's factor).
        n_synthetic: synthetic rows the attack looked at.
        confidence: the confidence of the bound.
        verdict: ``"consistent"`` (bound <= claim) or ``"VIOLATED"`` (the claim is false).
    """

    claimed_epsilon: float
    claimed_delta: float
    empirical_epsilon: float
    canaries: int
    included: int
    guesses: int
    correct: int
    tests: int
    n_synthetic: int
    confidence: float
    verdict: str

    @property
    def violated(self) -> bool:
        return self.verdict == "VIOLATED"

    def to_dict(self) -> dict[str, Any]:
        """The figures as plain JSON-ready values."""
        return asdict(self)


# ---------------------------------------------------------------------------- the audit
def audit_privacy(data: pd.DataFrame, synthesizer: Any, *, canaries: int = 500, n_synthetic: int | None = None,
                  confidence: float = 0.95, claimed_epsilon: float | None = None,
                  claimed_delta: float | None = None, seed: int = 0) -> AuditResult:
    """Audit a synthesizer's differential-privacy claim with canaries and one training run.

    A clone of ``synthesizer`` (unfitted, same parameters) is fitted on ``data`` plus a random
    half of ``canaries`` canary rows, ``n_synthetic`` rows are sampled, and a black-box attack
    guesses which canaries were inserted. The result's ``empirical_epsilon`` is a lower bound on
    the fit's true ε at ``confidence``; the verdict is ``"VIOLATED"`` when it exceeds the claim.
    Passing does not prove privacy: it says this attack found no leak beyond the claim.

    Parameters:
        data: the real table (a DataFrame).
        synthesizer: an estimator with ``fit(df)``, ``sample(n, seed=...)`` and ``privacy_``, e.g.
            ``Synthesizer(engine="marginal", privacy=DP(epsilon=1))``.
        canaries: canary rows built (half of them, at random, are inserted). More canaries give
            a tighter bound but change the table more.
        n_synthetic: rows sampled for the attack; ``None`` = 50 times the rows, at most 200,000.
        confidence: the confidence of the lower bound.
        claimed_epsilon, claimed_delta: the claim to test, for a synthesizer fitted without
            ``privacy`` (or to test a stricter claim); by default the fit's ``privacy_``.
        seed: seeds the canaries, their insertion and the attack.

    Example:
        >>> import numpy as np, pandas as pd, datatwin
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"a": rng.choice(list("xyz"), 600), "b": rng.integers(0, 5, 600)})
        >>> syn = datatwin.Synthesizer(engine="marginal", privacy=datatwin.DP(epsilon=1.0))
        >>> res = datatwin.audit_privacy(df, syn, canaries=50, seed=0)
        >>> res.verdict, res.claimed_epsilon <= 1.0
        ('consistent', True)
    """
    if not isinstance(data, pd.DataFrame) or data.empty:
        raise InputError("audit_privacy needs the real table as a non-empty pandas DataFrame")
    if isinstance(canaries, bool) or not isinstance(canaries, (int, np.integer)) or canaries < 10:
        raise InputError(f"canaries must be an integer of at least 10 (500 is a good start), got {canaries!r}")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be in (0, 1), e.g. 0.95, got {confidence!r}")
    if n_synthetic is not None and (isinstance(n_synthetic, bool) or not isinstance(n_synthetic, (int, np.integer))
                                    or n_synthetic < 1):
        raise InputError(f"n_synthetic must be a positive integer or None, got {n_synthetic!r}")
    for name, value in (("fit", "fit"), ("sample", "sample")):
        if not callable(getattr(synthesizer, value, None)):
            raise InputError(f"audit_privacy needs a synthesizer with a {name}() method, e.g. "
                             f"datatwin.Synthesizer(engine='marginal', privacy=datatwin.DP(epsilon=1)); got "
                             f"{type(synthesizer).__name__}")
    if claimed_epsilon is not None and not (isinstance(claimed_epsilon, (int, float))
                                            and not isinstance(claimed_epsilon, bool) and claimed_epsilon > 0):
        raise InputError(f"claimed_epsilon must be a positive number, got {claimed_epsilon!r}")
    if claimed_delta is not None and not (isinstance(claimed_delta, (int, float)) and 0 <= claimed_delta < 1):
        raise InputError(f"claimed_delta must be in [0, 1), got {claimed_delta!r}")
    if claimed_epsilon is None and getattr(synthesizer, "privacy", None) is None:
        raise InputError("this synthesizer has no privacy budget, so there is no claim to audit; give "
                         "privacy=datatwin.DP(epsilon=...) to the synthesizer, or claimed_epsilon= to audit")
    from sklearn.base import clone  # scikit-learn is a dependency; imported here to keep import time low

    m = int(canaries)
    rng = np.random.default_rng(seed)
    grid = _Grid(data)
    canary_df, canary_codes = _make_canaries(data, grid, m, rng)
    inserted = rng.random(m) < 0.5
    train = pd.concat([data, canary_df[inserted]], ignore_index=True)
    n_syn = int(n_synthetic) if n_synthetic is not None else int(min(50 * len(data), 200_000))

    fitted = clone(synthesizer).fit(train)
    synthetic = fitted.sample(n_syn, seed=int(rng.integers(2**31 - 1)))
    eps, delta = _claim(fitted, claimed_epsilon, claimed_delta, len(train))
    cards = [grid.cardinality(c) for c in grid.columns]
    scores = _scores(grid.encode_frame(data), canary_codes, grid.encode_frame(synthetic), cards,
                     n_syn / (len(data) + m / 2))
    best = _best_guesses(scores, inserted, delta, confidence, rng)
    bound, r, v, tests = best
    verdict = "VIOLATED" if bound > eps else "consistent"
    log.info("audit: %d canaries (%d inserted), %d guesses, %d correct: epsilon >= %.3f (claim %.3f)",
             m, int(inserted.sum()), r, v, bound, eps)
    return AuditResult(claimed_epsilon=float(eps), claimed_delta=float(delta), empirical_epsilon=float(bound),
                       canaries=m, included=int(inserted.sum()), guesses=int(r), correct=int(v), tests=tests,
                       n_synthetic=n_syn, confidence=float(confidence), verdict=verdict)


def _claim(fitted: Any, epsilon: float | None, delta: float | None, n_rows: int) -> tuple[float, float]:
    spent = getattr(fitted, "privacy_", None)
    if epsilon is None:
        if not spent:
            raise InputError("the fitted synthesizer reports no privacy_; give claimed_epsilon= to audit it")
        epsilon = float(spent["epsilon"])
    if delta is None:
        # The fit's own δ, or for a non-private fit the default a DP fit of this size would use.
        delta = float(spent["delta"]) if spent else default_delta()
    return float(epsilon), float(delta)


# ---------------------------------------------------------------------------- canaries
class _Grid:
    """The auditor's view of a table: each usable column as small integer codes (numbers in
    quantile bins, text by level, missing and unknown values a code of their own)."""

    def __init__(self, data: pd.DataFrame) -> None:
        n = len(data)
        n_bins = int(np.clip(round(math.sqrt(n / 10)), 4, 32))
        self.columns: list[str] = []
        self.kinds: dict[str, tuple[str, Any]] = {}
        self.common: dict[str, dict[int, Any]] = {}  # code -> a real value with that code, for common codes
        min_count = max(10, math.ceil(0.005 * n))
        for name in data.columns:
            s = data[name]
            if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and s.nunique() > 64:
                x = s.to_numpy(dtype=np.float64, na_value=np.nan)
                edges = np.unique(np.nanquantile(x, np.linspace(0, 1, n_bins + 1)[1:-1]))
                self.kinds[name] = ("bins", edges)
            elif not (pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s)) \
                    and s.nunique() <= MAX_LEVELS:
                self.kinds[name] = ("levels", list(s.value_counts().index))
            else:
                continue  # dates, ids, free text: the canary keeps the base row's value
            codes = self.encode(s, name)
            counts = np.bincount(codes, minlength=self.cardinality(name))
            values: dict[int, Any] = {}
            for c in np.flatnonzero(counts >= min_count):
                if c >= self.cardinality(name) - 1:
                    continue  # the missing / unknown code
                members = np.sort(s[codes == c].to_numpy())
                values[int(c)] = members[len(members) // 2]  # a real value, the bin's (lower) median
            if len(values) >= 2:
                self.columns.append(name)
                self.common[name] = values
            if len(self.columns) >= MAX_COLUMNS:
                break

    def cardinality(self, name: str) -> int:
        kind, spec = self.kinds[name]
        return len(spec) + 2 if kind == "bins" else len(spec) + 1

    def encode(self, s: pd.Series, name: str) -> np.ndarray:
        kind, spec = self.kinds[name]
        if kind == "bins":
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            codes = np.searchsorted(spec, x, side="right")
            return np.where(np.isnan(x), len(spec) + 1, codes).astype(np.int64)
        lut = {v: i for i, v in enumerate(spec)}
        return s.map(lut).fillna(len(spec)).to_numpy(dtype=np.int64)

    def encode_frame(self, df: pd.DataFrame) -> np.ndarray:
        return np.stack([self.encode(df[c], c) for c in self.columns], axis=1) if self.columns else \
            np.zeros((len(df), 0), dtype=np.int64)


def _pair_codes(codes: np.ndarray, i: int, j: int, card_j: int) -> np.ndarray:
    return codes[:, i] * card_j + codes[:, j]


def _make_canaries(data: pd.DataFrame, grid: _Grid, m: int, rng: np.random.Generator
                   ) -> tuple[pd.DataFrame, np.ndarray]:
    d = len(grid.columns)
    if d < 2:
        raise InputError("the audit needs at least two columns with common values (numbers, or text with at most "
                         f"{MAX_LEVELS} distinct values, each value seen in at least 10 rows); this table has {d}")
    real = grid.encode_frame(data)
    cards = [grid.cardinality(c) for c in grid.columns]
    pairs = list(itertools.combinations(range(d), 2))
    taken = {p: set(_pair_codes(real, *p, cards[p[1]]).tolist()) for p in pairs}  # real and earlier canaries
    base = rng.integers(0, len(data), m)
    rows = data.iloc[base].reset_index(drop=True).copy()
    per = min(CELLS_PER_CANARY, d // 2)
    for t in range(m):
        cols = rng.permutation(d)[: 2 * per]
        for a, b in zip(cols[0::2], cols[1::2], strict=True):
            i, j = (int(a), int(b)) if a < b else (int(b), int(a))
            ci, cj = grid.columns[i], grid.columns[j]
            li, lj = list(grid.common[ci]), list(grid.common[cj])
            for _ in range(50):  # a free cell among common values; in a dense pair there may be none
                x, y = li[rng.integers(len(li))], lj[rng.integers(len(lj))]
                key = x * cards[j] + y
                if key not in taken[(i, j)]:
                    taken[(i, j)].add(key)
                    rows.at[t, ci] = grid.common[ci][x]
                    rows.at[t, cj] = grid.common[cj][y]
                    break
    rows = rows.astype(data.dtypes.to_dict())
    return rows, grid.encode_frame(rows)


# ---------------------------------------------------------------------------- attack
def _scores(real: np.ndarray, canary: np.ndarray, synthetic: np.ndarray, cards: list[int],
            share: float) -> np.ndarray:
    """Each canary's log-likelihood ratio, inserted against not, over its distinctive cells.

    ``share`` is the synthetic rows one training row stands for (the expected count an
    inserted canary adds to its cell when the model learns the pair)."""
    score = np.zeros(len(canary))
    for i, j in itertools.combinations(range(len(cards)), 2):
        rc, cc, sc = (_pair_codes(x, i, j, cards[j]) for x in (real, canary, synthetic))
        occupied = np.union1d(rc, cc)
        syn_cells, syn_counts = np.unique(sc, return_counts=True)
        canary_cells, canary_counts = np.unique(cc, return_counts=True)
        # Distinctive: in no real row and in no other canary.
        own = ~np.isin(cc, rc) & (canary_counts[np.searchsorted(canary_cells, cc)] == 1)
        if not own.any():
            continue
        # The leak rate: synthetic rows per cell that no real row and no canary holds.
        empty = cards[i] * cards[j] - len(occupied)
        stray = int(syn_counts[~np.isin(syn_cells, occupied)].sum())
        rate = (stray + 0.5) / max(empty, 1)  # +0.5: a pair that never strays still has a finite rate
        pos = np.minimum(np.searchsorted(syn_cells, cc[own]), len(syn_cells) - 1)
        seen = np.where(syn_cells[pos] == cc[own], syn_counts[pos], 0)
        score[own] += seen * math.log1p(share / rate) - share
    return score


def _best_guesses(scores: np.ndarray, inserted: np.ndarray, delta: float, confidence: float,
                  rng: np.random.Generator) -> tuple[float, int, int, int]:
    m = len(scores)
    # Ties broken at random (independent of the insertion), so equal scores carry no order.
    order = np.lexsort((rng.random(m), -scores))
    ks = sorted({max(1, round(f * m)) for f in K_SHARES if round(f * m) <= m // 2} or {1})
    tests = len(ks) * len(SIDES)
    level = 1.0 - (1.0 - confidence) / tests
    best: tuple[float, int, int] | None = None
    for k in ks:
        top, bottom = order[:k], order[m - k:]
        for side in SIDES:
            r = v = 0
            if side in ("both", "in"):
                r, v = r + k, v + int(inserted[top].sum())
            if side in ("both", "out"):
                r, v = r + k, v + int((~inserted[bottom]).sum())
            eps = epsilon_lower_bound(m, r, v, delta=delta, confidence=level)
            if best is None or eps > best[0]:
                best = (eps, r, v)
    assert best is not None
    return best[0], best[1], best[2], tests
